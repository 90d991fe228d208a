"""The Helm chart, the raw manifests, the image recipe and the dashboard, checked without a cluster.

helm and kube-scheduler are the ones hack/build-tools.sh builds (``make tools``); when they are
missing these tests FAIL, they never skip. The chart is rendered under several value sets and the
objects are checked for what an operator of the cluster relies on: labels, least-privilege RBAC,
the restricted Pod Security Standard, leader election, the second kube-scheduler's configuration
(validated by kube-scheduler itself) and the model configuration (validated by the operator's own
parser). tests/e2e/test_deploy.py installs the chart into a real control plane.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import os
import re
import subprocess
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import prometheus_client as prom
import pytest
import yaml

from cloudedge import errors, inputs, metrics
from cloudedge.model import registry as model_registry

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "cloud-edge-scheduler"
DASHBOARD = REPO / "dashboards" / "cloud-edge-scheduler.json"
INSTALL = REPO / "manifests" / "install"
SHIPPED_EXTENDER_CONFIG = REPO / "manifests" / "scheduler-config" / "kube-scheduler-config.yaml"
RELEASE, NAMESPACE = "ces", "ces-system"
FULLNAME = f"{RELEASE}-cloud-edge-scheduler"
TOOL_TIMEOUT_S = 120  # one helm or kube-scheduler run; seconds on a loaded 2-core machine

# -- tools ------------------------------------------------------------------------------------


@functools.cache
def bindir() -> Path:
    out = subprocess.run(
        [str(REPO / "hack" / "build-tools.sh"), "--print-bindir"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Path(out.stdout.strip())


def tool(name: str) -> Path:
    path = bindir() / name
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"{name} is missing at {path}: build the tools with `make tools`", pytrace=False
        )
    return path


def helm(*args: str, values: Mapping[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm with ``values`` as a values file on stdin; never raises on a non-zero exit."""
    extra = ("--values", "-") if values is not None else ()
    return subprocess.run(
        [str(tool("helm")), *args, *extra],
        input=yaml.safe_dump(dict(values)) if values is not None else None,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        check=False,
    )


@functools.cache
def _render(values_json: str) -> str:
    proc = helm(
        "template", RELEASE, str(CHART), "--namespace", NAMESPACE, values=json.loads(values_json)
    )
    assert proc.returncode == 0, f"helm template failed:\n{proc.stderr}"
    return proc.stdout


def rendered_text(values: Mapping[str, Any]) -> str:
    return _render(json.dumps(values, sort_keys=True))


