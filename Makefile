# soc — every target installs what it needs first (bun, rsync, ssh, then the locked dependencies).
SHELL := /bin/bash
.DEFAULT_GOAL := help
BUN ?= bun
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps tools test demo bench typecheck fmt build deploy clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

tools: ## Install bun (from npm), rsync, openssh and cron (apt-get) when missing
	@command -v $(BUN) >/dev/null 2>&1 && $(BUN) --version >/dev/null 2>&1 || { \
	  echo "installing bun with npm"; npm install -g bun >/dev/null 2>&1 || true; \
	  bun --version >/dev/null 2>&1 || npm install -g --allow-scripts=bun bun; }
	@missing=""; \
	  command -v rsync >/dev/null || missing="$$missing rsync"; \
	  command -v ssh >/dev/null || missing="$$missing openssh-client"; \
	  [ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	  command -v crontab >/dev/null || missing="$$missing cron"; \
	  command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	  if [ -n "$$missing" ]; then echo "installing$$missing with apt-get"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

deps: tools ## Install the dependencies pinned in bun.lock
	@$(BUN) install --frozen-lockfile --silent

test: deps typecheck ## Type-check, then run every test (unit, http, end-to-end with a real server and rsync)
	$(BUN) test

typecheck: deps ## Type-check the whole project (strict) and check the formatting
	$(BUN) x tsc --noEmit -p .
	$(BUN) x prettier --check --log-level warn "**/*.ts"

fmt: deps ## Format every TypeScript file (prettier, .prettierrc.json)
	$(BUN) x prettier --write --log-level warn "**/*.ts"

demo: deps ## Show soc at work on a sample tree in a temp directory
	$(BUN) scripts/demo.ts

bench: deps ## Measure soc against git, rsync and md5sum on 100k files
	$(BUN) scripts/bench.ts

# Standalone executables (no bun where they run). The workers are extra entrypoints named flat,
# [name], so new URL("./hash-worker.ts", import.meta.url) finds them beside the entry inside the
# binary; a .env or bunfig.toml in whatever directory soc runs in is not read.
COMPILE := $(BUN) build --compile --no-compile-autoload-dotenv --no-compile-autoload-bunfig --entry-naming='[name].[ext]'
WORKERS := lib/hash-worker.ts lib/scan-worker.ts

build: deps ## Compile dist/soc and dist/soc-server, standalone executables (no bun needed to run them)
	$(COMPILE) cli.ts $(WORKERS) --outfile dist/soc
	$(COMPILE) server.ts $(WORKERS) --outfile dist/soc-server

deploy: build ## Run the server on DEPLOY_HOST=user@host [DEPLOY_DIR=/opt/soc DEPLOY_PORT=22 SERVER_PORT=8417 DEPLOY_SYSTEMD=1]
	$(BUN) scripts/deploy.ts

clean: ## Remove build output
	rm -rf dist
