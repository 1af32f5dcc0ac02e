// Admin: users and their access keys (admins only), and bucket policies with templates and a JSON
// editor whose mistakes are explained in words.

import {bucketPath, del, get, post, put} from '../api.js';
import {announce, confirmDialog, copyText, field, formatDate, h, openDialog, showMessage} from '../dom.js';

const ROOT_USER = 'root';

const TEMPLATES = {
  private: {label: 'Private (no policy: only the owner and admins)', needsUser: false},
  'public-read': {label: 'Public read (anyone can download objects)', needsUser: false},
  'read-only-user': {label: 'Read-only for one user', needsUser: true},
  'user-prefix': {label: 'Per-user prefix (a user may only use home/USER/)', needsUser: true},
};

/** A policy document for a template, as pretty JSON ('' for private: no policy at all). */
export function templatePolicy(template, bucket, user) {
  const arn = `arn:aws:s3:::${bucket}`;
  let statements;
  switch (template) {
    case 'private':
      return '';
    case 'public-read':
      statements = [{Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: [`${arn}/*`]}];
      break;
    case 'read-only-user':
      statements = [
        {Sid: 'ListBucket', Effect: 'Allow', Principal: {AWS: [user]}, Action: ['s3:ListBucket'], Resource: [arn]},
        {Sid: 'ReadObjects', Effect: 'Allow', Principal: {AWS: [user]}, Action: ['s3:GetObject'], Resource: [`${arn}/*`]},
      ];
      break;
    case 'user-prefix':
      statements = [
        {Sid: 'ListOwnPrefix', Effect: 'Allow', Principal: {AWS: [user]}, Action: ['s3:ListBucket'], Resource: [arn],
          Condition: {StringLike: {'s3:prefix': [`home/${user}/*`, `home/${user}/`]}}},
        {Sid: 'UseOwnPrefix', Effect: 'Allow', Principal: {AWS: [user]},
          Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: [`${arn}/home/${user}/*`]},
      ];
      break;
    default:
      return '';
  }
  return JSON.stringify({Version: '2012-10-17', Statement: statements}, null, 2);
}

/** Where a JSON.parse error happened, in words (line and column). */
export function jsonProblem(text) {
  try {
    JSON.parse(text);
    return '';
  } catch (err) {
    const detail = String(err.message).replace(/^JSON\.parse: /, '');
    const position = /position (\d+)/.exec(detail);
    if (position) {
      const before = text.slice(0, Number(position[1]));
      const line = before.split('\n').length;
      const column = before.length - before.lastIndexOf('\n');
      return `The policy is not valid JSON: ${detail.replace(/ in JSON at position \d+.*$/, '').replace(/ \(line \d+ column \d+\)$/, '')} at line ${line}, column ${column}.`;
    }
    return `The policy is not valid JSON: ${detail}.`;
  }
}

function secretDialog(title, keys) {
  return openDialog(title, (close) => {
    const accessBox = h('input', {type: 'text', class: 'copy', readonly: true, value: keys.access_key});
    const secretBox = h('input', {type: 'text', class: 'copy', readonly: true, value: keys.secret_key});
    const done = h('button', {type: 'button', onclick: () => close()}, 'I have copied the secret key');
    window.setTimeout(() => secretBox.focus(), 0);
    return h('div', {},
      h('p', {class: 'secret', role: 'alert'},
        'This is the only time the secret key is shown. Copy it now and keep it somewhere safe.'),
      h('div', {class: 'row'}, h('div', {class: 'grow'}, field('New access key', accessBox).wrap),
        h('button', {type: 'button', class: 'secondary', onclick: () => copyText(accessBox.value, accessBox)}, 'Copy access key')),
      h('div', {class: 'row'}, h('div', {class: 'grow'}, field('New secret key', secretBox).wrap),
        h('button', {type: 'button', class: 'secondary', onclick: () => copyText(secretBox.value, secretBox)}, 'Copy secret key')),
      h('div', {class: 'actions'}, done));
  });
}