def render(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The objects ``helm template`` renders with ``values`` (fresh copies)."""
    docs = [d for d in yaml.safe_load_all(rendered_text(values)) if d]
    return copy.deepcopy(docs)


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
    return matches[0]


def kinds(docs: list[dict[str, Any]]) -> Counter[str]:
    return Counter(d["kind"] for d in docs)


MONITORING = {
    "serviceMonitor": {"enabled": True, "additionalLabels": {"release": "prom"}, "interval": "15s"},
    "prometheusRule": {"enabled": True, "additionalLabels": {"release": "prom"}},
    "dashboard": {"enabled": True},
}
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "mode-extender": {"mode": "extender"},
    "mode-both": {"mode": "both"},
    "three-replicas": {"replicaCount": 3},
    "monitoring-on": MONITORING,
    "everything": {
        "mode": "both",
        "replicaCount": 3,
        "extender": {"kubeScheduler": {"replicaCount": 2}},
        **MONITORING,
    },
}
EVERYTHING = VALUE_SETS["everything"]


# -- helm lint and the schema -----------------------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_chart_passes_strict_lint(values: dict[str, Any]) -> None:
    proc = helm("lint", "--strict", str(CHART), values=values)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_chart_renders_only_well_formed_kubernetes_objects(values: dict[str, Any]) -> None:
    docs = render(values)
    assert docs
    for doc in docs:
        assert set(doc) >= {"apiVersion", "kind", "metadata"}, doc
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", doc["metadata"]["name"])
        assert len(doc["metadata"]["name"]) <= 63


BAD_VALUES = {
    "unknown-top-level-key": ({"replicaCont": 2}, "replicaCont"),
    "unknown-nested-key": ({"image": {"tagg": "1.0"}}, "tagg"),
    "unknown-profile": ({"config": {"profiles": {"realtime": {"transfer": 1}}}}, "realtime"),
    "unknown-weight": (
        {"config": {"profiles": {"batch": {"latency": 1}}}},
        "latency",
    ),
    "replicas-not-a-number": ({"replicaCount": "three"}, "/replicaCount"),
    "port-not-a-number": ({"ports": {"metrics": "http"}}, "/ports/metrics"),
    "flag-not-a-boolean": ({"serviceMonitor": {"enabled": "yes"}}, "/serviceMonitor/enabled"),
    "weight-negative": ({"config": {"profiles": {"batch": {"waiting": -1}}}}, "waiting"),
    "mode-unknown": ({"mode": "extender-only"}, "/mode"),
    "log-level-unknown": ({"logLevel": "verbose"}, "/logLevel"),
    "log-format-unknown": ({"logFormat": "xml"}, "/logFormat"),
    "bandwidth-model-unknown": ({"config": {"bandwidthModel": "sum"}}, "/config/bandwidthModel"),
    "max-utilization-one": ({"config": {"maxUtilization": 1}}, "/config/maxUtilization"),
    "root-user": ({"securityContext": {"runAsUser": 0}}, "/securityContext/runAsUser"),
}


@pytest.mark.parametrize(("values", "named"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_schema_refuses_bad_values_and_names_the_key(values: dict[str, Any], named: str) -> None:
    for args in (("lint", "--strict", str(CHART)), ("template", RELEASE, str(CHART))):
        proc = helm(*args, values=values)
        assert proc.returncode != 0, f"helm {args[0]} accepted {values}"
        assert named in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_extender_scheduler_name_may_not_be_the_operators_own() -> None:
    values = {"mode": "both", "extender": {"schedulerName": "cloud-edge-scheduler"}}
    proc = helm("template", RELEASE, str(CHART), values=values)
    assert proc.returncode != 0
    assert "extender.schedulerName must not be cloud-edge-scheduler" in proc.stderr


def schema_objects(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from schema_objects(sub, f"{path}.{key}" if path else key)
    if isinstance(schema.get("items"), dict):
        yield from schema_objects(schema["items"], f"{path}[]")


def test_schema_closes_every_object_and_fixes_enumerated_values() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    for path, sub in schema_objects(schema):
        if sub.get("type") == "object":
            # Objects with named keys are closed; maps of user keys constrain their values.
            closed = sub.get("additionalProperties") is False
            typed_map = isinstance(sub.get("additionalProperties"), dict)
            passthrough = path.startswith("affinity.")  # core/v1 terms, checked by the API server
            assert closed or typed_map or passthrough, f"{path or '<root>'} is open"
    props = schema["properties"]
    assert props["mode"]["enum"] == ["scheduler", "extender", "both"]
    assert props["logLevel"]["enum"] == ["debug", "info", "warning", "error"]
    assert props["logFormat"]["enum"] == ["json", "text"]
    assert props["config"]["properties"]["bandwidthModel"]["enum"] == ["bottleneck", "seed-sum"]


# -- values.yaml --------------------------------------------------------------------------------


def documented_keys(text: str) -> Iterator[tuple[str, str | None]]:
    """(dotted key, first line of the comment block right above it) for every block key."""
    stack: list[tuple[int, str]] = []
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
            continue
        match = re.match(r"^( *)([A-Za-z][\w-]*):", line)
        if not match:
            if not stripped:
                comment = []
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([*(k for _, k in stack), match.group(2)])
        stack.append((indent, match.group(2)))
        yield dotted, comment[0] if comment else None
        comment = []


def test_every_value_is_documented_by_a_comment_starting_with_its_key() -> None:
    keys = list(documented_keys((CHART / "values.yaml").read_text()))
    assert len(keys) > 40
    undocumented = [k for k, c in keys if c is None or not c.startswith(f"# {k} -- ")]
    assert not undocumented, f"keys without a '# KEY -- ...' comment: {undocumented}"


def test_every_schema_property_has_a_documented_default() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(sub: dict[str, Any], value: Any, path: str) -> Iterator[str]:
        if not isinstance(value, dict) or not value:  # {} is an optional passthrough
            return
        for key, prop in sub.get("properties", {}).items():
            if key not in value:
                yield f"{path}{key}"
            else:
                yield from walk(prop, value[key], f"{path}{key}.")

    missing = list(walk(schema, values, ""))
    assert not missing, f"in the schema but not in values.yaml: {missing}"


def test_chart_is_apiversion_v2_and_its_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "cloud-edge-scheduler"
    assert chart["appVersion"] == project["version"] == "0.1.0"


# -- shape: labels, one object per template ---------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_object_carries_the_recommended_labels(values: dict[str, Any]) -> None:
    for doc in render(values):
        labels = doc["metadata"].get("labels") or {}
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert labels.get("app.kubernetes.io/name") == "cloud-edge-scheduler", where
        assert labels.get("app.kubernetes.io/instance") == RELEASE, where
        assert labels.get("app.kubernetes.io/version") == "0.1.0", where
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", where
        assert labels.get("app.kubernetes.io/part-of") == "cloud-edge-scheduler", where
        assert labels.get("app.kubernetes.io/component") in ("operator", "kube-scheduler"), where


def test_each_template_file_renders_one_object() -> None:
    sources = re.findall(r"^# Source: (\S+)$", rendered_text(EVERYTHING), flags=re.M)
    counts = Counter(sources)
    assert all(n == 1 for n in counts.values()), counts
    templates = {
        f"cloud-edge-scheduler/{p.relative_to(CHART)}"
        for p in (CHART / "templates").rglob("*.yaml")
    }
    assert set(counts) == templates  # with everything on, every template renders


# -- the operator Deployment ---------------------------------------------------------------------


def operator_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    dep = find(docs, "Deployment", FULLNAME)
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_operator_listens_on_the_pod_ip_and_is_probed_on_its_metrics_port() -> None:
    container = operator_container(render({}))
    args = container["args"]
    assert args[0] == "run"
    assert "--bind-address=0.0.0.0" in args
    assert "--metrics-port=8080" in args
    assert container["image"] == "cloud-edge-scheduler:0.1.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080}
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}, probe


def test_operator_reads_the_model_configuration_from_its_configmap() -> None:
    docs = render({})
    container = operator_container(docs)
    assert "--config=/etc/cloudedge/config.yaml" in container["args"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/cloudedge"]
    spec = find(docs, "Deployment", FULLNAME)["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == f"{FULLNAME}-config"
    assert "config.yaml" in find(docs, "ConfigMap", f"{FULLNAME}-config")["data"]


def model_config_of(values: dict[str, Any]) -> Any:
    text = find(render(values), "ConfigMap", f"{FULLNAME}-config")["data"]["config.yaml"]
    return inputs.parse_config(yaml.safe_load(text))


def test_default_model_configmap_is_the_operators_built_in_configuration() -> None:
    assert model_config_of({}) == inputs.parse_config(None)


def test_model_values_reach_the_operator_as_given() -> None:
    config = model_config_of(
        {
            "config": {
                "bandwidthModel": "seed-sum",
                "maxUtilization": 0.9,
                "profiles": {"batch": {"capacity": 0.7, "waiting": 0.1}},
            }
        }
    )
    assert config.bandwidth_model.value == "seed-sum"
    assert config.max_utilization == 0.9
    batch = config.weights(next(w for w in config.profiles if w.value == "batch"))
    assert (batch["transfer"], batch["waiting"], batch["processing"], batch["capacity"]) == (
        0.2,
        0.1,
        0.2,
        0.7,
    )


def test_weights_the_schema_lets_through_but_the_operator_refuses_are_caught_early() -> None:
    # All-zero weights pass the schema (each >= 0); the operator's parser names them.
    zero = dict.fromkeys(model_registry.names(), 0)
    with pytest.raises(errors.ConfigError, match=r"profiles\.batch"):
        model_config_of({"config": {"profiles": {"batch": zero}}})


@pytest.mark.parametrize(
    "replicas", [1, 2, 3], ids=["one-replica", "two-replicas", "three-replicas"]
)
def test_leader_election_is_on_for_any_replica_count_so_a_rolling_update_never_binds_twice(
    replicas: int,
) -> None:
    docs = render({"replicaCount": replicas})
    args = operator_container(docs)["args"]
    assert "--leader-elect" in args
    assert "--no-leader-elect" not in args
    assert find(docs, "Deployment", FULLNAME)["spec"]["replicas"] == replicas
    # The Lease the operator campaigns for is the one its Role lets it update.
    role = find(docs, "Role", f"{FULLNAME}-leader-election")
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert f"--leader-elect-name={named[0]['resourceNames'][0]}" in args


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, False),
        ({"replicaCount": 2}, True),
        ({"podDisruptionBudget": {"enabled": True}}, True),
    ],
    ids=["one-replica-none", "several-replicas", "asked-for"],
)
def test_pod_disruption_budget_exists_with_several_replicas_or_when_asked(
    values: dict[str, Any], expected: bool
) -> None:
    docs = render(values)
    assert ("PodDisruptionBudget" in kinds(docs)) is expected
    if expected:
        pdb = find(docs, "PodDisruptionBudget", FULLNAME)
        dep = find(docs, "Deployment", FULLNAME)
        assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        assert pdb["spec"]["maxUnavailable"] == 1


# -- modes and the second kube-scheduler ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["scheduler", "extender", "both"])
def test_mode_decides_what_runs(mode: str) -> None:
    docs = render({"mode": mode})
    container = operator_container(docs)
    assert f"--mode={mode}" in container["args"]
    serves_extender = mode != "scheduler"
    service_ports = {p["name"] for p in find(docs, "Service", FULLNAME)["spec"]["ports"]}
    assert ("extender" in service_ports) is serves_extender
    assert ("extender" in {p["name"] for p in container["ports"]}) is serves_extender
    deployments = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    expected = {FULLNAME, f"{FULLNAME}-kube-scheduler"} if serves_extender else {FULLNAME}
    assert deployments == expected


def kube_scheduler_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    cm = find(docs, "ConfigMap", f"{FULLNAME}-kube-scheduler-config")
    doc = yaml.safe_load(cm["data"]["kube-scheduler-config.yaml"])
    assert isinstance(doc, dict)
    return doc


def test_second_kube_scheduler_calls_the_operator_service_with_the_shipped_extender_stanza() -> (
    None
):
    docs = render({"mode": "extender"})
    config = kube_scheduler_config(docs)
    assert config["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert config["profiles"] == [{"schedulerName": "cloud-edge-extender"}]
    (ours,) = config["extenders"]
    (shipped,) = yaml.safe_load(SHIPPED_EXTENDER_CONFIG.read_text())["extenders"]
    assert ours["urlPrefix"] == f"http://{FULLNAME}.{NAMESPACE}.svc:8888"
    assert {k: v for k, v in ours.items() if k != "urlPrefix"} == {
        k: v for k, v in shipped.items() if k != "urlPrefix"
    }
    service = find(docs, "Service", FULLNAME)
    assert {"name": "extender", "port": 8888, "targetPort": "extender", "protocol": "TCP"} in (
        service["spec"]["ports"]
    )


def test_second_kube_scheduler_elects_a_leader_on_a_lease_its_role_allows() -> None:
    docs = render({"mode": "both", "extender": {"kubeScheduler": {"replicaCount": 2}}})
    election = kube_scheduler_config(docs)["leaderElection"]
    assert election["leaderElect"] is True
    assert election["resourceNamespace"] == NAMESPACE
    role = find(docs, "Role", f"{FULLNAME}-kube-scheduler-leader-election")
    assert {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]} in (
        role["rules"]
    )
    assert {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "resourceNames": [election["resourceName"]],
        "verbs": ["get", "update"],
    } in role["rules"]
    # One replica elects too (a rolling update runs two side by side), on a Lease it may touch.
    single_docs = render({"mode": "both"})
    assert kube_scheduler_config(single_docs)["leaderElection"]["leaderElect"] is True
    assert find(single_docs, "Role", f"{FULLNAME}-kube-scheduler-leader-election")
    assert find(single_docs, "RoleBinding", f"{FULLNAME}-kube-scheduler-leader-election")


@pytest.mark.parametrize("values", [{"mode": "extender"}, EVERYTHING], ids=["one", "replicated"])
def test_kube_scheduler_accepts_the_rendered_configuration(
    values: dict[str, Any], tmp_path: Path
) -> None:
    config = kube_scheduler_config(render(values))
    # --write-config-to validates and exits; it needs a client configuration, not a server.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "unused"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    config["clientConnection"] = {"kubeconfig": str(kubeconfig)}
    path, out = tmp_path / "config.yaml", tmp_path / "effective.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [str(tool("kube-scheduler")), f"--config={path}", f"--write-config-to={out}"],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    effective = yaml.safe_load(out.read_text())
    assert effective["extenders"][0]["urlPrefix"] == config["extenders"][0]["urlPrefix"]
    assert [p["schedulerName"] for p in effective["profiles"]] == ["cloud-edge-extender"]


def test_second_kube_scheduler_runs_with_the_upstream_scheduler_roles() -> None:
    docs = render({"mode": "extender"})
    sa = f"{FULLNAME}-kube-scheduler"
    subject = [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
    dep = find(docs, "Deployment", sa)
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == sa
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.k8s.io/kube-scheduler:v1.37.2"
    bound = {
        (d["kind"], d["metadata"].get("namespace"), d["roleRef"]["kind"], d["roleRef"]["name"])
        for d in docs
        if d["kind"] in ("ClusterRoleBinding", "RoleBinding") and d["subjects"] == subject
    }
    assert bound == {
        ("ClusterRoleBinding", None, "ClusterRole", "system:kube-scheduler"),
        ("ClusterRoleBinding", None, "ClusterRole", "system:volume-scheduler"),
        ("RoleBinding", "kube-system", "Role", "extension-apiserver-authentication-reader"),
        # Its own Lease, even with one replica: it always elects a leader.
        ("RoleBinding", NAMESPACE, "Role", f"{sa}-leader-election"),
    }


# -- security -------------------------------------------------------------------------------------


def test_every_container_runs_under_the_restricted_pod_security_standard() -> None:
    deployments = [d for d in render(EVERYTHING) if d["kind"] == "Deployment"]
    assert len(deployments) == 2
    for dep in deployments:
        spec = dep["spec"]["template"]["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] == pod["runAsGroup"] == 65532
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not spec.get("hostNetwork")
        assert not spec.get("hostPID")
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["runAsNonRoot"] is True
            assert isinstance(sc["runAsUser"], int)
            assert sc["runAsUser"] > 0
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert "privileged" not in sc
            # A read-only root still gets a writable /tmp.
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp, container["name"]
            assert any(v["name"] == tmp[0]["name"] and "emptyDir" in v for v in spec["volumes"]), (
                container["name"]
            )


def rules_of(doc: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(apiGroup, resource, resourceName or '', verb) of every rule of a Role/ClusterRole."""
    out = set()
    for rule in doc["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for name in rule.get("resourceNames") or [""]:
                    for verb in rule["verbs"]:
                        out.add((group, resource, name, verb))
    return out


OPERATOR_CLUSTER_RULES = {
    ("", "pods", "", "get"),
    ("", "pods", "", "list"),
    ("", "pods", "", "watch"),
    ("", "pods/binding", "", "create"),
    ("", "pods/status", "", "patch"),
    ("", "events", "", "create"),
    ("", "events", "", "patch"),
    ("", "nodes", "", "get"),
    ("", "nodes", "", "list"),
    ("", "nodes", "", "watch"),
    ("", "namespaces", "", "get"),
    ("", "namespaces", "", "list"),
    ("", "namespaces", "", "watch"),
    ("", "persistentvolumeclaims", "", "get"),
    ("", "persistentvolumeclaims", "", "list"),
    ("", "persistentvolumeclaims", "", "watch"),
    ("", "persistentvolumes", "", "get"),
    ("", "persistentvolumes", "", "list"),
    ("", "persistentvolumes", "", "watch"),
    ("storage.k8s.io", "storageclasses", "", "get"),
    ("storage.k8s.io", "storageclasses", "", "list"),
    ("storage.k8s.io", "storageclasses", "", "watch"),
    ("cloudedge.io", "networktopologies", "", "get"),
    ("cloudedge.io", "networktopologies", "", "list"),
    ("cloudedge.io", "networktopologies", "", "watch"),
    ("cloudedge.io", "networktopologies/status", "", "patch"),
}


def test_operator_cluster_role_grants_exactly_what_the_operator_calls() -> None:
    docs = render({})
    assert rules_of(find(docs, "ClusterRole", FULLNAME)) == OPERATOR_CLUSTER_RULES
    binding = find(docs, "ClusterRoleBinding", FULLNAME)
    assert binding["roleRef"]["name"] == FULLNAME
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
    ]


def test_operator_may_create_leases_but_touch_only_its_own() -> None:
    docs = render({"replicaCount": 3})
    role = find(docs, "Role", f"{FULLNAME}-leader-election")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert rules_of(role) == {
        ("coordination.k8s.io", "leases", "", "create"),
        ("coordination.k8s.io", "leases", FULLNAME, "get"),
        ("coordination.k8s.io", "leases", FULLNAME, "update"),
        # A stopping leader deletes its Lease, so a standby leads at once (scheduler/leader.py).
        ("coordination.k8s.io", "leases", FULLNAME, "delete"),
        # Its Deployment becomes the Lease's owner, so uninstalling removes it (ownership.py).
        ("coordination.k8s.io", "leases", FULLNAME, "patch"),
        ("apps", "deployments", FULLNAME, "get"),
    }
    args = find(docs, "Deployment", FULLNAME)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--owned-lease")] == [
        f"--owned-lease={FULLNAME}={FULLNAME}"
    ]


