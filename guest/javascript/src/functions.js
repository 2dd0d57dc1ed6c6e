// The host functions under the same names and arguments as in Python, as
// thin wrappers over the one door, `_goru_call`. Synchronous: the guest waits
// while the host does the I/O. Keep in sync with guest/goru.d.ts (a test
// checks the names). Every call is checked against the run's policy on the
// host side; a function the run was not granted throws a PermissionError.
import { call } from 'goru:sandbox/host@0.1.0';

/** A host function failed; `name` is the kind of failure the host gave
 * (`PermissionError`, `ValueError`, `TimeoutError`, `FileNotFoundError`, …). */
export class GoruError extends Error {
  constructor(name, message) {
    super(message);
    Object.defineProperty(this, 'name', { value: name, writable: true, configurable: true, enumerable: false });
  }
}

function failure(text) {
  let kind = 'GoruError';
  let message = String(text);
  try {
    const detail = JSON.parse(text);
    if (typeof detail.type === 'string' && typeof detail.message === 'string') {
      kind = detail.type;
      message = detail.message;
    }
  } catch {}
  return kind === 'TypeError' ? new TypeError(message) : new GoruError(kind, message);
}

/** Calls host function `name` with JSON-serializable `args`; returns its JSON result. */
export function _goru_call(name, args) {
  if (typeof name !== 'string') throw new TypeError('_goru_call: name must be a string');
  let text;
  try {
    text = call(name, JSON.stringify(args ?? {}));
  } catch (e) {
    // The bindings throw a result's error with the error value as `payload`.
    throw failure(e && e.payload !== undefined ? e.payload : e);
  }
  return JSON.parse(text);
}

const str = (name, value) => {
  if (typeof value !== 'string') throw new TypeError(`${name}: value must be a string, not ${value === null ? 'null' : typeof value}`);
  return value;
};

export const functions = {
  _goru_call,
  GoruError,
  kv_get: (key) => _goru_call('kv_get', { key }),
  kv_set: (key, value, ttl_seconds = null) => {
    _goru_call('kv_set', { key, value: str('kv_set', value), ttl_seconds });
  },
  kv_delete: (key) => _goru_call('kv_delete', { key }),
  kv_keys: (prefix = '') => _goru_call('kv_keys', { prefix }),
  http_request: (method, url, headers = null, body = null) =>
    _goru_call('http_request', { method, url, headers, body }),
  http_get: (url, headers = null) => _goru_call('http_request', { method: 'GET', url, headers, body: null }),
  http_post: (url, body, headers = null) =>
    _goru_call('http_request', { method: 'POST', url, headers, body: str('http_post', body) }),
  fs_read: (path) => _goru_call('fs_read', { path }),
  fs_write: (path, content) => _goru_call('fs_write', { path, content: str('fs_write', content) }),
  fs_list: (path) => _goru_call('fs_list', { path }),
  fs_exists: (path) => _goru_call('fs_exists', { path }),
  fs_mkdir: (path) => _goru_call('fs_mkdir', { path }),
  fs_remove: (path) => _goru_call('fs_remove', { path }),
  fs_stat: (path) => _goru_call('fs_stat', { path }),
  /** The run's whole stdin as text (read once; later calls return ''). */
  read_stdin: () => JSON.parse(call('_read_stdin', '{}')),
};
