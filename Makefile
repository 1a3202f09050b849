# soc — every target installs what it needs first (bun, rsync, ssh, then the locked dependencies).
SHELL := /bin/bash
.DEFAULT_GOAL := help
BUN ?= bun
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps tools test demo bench typecheck clean

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
	  if [ -n "$$missing" ]; then echo "installing$$missing with apt-get"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

deps: tools ## Install the dependencies pinned in bun.lock
	@$(BUN) install --frozen-lockfile --silent

test: deps typecheck ## Type-check, then run every test (unit, http, end-to-end with a real server and rsync)
	$(BUN) test

typecheck: deps ## Type-check the whole project (strict)
	$(BUN) x tsc --noEmit -p .

demo: deps ## Show soc at work on a sample tree in a temp directory
	$(BUN) scripts/demo.ts

bench: deps ## Measure soc against git, rsync and md5sum on 100k files
	$(BUN) scripts/bench.ts

clean: ## Remove build output
	rm -rf dist
