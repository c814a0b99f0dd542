# meshkit — the two commands of the README are `make synth` and `make test`.
# Everything else is for a laptop with Docker and kind (`make up`), see README.md.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NPM_CI_STAMP := node_modules/.package-lock.json

.PHONY: help install imports synth build lint typecheck test

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(NPM_CI_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

install: $(NPM_CI_STAMP) ## install npm dependencies from the lockfile

imports: install ## generate Istio and Strimzi types from upstream CRDs (Go module proxy, Maven Central)
	npm run --silent import

synth: imports ## synthesize the platform into dist/
	npm run --silent synth

build: install ## bundle each service into apps/<name>/dist/main.js
	npm run --silent build

typecheck: imports
	npm run --silent typecheck

lint: imports ## eslint, prettier and tsc
	npm run --silent lint
	npm run --silent typecheck

test: imports ## every test: lint, unit, manifests on a real kube-apiserver, services on real PostgreSQL and Kafka
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory build
	npm test