function usersSection(ctx) {
  const message = h('div', {class: 'message'});
  const nameInput = h('input', {type: 'text', autocomplete: 'off', spellcheck: 'false'});
  const adminBox = h('input', {type: 'checkbox'});
  const create = h('button', {type: 'submit'}, 'Create user');
  const form = h('form', {class: 'row', novalidate: true},
    field('User name', nameInput, 'Letters, digits and _+=,.@- (up to 64).').wrap,
    h('label', {class: 'inline'}, adminBox, 'Administrator'), create);
  const tbody = h('tbody', {});
  const section = h('section', {class: 'panel', 'aria-labelledby': 'users-heading'},
    h('h2', {id: 'users-heading'}, 'Users and access keys'), form, message,
    h('div', {class: 'table-wrap'}, h('table', {},
      h('caption', {class: 'visually-hidden'}, 'Users and their access keys'),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'User'), h('th', {scope: 'col'}, 'Role'),
        h('th', {scope: 'col'}, 'Created'), h('th', {scope: 'col'}, 'Access keys'),
        h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Actions')))),
      tbody)));

  async function load() {
    let data;
    try {
      data = await get('/api/admin/users');
    } catch (err) {
      tbody.replaceChildren(h('tr', {}, h('td', {colspan: '5'}, err.message)));
      return;
    }
    if (!ctx.isCurrent()) return;
    tbody.replaceChildren();
    for (const user of data.users) {
      // Root's key comes from the server's environment and is reinstalled at every start.
      const fixed = user.name === ROOT_USER;
      const keyList = h('ul', {class: 'key-list'});
      for (const key of user.keys || []) {
        const mine = key.access_key === ctx.session.access_key;
        const locked = mine || fixed;
        keyList.append(h('li', {'data-access-key': key.access_key},
          h('code', {}, key.access_key),
          h('span', {class: `badge ${key.active ? 'on' : 'off'}`}, key.active ? 'active' : 'disabled'),
          mine ? h('span', {class: 'badge'}, 'this session') : null,
          fixed ? h('span', {class: 'badge'}, 'set by the server') : null,
          locked ? null : h('button', {type: 'button', class: 'secondary small',
            'aria-label': `${key.active ? 'Disable' : 'Enable'} access key ${key.access_key}`,
            onclick: () => setActive(key.access_key, !key.active)}, key.active ? 'Disable' : 'Enable'),
          locked ? null : h('button', {type: 'button', class: 'danger secondary small',
            'aria-label': `Delete access key ${key.access_key}`,
            onclick: () => deleteKey(key.access_key)}, 'Delete key')));
      }
      if (!(user.keys || []).length) keyList.append(h('li', {}, 'no keys'));
      const isSelf = user.name === ctx.session.user || fixed;
      tbody.append(h('tr', {'data-user': user.name},
        h('th', {scope: 'row'}, user.name),
        h('td', {}, user.is_admin ? 'admin' : 'user'),
        h('td', {}, formatDate(user.created)),
        h('td', {}, keyList),
        h('td', {}, h('div', {class: 'actions'},
          fixed ? null : h('button', {type: 'button', class: 'secondary small',
            'aria-label': `New access key for ${user.name}`, onclick: () => newKey(user.name)}, 'New access key'),
          isSelf ? null : h('button', {type: 'button', class: 'danger secondary small',
            'aria-label': `Delete user ${user.name}`, onclick: () => deleteUser(user.name)}, 'Delete user')))));
    }
  }

  async function act(work, success) {
    try {
      await work();
      showMessage(message, 'ok', success);
      announce(success);
      await load();
    } catch (err) {
      showMessage(message, 'error', err.message);
    }
  }

  async function newKey(name) {
    try {
      const keys = await post(`/api/admin/users/${encodeURIComponent(name)}/keys`);
      await secretDialog(`New access key for ${name}`, keys);
      showMessage(message, 'ok', `Access key ${keys.access_key} created for ${name}.`);
      await load();
    } catch (err) {
      showMessage(message, 'error', err.message);
    }
  }

  function setActive(accessKey, active) {
    return act(() => post(`/api/admin/keys/${encodeURIComponent(accessKey)}`, {active}),
      `Access key ${accessKey} ${active ? 'enabled' : 'disabled'}.`);
  }

  async function deleteKey(accessKey) {
    if (!await confirmDialog({title: `Delete access key ${accessKey}?`,
      message: 'Programs using this key will stop working at once.', confirmLabel: 'Delete key'})) return;
    await act(() => del(`/api/admin/keys/${encodeURIComponent(accessKey)}`), `Access key ${accessKey} deleted.`);
  }

  async function deleteUser(name) {
    if (!await confirmDialog({title: `Delete user ${name}?`,
      message: 'The user and all of their access keys are removed. Their buckets stay.', confirmLabel: 'Delete user'})) return;
    await act(() => del(`/api/admin/users/${encodeURIComponent(name)}`), `User ${name} deleted.`);
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!name) {
      showMessage(message, 'error', 'Enter a name for the new user.');
      nameInput.focus();
      return;
    }
    create.disabled = true;
    try {
      const created = await post('/api/admin/users', {name, is_admin: adminBox.checked});
      nameInput.value = '';
      adminBox.checked = false;
      await secretDialog(`User ${name} created`, created);
      showMessage(message, 'ok', `User ${name} created with access key ${created.access_key}.`);
      await load();
    } catch (err) {
      showMessage(message, 'error', err.message);
      nameInput.focus();
    } finally {
      create.disabled = false;
    }
  });

  return {section, load};
}

