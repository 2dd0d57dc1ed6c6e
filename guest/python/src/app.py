"""goru's Python guest: the code that becomes the pre-initialized snapshot.

Everything at module level runs ONCE, at build time, inside componentize-py's
pre-initialization; the resulting memory is what every run starts from. So:
- whatever is imported here costs nothing per run (it is already in memory);
- the stdlib is compiled to bytecode here, by the guest's own CPython 3.14, so
  modules not in the snapshot load from .pyc at run time instead of source;
- nothing here may depend on per-run state (see `_fresh_run_state`).
"""

import builtins
import sys
import types

import goru  # noqa: F401 - in the snapshot so `import goru` works at run time
import goru_build
import goru_prelude
import goru_asyncio
import goru_preload
import goru_cell

import wit_world
from wit_world import Display, GuestError, Outcome, RunOptions

goru_build.compile_stdlib_if_requested()
goru_asyncio.install()
goru_preload.import_common_modules()
goru_prelude.install(builtins)


# The namespace a session's cells share; None until a session's first cell.
_session_main = None


def _fresh_run_state(options: RunOptions) -> None:
    # The snapshot froze the PRNG state: without a reseed every run would draw
    # the same "random" numbers. A session's later cells keep the state the
    # code left (its own random.seed(42) included).
    import random

    if not (options.keep_globals and _session_main is not None):
        random.seed()
    _enter_directories(options)
    if options.line_buffered:
        # A streamed run: output must reach the host as it is printed, not
        # sit in a block buffer until the end.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(line_buffering=True)
            except (AttributeError, ValueError):
                pass


def _enter_directories(options: RunOptions) -> None:
    import os
    import tempfile

    if options.tmpdir is not None:
        tempfile.tempdir = options.tmpdir
    if options.workdir is not None:
        os.chdir(options.workdir)


def _namespace(keep: bool) -> dict:
    global _session_main
    if keep and _session_main is not None:
        return _session_main.__dict__
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    if keep:
        _session_main = main
    return main.__dict__


def _describe(exc: BaseException, cap: int) -> GuestError:
    import traceback

    try:
        # Drop our own frames: the user's traceback starts at their code.
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_globals.get("__name__") == __name__:
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:  # noqa: BLE001 - formatting itself can fail (MemoryError)
        text = f"{type(exc).__name__}\n"
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not escape
        message = "<unprintable exception>"
    name = goru_cell.cut(type(exc).__name__, 256)[0]
    text = goru_cell.cut(text, cap)[0]
    message = goru_cell.cut(message, cap)[0]
    return GuestError(type_name=name, message=message, traceback=text)


def _exit_outcome(exc: SystemExit) -> Outcome:
    code = exc.code
    if code is None or code == 0 or code is False:
        return Outcome(exit_code=0, error=None, value=None)
    if isinstance(code, int) and not isinstance(code, bool):
        status = code & 0xFF if code >= 0 else 1
        return Outcome(exit_code=status or 1, error=GuestError("SystemExit", str(code), ""), value=None)
    # `sys.exit("message")` prints the message and exits with 1, as CPython does.
    message = goru_cell.cut(str(code), 64 * 1024)[0]
    sys.stderr.write(f"{message}\n")
    return Outcome(exit_code=1, error=GuestError("SystemExit", message, ""), value=None)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a closed or replaced stream is the user's business
            pass


def _execute(code: str, namespace: dict, cap: int) -> Outcome:
    body, last = goru_cell.compile_cell(code)
    for part in body:
        exec(part, namespace)
    if last is None:
        return Outcome(exit_code=0, error=None, value=None)
    value = eval(last, namespace)
    if value is None:
        return Outcome(exit_code=0, error=None, value=None)
    plain, html, truncated = goru_cell.display(value, cap)
    return Outcome(exit_code=0, error=None, value=Display(plain, html, truncated))


class WitWorld(wit_world.WitWorld):
    def run(self, code: str, options: RunOptions) -> Outcome:
        # An exception escaping an export traps the instance, so everything is caught.
        cap = options.max_text_bytes
        try:
            _fresh_run_state(options)
            namespace = _namespace(options.keep_globals)
            try:
                outcome = _execute(code, namespace, cap)
            except SystemExit as exc:
                outcome = _exit_outcome(exc)
            except BaseException as exc:  # noqa: BLE001 - reported as data
                error = _describe(exc, cap)
                try:
                    sys.stderr.write(error.traceback)
                except BaseException:  # noqa: BLE001
                    pass
                outcome = Outcome(exit_code=1, error=error, value=None)
            _flush()
            return outcome
        except BaseException as exc:  # noqa: BLE001 - e.g. MemoryError while reporting
            return Outcome(exit_code=1, error=GuestError(type(exc).__name__, "", ""), value=None)
