# goru prelude for the python3.12 runtime (a WASI command module, run as
# `python -c PRELUDE CODE`). It gives the same names as the python runtime's
# prelude and talks to the host through framed stdio, as the original did:
# a request frame on stderr, one JSON reply line on stdin. Keep in sync with
# guest/python/src/goru_prelude.py and goru.pyi.
# Only modules CPython has already loaded at start-up are imported here: this
# runtime compiles every other module from source on each run (json alone
# costs tens of milliseconds), so json is imported lazily, on first use.
import builtins as _b, os as _os, sys as _sys

# Kept before the code runs, and put back after it: code that replaces
# builtins.__import__ must not stop its own outcome from being reported.
_import = _b.__import__

# argv: ["-c", user code, the shared function wrappers (goru_functions.py),
# the run's text cap in bytes].
_code, _functions_src = _sys.argv[1], _sys.argv[2]
# Each text of the error report is cut here, so its frame stays far below the
# door's frame limit (the host cuts again to the run's cap).
_text_cap = min(int(_sys.argv[3]), 512 * 1024)
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
    _json = _import("json")

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
    _json = _import("json")

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

def _status(code):
    """The process status an exit with `code` gives (as the python runtime's
    goru_run.exit_status): its low byte, 1 for a non-zero code whose low
    byte is 0 or a negative one."""
    try:
        code = int(code)
    except BaseException:
        return 1
    if code == 0:
        return 0
    return (code & 0xFF if code > 0 else 0) or 1


_leave = _os._exit


def _exit(code):
    """`os._exit`. WASI preview 1 carries statuses below 126 only: a larger
    one is told to the host first, which reports it instead."""
    status = _status(code)
    if status >= 126:
        _frame(b"error", {"type": "SystemExit", "message": str(status), "traceback": "", "exit_code": status})
        _leave(125)
    _leave(status)


_exit.__doc__ = _leave.__doc__
_os._exit = _exit
_sys.modules["posix"]._exit = _exit

_main = type(_sys)("__main__")
_main.__builtins__ = _b
_sys.modules["__main__"] = _main
_cuts = []


def _cut(text, cap):
    """`text` cut to `cap` UTF-8 bytes. Slicing by characters first bounds
    the encode; lone surrogates become escapes, which JSON and the host can
    carry."""
    data = text[: cap + 1].encode("utf-8", "backslashreplace")
    _cuts.append(len(data) > cap or len(text) > cap + 1)
    return data[:cap].decode("utf-8", "ignore")


def _text_of(value, fallback):
    try:
        return str(value)
    except BaseException:  # a hostile __str__ must not escape
        return fallback


def _report(name, message, traceback, printed):
    """Prints `printed` as CPython would and hands the error to the host,
    every text cut."""
    name, message = _cut(name, 256), _cut(message, _text_cap)
    traceback, printed = _cut(traceback, _text_cap), _cut(printed, _text_cap)
    _sys.stderr.write(printed)
    _frame(b"error", {"type": name, "message": message, "traceback": traceback, "truncated": any(_cuts)})


try:
    try:
        exec(compile(_code, "<string>", "exec"), _main.__dict__)
    finally:
        # The code is over: the modules the report needs (json, traceback)
        # import through builtins, whatever the code left there.
        _b.__import__ = _import
except SystemExit as _e:
    if _e.code is None or isinstance(_e.code, int):
        if _status(_e.code) < 126:
            raise
        for _stream in (_sys.stdout, _sys.stderr):
            try:
                _stream.flush()
            except BaseException:
                pass
        _exit(_e.code)
    # `sys.exit("message")`: CPython prints the message and exits with 1.
    _message = _text_of(_e.code, "<unprintable exit message>")
    _report("SystemExit", _message, "", _message + "\n")
    _sys.exit(1)
except BaseException as _e:
    _message = _text_of(_e, "<unprintable exception>")
    try:
        _tb = _import("traceback")

        _text = "".join(_tb.format_exception(type(_e), _e, _e.__traceback__.tb_next))
    except BaseException:  # MemoryError formatting a huge message or note
        _text = f"{type(_e).__name__}: {_message[:_text_cap]}\n"
    _report(type(_e).__name__, _message, _text, _text)
    _sys.exit(1)
