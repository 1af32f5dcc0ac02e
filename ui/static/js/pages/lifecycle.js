// A bucket's lifecycle rules (#/lifecycle/NAME): each rule's ID, status, filter and actions, a form
// that adds an expiration rule, and a Delete button per rule. The console merges a new rule into the
// existing configuration; the server's refusal (a duplicate ID, days that are not positive) is shown.

import {bucketPath, get, post} from '../api.js';
import {announce, confirmDialog, field, formatDate, h, showMessage} from '../dom.js';

const ACTION_LABELS = {
  Expiration: 'Expire current versions',
  NoncurrentVersionExpiration: 'Remove noncurrent versions',
  AbortIncompleteMultipartUpload: 'Abort incomplete uploads',
  Transition: 'Transition',
  NoncurrentVersionTransition: 'Transition noncurrent versions',
};

function plural(n, word) {
  return `${n} ${word}${Number(n) === 1 ? '' : 's'}`;
}

/** A filter in words: "prefix logs/, tag env=dev, larger than 10 bytes", or "every object". */
export function describeFilter(filter) {
  const parts = [];
  if (filter.prefix) parts.push(`prefix ${filter.prefix}`);
  for (const tag of filter.tags) parts.push(`tag ${tag.key}=${tag.value}`);
  if (filter.size_gt !== null) parts.push(`larger than ${plural(filter.size_gt, 'byte')}`);
  if (filter.size_lt !== null) parts.push(`smaller than ${plural(filter.size_lt, 'byte')}`);
  return parts.length ? parts.join(', ') : 'every object';
}

/** An action in words: "Expire current versions after 30 days". */
export function describeAction({action, settings}) {
  const label = ACTION_LABELS[action] || action;
  const details = [];
  if (settings.Days) details.push(`after ${plural(settings.Days, 'day')}`);
  if (settings.Date) details.push(`on ${formatDate(settings.Date)}`);
  if (settings.ExpiredObjectDeleteMarker === 'true') details.push('(expired delete markers)');
  if (settings.NoncurrentDays) details.push(`${plural(settings.NoncurrentDays, 'day')} after they become noncurrent`);
  if (settings.NewerNoncurrentVersions) details.push(`keeping the newest ${settings.NewerNoncurrentVersions}`);
  if (settings.DaysAfterInitiation) details.push(`${plural(settings.DaysAfterInitiation, 'day')} after they start`);
  if (settings.StorageClass) details.push(`to ${settings.StorageClass}`);
  return [label, ...details].join(' ');
}

export async function render(main, ctx) {
  const bucket = ctx.parts[1];
  const message = h('div', {class: 'message'});
  const tableBody = h('tbody', {});
  const idInput = h('input', {type: 'text', name: 'id', autocomplete: 'off', spellcheck: 'false', required: true});
  const prefixInput = h('input', {type: 'text', name: 'prefix', autocomplete: 'off', spellcheck: 'false'});
  const daysInput = h('input', {type: 'number', name: 'days', step: '1', required: true, value: '30'});
  const addButton = h('button', {type: 'submit'}, 'Add rule');
  const form = h('form', {class: 'toolbar', 'aria-label': 'Add an expiration rule'},
    field('Rule ID', idInput, 'Unique among the bucket\'s rules').wrap,
    field('Prefix', prefixInput, 'Empty: every object in the bucket').wrap,
    field('Days', daysInput, 'Objects expire this many days after they were written').wrap,
    addButton);

  main.append(
    h('nav', {class: 'breadcrumbs', 'aria-label': 'Breadcrumb'}, h('ol', {},
      h('li', {}, h('a', {href: '#/buckets'}, 'Buckets')),
      h('li', {}, h('a', {href: `#/b/${encodeURIComponent(bucket)}`}, bucket)),
      h('li', {}, h('span', {'aria-current': 'page'}, 'Lifecycle')))),
    h('h1', {}, `Lifecycle rules of ${bucket}`),
    message,
    h('div', {class: 'table-wrap'}, h('table', {},
      h('caption', {class: 'visually-hidden'}, `Lifecycle rules of ${bucket}`),
      h('thead', {}, h('tr', {},
        h('th', {scope: 'col'}, 'ID'), h('th', {scope: 'col'}, 'Status'), h('th', {scope: 'col'}, 'Filter'),
        h('th', {scope: 'col'}, 'Actions'),
        h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Delete')))),
      tableBody)),
    h('h2', {}, 'Add an expiration rule'),
    form);

  function show(rules) {
    tableBody.replaceChildren();
    if (!rules.length) {
      tableBody.append(h('tr', {}, h('td', {colspan: '5'}, 'This bucket has no lifecycle rules.')));
      return;
    }
    for (const rule of rules) {
      tableBody.append(h('tr', {'data-rule-id': rule.id},
        h('th', {scope: 'row', class: 'mono'}, rule.id),
        h('td', {}, h('span', {class: `badge${rule.status === 'Enabled' ? ' on' : ''}`}, rule.status)),
        h('td', {}, describeFilter(rule.filter)),
        h('td', {}, h('ul', {class: 'plain'}, rule.actions.map((a) => h('li', {}, describeAction(a))))),
        h('td', {}, h('button', {type: 'button', class: 'danger secondary small',
          'aria-label': `Delete rule ${rule.id}`, onclick: () => remove(rule.id)}, 'Delete'))));
    }
  }

  async function load() {
    try {
      show((await get(bucketPath(bucket, '/lifecycle'))).rules);
    } catch (err) {
      showMessage(message, 'error', err.message);
    }
  }

  async function remove(id) {
    const sure = await confirmDialog({
      title: `Delete the rule “${id}”?`,
      message: 'The other rules stay; objects this rule would have expired are kept.',
      confirmLabel: 'Delete rule',
    });
    if (!sure) return;
    try {
      show((await post(bucketPath(bucket, '/lifecycle/delete-rule'), {id})).rules);
      showMessage(message, 'ok', `Rule “${id}” deleted.`);
    } catch (err) {
      showMessage(message, 'error', err.message);
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = idInput.value.trim();
    addButton.disabled = true;
    try {
      const answer = await post(bucketPath(bucket, '/lifecycle/rules'),
        {id, prefix: prefixInput.value, days: daysInput.value.trim()});
      show(answer.rules);
      showMessage(message, 'ok', `Rule “${id}” added.`);
      announce(`Rule ${id} added.`);
      idInput.value = '';
    } catch (err) {
      showMessage(message, 'error', err.message);
    } finally {
      addButton.disabled = false;
    }
  });

  await load();
}
