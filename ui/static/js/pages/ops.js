// Operations: live component health with latency, statistics with a top-10 chart, and the demos:
// integrity (MD5 computed here in the browser), rate limit (a burst), rollback (fault injection).

import {bucketPath, get, post, query} from '../api.js';
import {barChart} from '../chart.js';
import {announce, field, formatBytes, formatCount, h, showMessage} from '../dom.js';
import {Md5, md5Hex, multipartEtag} from '../md5.js';
import {MULTIPART_THRESHOLD, PART_SIZE, uploadBlob} from '../uploads.js';

const HEALTH_EVERY_MS = 3000;

function statusClass(status) {
  const s = String(status).toLowerCase();
  if (['ok', 'up', 'ready', 'healthy', 'pass'].includes(s)) return 'status-ok';
  if (['degraded', 'warn', 'warning', 'slow'].includes(s)) return 'status-degraded';
  return 'status-down';
}

function healthSection(ctx) {
  const overall = h('p', {});
  const tbody = h('tbody', {});
  const stamp = h('p', {class: 'hint'});
  const pause = h('button', {type: 'button', class: 'secondary small', 'aria-pressed': 'false'}, 'Pause updates');
  let timer = null;
  let paused = false;

  async function refresh() {
    try {
      const data = await get('/api/ops/health');
      if (!ctx.isCurrent()) return;
      overall.replaceChildren('Overall: ', h('span', {class: statusClass(data.status)}, data.status));
      tbody.replaceChildren(...data.components.map((c) => h('tr', {'data-component': c.name},
        h('th', {scope: 'row'}, c.name),
        h('td', {}, h('span', {class: statusClass(c.status)}, c.status)),
        h('td', {class: 'num'}, c.latency_ms === null || c.latency_ms === undefined ? '—' : `${Number(c.latency_ms).toFixed(1)} ms`),
        h('td', {}, c.detail || ''))));
      const source = data.source === 'health' ? 'the server\'s health check' : 'the console alone';
      stamp.textContent = `Checked at ${new Date(data.checked_at * 1000).toLocaleTimeString('en-GB')} by ${source}; `
        + `refreshed every ${HEALTH_EVERY_MS / 1000} seconds.`;
    } catch (err) {
      if (!ctx.isCurrent()) return;
      overall.replaceChildren('Overall: ', h('span', {class: 'status-down'}, 'unknown'), ` (${err.message})`);
    }
  }

  function schedule() {
    window.clearTimeout(timer);
    if (!paused && ctx.isCurrent()) timer = window.setTimeout(() => refresh().then(schedule), HEALTH_EVERY_MS);
  }

  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume updates' : 'Pause updates';
    announce(paused ? 'Health updates paused.' : 'Health updates resumed.');
    schedule();
  });

  const section = h('section', {class: 'panel', 'aria-labelledby': 'health-heading'},
    h('div', {class: 'section-head'}, h('h2', {id: 'health-heading'}, 'Health'), pause),
    overall,
    h('div', {class: 'table-wrap'}, h('table', {},
      h('caption', {class: 'visually-hidden'}, 'Health of each component'),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Component'), h('th', {scope: 'col'}, 'Status'),
        h('th', {scope: 'col', class: 'num'}, 'Latency'), h('th', {scope: 'col'}, 'Detail'))),
      tbody)),
    stamp);
  return {section, start: () => refresh().then(schedule), stop: () => window.clearTimeout(timer)};
}

function statsSection(ctx) {
  const totals = h('dl', {class: 'totals'});
  const chartBox = h('div', {});
  const note = h('p', {class: 'hint'});
  const refresh = h('button', {type: 'button', class: 'secondary small'}, 'Refresh statistics');

  async function load() {
    try {
      const data = await get('/api/ops/stats');
      if (!ctx.isCurrent()) return;
      const plus = data.exact ? '' : '+';
      totals.replaceChildren(
        h('div', {}, h('dt', {}, 'Buckets'), h('dd', {'data-total': 'buckets'}, formatCount(data.bucket_count))),
        h('div', {}, h('dt', {}, 'Objects'), h('dd', {'data-total': 'objects'}, `${formatCount(data.objects)}${plus}`)),
        h('div', {}, h('dt', {}, 'Total size'), h('dd', {'data-total': 'bytes'}, `${formatBytes(data.bytes)}${plus}`)),
        // Noncurrent versions and delete markers, and the bytes the noncurrent versions keep.
        data.versions === null ? null : h('div', {}, h('dt', {}, 'Older versions'),
          h('dd', {'data-total': 'versions'}, formatCount(data.versions))),
        data.version_bytes === null ? null : h('div', {}, h('dt', {}, 'Size of older versions'),
          h('dd', {'data-total': 'version_bytes'}, formatBytes(data.version_bytes))));
      chartBox.replaceChildren(barChart('Top 10 buckets by object count', data.top.map((b) => ({
        label: b.name, value: b.objects, text: `${formatCount(b.objects)} object${b.objects === 1 ? '' : 's'} · ${formatBytes(b.bytes)}`,
      }))));
      note.textContent = data.source === 'statistics'
        ? 'From the server\'s statistics (counters kept as objects change). Older versions are '
          + 'noncurrent versions and delete markers in versioned buckets.'
        : 'Worked out by listing your buckets (up to 5,000 objects each); admins see the server\'s own counters.';
    } catch (err) {
      totals.replaceChildren();
      chartBox.replaceChildren(h('p', {class: 'message error', role: 'alert'}, err.message));
    }
  }
  refresh.addEventListener('click', () => load().then(() => announce('Statistics refreshed.')));
  const section = h('section', {class: 'panel', 'aria-labelledby': 'stats-heading'},
    h('div', {class: 'section-head'}, h('h2', {id: 'stats-heading'}, 'Statistics'), refresh),
    totals, h('h3', {}, 'Top 10 buckets by object count'), chartBox, note);
  return {section, load};
}

