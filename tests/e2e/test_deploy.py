"""Installing cloud-edge-scheduler on a real control plane: the chart, the plain manifests, RBAC
that is enough and no more, the restricted Pod Security Standard, and the dashboard's queries on
a real Prometheus.

There is no image registry here, so the chart's pods never run the operator (kwok only pretends
they run). What a pod would do is proven by running ``cloudedge run`` and ``kube-scheduler``
outside the cluster with a token of the chart's own ServiceAccounts: they hold exactly the
permissions the chart grants.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_support import REPO_ROOT, Cluster, WaitTimeoutError, wait_until
from deploy_support import (
    CHART,
    PrometheusProcess,
    can_i,
    helm,
    installed,
    promtool,
    service_account_kubeconfig,
)
from kube_scheduler_support import KubeSchedulerProcess
from kubernetes.client import ApiException
from operator_support import OperatorProcess

INSTALL = REPO_ROOT / "manifests" / "install"
DASHBOARD = REPO_ROOT / "dashboards" / "cloud-edge-scheduler.json"
SCHEDULER_NAME = "cloud-edge-scheduler"
BIND_TIMEOUT_S = 60.0  # a pod of ours bound; seconds on a loaded 2-core machine


def pod_manifest(
    name: str,
    *,
    scheduler: str = SCHEDULER_NAME,
    cpu: str = "100m",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "annotations": annotations or {"cloudedge.io/workload": "latency-sensitive"},
        },
        "spec": {
            "schedulerName": scheduler,
            "containers": [
                {
                    "name": "main",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}},
                }
            ],
        },
    }


def create_pods(kube: Cluster, namespace: str, pods: list[dict[str, Any]]) -> None:
    kube.apply("\n---\n".join(yaml.safe_dump(p) for p in pods), namespace)


def bound_node(kube: Cluster, namespace: str, name: str) -> str | None:
    node = kube.core.read_namespaced_pod(name, namespace).spec.node_name
    return str(node) if node else None


def events_for(kube: Cluster, namespace: str, name: str, reason: str) -> list[Any]:
    listed = kube.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},reason={reason}"
    )
    return list(listed.items)


def forbidden_lines(log: str) -> list[str]:
    """Lines of ``log`` that say a request was forbidden: missing RBAC. A write refused because
    its namespace is being deleted (the API server's NamespaceTerminating, a 403 too, met when
    another test's namespace is still going away) is not a permission and is left out, with
    the other lines of the same log record."""
    records: list[list[str]] = []
    for line in log.splitlines():
        if not records or line[:4].isdigit():  # a record starts with its timestamp
            records.append([])
        records[-1].append(line)
    return [
        line
        for record in records
        if not any("NamespaceTerminating" in line for line in record)
        for line in record
        if "forbidden" in line.lower()
    ]


@pytest.fixture
def restricted_namespace(kube: Cluster, namespace: str) -> str:
    """The test namespace, enforcing (and warning about) the restricted Pod Security Standard."""
    kube.kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )
    return namespace


# -- installing -------------------------------------------------------------------------------

INSTALL_VALUES = {
    "defaults": {},
    # No ServiceMonitor or PrometheusRule: this cluster has no prometheus-operator CRDs.
    "both-replicated-with-dashboard": {
        "mode": "both",
        "replicaCount": 3,
        "extender": {"kubeScheduler": {"replicaCount": 2}},
        "dashboard": {"enabled": True},
    },
}


@pytest.mark.parametrize("values", INSTALL_VALUES.values(), ids=INSTALL_VALUES.keys())
def test_helm_install_creates_every_object_of_the_chart(
    kube: Cluster, namespace: str, values: dict[str, Any]
) -> None:
    with installed(kube, namespace, values) as release:
        expected = {f"{d['kind']}/{d['metadata']['name']}".lower() for d in release.objects()}
        assert {k.split("/")[0] for k in expected} >= {
            "deployment",
            "service",
            "serviceaccount",
            "configmap",
            "clusterrole",
            "clusterrolebinding",
            "role",
            "rolebinding",
        }
        proc = kube.kubectl("get", "-f", "-", "-o", "name", stdin=release.manifest)
        found = {
            re.sub(r"^(\w+)(\.[\w.]+)?/", r"\1/", line).lower() for line in proc.stdout.split()
        }
        assert found == expected
        status = helm(kube, "status", release.name, "-n", namespace, "-o", "json").stdout
        assert json.loads(status)["info"]["status"] == "deployed"
        crd = "customresourcedefinition/networktopologies.cloudedge.io"
        assert (
            kube.kubectl("get", crd, "-o", "name")
            .stdout.strip()
            .endswith("networktopologies.cloudedge.io")
        )


@pytest.fixture
def install_namespace(kube: Cluster) -> Iterator[str]:
    """The namespace manifests/install/ targets: created from its file when absent, removed
    after only when this test created it."""
    doc = yaml.safe_load((INSTALL / "00-namespace.yaml").read_text())
    name = doc["metadata"]["name"]
    try:
        kube.core.read_namespace(name)
        created = False
    except ApiException as exc:
        if exc.status != 404:
            raise
        kube.kubectl("apply", "-f", str(INSTALL / "00-namespace.yaml"))
        created = True
    yield name
    if created:
        kube.kubectl("delete", "namespace", name, "--wait=false")


def test_plain_install_manifests_are_accepted_by_the_api_server(
    kube: Cluster, install_namespace: str
) -> None:
    proc = kube.kubectl("apply", "--dry-run=server", "-f", str(INSTALL), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The namespace enforces and warns about `restricted`: any violation would print a Warning.
    assert "Warning" not in proc.stderr, proc.stderr
    applied = proc.stdout.splitlines()
    assert any(line.startswith("deployment.apps/cloud-edge-scheduler ") for line in applied)
    assert any("networktopologies.cloudedge.io" in line for line in applied)
    assert all("(server dry run)" in line for line in applied), applied


# -- pod security -----------------------------------------------------------------------------


def pod_from_template(deployment: dict[str, Any], namespace: str) -> dict[str, Any]:
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{deployment['metadata']['name']}-probe",
            "namespace": namespace,
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
    }


def test_chart_pods_are_admitted_under_the_restricted_pod_security_standard(
    kube: Cluster, restricted_namespace: str
) -> None:
    ns = restricted_namespace
    values = {"mode": "both", "replicaCount": 2}
    with installed(kube, ns, values) as release:
        deployments = [d for d in release.objects() if d["kind"] == "Deployment"]
        assert {d["metadata"]["name"] for d in deployments} == {
            release.fullname,
            release.kube_scheduler,
        }
        # A Deployment is checked against the pod-security level when it is written (warnings)...
        proc = kube.kubectl(
            "apply",
            "--dry-run=server",
            "-f",
            "-",
            stdin="\n---\n".join(yaml.safe_dump(d) for d in deployments),
        )
        assert "PodSecurity" not in proc.stderr, proc.stderr
        # ...and every Pod when it is created: a bare Pod from each template is admitted...
        for dep in deployments:
            pod = yaml.safe_dump(pod_from_template(dep, ns))
            out = kube.kubectl("create", "--dry-run=server", "-f", "-", stdin=pod, check=False)
            assert out.returncode == 0, out.stderr
        # ...and the ReplicaSet controller gets every replica created.
        wanted = sum(d["spec"]["replicas"] for d in deployments)
        wait_until(
            f"{wanted} pods of the release created in {ns}",
            lambda: len(kube.pods(ns, f"app.kubernetes.io/instance={release.name}")) == wanted,
            timeout=60,
        )
        # The control: the same template with root allowed is refused, so admission is on.
        unsafe = pod_from_template(deployments[0], ns)
        for container in unsafe["spec"]["containers"]:
            container["securityContext"]["allowPrivilegeEscalation"] = True
        out = kube.kubectl(
            "create", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(unsafe), check=False
        )
        assert out.returncode != 0
        assert 'violates PodSecurity "restricted' in out.stderr, out.stderr


# -- RBAC: enough -----------------------------------------------------------------------------


def test_operator_with_only_the_charts_rbac_schedules_pods_end_to_end(
    kube: Cluster, namespace: str, tmp_path: Path
) -> None:
    with installed(kube, namespace, {"replicaCount": 2}) as release:
        kubeconfig = service_account_kubeconfig(
            kube, namespace, release.service_account, tmp_path / "operator.kubeconfig"
        )
        operator = OperatorProcess(
            str(kubeconfig),
            lease_name=release.fullname,
            mode="scheduler",
            extra_args=["--leader-elect", "--leader-elect-namespace", namespace],
        )
        try:
            operator.start()
            wait_until("the operator leads", operator.is_leader, timeout=60)
            fitting = [pod_manifest(f"fits-{i}") for i in range(3)]
            huge = pod_manifest("too-big", cpu="64")  # no node has 64 CPUs
            create_pods(kube, namespace, [*fitting, huge])
            for pod in fitting:
                name = pod["metadata"]["name"]
                wait_until(
                    f"{name} bound ({operator.log_tail()})",
                    lambda name=name: bound_node(kube, namespace, name),
                    timeout=BIND_TIMEOUT_S,
                )
                wait_until(
                    f"a Scheduled event for {name}",
                    lambda name=name: events_for(kube, namespace, name, "Scheduled"),
                    timeout=30,
                )
            # pods/status patch and events create: the unschedulable pod says why.
            wait_until(
                "too-big marked Unschedulable",
                lambda: any(
                    c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
                    for c in kube.core.read_namespaced_pod("too-big", namespace).status.conditions
                    or []
                ),
                timeout=BIND_TIMEOUT_S,
            )
            wait_until(
                "a FailedScheduling event for too-big",
                lambda: events_for(kube, namespace, "too-big", "FailedScheduling"),
                timeout=30,
            )
            assert bound_node(kube, namespace, "too-big") is None
            lease = kube.kubectl("get", "lease", release.fullname, "-n", namespace, "-o", "json")
            assert json.loads(lease.stdout)["spec"]["holderIdentity"]
            # Nothing the operator asks for is refused (kopf's CRD scan is off).
            refused = forbidden_lines(operator.log_tail(200_000))
            assert not refused, refused
        finally:
            operator.close()


def lease_owner_uids(kube: Cluster, namespace: str, name: str) -> set[str] | None:
    """The uids of the Lease's owners, None when there is no such Lease."""
    proc = kube.kubectl("get", "lease", name, "-n", namespace, "-o", "json", check=False)
    if proc.returncode != 0:
        return None
    return {r["uid"] for r in json.loads(proc.stdout)["metadata"].get("ownerReferences", [])}


def test_helm_uninstall_takes_the_leases_of_the_release_with_it(
    kube: Cluster, namespace: str, tmp_path: Path
) -> None:
    """No manifest creates the Leases (whoever campaigns first does), so uninstalling removes
    them only through their owners: the operator gives each its Deployment as owner, and the
    garbage collector does the rest once helm has deleted the Deployments."""
    with installed(kube, namespace, {"mode": "both"}) as release:
        uid = {
            name: kube.kubectl(
                "get", "deployment", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}"
            ).stdout.strip()
            for name in (release.fullname, release.kube_scheduler)
        }
        # What the second kube-scheduler creates when it first campaigns: a Lease of its name
        # with no owner (the upstream binary sets none).
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": release.kube_scheduler, "namespace": namespace},
            "spec": {"holderIdentity": "kube-scheduler-0", "leaseDurationSeconds": 15},
        }
        kube.kubectl("create", "-f", "-", stdin=json.dumps(lease))
        kubeconfig = service_account_kubeconfig(
            kube, namespace, release.service_account, tmp_path / "operator.kubeconfig"
        )
        operator = OperatorProcess(
            str(kubeconfig),
            lease_name=release.fullname,
            mode="both",
            extra_args=[
                "--leader-elect",
                "--leader-elect-namespace",
                namespace,
                f"--owned-lease={release.fullname}={release.fullname}",
                f"--owned-lease={release.kube_scheduler}",
            ],
        )
        try:
            operator.start()
            wait_until("the operator leads", operator.is_leader, timeout=60)
            for name in (release.fullname, release.kube_scheduler):
                wait_until(
                    f"lease {name} owned by its deployment ({operator.log_tail()})",
                    lambda name=name: lease_owner_uids(kube, namespace, name) == {uid[name]},
                    timeout=30,
                )
            refused = forbidden_lines(operator.log_tail(200_000))
            assert not refused, refused
        except BaseException:
            operator.close()
            raise
    # Uninstalled with the operator still running: its Role went with the release, so it can
    # neither release nor re-create its Lease; only the garbage collector removes them.
    try:
        for name in (release.fullname, release.kube_scheduler):
            wait_until(
                f"lease {name} removed with its deployment",
                lambda name=name: lease_owner_uids(kube, namespace, name) is None,
                timeout=120,
            )
    finally:
        operator.close()


