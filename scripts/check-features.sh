#!/usr/bin/env bash
# Fails when `cargo test` would build a shared crate with other features than
# `cargo build` does. A crate built with two feature sets is compiled twice,
# and everything above it too: a dev-dependency that switches on one hashbrown
# feature recompiles cranelift and wasmtime for the tests. The fix is to name
# the feature in Cargo.toml's [dependencies] (see "One feature set" there).
set -euo pipefail
cd "$(dirname "$0")/.."

tree() {
    cargo tree --locked --edges "$1" --format '{p} [{f}]' --prefix none |
        sed 's/ (\*)$//; s/ (proc-macro)//' | sort -u
}
build=$(tree normal,build)
test=$(tree normal,build,dev)

# Every crate the plain build has must appear in the test build with exactly
# the same feature sets (a crate can be built for the host and the target).
drift=$(python3 - "$build" "$test" <<'PY'
import sys
def sets(text):
    out = {}
    for line in text.splitlines():
        name_version, _, features = line.rpartition(" [")
        pkg = " ".join(name_version.split()[:2])
        out.setdefault(pkg, set()).add(features.rstrip("]"))
    return out
build, test = sets(sys.argv[1]), sets(sys.argv[2])
for pkg in sorted(build):
    if test.get(pkg) != build[pkg]:
        print(f"{pkg}: build {sorted(build[pkg])} / test {sorted(test.get(pkg, []))}")
PY
)
if [ -n "$drift" ]; then
    echo "check-features: the test build resolves other features than the release build:" >&2
    echo "$drift" >&2
    echo "name those features in Cargo.toml [dependencies] (\"One feature set\")" >&2
    exit 1
fi
echo "check-features: one feature set for build and test"
