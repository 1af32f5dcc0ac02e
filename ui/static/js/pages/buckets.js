// Buckets: the list with object counts and sizes (and, from the server's statistics, older versions),
// a form to create one, and deletion with confirmation.

import {bucketPath, del, get, post} from '../api.js';
import {announce, confirmDialog, field, formatBytes, formatCount, formatDate, h, showMessage} from '../dom.js';

const COUNT_PARALLEL = 4;

export async function render(main, ctx) {
  const message = h('div', {class: 'message'});
  const nameInput = h('input', {type: 'text', name: 'bucket', autocomplete: 'off', spellcheck: 'false',
    autocapitalize: 'off', pattern: '[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]'});
  const createButton = h('button', {type: 'submit'}, 'Create bucket');
  const form = h('form', {class: 'row', novalidate: true},
    field('Bucket name', nameInput, '3–63 lowercase letters, digits, dots and hyphens.').wrap, createButton);
  const tableBody = h('tbody', {});
  const note = h('p', {class: 'hint'});
  const table = h('div', {class: 'table-wrap'}, h('table', {},
    h('caption', {class: 'visually-hidden'}, 'Your buckets'),
    h('thead', {}, h('tr', {},
      h('th', {scope: 'col'}, 'Name'), h('th', {scope: 'col', class: 'num'}, 'Objects'),
      h('th', {scope: 'col', class: 'num'}, 'Size'),
      h('th', {scope: 'col', class: 'num'}, 'Older versions'), h('th', {scope: 'col'}, 'Created'),
      h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Actions')))),
    tableBody));

  main.append(
    h('h1', {}, 'Buckets'),
    h('section', {class: 'panel', 'aria-labelledby': 'create-heading'},
      h('h2', {id: 'create-heading'}, 'Create a bucket'), form),
    message,
    h('section', {'aria-labelledby': 'list-heading'},
      h('h2', {id: 'list-heading', class: 'visually-hidden'}, 'All buckets'), table, note));

  async function load() {
    const data = await get('/api/buckets');
    if (!ctx.isCurrent()) return;
    tableBody.replaceChildren();
    if (!data.buckets.length) {
      tableBody.append(h('tr', {}, h('td', {colspan: '6'}, 'No buckets yet. Create one above.')));
    }
    const pending = [];
    for (const bucket of data.buckets) {
      const objects = h('td', {class: 'num'}, formatCount(bucket.objects));
      const size = h('td', {class: 'num'}, formatBytes(bucket.bytes));
      // Noncurrent versions and delete markers; only the server's statistics know them.
      const versions = h('td', {class: 'num', 'data-versions': bucket.versions ?? ''}, bucket.versions === null
        ? '—' : `${formatCount(bucket.versions)} (${formatBytes(bucket.version_bytes)})`);
      const remove = h('button', {type: 'button', class: 'danger secondary small',
        'aria-label': `Delete bucket ${bucket.name}`, onclick: () => removeBucket(bucket.name)}, 'Delete');
      tableBody.append(h('tr', {'data-bucket': bucket.name},
        h('th', {scope: 'row'}, h('a', {href: `#/b/${encodeURIComponent(bucket.name)}`}, bucket.name)),
        objects, size, versions, h('td', {}, formatDate(bucket.created)), h('td', {}, remove)));
      if (bucket.objects === null) pending.push({name: bucket.name, objects, size});
    }
    note.textContent = data.usage === 'statistics'
      ? 'Counts and sizes come from the server\'s statistics.'
      : 'Counts and sizes are worked out by listing each bucket (up to 10,000 objects each).';
    countByListing(pending);
  }

  async function countByListing(pending) {
    const work = [...pending];
    const worker = async () => {
      while (work.length && ctx.isCurrent()) {
        const item = work.shift();
        try {
          const usage = await get(bucketPath(item.name, '/usage'));
          item.objects.textContent = `${formatCount(usage.objects)}${usage.exact ? '' : '+'}`;
          item.size.textContent = `${formatBytes(usage.bytes)}${usage.exact ? '' : '+'}`;
        } catch {
          item.objects.textContent = '?';
          item.size.textContent = '?';
        }
      }
    };
    await Promise.all(Array.from({length: COUNT_PARALLEL}, worker));
  }

  async function removeBucket(name) {
    const sure = await confirmDialog({
      title: `Delete bucket “${name}”?`,
      message: 'The bucket must be empty. Deleting it cannot be undone.',
      confirmLabel: 'Delete bucket',
    });
    if (!sure) return;
    try {
      await del(bucketPath(name));
      showMessage(message, 'ok', `Bucket “${name}” deleted.`);
      await load();
    } catch (err) {
      showMessage(message, 'error', err.message);
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!name) {
      showMessage(message, 'error', 'Enter a name for the new bucket.');
      nameInput.focus();
      return;
    }
    createButton.disabled = true;
    try {
      await post('/api/buckets', {name});
      nameInput.value = '';
      showMessage(message, 'ok', `Bucket “${name}” created.`);
      announce(`Bucket ${name} created.`);
      await load();
    } catch (err) {
      showMessage(message, 'error', err.message);
      nameInput.focus();
    } finally {
      createButton.disabled = false;
    }
  });

  await load();
}