def test_second_kube_scheduler_with_the_charts_rbac_places_pods_through_the_extender(
    kube: Cluster, namespace: str, tmp_path: Path
) -> None:
    with installed(kube, namespace, {"mode": "extender"}) as release:
        operator = OperatorProcess(
            str(
                service_account_kubeconfig(
                    kube, namespace, release.service_account, tmp_path / "operator.kubeconfig"
                )
            ),
            lease_name=release.fullname,
            mode="extender",
            extra_args=["--no-leader-elect"],
        )
        ks_kubeconfig = service_account_kubeconfig(
            kube, namespace, release.kube_scheduler, tmp_path / "kube-scheduler.kubeconfig"
        )
        cm = kube.kubectl(
            "get", "configmap", f"{release.kube_scheduler}-config", "-n", namespace, "-o", "json"
        )
        config = yaml.safe_load(json.loads(cm.stdout)["data"]["kube-scheduler-config.yaml"])
        scheduler_name = config["profiles"][0]["schedulerName"]
        # Out of the cluster: our kubeconfig instead of the pod's, loopback instead of the
        # Service; everything else as the chart renders it.
        config["clientConnection"] = {"kubeconfig": str(ks_kubeconfig)}
        config["extenders"][0]["urlPrefix"] = f"http://127.0.0.1:{operator.extender_port}"
        scheduler = KubeSchedulerProcess(config)
        # In a pod these default to the in-cluster identity; here they name the same token, so
        # the kube-system authentication reader binding is exercised too.
        scheduler.args += [
            f"--authentication-kubeconfig={ks_kubeconfig}",
            f"--authorization-kubeconfig={ks_kubeconfig}",
        ]
        try:
            operator.start()
            scheduler.start()
            pod = pod_manifest(
                "via-extender",
                scheduler=scheduler_name,
                annotations={
                    "cloudedge.io/workload": "latency-sensitive",
                    "cloudedge.io/tier": "edge",
                },
            )
            create_pods(kube, namespace, [pod])
            node = wait_until(
                f"via-extender bound ({scheduler.log_tail()})",
                lambda: bound_node(kube, namespace, "via-extender"),
                timeout=BIND_TIMEOUT_S,
            )
            assert kube.core.read_node(node).metadata.labels["cloudedge.io/tier"] == "edge"
            wait_until(
                "a Scheduled event for via-extender",
                lambda: events_for(kube, namespace, "via-extender", "Scheduled"),
                timeout=30,
            )
            # The operator made the Binding (bindVerb), with its own ServiceAccount.
            assert operator.sample("cloudedge_extender_requests_total", verb="bind", code="200")
            assert not forbidden_lines(scheduler.log_tail(200_000))
        finally:
            scheduler.close()
            operator.close()


