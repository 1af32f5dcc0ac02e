// The object browser: folders by delimiter, breadcrumbs, prefix search, one page of keys at a time
// (continuation tokens, so a bucket of millions of keys lists as fast as a small one), uploads by drag
// and drop or file picker, downloads, deletion, object details and presigned links. In a versioned
// bucket: the versioning state with a switch, a key's versions (download or delete one), and a
// "show versions" view listing every version and delete marker under the folder.

import {bucketPath, get, post, put, query} from '../api.js';
import {
  announce, confirmDialog, copyText, field, formatBytes, formatDate, h, openDialog, showMessage, uid,
} from '../dom.js';
import {enqueue} from '../uploads.js';

const PAGE_SIZE = 100;
const EXPIRY_CHOICES = [
  [900, '15 minutes'], [3600, '1 hour'], [86400, '1 day'], [604800, '7 days'],
];

function folderHash(bucket, prefix) {
  return `#/b/${encodeURIComponent(bucket)}${query({prefix})}`;
}

function downloadUrl(bucket, key, versionId) {
  return bucketPath(bucket, `/download${query({key, version_id: versionId})}`);
}

const VERSIONING_LABELS = {Enabled: 'Enabled', Suspended: 'Suspended', '': 'Off'};

/** Name, flags and version id; size; last modified; download and delete buttons: one version's
 * cells, in the folder's "show versions" table and in a key's versions dialog. */
function versionCells(bucket, version, name, remove) {
  const label = `version ${version.version_id} of ${name}`;
  const flags = [
    version.is_latest ? h('span', {class: 'badge on'}, 'latest') : null,
    version.delete_marker ? h('span', {class: 'badge off'}, 'delete marker') : null,
  ];
  return [
    h('th', {scope: 'row'}, h('span', {class: 'version-name'}, name), ' ', ...flags,
      h('div', {class: 'version-id mono', title: 'Version id'}, version.version_id)),
    h('td', {class: 'num'}, version.delete_marker ? '—' : formatBytes(version.size)),
    h('td', {}, formatDate(version.last_modified)),
    h('td', {}, h('div', {class: 'actions'},
      version.delete_marker ? null : h('a', {class: 'button secondary small',
        href: downloadUrl(bucket, version.key, version.version_id), download: name,
        'aria-label': `Download ${label}`}, 'Download'),
      h('button', {type: 'button', class: 'danger secondary small', 'aria-label': `Delete ${label}`,
        onclick: () => remove(version)}, 'Delete'))),
  ];
}

/** Ask, then DeleteObject?versionId=; resolves true when the version is gone. */
async function deleteVersion(bucket, version, name) {
  const marker = version.delete_marker;
  const sure = await confirmDialog({
    title: marker ? `Remove the delete marker of “${name}”?` : `Delete this version of “${name}”?`,
    message: marker
      ? 'Without its delete marker the version before it is current again.'
      : `Version ${version.version_id} is deleted for good; the other versions stay.`
        + (version.is_latest ? ' The version before it becomes the current one.' : ''),
    confirmLabel: marker ? 'Remove delete marker' : 'Delete version',
  });
  if (!sure) return false;
  await post(bucketPath(bucket, '/delete-version'), {key: version.key, version_id: version.version_id});
  return true;
}

