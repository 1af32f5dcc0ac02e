// Sign in with an access key and its secret; the secret goes to the console once and stays there.

import {post} from '../api.js';
import {field, h, showMessage} from '../dom.js';

let notice = '';

export function setNotice(text) {
  notice = text;
}

export async function render(main, ctx) {
  const accessKey = h('input', {type: 'text', name: 'access_key', autocomplete: 'username', required: true,
    spellcheck: 'false', autocapitalize: 'off'});
  const secretKey = h('input', {type: 'password', name: 'secret_key', autocomplete: 'current-password', required: true});
  const message = h('div', {class: 'message'});
  const submit = h('button', {type: 'submit'}, 'Sign in');
  const form = h('form', {class: 'panel', novalidate: true},
    field('Access key', accessKey).wrap,
    field('Secret key', secretKey, 'The secret stays on the console server; this browser never keeps it.').wrap,
    message,
    submit);
  if (notice) showMessage(message, 'info', notice);
  notice = '';

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!accessKey.value.trim() || !secretKey.value) {
      showMessage(message, 'error', 'Enter both the access key and the secret key.');
      (accessKey.value.trim() ? secretKey : accessKey).focus();
      return;
    }
    submit.disabled = true;
    showMessage(message, 'info', 'Signing in…');
    try {
      const session = await post('/api/login', {access_key: accessKey.value.trim(), secret_key: secretKey.value});
      secretKey.value = '';
      await ctx.signedIn(session);
    } catch (err) {
      showMessage(message, 'error', err.message);
      secretKey.value = '';
      secretKey.focus();
    } finally {
      submit.disabled = false;
    }
  });

  main.append(h('div', {class: 'login'}, h('h1', {}, 'Sign in to s3server'), form));
  window.setTimeout(() => accessKey.focus(), 0);
}
