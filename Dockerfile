# The cloud-edge-scheduler image: `make image` (needs a running Docker or Podman, which the
# project's CI machine does not have). Two stages: the builder makes a wheel of the package and
# installs it with its dependencies into a virtualenv; the final image holds that virtualenv on
# the same Python base and nothing else (no pip cache, no sources, no compilers), and runs as a
# non-root numeric user so that `runAsNonRoot` can verify it.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# numpy and scipy come as manylinux wheels: nothing is compiled here.
RUN python -m venv /opt/cloudedge
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN /opt/cloudedge/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/cloudedge/bin/pip install /wheels/*.whl \
 && /opt/cloudedge/bin/python -m compileall -q /opt/cloudedge/lib \
 && /opt/cloudedge/bin/cloudedge --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="cloud-edge-scheduler" \
      org.opencontainers.image.description="A Kubernetes scheduler for clusters that mix cloud and edge nodes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /opt/cloudedge /opt/cloudedge
# The root filesystem is read-only in the chart: no bytecode is written at run time (it was
# compiled in the builder), and output is unbuffered so logs reach `kubectl logs` at once.
ENV PATH=/opt/cloudedge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# 65532 is the conventional "nonroot" id (distroless); no passwd entry is needed.
USER 65532:65532
EXPOSE 8080 8888
ENTRYPOINT ["cloudedge"]
CMD ["run", "--bind-address=0.0.0.0"]
