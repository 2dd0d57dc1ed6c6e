"""Rules of goru's API that JSON Schema cannot state, for schemathesis.

openapi.yaml states every rule it can (types, patterns, lengths in
characters). What it cannot state is kept out of generated requests here,
so that schemathesis' "valid request rejected" check stays exact:

- lengths in bytes of UTF-8 (file paths 1024, path components 255, KV keys
  512), which the schema can only give in characters;
- two `files` entries naming the same path, or a file and a directory of the
  same name (`a` and `a/b`).

The server refuses each of these with a 400 naming the field; tests in
tests/server.rs and src/runner/files.rs show it.
"""

import schemathesis

MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255
MAX_KEY_BYTES = 512


def _utf8_len(text):
    return len(text.encode("utf-8", "surrogatepass"))


def _files_fit(files):
    seen = []
    for entry in files:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str):
            continue
        if _utf8_len(path) > MAX_PATH_BYTES:
            return False
        if any(_utf8_len(part) > MAX_NAME_BYTES for part in path.split("/")):
            return False
        for other in seen:
            if other == path or other.startswith(path + "/") or path.startswith(other + "/"):
                return False
        seen.append(path)
    return True


@schemathesis.hook
def filter_body(context, body):
    if isinstance(body, dict) and isinstance(body.get("files"), list):
        return _files_fit(body["files"])
    return True


@schemathesis.hook
def filter_path_parameters(context, path_parameters):
    key = (path_parameters or {}).get("key")
    return not isinstance(key, str) or _utf8_len(key) <= MAX_KEY_BYTES
