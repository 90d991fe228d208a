"""What the scheduler must never show: annotation values and secrets on ``/metrics``, bearer
tokens in its log (at debug level). The extender's TLS is in test_faults_extender.py.
"""

from __future__ import annotations

import base64
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cluster_support import Cluster, wait_until
from faults_support import TestNodes, create_pods
from operator_support import OperatorProcess


def scrape(proc: OperatorProcess, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{proc.metrics_port}{path}", timeout=5) as r:
        return str(r.read().decode())


@pytest.mark.timeout(180)
def test_metrics_show_no_annotation_value_pod_name_or_secret(
    kube: Cluster, namespace: str, nodes: TestNodes
) -> None:
    marker = f"leak{secrets.token_hex(6)}"
    secret_value = f"s3cr3t-{secrets.token_hex(8)}"
    kube.core.create_namespaced_secret(
        namespace,
        {"metadata": {"name": "creds"}, "stringData": {"password": secret_value}},
    )
    kube.core.patch_node(
        nodes.node_name("edge-1"),
        {"metadata": {"annotations": {"cloudedge.io/compute-rate": f"{marker}-rate"}}},
    )
    annotations = [
        {"cloudedge.io/data-source": f"{marker}-site", "cloudedge.io/data-size-mb": "1"},
        {"cloudedge.io/workload": f"{marker}-workload"},  # invalid: a Warning event
        {"cloudedge.io/compute-cost": f"{marker}-cost"},  # invalid
        {"cloudedge.io/tier": "edge", "note": f"{marker}-note"},
        {"cloudedge.io/max-latency-ms": "0.000001"},  # unschedulable: no node meets it
    ]
    pods = [
        nodes.pod(f"{marker}-pod-{k}", annotations=a, cpu="10m")
        for k, a in enumerate(annotations * 4)
    ]
    proc = OperatorProcess(kube.kubeconfig, lease_name=f"ft-{secrets.token_hex(4)}")
    proc.start()
    try:
        create_pods(kube, namespace, pods)
        wait_until(
            "every kind of attempt counted",
            lambda: all(
                proc.sample("cloudedge_schedule_attempts_total", result=r) > 0
                for r in ("scheduled", "invalid", "unschedulable")
            ),
            timeout=60,
        )
        for path in ("/metrics", "/healthz", "/readyz"):
            text = scrape(proc, path)
            assert marker not in text, f"{path} shows a name or annotation value"
            assert secret_value not in text, f"{path} shows a Secret"
            assert namespace not in text, f"{path} names a namespace"
        assert secret_value not in proc.log_tail(10_000_000)
    finally:
        proc.close()


def token_kubeconfig(kube: Cluster, token: str, tmp_path: Path) -> str:
    """The admin kubeconfig's server and CA, with a bearer token as the only credential."""
    admin = yaml.safe_load(Path(kube.kubeconfig).read_text())
    cluster = admin["clusters"][0]["cluster"]
    if "certificate-authority" in cluster:
        ca = base64.b64encode(Path(cluster["certificate-authority"]).read_bytes()).decode()
        cluster = {"server": cluster["server"], "certificate-authority-data": ca}
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "token-kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture
def service_account_token(kube: Cluster, namespace: str) -> Iterator[str]:
    """A ServiceAccount bound to cluster-admin and a one-hour token of it."""
    binding = f"ft-token-{secrets.token_hex(3)}"
    kube.kubectl("create", "serviceaccount", "scheduler", "-n", namespace)
    kube.kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=cluster-admin",
        f"--serviceaccount={namespace}:scheduler",
    )
    try:
        token = kube.kubectl("create", "token", "scheduler", "-n", namespace).stdout.strip()
        assert token.count(".") == 2, "a JWT"
        yield token
    finally:
        kube.kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found")


@pytest.mark.timeout(180)
def test_the_log_never_shows_the_bearer_token_even_at_debug_level(
    kube: Cluster,
    namespace: str,
    nodes: TestNodes,
    service_account_token: str,
    tmp_path: Path,
) -> None:
    token = service_account_token
    proc = OperatorProcess(
        token_kubeconfig(kube, token, tmp_path),
        lease_name=f"ft-{secrets.token_hex(4)}",
        mode="both",
        extra_args=["--log-level", "debug"],
    )
    proc.start()
    try:
        pods = [nodes.pod(f"ok-{k}") for k in range(10)]
        pods += [nodes.pod("bad", annotations={"cloudedge.io/tier": "fog"})]
        pods += [nodes.pod("huge", cpu="64")]
        create_pods(kube, namespace, pods)
        wait_until(
            "the pods scheduled or refused",
            lambda: (
                proc.sample("cloudedge_schedule_attempts_total", result="scheduled") >= 10
                and proc.sample("cloudedge_schedule_attempts_total", result="invalid") >= 1
                and proc.sample("cloudedge_schedule_attempts_total", result="unschedulable") >= 1
            ),
            timeout=60,
        )
        log = proc.log_tail(50_000_000)
        assert "DEBUG" in log, "the operator did not log at debug level"
        signature = token.rsplit(".", 1)[1]
        for secret in (token, signature, signature[:16]):
            assert secret not in log, "the log shows the bearer token"
        assert "Bearer " not in log
    finally:
        proc.close()