# -- RBAC: no more ----------------------------------------------------------------------------


def test_charts_service_accounts_may_do_what_they_need_and_nothing_more(
    kube: Cluster, namespace: str
) -> None:
    with installed(kube, namespace, {"mode": "both", "replicaCount": 2}) as release:
        operator = f"system:serviceaccount:{namespace}:{release.service_account}"
        ks = f"system:serviceaccount:{namespace}:{release.kube_scheduler}"
        lease = f"leases.coordination.k8s.io/{release.fullname}"
        ks_lease = f"leases.coordination.k8s.io/{release.kube_scheduler}"
        cases: list[tuple[str, str, str, str | None, bool]] = [
            # what the operator does
            (operator, "list", "pods", None, True),
            (operator, "watch", "pods", None, True),
            (operator, "get", "pods", "default", True),
            (operator, "create", "pods/binding", "default", True),
            (operator, "create", "bindings", "default", False),
            (operator, "patch", "pods/status", "default", True),
            (operator, "create", "events", "default", True),
            (operator, "patch", "events", "default", True),
            (operator, "list", "nodes", None, True),
            (operator, "watch", "nodes", None, True),
            (operator, "list", "networktopologies.cloudedge.io", None, True),
            (operator, "watch", "networktopologies.cloudedge.io", None, True),
            (operator, "create", "leases.coordination.k8s.io", namespace, True),
            (operator, "get", lease, namespace, True),
            (operator, "update", lease, namespace, True),
            # a stopping leader deletes its own Lease, so the standby leads at once
            (operator, "delete", lease, namespace, True),
            # both Leases of the release get their Deployment as owner (uninstall removes them)
            (operator, "patch", lease, namespace, True),
            (operator, "get", ks_lease, namespace, True),
            (operator, "patch", ks_lease, namespace, True),
            (operator, "update", ks_lease, namespace, False),
            (operator, "get", f"deployments.apps/{release.fullname}", namespace, True),
            (operator, "get", f"deployments.apps/{release.kube_scheduler}", namespace, True),
            (operator, "get", "deployments.apps/other", namespace, False),
            (operator, "update", f"deployments.apps/{release.fullname}", namespace, False),
            (operator, "patch", f"{lease}-other", namespace, False),
            # what it must not
            (operator, "create", "pods", "default", False),
            (operator, "delete", "pods", "default", False),
            (operator, "update", "pods", "default", False),
            (operator, "patch", "pods", "default", False),
            (operator, "get", "secrets", namespace, False),
            (operator, "list", "secrets", None, False),
            (operator, "get", "configmaps", namespace, False),
            (operator, "patch", "nodes", None, False),
            (operator, "delete", "nodes", None, False),
            (operator, "update", "nodes/status", None, False),
            (operator, "bind", "clusterroles", None, False),
            (operator, "escalate", "clusterroles", None, False),
            (operator, "create", "clusterrolebindings", None, False),
            (operator, "create", "rolebindings", namespace, False),
            (operator, "impersonate", "serviceaccounts", namespace, False),
            (operator, "create", "serviceaccounts/token", namespace, False),
            (operator, "create", "networktopologies.cloudedge.io", None, False),
            (operator, "delete", "customresourcedefinitions", None, False),
            (operator, "update", "leases.coordination.k8s.io/kube-scheduler", "kube-system", False),
            (operator, "update", f"{lease}-other", namespace, False),
            (operator, "create", "leases.coordination.k8s.io", "default", False),
            (operator, "delete", f"{lease}-other", namespace, False),
            # the second kube-scheduler: upstream's roles, plus the client CA in kube-system
            (ks, "create", "pods/binding", "default", True),
            (ks, "get", "configmaps/extension-apiserver-authentication", "kube-system", True),
            (ks, "get", "secrets", namespace, False),
            (ks, "create", "pods", "default", False),
            (ks, "escalate", "clusterroles", None, False),
        ]
        wrong = [
            f"{'may' if not allowed else 'may not'} {verb} {resource} in {ns or 'all'} "
            f"as {user.rsplit(':', 1)[1]}"
            for user, verb, resource, ns, allowed in cases
            if can_i(kube, user, verb, resource, ns) is not allowed
        ]
        assert not wrong, wrong