function bucketPicker(buckets, label) {
  const select = h('select', {}, ...buckets.map((b) => h('option', {value: b.name}, b.name)));
  return {select, wrap: field(label, select).wrap};
}

function stepList() {
  const list = h('ol', {class: 'steps', 'aria-live': 'polite'});
  return {
    list,
    clear: () => list.replaceChildren(),
    add: (ok, text) => {
      list.append(h('li', {}, h('span', {class: ok ? 'pass' : 'fail'}, ok ? '✓ ' : '✗ '),
        h('span', {class: 'visually-hidden'}, ok ? 'passed: ' : 'failed: '), text));
    },
  };
}

function randomBytes(size) {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(size, offset + 65536)));
  }
  return bytes;
}

function integritySection(buckets) {
  const picker = bucketPicker(buckets, 'Bucket for the integrity check');
  const size = h('select', {},
    h('option', {value: String(1024 * 1024)}, '1 MiB (one PUT)'),
    h('option', {value: String(8 * 1024 * 1024)}, '8 MiB (one PUT)'),
    h('option', {value: String(MULTIPART_THRESHOLD + 4 * 1024 * 1024)}, '20 MiB (multipart)'));
  const run = h('button', {type: 'button'}, 'Run integrity check');
  const steps = stepList();
  const result = h('div', {class: 'message'});

  run.addEventListener('click', async () => {
    run.disabled = true;
    steps.clear();
    showMessage(result, 'info', 'Running…');
    const bucket = picker.select.value;
    const key = `console-integrity-demo/${Date.now()}.bin`;
    try {
      const bytes = randomBytes(Number(size.value));
      const localMd5 = md5Hex(bytes);
      steps.add(true, `Made ${formatBytes(bytes.length)} of random data; MD5 in this browser: ${localMd5}`);
      const task = uploadBlob(bucket, key, new Blob([bytes]));
      const answer = await task.promise;
      const expected = task.multipart ? multipartEtag(bytes, PART_SIZE) : localMd5;
      const etagOk = answer.etag === expected;
      steps.add(etagOk, task.multipart
        ? `Uploaded as a multipart upload; ETag ${answer.etag} ${etagOk ? 'equals' : 'differs from'} the MD5 of the part MD5s computed here`
        : `Uploaded; the server's ETag ${answer.etag} ${etagOk ? 'equals' : 'differs from'} the MD5 computed here`);
      const response = await fetch(bucketPath(bucket, `/download${query({key})}`), {credentials: 'same-origin'});
      if (!response.ok) throw new Error(`The download failed with status ${response.status}.`);
      const back = new Uint8Array(await response.arrayBuffer());
      const backMd5 = new Md5().update(back).hex();
      const same = backMd5 === localMd5 && back.length === bytes.length;
      steps.add(same, `Downloaded ${formatBytes(back.length)}; MD5 in this browser: ${backMd5}`);
      await post(bucketPath(bucket, '/delete'), {keys: [key]});
      steps.add(true, 'Deleted the test object');
      showMessage(result, same && etagOk ? 'ok' : 'error', same && etagOk
        ? 'Integrity check passed: the bytes that came back are the bytes that went up.'
        : 'Integrity check FAILED: the bytes changed on the way.');
    } catch (err) {
      showMessage(result, 'error', `The integrity check could not finish: ${err.message}`);
    } finally {
      run.disabled = false;
    }
  });

  return h('section', {class: 'panel', 'aria-labelledby': 'integrity-heading'},
    h('h2', {id: 'integrity-heading'}, 'Integrity check'),
    h('p', {}, 'Uploads random bytes, downloads them again and compares MD5 digests computed in this browser.'),
    h('div', {class: 'row'}, picker.wrap, field('Size of the test object', size).wrap, run),
    steps.list, result);
}

function burstSection() {
  const count = h('input', {type: 'number', min: '1', max: '1000', value: '150'});
  const signed = h('input', {type: 'checkbox'});
  const run = h('button', {type: 'button'}, 'Fire burst');
  const result = h('div', {class: 'message'});
  const bar = h('div', {class: 'burst-bar', hidden: true, 'aria-hidden': 'true'});

  run.addEventListener('click', async () => {
    run.disabled = true;
    showMessage(result, 'info', `Firing ${count.value} requests…`);
    try {
      const answer = await post('/api/demo/burst', {count: Number(count.value), signed: signed.checked});
      const throttled = answer.throttled;
      showMessage(result, throttled ? 'ok' : 'info',
        `Sent ${answer.sent} requests in ${Math.round(answer.elapsed_ms)} ms: ${answer.answered} answered, `
        + `${throttled} throttled (503 SlowDown).${throttled ? '' : ' Nothing was throttled: is the server running with --rate-limit?'}`);
      bar.hidden = false;
      bar.replaceChildren(
        h('div', {class: 'answered', 'data-share': answer.answered}),
        h('div', {class: 'throttled', 'data-share': throttled}));
      bar.firstChild.style.flexGrow = String(answer.answered);
      bar.lastChild.style.flexGrow = String(throttled);
    } catch (err) {
      showMessage(result, 'error', err.message);
    } finally {
      run.disabled = false;
    }
  });
  return h('section', {class: 'panel', 'aria-labelledby': 'burst-heading'},
    h('h2', {id: 'burst-heading'}, 'Rate-limit demo'),
    h('p', {}, 'Fires many requests at once from the console and counts how many the server throttled.'),
    h('div', {class: 'row'}, field('Number of requests', count).wrap,
      h('label', {class: 'inline'}, signed, 'Sign them with my key (uses up my own allowance)'), run),
    bar, result);
}

function rollbackSection(buckets) {
  const picker = bucketPicker(buckets, 'Bucket for the rollback demo');
  const run = h('button', {type: 'button'}, 'Run rollback demo');
  const steps = stepList();
  const result = h('div', {class: 'message'});
  run.addEventListener('click', async () => {
    run.disabled = true;
    steps.clear();
    showMessage(result, 'info', 'Running…');
    try {
      const answer = await post('/api/demo/rollback', {bucket: picker.select.value});
      for (const step of answer.steps) steps.add(step.ok, `${step.step}: ${step.detail}`);
      showMessage(result, answer.passed ? 'ok' : 'error', answer.passed
        ? `Rolled back: the upload got ${answer.status} ${answer.code} and no bytes were left behind.`
        : 'The rollback demo did not go as expected; see the steps above.');
    } catch (err) {
      showMessage(result, 'error', err.message);
    } finally {
      run.disabled = false;
    }
  });
  return h('section', {class: 'panel', 'aria-labelledby': 'rollback-heading'},
    h('h2', {id: 'rollback-heading'}, 'Rollback demo'),
    h('p', {}, 'Makes metadata writes fail on purpose, uploads an object, and shows that the upload is '
      + 'refused with 503 and that its bytes were removed from the drives. The fault is cleared afterwards.'),
    h('div', {class: 'row'}, picker.wrap, run), steps.list, result);
}

export async function render(main, ctx) {
  main.append(h('h1', {}, 'Operations'));
  const health = healthSection(ctx);
  const stats = statsSection(ctx);
  main.append(health.section, stats.section);
  const [features, bucketList] = await Promise.all([
    get('/api/ops/features').catch(() => ({fault_injection: false})),
    get('/api/buckets').then((d) => d.buckets).catch(() => []),
  ]);
  if (!ctx.isCurrent()) return undefined;
  main.append(h('h2', {}, 'Demos'));
  if (bucketList.length) main.append(integritySection(bucketList));
  else main.append(h('p', {class: 'panel'}, 'The integrity and rollback demos need a bucket: create one on the Buckets page.'));
  main.append(burstSection());
  if (features.fault_injection && bucketList.length) main.append(rollbackSection(bucketList));
  else if (ctx.session.is_admin) {
    main.append(h('section', {class: 'panel'}, h('h2', {}, 'Rollback demo'),
      h('p', {}, 'Start the server with --enable-fault-injection to run the rollback demo.')));
  }
  health.start();
  stats.load();
  return () => health.stop();
}
