#!/usr/bin/env bash
# The benchmark's own venv (build/bench/venv): the host's python3 with pandas,
# for the no-sandbox baseline of `make bench` (a `python3 -c` subprocess per
# request). Pinned by version and SHA-256 in requirements-native.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exec "$root/scripts/pinned-venv.sh" "$root/build/bench/venv" \
    "$root/scripts/bench/requirements-native.txt" \
    "import pandas; print('native baseline: pandas', pandas.__version__)"
