# cloud-edge-scheduler: every developer and CI entry point.
#   make run    the main job: control plane (or $KUBECONFIG), scheduler, example workloads
#   make test   every test: lint, types, unit, e2e and the fault suite on a real control plane,
#               and the kind suite (real kubelets, the chart's own pod)
SHELL := bash
.SHELLFLAGS := -o errexit -o nounset -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CACHE_DIR ?= $(HOME)/.cache/cloudedge
export CACHE_DIR

.PHONY: help venv lint unit test run stop simulate bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/cloudedge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

venv: $(BIN)/cloudedge ## create .venv with the package and the dev tools

# The suites' shared helpers, typed like the package (test modules themselves are not).
TEST_SUPPORT := $(wildcard tests/e2e/*_support.py tests/kind/*_support.py) tests/faults/control_plane.py \
	tests/faults/faults_support.py

lint: venv ## ruff, mypy --strict (package, benchmarks and test helpers) and the import contracts
	$(BIN)/ruff check operator tests bench
	$(BIN)/ruff format --check operator tests bench
	$(BIN)/mypy --strict operator/cloudedge bench
	MYPYPATH=tests/e2e:tests/faults:tests/kind $(BIN)/mypy --strict $(TEST_SUPPORT)
	$(BIN)/lint-imports

unit: venv ## fast tests without a cluster
	$(BIN)/pytest -m 'not e2e' tests/unit

# The e2e and fault suites run side by side, each on its own kwokctl cluster (cloudedge and
# cloudedge-faults): both mostly wait on their clusters, so together they take little more
# than the longer one, and the fault suite is run under the load of the other, as a scheduler
# is. Each suite's output is printed whole when it ends. kind last: its nine node containers
# would otherwise load the machine beyond what a 2-core CI runner has to spare.
test: lint unit ## every test: lint, types, unit, e2e and faults on a real control plane, the kind suite, the testbed smoke
	$(MAKE) --no-print-directory -j2 --output-sync=target e2e faults
	$(MAKE) --no-print-directory kind-e2e
	$(MAKE) --no-print-directory testbed-smoke

run: venv ## the main job: cluster (or $$KUBECONFIG), scheduler, examples, where they landed
	hack/run.sh

stop: ## stop a scheduler that 'DETACH=1 make run' left running
	@if [ -f $(CACHE_DIR)/run/operator.pid ]; then kill $$(cat $(CACHE_DIR)/run/operator.pid) 2>/dev/null || true; rm -f $(CACHE_DIR)/run/operator.pid; fi

# OPENBLAS_* are unset for this command only: they select a slow, safe kernel on some CPUs
# (see docs/benchmarks.md, which records the kernel numpy ran).
bench: venv ## benchmarks side by side with kube-scheduler -> docs/benchmarks.md (BENCH_ARGS=--quick)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python -m bench $(BENCH_ARGS)

.PHONY: testbed testbed-smoke
testbed-smoke: venv ## one task end to end on the kind cluster: a shaped link, measured transfer and processing
	$(BIN)/pytest -rA tests/testbed

testbed: venv ## measured completion on kind per scheduler -> docs/testbed.md (TESTBED_ARGS=--smoke)
	$(BIN)/python -m bench.testbed.runner $(TESTBED_ARGS)

.PHONY: chart-schema
chart-schema: venv ## write the chart's weights (schema, values, manifests) from the term registry
	$(BIN)/python hack/gen-chart-schema.py
	$(MAKE) manifests

simulate: venv ## the seed case, offline
	$(BIN)/cloudedge simulate --scenario seed

clean: ## remove the virtual environment and caches of the repo (not the tool cache)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache

include hack/cluster.mk
include deploy.mk
