# The host functions under the original project's names, as thin wrappers
# over the one door, `_goru_call`. Shared by both runtimes: the python guest
# imports it at build time; the python3.12 prelude includes this text.
# Keep in sync with guest/goru.pyi (a test checks the names).
# Every call is checked against the run's policy on the host side; a function
# the run was not granted raises PermissionError.


def kv_get(key):
    """The value stored under `key` in this run's namespace, or None."""
    return _goru_call("kv_get", {"key": key})


def kv_set(key, value, ttl_seconds=None):
    """Stores the string `value` under `key`, optionally expiring after `ttl_seconds`."""
    if not isinstance(value, str):
        raise TypeError(f"kv_set: value must be a str, not {type(value).__name__}")
    _goru_call("kv_set", {"key": key, "value": value, "ttl_seconds": ttl_seconds})


def kv_delete(key):
    """Deletes `key`; True if it existed."""
    return _goru_call("kv_delete", {"key": key})


def kv_keys(prefix=""):
    """The keys starting with `prefix`, sorted."""
    return _goru_call("kv_keys", {"prefix": prefix})


def http_request(method, url, headers=None, body=None):
    """Sends an HTTP request to an allowed host: {"status", "body", "headers"}."""
    return _goru_call("http_request", {"method": method, "url": url, "headers": headers, "body": body})


def http_get(url, headers=None):
    """GET `url`: {"status", "body", "headers"}."""
    return http_request("GET", url, headers)


def http_post(url, body, headers=None):
    """POST `body` (a str) to `url`: {"status", "body", "headers"}."""
    return http_request("POST", url, headers, body)


def fs_read(path):
    """The text of the file at `path` in a mount."""
    return _goru_call("fs_read", {"path": path})


def fs_write(path, content):
    """Writes `content` (a str) to `path`; returns the bytes written."""
    return _goru_call("fs_write", {"path": path, "content": content})


def fs_list(path):
    """Entries of the directory at `path`: [{"name", "is_dir", "size"}]."""
    return _goru_call("fs_list", {"path": path})


def fs_exists(path):
    """Whether `path` exists in a mount."""
    return _goru_call("fs_exists", {"path": path})


def fs_mkdir(path):
    """Creates the directory `path` (mode rwc)."""
    return _goru_call("fs_mkdir", {"path": path})


def fs_remove(path):
    """Removes the file or empty directory `path` (mode rwc)."""
    return _goru_call("fs_remove", {"path": path})


def fs_stat(path):
    """{"name", "is_dir", "size", "modified"} of `path`."""
    return _goru_call("fs_stat", {"path": path})


__all__ = [name for name in dir() if name.startswith(("kv_", "http_", "fs_"))]
