// Small DOM helpers: element builders, formatting, announcements and modal dialogs.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function assign(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.setAttribute('class', value);
    } else if (name === 'checked' || name === 'value' || name === 'disabled' || name === 'selected') {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
}

/** An HTML element: h('button', {type: 'button', onclick}, 'Label'). Text is never parsed as HTML. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  assign(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element, as h(). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  assign(el, attrs);
  append(el, children);
  return el;
}

let idCounter = 0;
export function uid(prefix = 'id') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled form field: returns {wrap, input}. */
export function field(label, input, hint) {
  if (!input.id) input.id = uid('field');
  const hintEl = hint ? h('p', {class: 'hint', id: `${input.id}-hint`}, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  const wrap = h('div', {class: 'field'}, h('label', {for: input.id}, label), input, hintEl);
  return {wrap, input};
}

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
export function formatBytes(n) {
  if (n === null || n === undefined) return '…';
  if (n < 1024) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value >= 100 ? 0 : 1)} ${UNITS[unit]}`;
}

export function formatCount(n) {
  if (n === null || n === undefined) return '…';
  return Number(n).toLocaleString('en-US');
}

export function formatDate(text) {
  if (!text) return '';
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text;
  return date.toLocaleString('en-GB', {dateStyle: 'medium', timeStyle: 'short'});
}

/** Say something to screen-reader users without moving focus. */
export function announce(text) {
  const region = document.getElementById('announcer');
  region.textContent = '';
  window.setTimeout(() => { region.textContent = text; }, 50);
}

/** Put a message (or nothing) into a message box; errors are alerts. */
export function showMessage(box, kind, text) {
  box.className = `message ${kind}`;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  box.textContent = text || '';
}

/** A modal dialog built from content; resolves with the value passed to close(). Focus returns to
 * whatever had it before. `wide` for tables that need the room. */
export function openDialog(title, build, {wide = false} = {}) {
  const previous = document.activeElement;
  const titleId = uid('dialog-title');
  const dialog = h('dialog', {'aria-labelledby': titleId, class: wide ? 'wide' : null});
  return new Promise((resolve) => {
    let result;
    const close = (value) => {
      result = value;
      dialog.close();
    };
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (previous && previous.isConnected && typeof previous.focus === 'function') previous.focus();
      resolve(result);
    });
    append(dialog, [h('h2', {id: titleId}, title), build(close)]);
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Ask before something irreversible; resolves true when confirmed. */
export function confirmDialog({title, message, confirmLabel, danger = true}) {
  return openDialog(title, (close) => {
    const cancel = h('button', {type: 'button', class: 'secondary', onclick: () => close(false)}, 'Cancel');
    const confirm = h('button', {type: 'button', class: danger ? 'danger' : '', onclick: () => close(true)},
      confirmLabel);
    window.setTimeout(() => cancel.focus(), 0);
    return h('div', {}, h('p', {}, message), h('div', {class: 'actions'}, cancel, confirm));
  }).then((value) => value === true);
}

/** Copy text, and say so. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    announce('Copied to the clipboard.');
  } catch {
    if (input) {
      input.focus();
      input.select();
    }
    announce('Select the text and copy it with your keyboard.');
  }
}
