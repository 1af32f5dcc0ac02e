// The console's shell: session, hash routes (#/buckets, #/b/NAME?prefix=…, #/lifecycle/NAME, #/admin,
// #/ops), navigation and focus: each page's heading receives focus after it renders, so keyboard and
// screen-reader users land on the new content.

import {get, post, setCsrf, whenSignedOut} from './api.js';
import {announce, h} from './dom.js';
import * as adminPage from './pages/admin.js';
import * as browserPage from './pages/browser.js';
import * as bucketsPage from './pages/buckets.js';
import * as lifecyclePage from './pages/lifecycle.js';
import * as loginPage from './pages/login.js';
import * as opsPage from './pages/ops.js';

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
const state = {session: null, cleanup: null, rendering: 0};

function parseHash() {
  const raw = window.location.hash.replace(/^#/, '') || '/buckets';
  const [path, search = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return {parts, params: new URLSearchParams(search)};
}

export function navigate(hash) {
  if (window.location.hash === hash) render();
  else window.location.hash = hash;
}

function pageFor(parts) {
  if (!state.session || !state.session.signed_in) return {page: loginPage, section: 'login'};
  switch (parts[0]) {
    case 'b': return {page: browserPage, section: 'buckets'};
    case 'lifecycle': return {page: lifecyclePage, section: 'buckets'};
    case 'admin': return {page: adminPage, section: 'admin'};
    case 'ops': return {page: opsPage, section: 'ops'};
    default: return {page: bucketsPage, section: 'buckets'};
  }
}

function updateChrome(section) {
  const signedIn = Boolean(state.session && state.session.signed_in);
  topbar.hidden = !signedIn;
  if (!signedIn) return;
  document.getElementById('whoami').textContent =
    `Signed in as ${state.session.user}${state.session.is_admin ? ' (admin)' : ''}`;
  for (const link of topbar.querySelectorAll('nav a')) {
    if (link.dataset.section === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function render() {
  const ticket = ++state.rendering;
  if (state.cleanup) {
    state.cleanup();
    state.cleanup = null;
  }
  const {parts, params} = parseHash();
  const {page, section} = pageFor(parts);
  updateChrome(section);
  main.replaceChildren();
  const ctx = {session: state.session, parts, params, navigate, signedIn, isCurrent: () => ticket === state.rendering};
  try {
    state.cleanup = (await page.render(main, ctx)) || null;
  } catch (err) {
    main.replaceChildren(h('h1', {tabindex: '-1'}, 'Something went wrong'),
      h('p', {class: 'message error', role: 'alert'}, err.message || String(err)));
  }
  if (ticket !== state.rendering) return;
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    document.title = `${heading.textContent} · s3server console`;
    heading.focus();
  }
}

async function signedIn(session) {
  state.session = session;
  setCsrf(session.csrf);
  const {parts} = parseHash();
  if (!parts.length || parts[0] === 'login') navigate('#/buckets');
  else render();
}

async function signOut() {
  try {
    await post('/api/logout');
  } catch {
    // Signed out already: carry on to the sign-in page.
  }
  await refreshSession();
  announce('You are signed out.');
  navigate('#/login');
}

async function refreshSession() {
  const session = await get('/api/session');
  state.session = session;
  setCsrf(session.csrf);
  return session;
}

whenSignedOut(async () => {
  if (!state.session || !state.session.signed_in) return;
  await refreshSession();
  loginPage.setNotice('Your session has ended. Sign in again.');
  render();
});

document.getElementById('sign-out').addEventListener('click', signOut);
window.addEventListener('hashchange', render);

refreshSession().then(render, (err) => {
  main.replaceChildren(h('h1', {}, 'The console is not available'),
    h('p', {class: 'message error', role: 'alert'}, err.message));
});