function policySection(ctx, buckets) {
  const message = h('div', {class: 'message'});
  const bucketSelect = h('select', {}, ...buckets.map((b) => h('option', {value: b.name}, b.name)));
  const templateSelect = h('select', {}, ...Object.entries(TEMPLATES).map(([value, t]) => h('option', {value}, t.label)));
  const userInput = h('input', {type: 'text', autocomplete: 'off', spellcheck: 'false'});
  const userField = field('User name for the template', userInput);
  const useTemplate = h('button', {type: 'button', class: 'secondary'}, 'Use template');
  const editor = h('textarea', {class: 'code', spellcheck: 'false', autocapitalize: 'off'});
  const save = h('button', {type: 'button'}, 'Save policy');
  const remove = h('button', {type: 'button', class: 'danger secondary'}, 'Remove policy');
  const check = h('button', {type: 'button', class: 'secondary'}, 'Check JSON');
  const current = h('p', {class: 'hint'});

  function syncUserField() {
    userField.wrap.hidden = !TEMPLATES[templateSelect.value].needsUser;
  }

  async function loadPolicy() {
    if (!bucketSelect.value) return;
    try {
      const answer = await get(bucketPath(bucketSelect.value, '/policy'));
      editor.value = answer.policy ? JSON.stringify(JSON.parse(answer.policy), null, 2) : '';
      current.textContent = answer.policy ? 'This bucket has the policy shown below.' : 'This bucket has no policy (private).';
      showMessage(message, 'info', '');
    } catch (err) {
      editor.value = '';
      current.textContent = '';
      showMessage(message, 'error', err.message);
    }
  }

  useTemplate.addEventListener('click', () => {
    const template = templateSelect.value;
    const user = userInput.value.trim();
    if (TEMPLATES[template].needsUser && !user) {
      showMessage(message, 'error', 'Enter the user name this template is for.');
      userInput.focus();
      return;
    }
    editor.value = templatePolicy(template, bucketSelect.value, user);
    showMessage(message, 'info', template === 'private'
      ? 'Private means no policy: press “Remove policy” (or “Save policy” with the editor empty).'
      : 'Template filled in. Review it, then press “Save policy”.');
    editor.focus();
  });
  check.addEventListener('click', () => {
    const problem = editor.value.trim() ? jsonProblem(editor.value) : '';
    showMessage(message, problem ? 'error' : 'ok', problem || 'The JSON is well formed. The server checks the rest when you save.');
  });
  save.addEventListener('click', async () => {
    const text = editor.value.trim();
    try {
      if (!text) {
        await del(bucketPath(bucketSelect.value, '/policy'));
        showMessage(message, 'ok', `Policy removed: ${bucketSelect.value} is private.`);
      } else {
        await put(bucketPath(bucketSelect.value, '/policy'), {policy: text});
        showMessage(message, 'ok', `Policy saved: it applies to ${bucketSelect.value} now.`);
      }
      current.textContent = text ? 'This bucket has the policy shown below.' : 'This bucket has no policy (private).';
    } catch (err) {
      showMessage(message, 'error', err.message);
      editor.focus();
    }
  });
  remove.addEventListener('click', async () => {
    if (!await confirmDialog({title: `Remove the policy of ${bucketSelect.value}?`,
      message: 'Only the owner and admins will have access.', confirmLabel: 'Remove policy'})) return;
    try {
      await del(bucketPath(bucketSelect.value, '/policy'));
      editor.value = '';
      current.textContent = 'This bucket has no policy (private).';
      showMessage(message, 'ok', `Policy removed: ${bucketSelect.value} is private.`);
    } catch (err) {
      showMessage(message, 'error', err.message);
    }
  });
  templateSelect.addEventListener('change', syncUserField);
  bucketSelect.addEventListener('change', loadPolicy);
  syncUserField();

  const body = buckets.length
    ? [h('div', {class: 'row'}, field('Bucket', bucketSelect).wrap, field('Template', templateSelect).wrap,
      userField.wrap, useTemplate),
    current,
    field('Policy JSON', editor, 'An IAM-style bucket policy. Leave it empty to make the bucket private.').wrap,
    message,
    h('div', {class: 'actions'}, check, save, remove)]
    : [h('p', {}, 'There are no buckets yet. Create one on the Buckets page first.')];
  const section = h('section', {class: 'panel', 'aria-labelledby': 'policy-heading'},
    h('h2', {id: 'policy-heading'}, 'Bucket policies'), ...body);
  return {section, load: loadPolicy};
}

export async function render(main, ctx) {
  main.append(h('h1', {}, 'Admin'));
  const buckets = (await get('/api/buckets').catch(() => ({buckets: []}))).buckets;
  if (!ctx.isCurrent()) return;
  if (ctx.session.is_admin) {
    const users = usersSection(ctx);
    main.append(users.section);
    await users.load();
  } else {
    main.append(h('section', {class: 'panel'}, h('h2', {}, 'Users and access keys'),
      h('p', {}, 'Managing users and keys needs an admin access key. You are signed in with a regular one.')));
  }
  const policies = policySection(ctx, buckets);
  main.append(policies.section);
  await policies.load();
}
