# goru — the two set-up commands are `make run` and `make test`.
# Every tool the build needs comes from the project's own files: pip fetches
# the pinned guest packages (scripts/packages.lock), cargo the crates.

CARGO ?= cargo
GORU  := target/release/goru

.PHONY: all build runtimes wasmtime binary run test lint bench clean

all: build

## build: fetch pinned packages, build the guest runtimes and the release binary
build: runtimes binary

runtimes:
	./scripts/build-runtimes.sh

## wasmtime: the pinned wasmtime crate with goru's patches (scripts/wasmtime/),
## which Cargo.toml's [patch.crates-io] builds from; every cargo target needs it
wasmtime:
	./scripts/wasmtime/patch.sh

binary: wasmtime
	$(CARGO) build --release --locked

## run: build everything and start the service on 127.0.0.1:8080
run: build
	$(GORU) serve --config config/goru.toml

## test: the whole suite (unit, engine integration, CLI, MCP) against the real
## guests. The MCP tests drive goru with the official MCP Python SDK, installed
## pinned into build/mcp-client/venv; schemathesis (build/schemathesis/venv)
## checks the live server against openapi.yaml; the scale-out tests start
## their own redis-server and haproxy (Debian's packages, installed when
## missing). The integration tests are one binary (tests/main.rs). The
## benchmarks run once too (--benches): they need the native baseline's venv,
## and share the tests' compiled-guest cache instead of compiling again.
## scripts/check-features.sh first: a test build with other crate features
## than `make build`'s would compile wasmtime a second time.
test: build
	./scripts/check-features.sh
	./scripts/install-deb.sh redis-server redis-server haproxy haproxy
	./scripts/bench/native-venv.sh
	./scripts/pinned-venv.sh build/mcp-client/venv tests/mcp/requirements.txt \
	    "import mcp, importlib.metadata as m; print('MCP client: mcp', m.version('mcp'))"
	./scripts/pinned-venv.sh build/schemathesis/venv tests/schemathesis/requirements.txt \
	    "import schemathesis, importlib.metadata as m; print('schemathesis', m.version('schemathesis'))"
	./scripts/pinned-venv.sh build/k8s-validate/venv tests/k8s/requirements.txt \
	    "import kubernetes_validate, importlib.metadata as m; print('kubernetes-validate', m.version('kubernetes-validate'))"
	GORU_CACHE_DIR=$(CURDIR)/target/tmp/goru-cache $(CARGO) test --release --locked --tests --benches

## lint: formatting and clippy, as CI runs them
lint: wasmtime
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

## bench: criterion benchmarks of the engine, then the HTTP service under load
bench: build bench-engine bench-load

.PHONY: bench-engine bench-load bench-reset

## bench-engine: criterion benchmarks of the engine (python vs python3.12, side by side)
bench-engine: build
	./scripts/bench/native-venv.sh
	$(CARGO) bench --locked --bench engine

## bench-load: the release server under wrk (latency, throughput, cold start, memory)
## against a no-sandbox python3 subprocess; writes build/bench/summary.json; then
## javascript beside python and a `node -e` subprocess (build/bench/javascript.json);
## then replicas behind HAProxy, KV in memory and in Redis (build/bench/scale_out.json)
bench-load: build
	./scripts/install-deb.sh wrk wrk haproxy haproxy redis-server redis-server
	./scripts/bench/native-venv.sh
	python3 scripts/bench/load.py
	python3 scripts/bench/javascript.py
	python3 scripts/bench/scale_out.py

## bench-reset: the engine's slot-reset strategies ([engine] reset and
## keep_resident_mb) side by side under c=1, 8 and 64; writes build/bench/reset.json
bench-reset: build
	./scripts/install-deb.sh wrk wrk
	python3 scripts/bench/reset.py

clean:
	rm -rf build target