export async function render(main, ctx) {
  const bucket = ctx.parts[1];
  const prefix = ctx.params.get('prefix') || '';
  const tokens = [''];  // continuation tokens, or in the versions view {key_marker, version_marker}
  let pageIndex = 0;
  let versioning = {status: '', object_lock: false};
  let showVersions = false;
  let search = '';
  const selected = new Set();

  const message = h('div', {class: 'message'});
  const crumbs = h('ol', {});
  crumbs.append(h('li', {}, h('a', {href: '#/buckets'}, 'Buckets')));
  const segments = prefix.split('/').filter(Boolean);
  const bucketCrumb = segments.length
    ? h('a', {href: folderHash(bucket, '')}, bucket)
    : h('span', {'aria-current': 'page'}, bucket);
  crumbs.append(h('li', {}, bucketCrumb));
  segments.forEach((segment, i) => {
    const upTo = `${segments.slice(0, i + 1).join('/')}/`;
    crumbs.append(h('li', {}, i === segments.length - 1
      ? h('span', {'aria-current': 'page'}, segment)
      : h('a', {href: folderHash(bucket, upTo)}, segment)));
  });

  const searchInput = h('input', {type: 'search', name: 'search', autocomplete: 'off', spellcheck: 'false'});
  const searchForm = h('form', {role: 'search'},
    field('Search by prefix', searchInput).wrap,
    h('button', {type: 'submit', class: 'secondary'}, 'Search'));
  const fileInput = h('input', {type: 'file', multiple: true, id: uid('files')});
  const picker = h('div', {class: 'file-picker'},
    h('label', {for: fileInput.id, class: 'button'}, 'Upload files'), fileInput);
  const newFolder = h('button', {type: 'button', class: 'secondary'}, 'New folder');
  const deleteSelected = h('button', {type: 'button', class: 'danger secondary', disabled: true}, 'Delete selected');
  const refresh = h('button', {type: 'button', class: 'secondary'}, 'Refresh');
  const versionsToggle = h('button', {type: 'button', class: 'secondary', 'aria-pressed': 'false',
    hidden: true}, 'Show versions');
  const versioningState = h('span', {class: 'badge', 'data-versioning': ''}, '…');
  const versioningSwitch = h('button', {type: 'button', class: 'secondary small', hidden: true});
  const versioningBar = h('p', {class: 'versioning'}, 'Versioning: ', versioningState, ' ', versioningSwitch);
  const lifecycleLink = h('a', {href: `#/lifecycle/${encodeURIComponent(bucket)}`}, 'Lifecycle rules');
  const dropzone = h('div', {class: 'dropzone'},
    `Drag and drop files here to upload them to ${bucket}/${prefix}`);

  const selectAll = h('input', {type: 'checkbox', 'aria-label': 'Select all objects on this page'});
  const tableBody = h('tbody', {});
  const caption = h('caption', {class: 'visually-hidden'}, `Contents of ${bucket}/${prefix}`);
  const previous = h('button', {type: 'button', class: 'secondary', disabled: true}, 'Previous page');
  const next = h('button', {type: 'button', class: 'secondary', disabled: true}, 'Next page');
  const pageLabel = h('span', {'aria-live': 'polite'});

  const heading = segments.length ? `${bucket}/${prefix}` : bucket;
  const content = h('section', {'aria-label': 'Folder contents'},
    dropzone,
    h('div', {class: 'table-wrap'}, h('table', {}, caption,
      h('thead', {}, h('tr', {},
        h('th', {scope: 'col'}, selectAll), h('th', {scope: 'col'}, 'Name'),
        h('th', {scope: 'col', class: 'num'}, 'Size'), h('th', {scope: 'col'}, 'Last modified'),
        h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Actions')))),
      tableBody)),
    h('div', {class: 'pager'}, previous, pageLabel, next));

  main.append(
    h('nav', {class: 'breadcrumbs', 'aria-label': 'Breadcrumb'}, crumbs),
    h('h1', {}, heading),
    h('p', {class: 'bucket-links'}, lifecycleLink),
    versioningBar,
    h('div', {class: 'toolbar'}, searchForm, picker, newFolder, deleteSelected, versionsToggle, refresh),
    message,
    content);

  function updateSelection() {
    deleteSelected.disabled = selected.size === 0;
    deleteSelected.textContent = selected.size ? `Delete selected (${selected.size})` : 'Delete selected';
  }

  function showVersioning() {
    const {status, object_lock: locked} = versioning;
    versioningState.textContent = VERSIONING_LABELS[status] ?? status;
    versioningState.dataset.versioning = status;
    versioningState.className = `badge${status === 'Enabled' ? ' on' : ''}`;
    versioningSwitch.textContent = status === 'Enabled' ? 'Suspend versioning' : 'Enable versioning';
    // Object Lock keeps versioning on for good.
    versioningSwitch.hidden = locked && status === 'Enabled';
    versionsToggle.hidden = !status;
  }

  async function loadVersioning() {
    try {
      versioning = await get(bucketPath(bucket, '/versioning'));
    } catch {
      versioning = {status: '', object_lock: false};
      versioningBar.hidden = true;  // a server without versioning: say nothing about it
      return;
    }
    showVersioning();
  }

  async function switchVersioning() {
    const enable = versioning.status !== 'Enabled';
    if (enable && !versioning.status) {
      const sure = await confirmDialog({
        title: `Turn on versioning for ${bucket}?`,
        message: 'Every overwrite and delete then keeps the earlier version. Versioning can be '
          + 'suspended later, but a bucket never goes back to unversioned.',
        confirmLabel: 'Enable versioning',
        danger: false,
      });
      if (!sure) return;
    }
    try {
      const answer = await put(bucketPath(bucket, '/versioning'), {status: enable ? 'Enabled' : 'Suspended'});
      versioning = {...versioning, status: answer.status};
      showVersioning();
      showMessage(message, 'ok', enable ? 'Versioning is on.' : 'Versioning is suspended: new writes replace the “null” version.');
    } catch (err) {
      showMessage(message, 'error', err.message);
    }
  }

  function setVersionsView(on) {
    showVersions = on;
    versionsToggle.setAttribute('aria-pressed', String(on));
    versionsToggle.textContent = on ? 'Hide versions' : 'Show versions';
    picker.hidden = on;
    newFolder.hidden = on;
    deleteSelected.hidden = on;
    selectAll.disabled = on;
    tokens.length = 1;
    tokens[0] = '';
    pageIndex = 0;
    return load();
  }

  async function loadVersions(listPrefix) {
    const marker = tokens[pageIndex] || {};
    const data = await get(bucketPath(bucket, `/versions${query({prefix: listPrefix,
      key_marker: marker.key_marker, version_marker: marker.version_marker, max: PAGE_SIZE})}`));
    const rows = [];
    for (const version of data.versions) {
      if (version.key === prefix) continue;
      rows.push(h('tr', {'data-version-key': version.key, 'data-version-id': version.version_id,
        class: version.delete_marker ? 'delete-marker' : ''},
      h('td', {}), ...versionCells(bucket, version, version.key.slice(prefix.length), removeVersion)));
    }
    const next = data.next_key_marker
      ? {key_marker: data.next_key_marker, version_marker: data.next_version_marker} : '';
    return {folders: data.folders, rows, next};
  }

  async function loadObjects(listPrefix) {
    const data = await get(bucketPath(bucket, `/objects${query({prefix: listPrefix, token: tokens[pageIndex], max: PAGE_SIZE})}`));
    const rows = data.objects.filter((o) => o.key !== prefix).map(objectRow);
    return {folders: data.folders, rows, next: data.next_token};
  }

  async function removeVersion(version) {
    const name = version.key.slice(prefix.length);
    try {
      if (!await deleteVersion(bucket, version, name)) return;
      showMessage(message, 'ok', version.delete_marker
        ? `Removed the delete marker of “${name}”.` : `Deleted version ${version.version_id} of “${name}”.`);
      await load();
    } catch (err) {
      showMessage(message, 'error', err.message);
    }
  }

  async function load() {
    const listPrefix = prefix + search;
    let data;
    try {
      data = await (showVersions ? loadVersions(listPrefix) : loadObjects(listPrefix));
    } catch (err) {
      showMessage(message, 'error', err.message);
      return;
    }
    if (!ctx.isCurrent()) return;
    selected.clear();
    selectAll.checked = false;
    updateSelection();
    tableBody.replaceChildren();
    for (const folder of data.folders) {
      const name = folder.slice(prefix.length);
      tableBody.append(h('tr', {'data-folder': folder},
        h('td', {}),
        h('th', {scope: 'row'}, h('a', {href: folderHash(bucket, folder), class: 'folder-name'}, name)),
        h('td', {class: 'num'}, '—'), h('td', {}), h('td', {})));
    }
    tableBody.append(...data.rows);
    if (!data.folders.length && !data.rows.length) {
      tableBody.append(h('tr', {}, h('td', {colspan: '5'}, search
        ? `Nothing here starts with “${search}”.`
        : 'This folder is empty. Drop files above or use “Upload files”.')));
    }
    if (data.next) tokens[pageIndex + 1] = data.next;
    else tokens.length = pageIndex + 1;
    previous.disabled = pageIndex === 0;
    next.disabled = !data.next;
    pageLabel.textContent = `Page ${pageIndex + 1}${data.next ? '' : ' (last)'}`;
  }

  function objectRow(object) {
    const name = object.key.slice(prefix.length);
    const box = h('input', {type: 'checkbox', 'aria-label': `Select ${name}`});
    box.addEventListener('change', () => {
      if (box.checked) selected.add(object.key);
      else selected.delete(object.key);
      updateSelection();
    });
    return h('tr', {'data-key': object.key},
      h('td', {}, box),
      h('th', {scope: 'row'}, h('button', {type: 'button', class: 'link', onclick: () => showDetails(object.key)}, name)),
      h('td', {class: 'num'}, formatBytes(object.size)),
      h('td', {}, formatDate(object.last_modified)),
      h('td', {}, h('div', {class: 'actions'},
        h('a', {class: 'button secondary small', href: downloadUrl(bucket, object.key), download: name,
          'aria-label': `Download ${name}`}, 'Download'),
        h('button', {type: 'button', class: 'secondary small', 'aria-label': `Details of ${name}`,
          onclick: () => showDetails(object.key)}, 'Details'),
        versioning.status ? h('button', {type: 'button', class: 'secondary small',
          'aria-label': `Versions of ${name}`, 'data-action': 'versions', onclick: () => showKeyVersions(object.key)}, 'Versions') : null,
        h('button', {type: 'button', class: 'danger secondary small', 'aria-label': `Delete ${name}`,
          onclick: () => removeKeys([object.key])}, 'Delete'))));
  }

  async function showKeyVersions(key) {
    const name = key.slice(prefix.length);
    const body = h('tbody', {});
    const note = h('div', {class: 'message'});
    const more = h('button', {type: 'button', class: 'secondary', hidden: true}, 'More versions');
    let markers = {};

    async function page(reset) {
      if (reset) {
        markers = {};
        body.replaceChildren();
      }
      try {
        const data = await get(bucketPath(bucket, `/versions${query({key, ...markers})}`));
        for (const version of data.versions) {
          body.append(h('tr', {'data-version-id': version.version_id,
            class: version.delete_marker ? 'delete-marker' : ''},
          ...versionCells(bucket, version, name, remove)));
        }
        if (!body.children.length) body.append(h('tr', {}, h('td', {colspan: '4'}, 'This key has no versions.')));
        markers = {key_marker: data.next_key_marker, version_marker: data.next_version_marker};
        more.hidden = !data.next_key_marker;
      } catch (err) {
        showMessage(note, 'error', err.message);
      }
    }

    async function remove(version) {
      try {
        if (!await deleteVersion(bucket, version, name)) return;
        showMessage(note, 'ok', version.delete_marker
          ? 'Removed the delete marker.' : `Deleted version ${version.version_id}.`);
        await Promise.all([page(true), load()]);
      } catch (err) {
        showMessage(note, 'error', err.message);
      }
    }

    more.addEventListener('click', () => page(false));
    page(true);
    await openDialog(`Versions of ${name}`, (close) => h('div', {},
      h('div', {class: 'table-wrap'}, h('table', {},
        h('caption', {class: 'visually-hidden'}, `Versions of ${key}, newest first`),
        h('thead', {}, h('tr', {},
          h('th', {scope: 'col'}, 'Version'), h('th', {scope: 'col', class: 'num'}, 'Size'),
          h('th', {scope: 'col'}, 'Last modified'),
          h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Actions')))),
        body)),
      note,
      h('div', {class: 'actions'}, more,
        h('button', {type: 'button', class: 'secondary', onclick: () => close()}, 'Close'))), {wide: true});
    if (document.activeElement === document.body) {
      // Deleting reloaded the table, so the button that opened the dialog is a new one now.
      const row = [...tableBody.querySelectorAll('tr[data-key]')].find((tr) => tr.dataset.key === key);
      const again = row && row.querySelector('button[data-action="versions"]');
      if (again) again.focus();
    }
  }

  function deleteWarning() {
    if (versioning.status === 'Enabled') {
      return 'Versioning is on: a delete marker hides the object and its versions are kept '
        + '(“Show versions” lists them).';
    }
    if (versioning.status === 'Suspended') {
      return 'Versioning is suspended: the “null” version is deleted and a delete marker hides the '
        + 'object; its other versions are kept.';
    }
    return 'Deleted objects cannot be recovered.';
  }

  async function removeKeys(keys) {
    const what = keys.length === 1 ? `“${keys[0].slice(prefix.length)}”` : `${keys.length} objects`;
    const sure = await confirmDialog({
      title: `Delete ${what}?`,
      message: deleteWarning(),
      confirmLabel: keys.length === 1 ? 'Delete object' : `Delete ${keys.length} objects`,
    });
    if (!sure) return;
    try {
      const result = await post(bucketPath(bucket, '/delete'), {keys});
      if (result.errors.length) {
        const first = result.errors[0];
        showMessage(message, 'error', `${result.deleted.length} deleted; ${result.errors.length} could not be `
          + `deleted (${first.key}: ${first.message || first.code}).`);
      } else {
        showMessage(message, 'ok', `Deleted ${result.deleted.length === 1 ? 'one object' : `${result.deleted.length} objects`}.`);
      }
      await load();
    } catch (err) {
      showMessage(message, 'error', err.message);
    }
  }

  async function showDetails(key) {
    let info;
    try {
      info = await get(bucketPath(bucket, `/details${query({key})}`));
    } catch (err) {
      showMessage(message, 'error', err.message);
      return;
    }
    const rows = [
      ['Key', info.key], ['Size', `${formatBytes(info.size)} (${info.size.toLocaleString('en-US')} bytes)`],
      ['ETag', info.etag], ['Content type', info.content_type], ['Last modified', info.last_modified],
      ['Storage class', info.storage_class],
    ];
    for (const [algorithm, value] of Object.entries(info.checksums)) {
      rows.push([`Checksum (${algorithm}${info.checksum_type ? `, ${info.checksum_type.toLowerCase()}` : ''})`, value]);
    }
    if (!Object.keys(info.checksums).length) rows.push(['Checksum', 'none stored']);
    const metadata = Object.entries(info.metadata);
    rows.push(['Metadata', metadata.length ? metadata.map(([k, v]) => `${k}: ${v}`).join('\n') : 'none']);
    const tags = info.tags === null ? 'not supported by this server' : Object.entries(info.tags);
    rows.push(['Tags', typeof tags === 'string' ? tags : tags.length ? tags.map(([k, v]) => `${k} = ${v}`).join('\n') : 'none']);

    await openDialog(key.slice(prefix.length), (close) => {
      const expiry = h('select', {}, ...EXPIRY_CHOICES.map(([seconds, label]) =>
        h('option', {value: String(seconds), selected: seconds === 3600}, label)));
      const linkBox = h('input', {type: 'text', class: 'copy', readonly: true});
      const linkField = field('Presigned link', linkBox, '');
      linkField.wrap.hidden = true;
      const linkMessage = h('div', {class: 'message'});
      const copy = h('button', {type: 'button', class: 'secondary', hidden: true,
        onclick: () => copyText(linkBox.value, linkBox)}, 'Copy link');
      const create = h('button', {type: 'button', onclick: async () => {
        try {
          const answer = await post(bucketPath(bucket, '/presign'), {key, expires: Number(expiry.value)});
          linkBox.value = answer.url;
          linkField.wrap.hidden = false;
          copy.hidden = false;
          const until = new Date(answer.expires_at * 1000).toLocaleString('en-GB', {dateStyle: 'medium', timeStyle: 'short'});
          showMessage(linkMessage, 'ok', `Anyone with this link can download the object until ${until}.`);
          linkBox.focus();
          linkBox.select();
        } catch (err) {
          showMessage(linkMessage, 'error', err.message);
        }
      }}, 'Create link');
      const closeButton = h('button', {type: 'button', class: 'secondary', onclick: () => close()}, 'Close');
      return h('div', {},
        h('dl', {class: 'details'}, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {class: k === 'ETag' || k.startsWith('Checksum') ? 'mono' : ''},
          ...String(v).split('\n').flatMap((line, i) => (i ? [h('br', {}), line] : [line])))])),
        h('h3', {}, 'Share a download link'),
        h('div', {class: 'row'}, field('Link expires in', expiry).wrap, create),
        linkMessage, linkField.wrap,
        h('div', {class: 'actions'},
          h('a', {class: 'button secondary', href: downloadUrl(bucket, key), download: key.slice(prefix.length)}, 'Download'),
          copy, closeButton));
    });
  }

  async function makeFolder() {
    const name = await openDialog('New folder', (close) => {
      const input = h('input', {type: 'text', autocomplete: 'off'});
      const form = h('form', {},
        field('Folder name', input, `Created inside ${bucket}/${prefix}`).wrap,
        h('div', {class: 'actions'},
          h('button', {type: 'button', class: 'secondary', onclick: () => close(null)}, 'Cancel'),
          h('button', {type: 'submit'}, 'Create folder')));
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        close(input.value.trim());
      });
      window.setTimeout(() => input.focus(), 0);
      return form;
    });
    if (!name) return;
    try {
      await post(bucketPath(bucket, '/folder'), {prefix, name});
      showMessage(message, 'ok', `Folder “${name}” created.`);
      await load();
    } catch (err) {
      showMessage(message, 'error', err.message);
    }
  }

  function upload(files) {
    if (!files.length) return;
    enqueue(Array.from(files), bucket, prefix);
  }

  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    search = searchInput.value;
    tokens.length = 1;
    pageIndex = 0;
    caption.textContent = `Contents of ${bucket}/${prefix}${search ? ` starting with “${search}”` : ''}`;
    load().then(() => announce(`Showing keys starting with ${prefix}${search}`));
  });
  fileInput.addEventListener('change', () => {
    upload(fileInput.files);
    fileInput.value = '';
  });
  newFolder.addEventListener('click', makeFolder);
  refresh.addEventListener('click', () => load().then(() => announce('Refreshed.')));
  versionsToggle.addEventListener('click', () => setVersionsView(!showVersions)
    .then(() => announce(showVersions ? 'Showing every version and delete marker.' : 'Showing current objects.')));
  versioningSwitch.addEventListener('click', switchVersioning);
  deleteSelected.addEventListener('click', () => removeKeys([...selected]));
  selectAll.addEventListener('change', () => {
    for (const box of tableBody.querySelectorAll('tr[data-key] input[type="checkbox"]')) {
      if (box.checked !== selectAll.checked) {
        box.checked = selectAll.checked;
        box.dispatchEvent(new Event('change'));
      }
    }
  });
  previous.addEventListener('click', () => {
    if (pageIndex > 0) {
      pageIndex -= 1;
      load();
    }
  });
  next.addEventListener('click', () => {
    if (tokens[pageIndex + 1]) {
      pageIndex += 1;
      load();
    }
  });
  for (const target of [dropzone, content]) {
    target.addEventListener('dragover', (event) => {
      event.preventDefault();
      dropzone.classList.add('over');
    });
    target.addEventListener('dragleave', () => dropzone.classList.remove('over'));
    target.addEventListener('drop', (event) => {
      event.preventDefault();
      dropzone.classList.remove('over');
      upload(event.dataTransfer.files);
    });
  }

  let reloadTimer = null;
  const onUploaded = (event) => {
    if (event.detail.bucket !== bucket || !event.detail.key.startsWith(prefix)) return;
    window.clearTimeout(reloadTimer);
    reloadTimer = window.setTimeout(load, 300);
  };
  window.addEventListener('console:uploaded', onUploaded);

  await loadVersioning();
  await load();
  return () => {
    window.removeEventListener('console:uploaded', onUploaded);
    window.clearTimeout(reloadTimer);
  };
}
