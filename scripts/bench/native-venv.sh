#!/usr/bin/env bash
# The benchmark's own venv (build/bench/venv): the host's python3 with pandas,
# for the no-sandbox baseline of `make bench` (a `python3 -c` subprocess per
# request). Pinned by version and SHA-256 in requirements-native.txt; does
# nothing when the venv already holds exactly those.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/build/bench/venv"
req="$root/scripts/bench/requirements-native.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --require-hashes --only-binary=:all: --no-deps -r "$req"
"$venv/bin/python" -c "import pandas; print('native baseline: pandas', pandas.__version__)"
echo "$want" > "$stamp"
