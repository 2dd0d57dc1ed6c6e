"""Build-time only: compile the stdlib to bytecode with the guest's own CPython.

During pre-initialization componentize-py mounts CPython's stdlib at /python and
each `-p` directory read-write at /0, /1, ... The build passes an empty output
directory as the LAST `-p` entry containing a `goru-stdlib-out` marker file; this
copies the stdlib there with unchecked-hash .pyc files beside each module, and the
host mounts that tree read-only at /python at run time. Pure-Python packages the
build unpacked into the `site` folder beside the marker are added the same way.
A fresh instance has no bytecode cache, so without this every import outside the
snapshot would compile source (import asyncio alone took 1 s).
"""

import os
import py_compile
import shutil

SKIP_DIRS = {"test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "__pycache__", "lib2to3"}
MARKER = "goru-stdlib-out"
# Beside the marker: packages to copy and compile into the stdlib tree.
SITE = "site"


def _output_dir():
    for index in range(8):
        root = f"/{index}"
        if os.path.exists(os.path.join(root, MARKER)):
            return root
    return None


def site_dir():
    """The unpacked packages while building (they are at /python at run time), else None."""
    out = _output_dir()
    site = out and os.path.join(out, SITE)
    return site if site and os.path.isdir(site) else None


def compile_stdlib_if_requested() -> None:
    out = _output_dir()
    if out is None:
        return
    target_root = os.path.join(out, "python")
    compiled, failed = _copy_and_compile("/python", target_root)
    print(f"goru build: stdlib compiled: {compiled} modules, {failed} not compilable")
    # Pure-Python packages the build unpacked (tzdata) join the stdlib tree, so
    # they are importable from /python at run time, from bytecode like the rest.
    site = site_dir()
    if site:
        compiled, failed = _copy_and_compile(site, target_root)
        print(f"goru build: packages compiled: {compiled} modules, {failed} not compilable")


def _copy_and_compile(source_root, target_root):
    """Copies `source_root` into `target_root` with a .pyc beside each module."""
    compiled = failed = 0
    for dirpath, dirnames, filenames in os.walk(source_root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        rel = os.path.relpath(dirpath, source_root)
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
                    # The path tracebacks show: where the file is at run time.
                    dfile=os.path.join("/python", os.path.relpath(dest, target_root)),
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
                compiled += 1
            except py_compile.PyCompileError:
                failed += 1
    return compiled, failed
