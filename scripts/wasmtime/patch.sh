#!/usr/bin/env bash
# Unpacks wasmtime 48.0.8, as published and checked against its pinned
# SHA-256, into build/wasmtime-48.0.8 and applies goru's patches to it
# (scripts/wasmtime/*.patch). Cargo.toml's [patch.crates-io] builds wasmtime
# from there, so every cargo command needs this to have run first (the
# Makefile's targets do it). Does nothing when the tree is already patched
# with exactly these patches.
#
# pagemap-scan.patch: the pooling allocator's slot reset
# (`reset_with_pagemap`). Stock 48.0.8 reads at most 32 runs of dirty pages
# and decommits everything after them, and skips dirty pages that are swapped
# out, so the next instance in the slot could read them. See the README's
# "Slot reset" section.
#
# funcref-code.patch: instantiation. Each instantiation makes a VMFuncRef for
# every table element and every function another instance imports (about
# 8,000 for the python guest), and stock 48.0.8 found the two code addresses
# of each with two BTree lookups and two searches of the function table: a
# fifth of the CPU of `print(1+1)`. The patch computes each module's offsets
# once and takes them from there. See the README's "Instantiation" section.
#
# idle-trim.patch: adds Engine::trim_pooling_allocator, which gives back to
# the kernel every page that idle memory slots keep mapped (the written pages
# reset in place and the image pages they read). goru calls it when the pool
# has been quiet for [engine] idle_trim_seconds (src/sandbox/idle_trim.rs).
#
# no-pulley.patch: build time. wasmtime 48.0.8 always asks Cranelift for its
# Pulley (portable interpreter) backend, about a sixth of cranelift-codegen's
# generated code, which goru never targets: it compiles for the host only.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
version=48.0.8
sha=a2afcadb2e7d0417cb8f3f322c66eff49338b288f22290c0ca0bd3e9570732aa
dest="$root/build/wasmtime-$version"
stamp="$dest/.goru-patches"
want=$(cat "$root"/scripts/wasmtime/*.patch | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

# Fetch the crate by name through cargo, from a manifest of its own (the
# project's own manifest needs the patched tree to exist already).
fetch="$root/build/wasmtime-fetch"
mkdir -p "$fetch/src"
cat > "$fetch/Cargo.toml" <<TOML
[package]
name = "goru-wasmtime-fetch"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
wasmtime = { version = "=$version", default-features = false }

[workspace]
TOML
: > "$fetch/src/lib.rs"
echo "fetching wasmtime $version"
cargo fetch --quiet --manifest-path "$fetch/Cargo.toml"
crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"wasmtime-$version.crate" | head -n1)
if ! echo "$sha  $crate" | sha256sum --check --status; then
  echo "error: $crate does not match its pinned SHA-256 ($sha)" >&2
  exit 1
fi

rm -rf "$dest" "$dest.tmp"
mkdir -p "$dest.tmp"
tar -xzf "$crate" -C "$dest.tmp"
for p in "$root"/scripts/wasmtime/*.patch; do
  echo "patching wasmtime $version: $(basename "$p")"
  patch --quiet --forward --batch -p1 -d "$dest.tmp/wasmtime-$version" < "$p"
done
mv "$dest.tmp/wasmtime-$version" "$dest"
rmdir "$dest.tmp"
echo "$want" > "$stamp"
