"""One piece of user code run to its end: what every goru Python guest does
with the code, whatever carries the answer back (the `python` guest's WIT
records, `python-sci`'s door frames).

An outcome is a plain tuple `(exit_code, error, value)`: `error` is
`(type_name, message, traceback)` or None, `value` is goru_cell's display
`(plain, html, truncated)` or None.
"""

import sys

import goru_cell

# Frames of these modules are goru's, not the user's: tracebacks start below them.
_OWN_MODULES = frozenset(("app", "goru_run", "goru_sci", "goru_cell"))


def execute(code: str, namespace: dict, cap: int):
    """Runs `code` in `namespace`; never raises (a failure is the outcome)."""
    try:
        body, last = goru_cell.compile_cell(code)
        for part in body:
            exec(part, namespace)
        if last is None:
            return 0, None, None
        value = eval(last, namespace)
        if value is None:
            return 0, None, None
        return 0, None, goru_cell.display(value, cap)
    except SystemExit as exc:
        return _exit_outcome(exc)
    except BaseException as exc:  # noqa: BLE001 - reported as data
        error = describe(exc, cap)
        try:
            sys.stderr.write(error[2])
        except BaseException:  # noqa: BLE001
            pass
        return 1, error, None


def describe(exc: BaseException, cap: int):
    """(type_name, message, traceback) of `exc`, each cut to `cap` bytes."""
    import traceback

    try:
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_globals.get("__name__") in _OWN_MODULES:
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:  # noqa: BLE001 - formatting itself can fail (MemoryError)
        text = f"{type(exc).__name__}\n"
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not escape
        message = "<unprintable exception>"
    name = goru_cell.cut(type(exc).__name__, 256)[0]
    return name, goru_cell.cut(message, cap)[0], goru_cell.cut(text, cap)[0]


def _exit_outcome(exc: SystemExit):
    code = exc.code
    if code is None or code == 0 or code is False:
        return 0, None, None
    if isinstance(code, int) and not isinstance(code, bool):
        status = code & 0xFF if code >= 0 else 1
        return status or 1, ("SystemExit", str(code), ""), None
    # `sys.exit("message")` prints the message and exits with 1, as CPython does.
    message = goru_cell.cut(str(code), 64 * 1024)[0]
    sys.stderr.write(f"{message}\n")
    return 1, ("SystemExit", message, ""), None


def flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a closed or replaced stream is the user's business
            pass
