#!/usr/bin/env bash
# Installs Debian packages for tools the tests and benchmarks run:
#   scripts/install-deb.sh COMMAND PACKAGE [COMMAND PACKAGE ...]
# Each PACKAGE is installed only when its COMMAND is not on PATH; nothing is
# fetched when all are there. Uses sudo only when not root.
set -euo pipefail
missing=()
while [ $# -ge 2 ]; do
  command -v "$1" >/dev/null 2>&1 || missing+=("$2")
  shift 2
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
echo "installing ${missing[*]} with apt-get"
$sudo apt-get update -qq
# The packages' own services are not wanted (the tests start their own):
# policy-rc.d answers 101, "not allowed", to their start scripts.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
