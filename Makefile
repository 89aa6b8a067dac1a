# Wharf entry points. `make setup` once on a fresh Debian 12 machine (as root), then:
#   make demo   — an embedded master with a small tree and a CLI walk through it
#   make test   — the whole test suite (real LevelDB, real gRPC over sockets)
#   make bench  — benchmarks; tables on stdout, JSON under benchmarks/results/
.PHONY: setup deps build test lint bench demo clean

NODE ?= node

setup:
	@command -v node >/dev/null || { echo "Node.js 20 is required"; exit 1; }
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse libfuse2 openssl chromium postgresql >/dev/null || echo "note: could not install fuse/libfuse2/chromium/postgresql (needed by the mount, console and PostgreSQL tests)"; \
	fi
	$(MAKE) deps build

deps:
	npm ci --no-audit --no-fund

build:
	npm run build

test: build
	WHARF_LOG_LEVEL=$${WHARF_LOG_LEVEL:-warn} $(NODE) --test --test-concurrency=2 --test-timeout=300000 dist/test/

lint:
	npx tsc -p tsconfig.json --noEmit

bench: build
	$(NODE) dist/benchmarks/run.js $(BENCH)

demo: build
	bash scripts/demo.sh

clean:
	rm -rf dist src/rpc/gen
