# goru prelude for the python3.12 runtime (a WASI command module, run as
# `python -c PRELUDE CODE`). It gives the same names as the python runtime's
# prelude and talks to the host through framed stdio, as the original did:
# a request frame on stderr, one JSON reply line on stdin. Keep in sync with
# guest/python/src/goru_prelude.py and goru.pyi.
# Only modules CPython has already loaded at start-up are imported here: this
# runtime compiles every other module from source on each run (json alone
# costs tens of milliseconds), so json is imported lazily, on first use.
import builtins as _b, os as _os, sys as _sys

# argv: ["-c", user code, the shared function wrappers (goru_functions.py)].
_code, _functions_src = _sys.argv[1], _sys.argv[2]
_sys.argv[:] = ["-c"]


class GoruError(Exception):
    """A host function failed for a reason that has no closer builtin exception."""


_ERRORS = {
    "PermissionError": PermissionError, "ValueError": ValueError, "KeyError": KeyError,
    "TypeError": TypeError, "TimeoutError": TimeoutError, "FileNotFoundError": FileNotFoundError,
    "FileExistsError": FileExistsError, "IsADirectoryError": IsADirectoryError,
    "NotADirectoryError": NotADirectoryError, "OSError": OSError, "ConnectionError": ConnectionError,
}


def _frame(kind, payload):
    import json as _json

    data = b"\x1egoru:" + kind + b" " + _json.dumps(payload).encode() + b"\n"
    try:
        _sys.stderr.flush()
    except Exception:
        pass
    view = memoryview(data)
    while view:
        view = view[_os.write(2, view):]


def _goru_call(name, args=None):
    """Calls host function `name` with JSON-serializable `args`; returns its JSON result."""
    if not isinstance(name, str):
        raise TypeError("_goru_call: name must be a str")
    import json as _json

    _frame(b"call", {"name": name, "args": {} if args is None else args})
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = _os.read(0, 65536)
        if not chunk:
            raise GoruError("the host call channel is closed")
        reply += chunk
    reply = _json.loads(reply)
    if "ok" in reply:
        return _json.loads(reply["ok"])
    try:
        detail = _json.loads(reply["error"])
        kind, message = detail["type"], detail["message"]
    except (ValueError, KeyError, TypeError):
        kind, message = "GoruError", str(reply.get("error"))
    raise _ERRORS.get(kind, GoruError)(message) from None


_b._goru_call = _goru_call
_b.GoruError = GoruError
_goru = type(_sys)("goru")
_goru.call, _goru.GoruError = _goru_call, GoruError
_sys.modules["goru"] = _goru
# The shared kv_*/http_*/fs_* wrappers; their `_goru_call` resolves through builtins.
_functions = {"__builtins__": _b, "__name__": "goru_functions"}
exec(compile(_functions_src, "goru_functions.py", "exec"), _functions)
for _name in _functions["__all__"]:
    setattr(_b, _name, _functions[_name])
    setattr(_goru, _name, _functions[_name])

_main = type(_sys)("__main__")
_main.__builtins__ = _b
_sys.modules["__main__"] = _main
try:
    exec(compile(_code, "<string>", "exec"), _main.__dict__)
except SystemExit:
    raise
except BaseException as _e:
    import traceback as _tb

    _text = "".join(_tb.format_exception(type(_e), _e, _e.__traceback__.tb_next))
    _sys.stderr.write(_text)
    try:
        _message = str(_e)
    except BaseException:
        _message = "<unprintable exception>"
    _frame(b"error", {"type": type(_e).__name__, "message": _message, "traceback": _text})
    _sys.exit(1)
