#!/usr/bin/env bash
# Makes sure the load generator `wrk` is installed (Debian/Ubuntu package).
# Does nothing when it is already on PATH; uses sudo only when not root.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
echo "installing wrk with apt-get"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
command -v wrk >/dev/null
