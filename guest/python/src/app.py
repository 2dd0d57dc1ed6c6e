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

import wit_world
from wit_world import GuestError, Outcome

goru_build.compile_stdlib_if_requested()
goru_asyncio.install()
goru_preload.import_common_modules()
goru_prelude.install(builtins)


def _fresh_run_state() -> None:
    # The snapshot froze the PRNG state: without a reseed every run would draw
    # the same "random" numbers.
    import random

    random.seed()


def _describe(exc: BaseException) -> GuestError:
    import traceback

    try:
        # Drop our own `run` frame: the user's traceback starts at their code.
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:  # noqa: BLE001 - formatting itself can fail (MemoryError)
        text = f"{type(exc).__name__}: {exc!s}\n"
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not escape
        message = "<unprintable exception>"
    return GuestError(type_name=type(exc).__name__, message=message, traceback=text)


def _exit_outcome(exc: SystemExit) -> Outcome:
    code = exc.code
    if code is None or code == 0 or code is False:
        return Outcome(exit_code=0, error=None)
    if isinstance(code, int) and not isinstance(code, bool):
        status = code & 0xFF if code >= 0 else 1
        return Outcome(exit_code=status or 1, error=GuestError("SystemExit", str(code), ""))
    # `sys.exit("message")` prints the message and exits with 1, as CPython does.
    sys.stderr.write(f"{code}\n")
    return Outcome(exit_code=1, error=GuestError("SystemExit", str(code), ""))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a closed or replaced stream is the user's business
            pass


class WitWorld(wit_world.WitWorld):
    def run(self, code: str) -> Outcome:
        # An exception escaping an export traps the instance, so everything is caught.
        try:
            _fresh_run_state()
            main = types.ModuleType("__main__")
            main.__dict__["__builtins__"] = builtins
            sys.modules["__main__"] = main
            outcome = Outcome(exit_code=0, error=None)
            try:
                exec(compile(code, "<string>", "exec"), main.__dict__)
            except SystemExit as exc:
                outcome = _exit_outcome(exc)
            except BaseException as exc:  # noqa: BLE001 - reported as data
                error = _describe(exc)
                try:
                    sys.stderr.write(error.traceback)
                except BaseException:  # noqa: BLE001
                    pass
                outcome = Outcome(exit_code=1, error=error)
            _flush()
            return outcome
        except BaseException as exc:  # noqa: BLE001 - e.g. MemoryError while reporting
            return Outcome(exit_code=1, error=GuestError(type(exc).__name__, "", ""))
