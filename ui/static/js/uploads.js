// Uploads: a queue of files, each with its own progress bar and Cancel button, in a panel that stays
// put while the person browses. Small files go straight to S3 as a browser-upload form the console
// signs (their MD5 checked against the ETag S3 returns); large files go up through the console as
// multipart uploads, one request per part.

import {ApiError, bucketPath, post, postForm, query, sendBlob} from './api.js';
import {announce, formatBytes, h} from './dom.js';
import {md5OfBlob} from './md5.js';

export const MULTIPART_THRESHOLD = 16 * 1024 * 1024;
export const PART_SIZE = 8 * 1024 * 1024;
const PARALLEL_FILES = 3;

const queue = [];
let running = 0;
let panel = null;
let list = null;
let clearButton = null;

/** Upload one Blob to bucket/key; progress(loadedBytes). Returns {promise, cancel}. */
export function uploadBlob(bucket, key, blob, {contentType = '', progress = () => {}} = {}) {
  let current = null;
  let cancelled = false;
  const type = contentType || blob.type || 'application/octet-stream';

  async function single() {
    const form = await post(bucketPath(bucket, '/upload-form'), {key, content_type: type, size: blob.size});
    if (cancelled) throw new ApiError(0, 'Cancelled.', 'Cancelled');
    if (!form.url) {  // the console knows no address of S3 for browsers: send it through the console
      current = sendBlob(bucketPath(bucket, `/object${query({key})}`), blob, {contentType: type, progress});
      return current.promise;
    }
    current = postForm(form.url, form.fields, blob, {progress});
    const [answer, md5] = await Promise.all([current.promise, md5OfBlob(blob)]);
    if (answer.etag !== md5) {
      throw new ApiError(502, 'The server stored different bytes than the browser sent (the MD5 does not '
        + 'match the ETag).', 'BadDigest');
    }
    return {key, size: blob.size, etag: answer.etag, md5};
  }

  async function multipart() {
    const {upload_id: uploadId} = await post(bucketPath(bucket, '/multipart'), {key, content_type: type});
    const parts = [];
    try {
      let done = 0;
      for (let part = 1, offset = 0; offset < blob.size; part += 1, offset += PART_SIZE) {
        if (cancelled) throw new ApiError(0, 'Cancelled.', 'Cancelled');
        const slice = blob.slice(offset, Math.min(offset + PART_SIZE, blob.size));
        const url = bucketPath(bucket, `/multipart/part${query({key, upload_id: uploadId, part})}`);
        current = sendBlob(url, slice, {progress: (loaded) => progress(done + loaded)});
        const answer = await current.promise;
        done += slice.size;
        parts.push({part, etag: answer.etag});
      }
      current = null;
      return await post(bucketPath(bucket, '/multipart/complete'), {key, upload_id: uploadId, parts});
    } catch (err) {
      await post(bucketPath(bucket, '/multipart/abort'), {key, upload_id: uploadId}).catch(() => {});
      throw err;
    }
  }

  const promise = blob.size >= MULTIPART_THRESHOLD ? multipart() : single();
  return {
    promise,
    multipart: blob.size >= MULTIPART_THRESHOLD,
    cancel() {
      cancelled = true;
      if (current) current.abort();
    },
  };
}

function ensurePanel() {
  if (panel) return;
  panel = document.getElementById('uploads');
  list = h('ul', {});
  clearButton = h('button', {type: 'button', class: 'secondary small', onclick: clearFinished}, 'Clear finished');
  panel.append(h('header', {}, h('h2', {id: 'uploads-title'}, 'Uploads'), clearButton), list);
}

function clearFinished() {
  for (const item of [...queue]) {
    if (item.finished) {
      item.row.remove();
      queue.splice(queue.indexOf(item), 1);
    }
  }
  if (!queue.length) panel.hidden = true;
}

/** A finished upload has nothing to cancel; keyboard focus on its button moves to "Clear finished". */
function retireCancel(item) {
  const hadFocus = document.activeElement === item.cancel;
  item.cancel.hidden = true;
  if (hadFocus) clearButton.focus();
}

function setStatus(item, text, kind = '') {
  item.status.textContent = text;
  item.status.className = `status ${kind}`;
}

function pump() {
  while (running < PARALLEL_FILES) {
    const next = queue.find((item) => item.state === 'queued');
    if (!next) return;
    start(next);
  }
}

function start(item) {
  running += 1;
  item.state = 'uploading';
  const size = item.file.size;
  const task = uploadBlob(item.bucket, item.key, item.file, {
    progress: (loaded) => {
      item.bar.value = Math.min(loaded, size);
      const percent = size ? Math.floor((100 * Math.min(loaded, size)) / size) : 100;
      setStatus(item, `${percent}% · ${formatBytes(Math.min(loaded, size))} of ${formatBytes(size)}`);
    },
  });
  item.task = task;
  if (task.multipart) setStatus(item, `Starting a multipart upload (${Math.ceil(size / PART_SIZE)} parts)…`);
  task.promise.then(() => {
    item.bar.value = size;
    item.state = 'done';
    setStatus(item, `Uploaded (${formatBytes(size)})`, 'done');
    announce(`${item.file.name} uploaded.`);
    window.dispatchEvent(new CustomEvent('console:uploaded', {detail: {bucket: item.bucket, key: item.key}}));
  }, (err) => {
    if (item.state === 'cancelled' || err.code === 'Cancelled') {
      item.state = 'cancelled';
      setStatus(item, 'Cancelled: nothing was stored.', 'failed');
      announce(`Upload of ${item.file.name} cancelled.`);
    } else {
      item.state = 'failed';
      setStatus(item, `Failed: ${err.message}`, 'failed');
      announce(`Upload of ${item.file.name} failed: ${err.message}`);
    }
  }).finally(() => {
    item.finished = true;
    retireCancel(item);
    running -= 1;
    pump();
  });
}

/** Queue files for upload into bucket under prefix. */
export function enqueue(files, bucket, prefix) {
  ensurePanel();
  panel.hidden = false;
  for (const file of files) {
    const key = prefix + (file.webkitRelativePath || file.name);
    const bar = h('progress', {max: String(file.size || 1), value: '0', 'aria-label': `Upload progress for ${file.name}`});
    const status = h('div', {class: 'status'}, 'Waiting…');
    const item = {file, bucket, key, bar, status, state: 'queued', finished: false};
    item.cancel = h('button', {
      type: 'button',
      class: 'secondary small',
      'aria-label': `Cancel upload of ${file.name}`,
      onclick: () => {
        if (item.finished) return;
        const wasQueued = item.state === 'queued';
        item.state = 'cancelled';
        if (wasQueued) {
          item.finished = true;
          retireCancel(item);
          setStatus(item, 'Cancelled before it started.', 'failed');
        } else if (item.task) {
          item.task.cancel();
        }
      },
    }, 'Cancel');
    item.row = h('li', {'data-key': key},
      h('div', {class: 'name'}, `${bucket}/${key}`), bar,
      h('div', {class: 'actions'}, status, item.cancel));
    list.append(item.row);
    queue.push(item);
  }
  announce(`${files.length} file${files.length === 1 ? '' : 's'} queued for upload.`);
  pump();
}
