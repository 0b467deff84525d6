# Haul's entry points. `make demo` runs Haul's main job on a throwaway
# database; `make test` runs everything CI runs, installing what it needs.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
BIN := bin/haul

# Heavy artefacts live outside the clone, so fresh clones (CI) reuse them.
HAUL_CACHE_DIR ?= $(HOME)/.cache/haul
export HAUL_CACHE_DIR

GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(HAUL_CACHE_DIR)/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint
CONTROLLER_GEN := go tool controller-gen

# Go test flags; e.g. make test GOTEST_FLAGS='-run Migrate -v'.
GOTEST_FLAGS ?=

.PHONY: build
build: ## Build bin/haul.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/haul

.PHONY: demo
demo: setup build ## Run Haul's main job end to end on a throwaway PostgreSQL.
	$(BIN) demo $(DEMO_FLAGS)

.PHONY: setup
setup: ## Install the PostgreSQL server binaries if missing (Debian packages).
	hack/setup.sh

.PHONY: envtest
envtest: ## Build (once) the kube-apiserver and etcd envtest uses; prints their folder.
	hack/setup-envtest.sh

.PHONY: test
test: setup lint verify-generated ## Everything CI runs: lint, generated files, then all tests against real PostgreSQL and kube-apiserver.
	assets="$$(hack/setup-envtest.sh | tail -n1)"; \
	KUBEBUILDER_ASSETS="$$assets" go test -race -count=1 $(GOTEST_FLAGS) ./...

# make test-cluster KEEP_CLUSTER=1 leaves the node up for the next run.
KEEP_CLUSTER ?= 0

.PHONY: test-cluster
test-cluster: setup ## As root: the chart, the operator and its Jobs on a real single-node Kubernetes (hack/cluster.sh), torn down afterwards.
	if [[ "$(KEEP_CLUSTER)" != 1 ]]; then trap 'hack/cluster.sh down' EXIT; fi; \
	hack/cluster.sh up >/dev/null; \
	eval "$$(hack/cluster.sh env)"; \
	go test -tags cluster -count=1 -timeout 20m -run '^TestCluster$$' $(GOTEST_FLAGS) ./test/e2e/ || \
		{ hack/cluster.sh logs; exit 1; }

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go vet and golangci-lint.
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [[ -n "$$unformatted" ]]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go vet -tags cluster ./test/e2e/
	go vet -tags failpoints ./cmd/haul/...
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	GOBIN="$(dir $@)" go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: generate
generate: ## Generate deepcopy code from the API types (controller-gen).
	$(CONTROLLER_GEN) object paths="./..."

CHART_DIR := charts/haul

.PHONY: verify-generated
verify-generated: ## Fail when deepcopy, the CRD, RBAC or the chart's copies differ from what generate and manifests produce.
	hack/verify-generated.sh

.PHONY: manifests
manifests: ## Generate CRD and RBAC manifests into config/ (controller-gen), and copy the CRDs and the controller's ClusterRole into the Helm chart.
	$(CONTROLLER_GEN) rbac:roleName=haul-controller crd paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	rm -f $(CHART_DIR)/crds/*.yaml
	cp config/crd/bases/*.yaml $(CHART_DIR)/crds/
	mkdir -p $(CHART_DIR)/files
	cp config/rbac/role.yaml $(CHART_DIR)/files/controller-role.yaml

.PHONY: helm-lint
helm-lint: ## Lint the Helm chart (helm lint --strict, through the Helm Go SDK) with its defaults and each ci/ values file.
	go test -count=1 -run '^TestChartLint$$' ./test/helm/

.PHONY: bench
bench: ## Benchmarks with allocation counts.
	go test -run '^$$' -bench . -benchmem ./...

.PHONY: bench-ingest
bench-ingest: ## Ingest throughput vs psql \copy into shipments and into a key-only table, and peak RSS, on a throwaway PostgreSQL (N=..., BIG=0).
	hack/bench-ingest.sh

.PHONY: bench-precalc
bench-precalc: ## Aggregate refresh after loads of 1% and 10% more (spread, on new days) vs a full rebuild, rebuild vs load, aggregate vs raw size, on a throwaway PostgreSQL (N=..., ROUNDS=..., SCENARIOS=...).
	hack/bench-precalc.sh

.PHONY: bench-api
bench-api: ## Cold answers (distinct windows) vs /api/system/status, and requests/s and p50/p99 of every API endpoint under wrk, on a throwaway PostgreSQL (N=..., MODE=cold|load|both, DURATION=...).
	hack/bench-api.sh

FUZZTIME ?= 30s

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s); failures land in the package's testdata/fuzz.
	for target in FuzzValidator FuzzScannerArray FuzzScannerNDJSON FuzzScannerObjectPath FuzzParseDecimal FuzzTextChecks; do \
		go test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) ./jobs/ingest/ || exit 1; \
	done
	go test -run '^$$' -fuzz '^FuzzDecoder$$' -fuzztime $(FUZZTIME) ./internal/pgcopy/

.PHONY: clean
clean: ## Remove build output (not the caches under $(HAUL_CACHE_DIR)).
	rm -rf bin

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'
