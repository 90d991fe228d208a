# The cloud-edge-scheduler image: `make image`. Two stages: the builder installs the package and
# its dependencies into a virtualenv; the final image holds that virtualenv on the same Python
# base and nothing else (no pip cache, no sources, no compilers), and runs as a non-root numeric
# user so that `runAsNonRoot` can verify it, on a read-only root filesystem (the chart's).
#
# Two ways to build, chosen by build arguments (`make image` picks one):
#   - anywhere with a registry and PyPI: the defaults, FROM python:3.11-slim, dependencies
#     from PyPI;
#   - hermetic, where neither can be reached from a build container (a TLS-intercepting proxy
#     whose CA containers do not trust): PYTHON_IMAGE=cloudedge-python-base:bookworm, the
#     Debian base hack/kind/build-python-base.sh makes locally, and WHEELS=hermetic, which
#     installs only the wheels made on the host into wheelhouse/ (`--no-index`).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
# On both stages, so that hack/build-image.sh can remove this project's images a rebuild
# leaves untagged (the classic builder keeps the builder stage as one) and nobody else's.
LABEL io.cloudedge.build="cloud-edge-scheduler"
ARG WHEELS=pypi
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/cloudedge
COPY wheelhouse /wheels
COPY pyproject.toml README.md ./
COPY operator ./operator
# numpy and scipy come as manylinux wheels: nothing is compiled here.
RUN if [ "$WHEELS" = hermetic ]; then \
      /opt/cloudedge/bin/pip install --no-index --find-links /wheels cloud-edge-scheduler; \
    else \
      /opt/cloudedge/bin/pip install /src; \
    fi \
 && /opt/cloudedge/bin/python -m compileall -q /opt/cloudedge/lib \
 && /opt/cloudedge/bin/cloudedge --version

FROM ${PYTHON_IMAGE}
LABEL io.cloudedge.build="cloud-edge-scheduler" \
      org.opencontainers.image.title="cloud-edge-scheduler" \
      org.opencontainers.image.description="A Kubernetes scheduler for clusters that mix cloud and edge nodes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /opt/cloudedge /opt/cloudedge
# The root filesystem is read-only in the chart: no bytecode is written at run time (it was
# compiled in the builder), and output is unbuffered so logs reach `kubectl logs` at once.
# The user has no passwd entry: getpass.getuser(), which kopf calls for its identity, reads
# LOGNAME before it looks one up (and fails, "uid not found: 65532", without it).
ENV PATH=/opt/cloudedge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOGNAME=cloudedge
# 65532 is the conventional "nonroot" id (distroless); no passwd entry is needed.
USER 65532:65532
EXPOSE 8080 8888
ENTRYPOINT ["cloudedge"]
CMD ["run", "--bind-address=0.0.0.0"]