def test_operator_gives_the_second_kube_schedulers_lease_its_deployment_as_owner() -> None:
    docs = render({"mode": "both"})
    kube_scheduler = f"{FULLNAME}-kube-scheduler"
    assert kube_scheduler_config(docs)["leaderElection"]["resourceName"] == kube_scheduler
    rules = rules_of(find(docs, "Role", f"{FULLNAME}-leader-election"))
    assert ("coordination.k8s.io", "leases", kube_scheduler, "get") in rules
    assert ("coordination.k8s.io", "leases", kube_scheduler, "patch") in rules
    assert ("coordination.k8s.io", "leases", kube_scheduler, "update") not in rules
    assert ("apps", "deployments", kube_scheduler, "get") in rules
    args = find(docs, "Deployment", FULLNAME)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--owned-lease={kube_scheduler}" in args


def test_roles_go_to_a_service_account_of_your_own_never_to_default() -> None:
    proc = helm("template", RELEASE, str(CHART), values={"serviceAccount": {"create": False}})
    assert proc.returncode != 0
    assert "serviceAccount.name is required" in proc.stderr
    docs = render({"serviceAccount": {"create": False, "name": "scheduler"}})
    assert "ServiceAccount" not in kinds(docs)
    subjects = [s for d in docs if d["kind"].endswith("RoleBinding") for s in d["subjects"]]
    assert {s["name"] for s in subjects} == {"scheduler"}
    spec = find(docs, "Deployment", FULLNAME)["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "scheduler"


def test_no_role_of_the_chart_uses_a_wildcard() -> None:
    roles = [d for d in render(EVERYTHING) if d["kind"] in ("Role", "ClusterRole")]
    assert len(roles) == 3
    for role in roles:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in (rule.get(field) or []), (role["metadata"]["name"], rule)


# -- monitoring ---------------------------------------------------------------------------------


def test_monitoring_objects_are_off_by_default() -> None:
    rendered = kinds(render({}))
    assert "ServiceMonitor" not in rendered
    assert "PrometheusRule" not in rendered
    assert f"{FULLNAME}-dashboard" not in {d["metadata"]["name"] for d in render({})}


def test_service_monitor_scrapes_the_metrics_port_of_the_operator_service() -> None:
    docs = render(MONITORING)
    monitor = find(docs, "ServiceMonitor", FULLNAME)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    service = find(docs, "Service", FULLNAME)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint == {
        "port": "metrics",
        "path": "/metrics",
        "interval": "15s",
        "scrapeTimeout": "10s",
    }
    assert "metrics" in {p["name"] for p in service["spec"]["ports"]}


def test_prometheus_rule_alerts_on_the_operators_own_metrics() -> None:
    rule = find(render(EVERYTHING), "PrometheusRule", FULLNAME)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "prom"
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == {
        "CloudEdgeSchedulerDown",
        "CloudEdgeSchedulerNoLeader",
        "CloudEdgeSchedulerErrors",
        "CloudEdgeSchedulerPodsPending",
        "CloudEdgeSchedulerSlowBinding",
        "CloudEdgeSchedulerExtenderErrors",
    }
    for name, alert in alerts.items():
        assert f'job="{FULLNAME}",namespace="{NAMESPACE}"' in alert["expr"], name
        assert alert["labels"]["severity"] in ("warning", "critical"), name
        assert alert["annotations"]["summary"], name
        assert alert["annotations"]["description"], name
        assert re.fullmatch(r"\d+m", alert["for"]), name


def test_dashboard_configmap_holds_the_dashboard_file_for_the_grafana_sidecar() -> None:
    docs = render(MONITORING)
    cm = find(docs, "ConfigMap", f"{FULLNAME}-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["cloud-edge-scheduler.json"]) == json.loads(DASHBOARD.read_text())
    custom = {
        "enabled": True,
        "label": "dashboards",
        "labelValue": "team-a",
        "namespace": "grafana",
    }
    cm = find(render({"dashboard": custom}), "ConfigMap", f"{FULLNAME}-dashboard")
    assert cm["metadata"]["namespace"] == "grafana"
    assert cm["metadata"]["labels"]["dashboards"] == "team-a"
    assert "grafana_dashboard" not in cm["metadata"]["labels"]


def test_chart_dashboard_is_the_repository_dashboard_not_a_copy() -> None:
    link = CHART / "dashboards" / "cloud-edge-scheduler.json"
    assert link.is_symlink()
    assert link.resolve() == DASHBOARD.resolve()


# -- the dashboard --------------------------------------------------------------------------------


def dashboard_targets() -> list[dict[str, Any]]:
    doc = json.loads(DASHBOARD.read_text())
    return [t for p in doc["panels"] for t in p.get("targets", [])]


def exported_sample_names() -> set[str]:
    """Every sample name the operator's metrics can expose."""
    names = set()
    for family in metrics.Metrics(prom.CollectorRegistry()).registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}_{s}" for s in ("bucket", "sum", "count"))
        else:
            names.add(family.name)
    return names


def test_dashboard_has_a_prometheus_datasource_variable_used_by_every_panel() -> None:
    doc = json.loads(DASHBOARD.read_text())
    assert 36 <= doc["schemaVersion"] <= 41
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in doc["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_queries_only_metrics_the_operator_exports() -> None:
    used = {n for t in dashboard_targets() for n in re.findall(r"cloudedge_\w+", t["expr"])}
    assert used <= exported_sample_names(), used - exported_sample_names()


def test_dashboard_shows_every_metric_of_the_contract() -> None:
    exprs = " ".join(t["expr"] for t in dashboard_targets())
    for name in (
        "cloudedge_schedule_attempts_total",
        "cloudedge_scheduling_duration_seconds_bucket",
        "cloudedge_binding_duration_seconds_bucket",
        "cloudedge_pending_pods",
        "cloudedge_tier_requested_ratio",
        "cloudedge_estimated_completion_seconds_bucket",
        "cloudedge_extender_requests_total",
        "cloudedge_extender_request_duration_seconds_bucket",
        "cloudedge_leader",
    ):
        assert name in exprs, name


# -- the image ----------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split at FROM."""
    lines, current = [], ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_image_is_built_in_two_stages_on_python_3_11_slim() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    builder, final = dockerfile_stages()
    assert builder[0] == "FROM ${PYTHON_IMAGE} AS builder"
    assert final[0] == "FROM ${PYTHON_IMAGE}"


def test_hermetic_build_installs_only_the_host_made_wheels_without_an_index() -> None:
    builder = dockerfile_stages()[0]
    (install,) = [line for line in builder if "pip install" in line]
    assert "--no-index --find-links /wheels cloud-edge-scheduler" in install
    assert "COPY wheelhouse /wheels" in builder
    assert "ARG WHEELS=pypi" in builder


def test_image_runs_as_a_numeric_non_root_user_with_the_cloudedge_entrypoint() -> None:
    final = dockerfile_stages()[-1]
    (user,) = [line for line in final if line.startswith("USER ")]
    uid, _, gid = user.split()[1].partition(":")
    assert uid == "65532"
    assert gid in ("", "65532")
    assert 'ENTRYPOINT ["cloudedge"]' in final
    assert 'CMD ["run", "--bind-address=0.0.0.0"]' in final
    assert final.index(user) > max(i for i, line in enumerate(final) if line.startswith("COPY"))


def test_final_image_holds_only_the_virtualenv_and_no_build_tools() -> None:
    final = dockerfile_stages()[-1]
    copies = [line for line in final if line.startswith(("COPY", "ADD"))]
    assert copies == ["COPY --from=builder /opt/cloudedge /opt/cloudedge"]
    assert not [line for line in final if line.startswith("RUN")], "the final stage runs nothing"


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    excluded = False
    parts = path.split("/")
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex, c) for c in candidates):
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        (".venv/bin/python", True),
        (".git/HEAD", True),
        ("tests/unit/test_deploy_static.py", True),
        ("bench/extender_latency.py", True),
        ("charts/cloud-edge-scheduler/values.yaml", True),
        ("operator/cloudedge/__pycache__/cli.cpython-311.pyc", True),
        (".mypy_cache/3.11/x.json", True),
        ("operator/cloudedge/cli.py", False),
        ("operator/cloudedge/data/seed/nodes.yaml", False),
        ("pyproject.toml", False),
        ("README.md", False),
        ("wheelhouse/numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl", False),
    ],
)
def test_build_context_holds_only_what_the_image_is_built_from(path: str, excluded: bool) -> None:
    assert dockerignore_excludes(path) is excluded


