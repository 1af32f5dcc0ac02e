// The console's JSON API: fetch with the CSRF token, errors as sentences, uploads with progress.

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
