# soc — every target installs what it needs first (bun, rsync, ssh, then the locked dependencies).
SHELL := /bin/bash
.DEFAULT_GOAL := help
BUN ?= bun
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The one Bun soc is tested with, written once: package.json's "packageManager".
BUN_VERSION := $(shell sed -nE 's/.*"packageManager": *"bun@([0-9.]+)".*/\1/p' package.json)

.PHONY: help deps tools test demo bench bench-1m bench-load bench-pg bench-cache typecheck fmt build deploy clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

tools: ## Install the pinned bun (from npm), rsync, openssh, cron, nginx, caddy, PostgreSQL and Ceph's mon, osd and rgw (apt-get) when missing
	@command -v $(BUN) >/dev/null 2>&1 && $(BUN) --version >/dev/null 2>&1 || { \
	  echo "installing bun $(BUN_VERSION) with npm"; npm install -g bun@$(BUN_VERSION) >/dev/null 2>&1 || true; \
	  bun --version >/dev/null 2>&1 || npm install -g --allow-scripts=bun bun@$(BUN_VERSION); }
	@v=$$($(BUN) --version); [ "$$v" = "$(BUN_VERSION)" ] || \
	  echo "warning: bun $$v runs here, but soc is tested with bun $(BUN_VERSION) (package.json); npm install -g bun@$(BUN_VERSION)" >&2
	@missing=""; \
	  command -v rsync >/dev/null || missing="$$missing rsync"; \
	  command -v ssh >/dev/null || missing="$$missing openssh-client"; \
	  [ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	  command -v crontab >/dev/null || missing="$$missing cron"; \
	  command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	  [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	  command -v caddy >/dev/null || missing="$$missing caddy"; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  ceph=""; for tool in ceph-mon ceph-osd radosgw; do command -v $$tool >/dev/null || ceph="$$ceph $$tool"; done; \
	  command -v ceph >/dev/null || ceph="$$ceph ceph-common"; \
	  if [ -n "$$missing$$ceph" ]; then echo "installing$$missing$$ceph with apt-get"; \
	    $(SUDO) apt-get update -qq \
	    && { [ -z "$$missing" ] || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; } \
	    && { [ -z "$$ceph" ] || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$ceph >/dev/null; }; fi

deps: tools ## Install the dependencies pinned in bun.lock
	@$(BUN) install --frozen-lockfile --silent

# One generous per-test limit: CI is a shared, slow 2-core machine and no test may depend on
# being fast; a hung test still fails, after this long.
TEST_TIMEOUT_MS := 300000

# The tests run with TMPDIR set to a directory of their own, so that afterwards every process
# still running from it (a server, rsync, sshd or soc a test failed to stop) can be named. Other
# users may pass through it (711): some tests run soc as nobody, where permissions bite.
test: deps typecheck ## Type-check, then run every test (unit, http, end-to-end with a real server and rsync)
	@run=$$(mktemp -d "$${TMPDIR:-/tmp}/soc-test-run.XXXXXX"); chmod 711 "$$run"; \
	  TMPDIR="$$run" $(BUN) test --timeout $(TEST_TIMEOUT_MS); status=$$?; \
	  $(BUN) tests/_harness/leftovers.ts "$$run" || status=1; \
	  rm -rf "$$run"; exit $$status

typecheck: deps ## Type-check the whole project (strict), check the client/server boundary and the formatting
	$(BUN) x tsc --noEmit -p .
	$(BUN) scripts/check-boundary.ts
	$(BUN) x prettier --check --log-level warn "**/*.ts"

fmt: deps ## Format every TypeScript file (prettier, .prettierrc.json)
	$(BUN) x prettier --write --log-level warn "**/*.ts"

demo: deps ## Show soc at work on a sample tree in a temp directory
	$(BUN) scripts/demo.ts

bench: deps ## Measure soc against git, rsync and md5sum on 100k files
	$(BUN) scripts/bench.ts

bench-1m: deps ## Measure add, push and status at 100k and 1M files: linear growth, status RSS beside git's (slow, a few GB)
	$(BUN) scripts/bench-1m.ts

bench-pg: deps ## Commits per second through the table in PostgreSQL from 2 servers at once, beside SQLite [BENCH_PG_SECONDS=10]
	$(BUN) scripts/bench-pg.ts

bench-cache: deps ## A clone through a node with a cache (warm, cold) against one through a node with a tree, on PostgreSQL and a Ceph RGW [BENCH_CACHE_FILES=1000]
	$(BUN) scripts/bench-cache.ts

bench-load: deps ## One server with 10k files: 1,000 pollers and 20 pushers for 60 s [BENCH_LOAD_SECONDS=60], then 50 clones at once [BENCH_LOAD_CLONES=50]
	$(BUN) scripts/bench-load.ts

# Standalone executables (no bun where they run). The workers are extra entrypoints named flat,
# [name], so new URL("./hash-worker.ts", import.meta.url) finds them beside the entry inside the
# binary; a .env or bunfig.toml in whatever directory soc runs in is not read.
COMPILE := $(BUN) build --compile --no-compile-autoload-dotenv --no-compile-autoload-bunfig --entry-naming='[name].[ext]'
WORKERS := lib/shared/hash-worker.ts lib/client/walk-worker.ts
SERVER_WORKERS := lib/shared/hash-worker.ts lib/server/commit-worker.ts

build: deps ## Compile dist/soc and dist/soc-server, standalone executables (no bun needed to run them)
	$(COMPILE) cli.ts $(WORKERS) --outfile dist/soc
	$(COMPILE) server.ts $(SERVER_WORKERS) --outfile dist/soc-server

deploy: build ## Run the server on DEPLOY_HOST=user@host [DEPLOY_DIR=/opt/soc DEPLOY_PORT=22 SERVER_PORT=8417 DEPLOY_SYSTEMD=1]
	$(BUN) scripts/deploy.ts

clean: ## Remove build output
	rm -rf dist