def test_every_file_the_dockerfile_copies_is_in_the_build_context() -> None:
    builder = dockerfile_stages()[0]
    for line in builder:
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
                assert not dockerignore_excludes(source), source


# -- manifests/install ----------------------------------------------------------------------------


def test_committed_install_manifests_equal_a_fresh_render_of_the_chart(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(REPO / "deploy" / "render-manifests.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        env={**os.environ, "HELM": str(tool("helm"))},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    fresh = {p.name: p.read_text() for p in sorted(tmp_path.glob("*.yaml"))}
    committed = {p.name: p.read_text() for p in sorted(INSTALL.glob("*.yaml"))}
    assert list(fresh) == ["00-namespace.yaml", "10-crds.yaml", "20-cloud-edge-scheduler.yaml"]
    stale = [name for name in fresh if committed.get(name) != fresh[name]]
    diff = "".join(
        difflib.unified_diff(
            committed.get(stale[0], "").splitlines(keepends=True) if stale else [],
            fresh[stale[0]].splitlines(keepends=True) if stale else [],
            "committed",
            "fresh render",
            n=1,
        )
    )
    assert list(committed) == list(fresh), "manifests/install/ has other files: `make manifests`"
    assert not stale, f"manifests/install/ is stale, run `make manifests`:\n{diff[:3000]}"


def test_install_manifests_put_the_release_in_a_restricted_namespace() -> None:
    namespace = yaml.safe_load((INSTALL / "00-namespace.yaml").read_text())
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["name"] == "cloud-edge-scheduler"
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    objects = yaml.safe_load_all((INSTALL / "20-cloud-edge-scheduler.yaml").read_text())
    namespaced = [d for d in objects if d and "namespace" in d["metadata"]]
    assert namespaced
    assert {d["metadata"]["namespace"] for d in namespaced} == {"cloud-edge-scheduler"}
    crds = [d for d in yaml.safe_load_all((INSTALL / "10-crds.yaml").read_text()) if d]
    assert [d["metadata"]["name"] for d in crds] == ["networktopologies.cloudedge.io"]
