#!/usr/bin/env bash
# Downloads every wheel in scripts/packages.lock by name with pip and checks
# its SHA-256. Already-verified wheels are kept, so a re-run is instant.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="${1:-$root/build/wheels}"
mkdir -p "$dest"
grep -v '^#' "$root/scripts/packages.lock" | while read -r name version file sha; do
  [ -n "$name" ] || continue
  wheel="$dest/$file"
  if [ -f "$wheel" ] && echo "$sha  $wheel" | sha256sum --check --status; then
    continue
  fi
  rm -f "$wheel"
  echo "fetching $name==$version"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 -d "$dest" "$name==$version"
  if ! echo "$sha  $wheel" | sha256sum --check --status; then
    echo "error: $file does not match its pinned SHA-256 ($sha)" >&2
    rm -f "$wheel"
    exit 1
  fi
done
