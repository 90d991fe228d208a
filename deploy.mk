# Installing cloud-edge-scheduler like real software; included by the top-level Makefile, which
# defines BIN and the venv target. See docs/install.md.
#   make manifests   render manifests/install/ from the chart (a unit test keeps them equal)
#   make image       build the container image (hack/build-image.sh; Docker or Podman)
CONTAINER_ENGINE ?= docker
IMAGE ?= cloud-edge-scheduler
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/cloud-edge-scheduler/Chart.yaml)

.PHONY: manifests image chart-lint

manifests: ## render manifests/install/ from charts/cloud-edge-scheduler (helm from `make tools`)
	deploy/render-manifests.sh

image: venv ## build the scheduler image (hermetic where python:3.11-slim cannot be pulled; IMAGE_BUILD=pypi|hermetic)
	PYTHON=$(BIN)/python IMAGE=$(IMAGE) IMAGE_TAG=$(IMAGE_TAG) CONTAINER_ENGINE=$(CONTAINER_ENGINE) hack/build-image.sh

chart-lint: venv ## helm lint and template checks of the chart, the Dockerfile and manifests/install
	$(BIN)/pytest tests/unit/test_deploy_static.py
