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
import goru_run

import wit_world
from wit_world import RunOptions
from wit_world.imports import report

goru_build.compile_stdlib_if_requested()
goru_asyncio.install()
goru_preload.import_common_modules()
goru_prelude.install(builtins)


def _install_exit_report() -> None:
    """`os._exit(code)` tells the host its code before leaving.

    The component's WASI exit carries only success or failure, so without
    this every `os._exit(3)` would reach the host as 1. Nothing else runs
    before the exit (no `finally`, no atexit), as with CPython's own.
    """
    import os
    import posix

    leave = posix._exit

    def _exit(code):
        status = goru_run.exit_status(code)
        error = report.GuestError("SystemExit", str(status), "", False) if status else None
        report.outcome(status, error, None)
        leave(code)

    _exit.__doc__ = leave.__doc__
    os._exit = posix._exit = _exit


_install_exit_report()


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


class WitWorld(wit_world.WitWorld):
    def run(self, code: str, options: RunOptions) -> None:
        # An exception escaping an export traps the instance, so everything is caught.
        try:
            _fresh_run_state(options)
            namespace = _namespace(options.keep_globals)
            exit_code, error, value = goru_run.execute(code, namespace, options.max_text_bytes)
            goru_run.flush()
            report.outcome(
                exit_code,
                None if error is None else report.GuestError(*error),
                None if value is None else report.Display(*value),
            )
        except BaseException as exc:  # noqa: BLE001 - e.g. MemoryError while reporting
            report.outcome(1, report.GuestError(type(exc).__name__, "", "", False), None)
