"""One piece of user code run to its end: what every goru Python guest does
with the code, whatever carries the answer back (the `python` guest's WIT
records, `python-sci`'s door frames).

An outcome is a plain tuple `(exit_code, error, value)`: `error` is
`(type_name, message, traceback, truncated)` or None, `value` is goru_cell's display
`(plain, html, truncated)` or None.
"""

import sys
import traceback  # here, not when needed: the user's code may break `import`

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
        return _exit_outcome(exc, cap)
    except BaseException as exc:  # noqa: BLE001 - reported as data
        error = describe(exc, cap)
        try:
            sys.stderr.write(error[2])
        except BaseException:  # noqa: BLE001
            pass
        return 1, error, None


def describe(exc: BaseException, cap: int):
    """(type_name, message, traceback, truncated) of `exc`, each text cut to
    `cap` bytes (the type name to a line's worth)."""
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not escape
        message = "<unprintable exception>"
    name, cut_name = goru_cell.cut(type(exc).__name__, 256)
    message, cut_message = goru_cell.cut(message, cap)
    text, cut_text = goru_cell.cut(_traceback(exc, name, message), cap)
    return name, message, text, cut_name or cut_message or cut_text


def _traceback(exc: BaseException, name: str, message: str) -> str:
    """The traceback as CPython prints it, from the user's first frame on.

    A huge message or note (formatting copies it several times) can run the
    guest out of memory: then the stack alone, ending with the cut message.
    """
    try:
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_globals.get("__name__") in _OWN_MODULES:
            tb = tb.tb_next
    except BaseException:  # noqa: BLE001
        tb = None
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:  # noqa: BLE001 - MemoryError, a hostile __str__ or note
        pass
    try:
        stack = "".join(traceback.format_tb(tb))
        head = "Traceback (most recent call last):\n" if stack else ""
        return f"{head}{stack}{name}: {message}\n"
    except BaseException:  # noqa: BLE001
        return f"{name}\n"


def _exit_outcome(exc: SystemExit, cap: int):
    code = exc.code
    if code is None or code == 0 or code is False:
        return 0, None, None
    if isinstance(code, int) and not isinstance(code, bool):
        return exit_status(code), ("SystemExit", str(code), "", False), None
    # `sys.exit("message")` prints the message and exits with 1, as CPython does.
    try:
        text = str(code)
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not escape
        text = "<unprintable exit message>"
    message, truncated = goru_cell.cut(text, cap)
    sys.stderr.write(f"{message}\n")
    return 1, ("SystemExit", message, "", truncated), None


def exit_status(code) -> int:
    """The process status an exit with `code` gives: its low byte, and 1
    for a non-zero code whose low byte is 0 or a negative one."""
    try:
        code = int(code)
    except BaseException:  # noqa: BLE001
        return 1
    if code == 0:
        return 0
    return (code & 0xFF if code > 0 else 0) or 1


def flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a closed or replaced stream is the user's business
            pass
