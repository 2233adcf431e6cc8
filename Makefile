# Tidings: run `make help` for the list of targets.

CARGO   ?= cargo
PROFILE ?= dev
DATA    ?= ./data
CONFIG  ?=

ifeq ($(PROFILE),release)
  TARGET_DIR := target/release
else
  TARGET_DIR := target/debug
endif

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets with what they do.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build every binary (PROFILE=release for an optimised build).
	$(CARGO) build --workspace --bins --profile $(PROFILE)

.PHONY: run
run: build web ## Start the all-in-one server on loopback with its data under ./data, development tokens (dev:<user>) enabled and the web chat page at the URL it prints (Ctrl-C stops it).
	TIDINGS__DATA_DIR=$(DATA) TIDINGS__GATEWAY__AUTH__SCHEME=dev TIDINGS__GATEWAY__WEB_DIR=$(CURDIR)/web/dist $(TARGET_DIR)/tidings $(if $(CONFIG),--config $(CONFIG),)

.PHONY: web
web: ## Build the web chat page into web/dist (installs its npm packages on first use; docs/web-client.md).
	scripts/web-build.sh

.PHONY: browser-test
browser-test: ## Run the web page's tests in Chromium against the all-in-one binary (installs Chromium if needed); screenshots in target/browser-test/screenshots/.
	scripts/browser-test.sh

.PHONY: test
test: lint ## Check formatting and lints, run every test (starts and stops Redis and a CQL node), validate the chart and deploy files.
	scripts/test.sh
	scripts/validate-chart.sh
	scripts/validate-deploy.sh

.PHONY: helm-lint
helm-lint: ## Lint the Helm chart and validate its manifests offline (builds Helm on first use).
	scripts/validate-chart.sh

.PHONY: deploy-check
deploy-check: ## Validate deploy/compose.yaml, deploy/config and deploy/Dockerfile offline.
	scripts/validate-deploy.sh

IMAGE ?= tidings:dev

.PHONY: image
image: ## Build the container image (needs Docker with BuildKit); IMAGE=name:tag.
	DOCKER_BUILDKIT=1 docker build -f deploy/Dockerfile -t $(IMAGE) .

.PHONY: compose-up
compose-up: ## Start the local distributed cluster from deploy/compose.yaml (needs Docker).
	docker compose -f deploy/compose.yaml up --build -d

.PHONY: compose-down
compose-down: ## Stop the local cluster and drop its data.
	docker compose -f deploy/compose.yaml down -v

.PHONY: services-up
services-up: ## Start the test Redis (port 16379) and CQL node (port 19042), installing them if needed.
	scripts/redis.sh start
	scripts/cassandra.sh start

.PHONY: services-down
services-down: ## Stop the test Redis and CQL node.
	-scripts/redis.sh stop
	-scripts/cassandra.sh stop

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings as errors.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: fmt
fmt: ## Format the code.
	$(CARGO) fmt --all

.PHONY: bench
bench: ## Tidings against a bare relay, end to end, in release mode; files in target/bench/ (BENCH_ARGS=--quick, or "--shape distributed"; docs/benchmarks.md).
	$(CARGO) build --release -p tidings --bins
	$(CARGO) run --release -p tidings-bench --bin tidings-bench -- e2e $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove build output and the local data directory.
	$(CARGO) clean
	rm -rf $(DATA) web/dist
