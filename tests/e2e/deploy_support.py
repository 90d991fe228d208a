"""Helpers of the install tests: helm releases, ServiceAccount kubeconfigs, a real Prometheus.

- :func:`installed`: ``helm install --wait=false`` of the chart into a test namespace, with a
  unique release name (its ClusterRoles and bindings are cluster-scoped), uninstalled after.
- :func:`service_account_kubeconfig`: a kubeconfig that authenticates as a ServiceAccount with a
  token from ``kubectl create token``, so a process run outside the cluster holds exactly the
  permissions the chart grants its pods.
- :class:`PrometheusProcess`: Debian's ``/usr/bin/prometheus`` on 127.0.0.1, scraping given
  targets every second, with the HTTP API's instant query.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_support import REPO_ROOT, Cluster, tool_bindir, wait_until
from operator_support import free_port

CHART = REPO_ROOT / "charts" / "cloud-edge-scheduler"
HELM_TIMEOUT_S = 180.0  # helm install talks to the API server for every object
PROMETHEUS = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")


def helm_path() -> Path:
    path = tool_bindir() / "helm"
    if not os.access(path, os.X_OK):
        pytest.fail(f"helm is missing at {path}: build the tools with `make tools`", pytrace=False)
    return path


def helm(
    kube: Cluster, *args: str, values: Mapping[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run helm against the cluster under test; fails the test with helm's output on error."""
    extra = ("--values", "-") if values is not None else ()
    proc = subprocess.run(
        [str(helm_path()), *args, *extra],
        input=yaml.safe_dump(dict(values)) if values is not None else None,
        capture_output=True,
        text=True,
        timeout=HELM_TIMEOUT_S,
        env={**os.environ, "KUBECONFIG": kube.kubeconfig},
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


@dataclass(frozen=True)
class Release:
    """An installed release of the chart."""

    name: str
    namespace: str
    manifest: str

    @property
    def fullname(self) -> str:
        return f"{self.name}-cloud-edge-scheduler"

    @property
    def service_account(self) -> str:
        return self.fullname

    @property
    def kube_scheduler(self) -> str:
        return f"{self.fullname}-kube-scheduler"

    def objects(self) -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all(self.manifest) if d]


@contextlib.contextmanager
def installed(
    kube: Cluster, namespace: str, values: Mapping[str, Any] | None = None
) -> Iterator[Release]:
    """The chart installed into ``namespace`` (pods are not awaited), uninstalled afterwards."""
    name = f"ces{secrets.token_hex(3)}"
    install = ("install", name, str(CHART), "--namespace", namespace, "--wait=false")
    helm(kube, *install, values=values or {})
    try:
        manifest = helm(kube, "get", "manifest", name, "--namespace", namespace).stdout
        yield Release(name, namespace, manifest)
    finally:
        helm(kube, "uninstall", name, "--namespace", namespace, "--wait=false")


def service_account_kubeconfig(kube: Cluster, namespace: str, name: str, path: Path) -> Path:
    """Write a kubeconfig for ServiceAccount ``namespace/name`` (a one-hour token) to ``path``."""
    token = kube.kubectl("create", "token", name, "-n", namespace, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(Path(kube.kubeconfig.split(os.pathsep)[0]).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    server = dict(cluster["cluster"])
    if "certificate-authority" in server:  # embed it: the token's kubeconfig stands alone
        ca = Path(server.pop("certificate-authority")).read_bytes()
        server["certificate-authority-data"] = base64.b64encode(ca).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": server}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "cluster", "user": name}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def can_i(kube: Cluster, user: str, verb: str, resource: str, namespace: str | None) -> bool:
    """``kubectl auth can-i`` as ``user`` (the API server's SubjectAccessReview).

    ``resource`` is ``TYPE``, ``TYPE/NAME`` or ``TYPE/SUBRESOURCE`` for the subresources of pods
    and nodes (``pods/binding``), which kubectl wants as ``--subresource``.
    """
    ns_args = ("-n", namespace) if namespace else ("--all-namespaces",)
    kind, _, rest = resource.partition("/")
    target: tuple[str, ...] = (resource,)
    if kind in ("pods", "nodes") and rest in ("binding", "status", "eviction", "log", "exec"):
        target = (kind, f"--subresource={rest}")
    proc = kube.kubectl("auth", "can-i", verb, *target, f"--as={user}", *ns_args, check=False)
    answer = proc.stdout.strip()
    if answer not in ("yes", "no"):
        raise AssertionError(f"kubectl auth can-i {verb} {resource}: {proc.stdout}{proc.stderr}")
    return answer == "yes"


def promtool() -> Path:
    if not os.access(PROMTOOL, os.X_OK):
        pytest.fail(
            f"{PROMTOOL} is missing: install Debian's prometheus (hack/install-deps.sh)",
            pytrace=False,
        )
    return PROMTOOL


class PrometheusProcess:
    """A throwaway Prometheus on 127.0.0.1 with its own data directory."""

    def __init__(self, targets: Sequence[str], *, job: str) -> None:
        if not os.access(PROMETHEUS, os.X_OK):
            pytest.fail(
                f"{PROMETHEUS} is missing: install Debian's prometheus (hack/install-deps.sh)",
                pytrace=False,
            )
        self.dir = Path(tempfile.mkdtemp(prefix="cloudedge-prometheus-"))
        self.port = free_port()
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
        }
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log_path = self.dir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrometheusProcess:
        args = [
            str(PROMETHEUS),
            f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        wait_until(f"Prometheus ready ({self.log_tail()})", self.ready, timeout=60)
        return self

    def ready(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited: {self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The result vector of an instant query (raises on a PromQL error)."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                doc = json.load(resp)
        except urllib.error.HTTPError as err:  # 400 with the PromQL error in the body
            raise AssertionError(f"{expr}: {err.read().decode(errors='replace')}") from err
        assert doc["status"] == "success", doc
        result = doc["data"]["result"]
        assert isinstance(result, list)
        return result

    def log_tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
