"""Helpers of the e2e suite: the cluster under test, kubectl with its kubeconfig, bounded waits.

The fixtures in conftest.py build these; tests import the types and helpers from here.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client import ApiException
from kubernetes.utils import parse_quantity

REPO_ROOT = Path(__file__).resolve().parents[2]
HACK_DIR = REPO_ROOT / "hack"

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    """A bounded wait ran out of time or tries; the message says what was awaited."""


def wait_until(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float = 60.0,
    interval: float = 0.5,
) -> T:
    """Call ``probe`` until it returns something other than None or False, and return that.

    Bounded both in time (``timeout`` seconds) and in count (``timeout / interval`` + 1 tries);
    raises WaitTimeoutError naming ``what`` and the last value or error seen.
    """
    deadline = time.monotonic() + timeout
    tries = math.ceil(timeout / interval) + 1
    last: object = None
    for _ in range(tries):
        try:
            value = probe()
        except Exception as exc:  # a probe may fail while the state converges
            last = exc
        else:
            if value is not None and value is not False:
                return value
            last = value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise WaitTimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def tool_bindir(env: Mapping[str, str] | None = None) -> Path:
    """The directory hack/build-tools.sh builds the tools into (it builds nothing here)."""
    out = subprocess.run(
        [str(HACK_DIR / "build-tools.sh"), "--print-bindir"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(env) if env is not None else None,
    )
    return Path(out.stdout.strip())


def find_kubectl(bindir: Path) -> Path:
    """kubectl built by hack/build-tools.sh, else the one on PATH, else build the tools."""
    built = bindir / "kubectl"
    if os.access(built, os.X_OK):
        return built
    on_path = shutil.which("kubectl")
    if on_path:
        return Path(on_path)
    subprocess.run([str(HACK_DIR / "build-tools.sh")], check=True, timeout=3600)
    return built


@dataclass
class Cluster:
    """A live Kubernetes API server, with kubectl and a Python client configured for it."""

    kubeconfig: str
    kubectl_path: Path
    started_here: bool
    api_client: k8s_client.ApiClient = field(repr=False)

    @classmethod
    def connect(cls, kubeconfig: str, kubectl_path: Path, *, started_here: bool) -> Cluster:
        # A KUBECONFIG may list several files separated by ':'; the client reads the first.
        first = kubeconfig.split(os.pathsep)[0]
        api_client = k8s_config.new_client_from_config(config_file=first)  # type: ignore[no-untyped-call]
        return cls(kubeconfig, kubectl_path, started_here, api_client)

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call]

    @property
    def core(self) -> k8s_client.CoreV1Api:
        return k8s_client.CoreV1Api(self.api_client)

    @property
    def apps(self) -> k8s_client.AppsV1Api:
        return k8s_client.AppsV1Api(self.api_client)

    @property
    def storage(self) -> k8s_client.StorageV1Api:
        return k8s_client.StorageV1Api(self.api_client)

    def kubectl(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; on failure (with ``check``) fail with its output."""
        env = {**os.environ, "KUBECONFIG": self.kubeconfig}
        proc = subprocess.run(
            [str(self.kubectl_path), "--request-timeout=30s", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def apply(self, manifest: str, namespace: str | None = None) -> str:
        """``kubectl apply -f -`` of a YAML text; returns kubectl's output."""
        ns_args: Sequence[str] = ("--namespace", namespace) if namespace else ()
        return self.kubectl("apply", *ns_args, "-f", "-", stdin=manifest).stdout

    def is_ready(self) -> bool:
        proc = self.kubectl("get", "--raw", "/readyz", check=False, timeout=20)
        return proc.returncode == 0 and proc.stdout.strip() == "ok"

    def pods(self, namespace: str, label_selector: str = "") -> list[Any]:
        """The pods of a namespace (kubernetes client V1Pod objects)."""
        listed = self.core.list_namespaced_pod(namespace, label_selector=label_selector)
        return list(listed.items)


KWOK_NODE_ANNOTATION = {"kwok.x-k8s.io/node": "fake"}
"""What makes kwok take a Node over: it reports it Ready and runs its pods in pretence."""


def kwok_node(
    name: str,
    *,
    labels: Mapping[str, str],
    allocatable: Mapping[str, str],
    taints: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """A v1 Node that kwok fakes: label ``type: kwok`` plus ``labels``, capacity equal to
    ``allocatable``, and ``taints`` (a suite's own, to keep other suites' pods off it)."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": dict(KWOK_NODE_ANNOTATION),
            "labels": {"type": "kwok", **labels},
        },
        "status": {"allocatable": dict(allocatable), "capacity": dict(allocatable)},
    }
    if taints:
        body["spec"] = {"taints": [dict(t) for t in taints]}
    return body


def node_ready(kube: Cluster, name: str, *, taints: int | None = None) -> bool:
    """The Node reports Ready; with ``taints``, the node lifecycle controller's not-ready
    taint is gone too (only the node's own ``taints`` remain)."""
    node = kube.core.read_node(name)
    conditions = (node.status.conditions if node.status else None) or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    own = (node.spec.taints if node.spec else None) or []
    return ready and (taints is None or len(own) == taints)


def quantity(text: object) -> float:
    """A Kubernetes quantity (``500m``, ``16Gi``, ``110``) as a float in base units."""
    parse = cast(Callable[[object], Any], parse_quantity)  # the client leaves it untyped
    return float(parse(text))


@contextlib.contextmanager
def scratch_namespace(
    kube: Cluster,
    test_name: str,
    *,
    prefix: str,
    label: str,
    drain_timeout: float | None = None,
) -> Iterator[str]:
    """A unique namespace for one test (``<prefix>-<test>-<random>``, labelled ``label``), with
    its default ServiceAccount; deleted afterwards.

    With ``drain_timeout``, its pods are deleted first and waited for, so the next test starts
    on a cluster without them (the fault suite's bursts fill whole nodes).
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")
    name = f"{prefix}-{slug[:45].rstrip('-')}-{secrets.token_hex(3)}"
    meta = k8s_client.V1ObjectMeta(name=name, labels={label: "true"})
    kube.core.create_namespace(k8s_client.V1Namespace(metadata=meta))
    # With admission on, pods cannot be created before the ServiceAccount controller made it.
    wait_until(
        f"ServiceAccount default in {name}",
        lambda: kube.core.read_namespaced_service_account("default", name),
        timeout=60,
    )
    yield name
    try:
        if drain_timeout is not None:
            kube.core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
            wait_until(
                f"the pods of {name} gone",
                lambda: not kube.core.list_namespaced_pod(name, limit=1).items,
                timeout=drain_timeout,
                interval=1,
            )
        kube.core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise
