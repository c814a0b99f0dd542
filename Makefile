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

# ---------------------------------------------------------------------------------------------
# Local cluster on kind, driven by the bring-up CLI in cli/ (see cli/README.md). Docker, kind,
# kubectl, helm and the Istio release (istioctl + samples/addons, found via ISTIO_HOME) are the
# user's own; these targets download none of them. Every target is safe to re-run.
MESHKIT_CLI := node_modules/.bin/tsx cli/main.ts

.PHONY: doctor up down status images apply dashboards smoke chaos

doctor: install ## check docker, kind, kubectl, istioctl, helm, memory and ports for `make up`
	$(MESHKIT_CLI) doctor

up: synth ## kind cluster + Istio + add-ons + Strimzi + Kafka + the shop; converges (SKIP_IMAGES=1 reuses images)
	$(MESHKIT_CLI) up $(if $(SKIP_IMAGES),--skip-images)

down: install ## delete the kind cluster
	$(MESHKIT_CLI) down

status: install ## what is in place and what `make up` would still do; changes nothing (no synth)
	$(MESHKIT_CLI) status

images: imports ## build the service images, load them into kind, restart what changed
	$(MESHKIT_CLI) images

apply: synth ## re-apply dist/ and the database Secrets to the running cluster, wait until ready
	$(MESHKIT_CLI) apply

dashboards: imports ## port-forward Kiali (:20001/kiali), Grafana (:3000), Prometheus (:9090)
	$(MESHKIT_CLI) dashboards

smoke: install ## register, log in, order and see the notification through http://localhost:8080
	$(MESHKIT_CLI) smoke

# SCENARIO: a number, an id, a comma-separated list or `all`; ARGS: e.g. --local, --mesh, --rate 20, --json out.json
# --mesh runs the shop as `make mesh` does: its checks first (Linux, root), then dist/ and the services' bundles.
# One node process (--import tsx), not the tsx CLI: its relay SIGKILLs a child slow to acknowledge Ctrl-C (30 ms), leaving the mesh up.
chaos: imports ## chaos scenario(s) with a verdict: make chaos SCENARIO=1|faulty-payment-pod|all [ARGS=--local|--mesh] (chaos/README.md)
	$(if $(findstring --mesh,$(ARGS)),node --import tsx local/mesh/main.ts --check || { echo 'make chaos ARGS=--mesh runs the shop on the local mesh: it needs what make mesh needs (above)'; exit 1; })
	$(if $(findstring --mesh,$(ARGS)),$(MAKE) --no-print-directory synth build)
	node --import tsx chaos/main.ts $(or $(SCENARIO),help) $(ARGS)

# ---------------------------------------------------------------------------------------------
# The whole shop as local processes (local/dev/, see local/dev/README.md): no Docker, no cluster.
# `exec`: the shell is replaced by the launcher, one Node process (no tsx wrapper), so make's
# only child is the launcher and a signal make passes on (SIGTERM) reaches it; SIGINT or SIGHUP
# sent to make alone are noticed by the launcher itself (local/dev/signals.ts).
.PHONY: dev

dev: install ## the shop as local processes behind a local edge on :8080 (PGlite, Kafka when Java is there; EDGE_PORT, KAFKA_BROKERS, DATABASE_URL_<SERVICE>)
	exec node --import tsx local/dev/main.ts

# ---------------------------------------------------------------------------------------------
# The whole shop on a real Istio data plane without Docker (local/mesh/): dist/ applied to a local
# kube-apiserver, each pod a network namespace with its own address, istiod, sidecars, the ingress
# gateway on :8080. Linux and root only (checked first). `exec`: the launcher replaces the shell,
# so a SIGTERM make passes on reaches it; Ctrl-C and SIGHUP reach it directly.
.PHONY: mesh

mesh: install ## the shop on a real Istio mesh in network namespaces (Linux, root): gateway on :8080, Ctrl-C removes everything
	node --import tsx local/mesh/main.ts --check
	$(MAKE) --no-print-directory synth build
	exec node --import tsx local/mesh/main.ts
