// The console's JSON API: fetch with the CSRF token, errors as sentences, uploads with progress (to
// the console, or as a browser-upload form straight to S3).

let csrfToken = '';
let onSignedOut = null;

export class ApiError extends Error {
  constructor(status, message, code = '') {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function setCsrf(token) {
  csrfToken = token || '';
}

/** Called (once per failing request) when the server says the session is gone. */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

function failure(status, data) {
  const message = data && data.error && data.error.message
    ? data.error.message
    : `The console answered with status ${status}.`;
  const err = new ApiError(status, message, (data && data.error && data.error.code) || '');
  if (status === 401 && onSignedOut) onSignedOut(err);
  return err;
}

export async function api(method, path, body) {
  const options = {method, headers: {}, credentials: 'same-origin'};
  if (method !== 'GET' && method !== 'HEAD') options.headers['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, 'The console is not answering. Check that the server is running and try again.');
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw failure(response.status, data);
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);
export const put = (path, body = {}) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

export function bucketPath(bucket, rest = '') {
  return `/api/buckets/${encodeURIComponent(bucket)}${rest}`;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** PUT a Blob with upload progress. Returns {promise, abort}; progress(loadedBytes) as it goes. */
export function sendBlob(url, blob, {contentType = '', progress = () => {}} = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('PUT', url);
    xhr.setRequestHeader('X-CSRF-Token', csrfToken);
    xhr.setRequestHeader('Content-Type', contentType || 'application/octet-stream');
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (event) => progress(event.loaded));
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else reject(failure(xhr.status, xhr.response));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'The connection to the console broke during the upload.')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'Cancelled.', 'Cancelled')));
    xhr.send(blob);
  });
  return {promise, abort: () => xhr.abort()};
}

function xmlText(doc, name) {
  const node = doc ? doc.getElementsByTagName(name)[0] : null;
  return node ? node.textContent : '';
}

/** POST a browser-upload form (the signed `fields`, then the file) straight to S3 at `url`, with
 * upload progress. Returns {promise, abort}; the promise resolves with {etag} from S3's PostResponse,
 * and an S3 error rejects it with S3's own code and message. */
export function postForm(url, fields, blob, {progress = () => {}} = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append('file', blob);
    xhr.open('POST', url);
    xhr.upload.addEventListener('progress', (event) => progress(event.loaded));
    xhr.addEventListener('load', () => {
      const doc = xhr.responseXML;
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({etag: (xmlText(doc, 'ETag') || xhr.getResponseHeader('ETag') || '').replace(/"/g, '')});
      } else {
        const code = xmlText(doc, 'Code');
        const message = xmlText(doc, 'Message') || `S3 answered with status ${xhr.status}.`;
        reject(new ApiError(xhr.status, code ? `${code}: ${message}` : message, code));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0,
      `The browser could not send the file to the S3 endpoint (${new URL(url).origin}). Check that it is `
      + 'reachable from this browser and that it accepts uploads from this console.')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'Cancelled.', 'Cancelled')));
    xhr.send(form);
  });
  return {promise, abort: () => xhr.abort()};
}