# -- metrics and the dashboard on a real Prometheus -----------------------------------------------


def extender_call(port: int, verb: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/{verb}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


def dashboard_queries(job: str) -> list[str]:
    """Every PromQL expression of the dashboard, as Grafana would send it for ``job``."""
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    variables = {v["name"] for v in doc["templating"]["list"]}
    assert variables == {"datasource", "job"}
    out = []
    for expr in exprs:
        assert "datasource" not in expr
        out.append(expr.replace("$__rate_interval", "1m").replace("$job", job))
    return out


def test_every_dashboard_query_returns_series_from_prometheus_scraping_the_operator(
    kube: Cluster, namespace: str
) -> None:
    job = "cloud-edge-scheduler"
    operator = OperatorProcess(
        kube.kubeconfig,
        lease_name=f"prom-{secrets.token_hex(3)}",
        mode="both",
        extra_args=["--no-leader-elect"],
    )
    prometheus: PrometheusProcess | None = None
    try:
        operator.start()
        prometheus = PrometheusProcess([f"127.0.0.1:{operator.metrics_port}"], job=job).start()
        # The exposition itself passes Prometheus' own linter.
        check = subprocess.run(
            [str(promtool()), "check", "metrics"],
            input=operator.metrics_text(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert (check.stdout + check.stderr).strip() == "", "promtool found problems"

        # A small scheduling round: three pods fit, one never does.
        pods = [pod_manifest(f"round-{i}") for i in range(3)]
        create_pods(kube, namespace, [*pods, pod_manifest("never-fits", cpu="64")])
        for pod in pods:
            name = pod["metadata"]["name"]
            wait_until(
                f"{name} bound", lambda name=name: bound_node(kube, namespace, name), timeout=60
            )
        wait_until(
            "an unschedulable attempt counted",
            lambda: operator.sample("cloudedge_schedule_attempts_total", result="unschedulable"),
            timeout=60,
        )
        # And kube-scheduler's side: filter and prioritize calls, as it would make them.
        nodes = [n.metadata.name for n in kube.core.list_node().items]
        probe = pod_manifest("extender-probe")
        probe["metadata"].update(namespace=namespace, uid="00000000-0000-0000-0000-000000000001")
        args = {"Pod": probe, "Nodes": None, "NodeNames": nodes}
        for _ in range(3):
            assert extender_call(operator.extender_port, "filter", args)["Error"] == ""
            assert extender_call(operator.extender_port, "prioritize", args)

        queries = dashboard_queries(job)
        assert len(queries) >= 15
        empty_queries(prometheus, queries)  # every query parses: a PromQL error fails at once
        try:
            wait_until(
                "every dashboard query to return a series",
                lambda: not empty_queries(prometheus, queries),
                timeout=90,
                interval=2,
            )
        except WaitTimeoutError as err:
            missing = empty_queries(prometheus, queries)
            raise AssertionError(f"{err}\nqueries without a series: {missing}") from err
    finally:
        if prometheus is not None:
            prometheus.close()
        operator.close()


def empty_queries(prometheus: PrometheusProcess, queries: list[str]) -> list[str]:
    return [q for q in queries if not prometheus.query(q)]


def test_prometheus_rule_of_the_chart_passes_promtool(kube: Cluster, tmp_path: Path) -> None:
    values = {"mode": "both", "prometheusRule": {"enabled": True}}
    only = ("--show-only", "templates/prometheusrule.yaml")
    rendered = helm(kube, "template", "ces", str(CHART), *only, values=values).stdout
    rule = yaml.safe_load(rendered)
    assert rule["kind"] == "PrometheusRule"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    check = subprocess.run(
        [str(promtool()), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 6 rules found" in check.stdout, check.stdout
