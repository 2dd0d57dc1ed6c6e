"""Build-time only: compile the stdlib to bytecode with the guest's own CPython.

During pre-initialization componentize-py mounts CPython's stdlib at /python and
each `-p` directory read-write at /0, /1, ... The build passes an empty output
directory as the LAST `-p` entry containing a `goru-stdlib-out` marker file; this
copies the stdlib there with unchecked-hash .pyc files beside each module, and the
host mounts that tree read-only at /python at run time. A fresh instance has no
bytecode cache, so without this every import outside the snapshot would compile
source (import asyncio alone took 1 s).
"""

import os
import py_compile
import shutil

SKIP_DIRS = {"test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "__pycache__", "lib2to3"}
MARKER = "goru-stdlib-out"


def _output_dir():
    for index in range(8):
        root = f"/{index}"
        if os.path.exists(os.path.join(root, MARKER)):
            return root
    return None


def compile_stdlib_if_requested() -> None:
    out = _output_dir()
    if out is None:
        return
    target_root = os.path.join(out, "python")
    compiled = failed = 0
    for dirpath, dirnames, filenames in os.walk("/python"):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        rel = os.path.relpath(dirpath, "/python")
        target = os.path.normpath(os.path.join(target_root, rel))
        os.makedirs(target, exist_ok=True)
        for name in sorted(filenames):
            source = os.path.join(dirpath, name)
            dest = os.path.join(target, name)
            shutil.copyfile(source, dest)
            if not name.endswith(".py"):
                continue
            try:
                py_compile.compile(
                    dest,
                    cfile=py_compile.importlib.util.cache_from_source(dest),
                    dfile=os.path.join(dirpath, name),
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
                compiled += 1
            except py_compile.PyCompileError:
                failed += 1
    print(f"goru build: stdlib compiled: {compiled} modules, {failed} not compilable")
