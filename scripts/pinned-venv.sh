#!/usr/bin/env bash
# A venv holding exactly the wheels a requirements file pins by version and
# SHA-256: scripts/pinned-venv.sh VENV REQUIREMENTS CHECK, where CHECK is a
# Python line that proves the install works. Does nothing when VENV already
# holds exactly those.
set -euo pipefail
venv=$1
req=$2
check=$3
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --require-hashes --only-binary=:all: --no-deps -r "$req"
"$venv/bin/python" -c "$check"
echo "$want" > "$stamp"
