// The host functions a `javascript` run sees as globals, with the same names,
// arguments and results as in Python (guest/goru.pyi). Each call is
// synchronous and checked against the run's policy on the host side: a
// function the policy does not grant throws a GoruError named
// "PermissionError". Kept in sync with guest/javascript/src/functions.js by a
// test (tests/javascript.rs).

/** A host function failed; `name` is the kind of failure: "PermissionError",
 * "ValueError", "KeyError", "TimeoutError", "FileNotFoundError",
 * "FileExistsError", "IsADirectoryError", "NotADirectoryError", "OSError",
 * "ConnectionError" or "GoruError". A "TypeError" is thrown as a TypeError. */
declare class GoruError extends Error {
  constructor(name: string, message: string);
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface HttpResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
}

interface FsEntry {
  name: string;
  is_dir: boolean;
  size: number;
}

interface FsStat extends FsEntry {
  /** Seconds since the Unix epoch. */
  modified: number;
}

/** Calls host function `name` (a custom function the policy grants) with
 * JSON-serializable `args`; returns its JSON result. */
declare function _goru_call(name: string, args?: Json): Json;

/** The value stored under `key` in this run's namespace, or null. */
declare function kv_get(key: string): string | null;
/** Stores the string `value` under `key`, optionally expiring after `ttl_seconds`. */
declare function kv_set(key: string, value: string, ttl_seconds?: number | null): void;
/** Deletes `key`; true if it existed. */
declare function kv_delete(key: string): boolean;
/** The keys starting with `prefix`, sorted. */
declare function kv_keys(prefix?: string): string[];

/** Sends an HTTP request to an allowed host. */
declare function http_request(
  method: string,
  url: string,
  headers?: Record<string, string> | null,
  body?: string | null,
): HttpResponse;
/** GET `url`. */
declare function http_get(url: string, headers?: Record<string, string> | null): HttpResponse;
/** POST `body` to `url`. */
declare function http_post(url: string, body: string, headers?: Record<string, string> | null): HttpResponse;

/** The text of the file at `path` in a mount. */
declare function fs_read(path: string): string;
/** Writes `content` to `path`; returns the bytes written. */
declare function fs_write(path: string, content: string): number;
/** Entries of the directory at `path`. */
declare function fs_list(path: string): FsEntry[];
/** Whether `path` exists in a mount. */
declare function fs_exists(path: string): boolean;
/** Creates the directory `path` (mode rwc). */
declare function fs_mkdir(path: string): void;
/** Removes the file or empty directory `path` (mode rwc). */
declare function fs_remove(path: string): void;
/** Name, kind, size and modification time of `path`. */
declare function fs_stat(path: string): FsStat;

/** The run's whole stdin as text; read once (later calls return ""). */
declare function read_stdin(): string;
