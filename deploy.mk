# Installing cloud-edge-scheduler like real software; included by the top-level Makefile, which
# defines BIN and the venv target. See docs/install.md.
#   make manifests   render manifests/install/ from the chart (a unit test keeps them equal)
#   make image       build the container image (needs Docker or Podman: not on the CI machine)
CONTAINER_ENGINE ?= docker
IMAGE ?= cloud-edge-scheduler
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/cloud-edge-scheduler/Chart.yaml)

.PHONY: manifests image chart-lint

manifests: ## render manifests/install/ from charts/cloud-edge-scheduler (helm from `make tools`)
	deploy/render-manifests.sh

image: ## build the container image cloud-edge-scheduler:<appVersion> (needs Docker; not on CI)
	@command -v $(CONTAINER_ENGINE) >/dev/null || { echo "make image: $(CONTAINER_ENGINE) not found; the image needs a container engine (CONTAINER_ENGINE=podman works too)" >&2; exit 1; }
	$(CONTAINER_ENGINE) build --tag $(IMAGE):$(IMAGE_TAG) .

chart-lint: venv ## helm lint and template checks of the chart, the Dockerfile and manifests/install
	$(BIN)/pytest tests/unit/test_deploy_static.py
