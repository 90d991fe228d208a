# Local Kubernetes control plane for tests and demos; included by the top-level Makefile, which
# defines CACHE_DIR, VENV, BIN and the venv target. See docs/local-cluster.md.
#   make tools          build kube-apiserver & co, etcd, kwok, helm from upstream Go modules (cached)
#   make cluster-up     etcd + kube-apiserver + controller-manager + scheduler + kwok, 8 fake nodes
#   make e2e            the e2e suite: on $KUBECONFIG when set, else on a cluster it starts itself
CLUSTER_NAME ?= cloudedge
export CLUSTER_NAME

.PHONY: tools cluster-up cluster-down print-kubeconfig print-bindir e2e faults kind-up kind-down \
	print-kind-kubeconfig kind-images kind-e2e

tools: ## build the control-plane tools from upstream Go modules into $(CACHE_DIR)/bin (cached)
	hack/build-tools.sh

cluster-up: ## start the local control plane (kwokctl, binary runtime) with 3 cloud + 5 edge nodes
	hack/cluster-up.sh

cluster-down: ## stop and delete the local control plane
	hack/cluster-down.sh

print-kubeconfig: ## print the local cluster's kubeconfig path
	@echo "$(CACHE_DIR)/clusters/$(CLUSTER_NAME)/kubeconfig"

print-bindir: ## print the directory of the built tools (kubectl, helm, etcdctl, ...)
	@hack/build-tools.sh --print-bindir

e2e: venv ## end-to-end tests: on $$KUBECONFIG if set, else on a local cluster started for the run
	$(if $(KUBECONFIG),KUBECONFIG=$(KUBECONFIG)) $(BIN)/pytest -m e2e tests/e2e

faults: venv ## the fault suite (docs/faults.md): always on a local cluster of its own, cloudedge-faults
	$(BIN)/pytest -m faults tests/faults

# --- kind: real kubelets in Docker containers (hack/kind/, docs/local-cluster.md) ---------------
KIND_CLUSTER_NAME ?= cloudedge
KIND_TOPOLOGY ?= seed
export KIND_CLUSTER_NAME KIND_TOPOLOGY

kind-up: ## a kind cluster: 1 control plane + 3 cloud + 5 edge nodes as the seed (KIND_TOPOLOGY=small: 1+1+1)
	hack/kind/up.sh

kind-down: ## delete the kind cluster $$KIND_CLUSTER_NAME, and nothing else
	hack/kind/down.sh

print-kind-kubeconfig: ## print the kind cluster's kubeconfig path
	@echo "$(CACHE_DIR)/clusters/kind-$(KIND_CLUSTER_NAME)/kubeconfig"

kind-e2e: venv ## the kind suite (tests/kind): make image, kind-up if needed, the chart installed, real pods
	$(BIN)/pytest -m kind -rA tests/kind

kind-images: ## build the kind node images and the Python base image from sources (cached)
	hack/kind/build-node-image.sh
	hack/kind/build-python-base.sh
