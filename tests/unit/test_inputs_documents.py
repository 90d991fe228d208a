"""Multi-document Kubernetes YAML becomes nodes, pods (controllers expanded) and a topology."""

from __future__ import annotations

import pathlib
import textwrap
from typing import Any

import pytest
import yaml

from cloudedge import errors
from cloudedge.inputs import load_documents, parse_documents, parse_node, parse_pod

MANIFEST = textwrap.dedent(
    """\
    apiVersion: v1
    kind: Node
    metadata:
      name: cloud-1
      labels: {cloudedge.io/tier: cloud}
    status:
      allocatable: {cpu: "8", memory: 32Gi, pods: "110"}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: solo, namespace: lab}
    spec:
      containers: [{name: c, image: busybox}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: shop}
    spec:
      replicas: 3
      selector: {matchLabels: {app: web}}
      template:
        metadata:
          labels: {app: web}
          annotations: {cloudedge.io/workload: latency-sensitive}
        spec:
          containers:
          - name: web
            image: nginx
            resources: {requests: {cpu: 250m, memory: 64Mi}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec: {selector: {app: web}, ports: [{port: 80}]}
    ---
    apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: db, namespace: shop}
    spec:
      replicas: 2
      serviceName: db
      template:
        metadata: {labels: {app: db}}
        spec: {containers: [{name: db, image: postgres}]}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings}
    data: {level: debug}
    ---
    apiVersion: batch/v1
    kind: Job
    metadata: {name: crunch}
    spec:
      parallelism: 2
      template:
        spec:
          restartPolicy: Never
          containers: [{name: crunch, image: busybox}]
    ---
    apiVersion: apps/v1
    kind: ReplicaSet
    metadata: {name: cache, namespace: shop}
    spec:
      template:
        spec: {containers: [{name: cache, image: redis}]}
    ---
    apiVersion: v1
    kind: List
    items:
    - apiVersion: v1
      kind: Node
      metadata:
        name: edge-1
        labels: {cloudedge.io/tier: edge}
      status:
        allocatable: {cpu: "2", memory: 4Gi}
    - apiVersion: v1
      kind: Pod
      metadata: {name: listed}
      spec: {containers: []}
    ---
    apiVersion: cloudedge.io/v1alpha1
    kind: NetworkTopology
    metadata: {name: default}
    spec:
      links: [{from: cloud-1, to: edge-1, latencyMs: 30}]
    ---
    apiVersion: cloudedge.io/v1alpha1
    kind: NetworkTopology
    metadata: {name: lab}
    spec: {}
    """
)


def documents(text: str = MANIFEST) -> list[Any]:
    return list(yaml.safe_load_all(text))


def names(pods: list[dict[str, Any]]) -> list[str]:
    return [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods]


def controller(kind: str, api: str = "apps/v1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {**spec, "template": {"spec": {"containers": [{"name": "c"}]}}},
    }


# The whole manifest


def test_nodes_are_collected_in_document_order_including_list_items() -> None:
    parsed = parse_documents(documents())

    assert [n["metadata"]["name"] for n in parsed.nodes] == ["cloud-1", "edge-1"]


def test_pods_and_controller_replicas_are_collected_in_document_order() -> None:
    parsed = parse_documents(documents())

    assert [p["metadata"]["name"] for p in parsed.pods] == [
        "solo",
        "web-0",
        "web-1",
        "web-2",
        "db-0",
        "db-1",
        "crunch-0",
        "crunch-1",
        "cache-0",
        "listed",
    ]


def test_other_kinds_are_skipped_and_listed() -> None:
    parsed = parse_documents(documents())

    assert parsed.skipped == ["Service web", "ConfigMap settings"]


def test_network_topologies_are_collected_and_the_default_one_is_preferred() -> None:
    parsed = parse_documents(documents())

    assert [t["metadata"]["name"] for t in parsed.topologies] == ["default", "lab"]
    topology = parsed.topology_object()
    assert topology is not None
    assert topology["metadata"]["name"] == "default"


def test_every_collected_object_parses_into_the_model() -> None:
    parsed = parse_documents(documents())

    nodes = [parse_node(n) for n in parsed.nodes]
    pods = [parse_pod(p) for p in parsed.pods]

    assert [n.name for n in nodes] == ["cloud-1", "edge-1"]
    assert [p.key for p in pods][:4] == ["lab/solo", "shop/web-0", "shop/web-1", "shop/web-2"]
    assert pods[1].requests == {"cpu": 250.0, "memory": 64 * 2**20, "pods": 1.0}


# Controllers


def test_deployment_replicas_become_pods_named_after_it_in_its_namespace() -> None:
    parsed = parse_documents(documents())

    web = [p for p in parsed.pods if p["metadata"]["name"].startswith("web-")]
    assert names(web) == ["shop/web-0", "shop/web-1", "shop/web-2"]
    for p in web:
        assert p["apiVersion"] == "v1"
        assert p["kind"] == "Pod"
        assert p["metadata"]["labels"] == {"app": "web"}
        assert p["metadata"]["annotations"] == {"cloudedge.io/workload": "latency-sensitive"}
        assert p["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "250m"


def test_controller_in_no_namespace_puts_its_pods_in_default() -> None:
    parsed = parse_documents(documents())

    crunch = [p for p in parsed.pods if p["metadata"]["name"].startswith("crunch-")]
    assert names(crunch) == ["default/crunch-0", "default/crunch-1"]


def test_replicas_do_not_share_their_spec() -> None:
    parsed = parse_documents([controller("Deployment", replicas=2)])

    first, second = parsed.pods
    first["spec"]["containers"][0]["name"] = "changed"
    first["metadata"]["labels"] = {"changed": "yes"}

    assert second["spec"]["containers"][0]["name"] == "c"
    assert "labels" not in second["metadata"]


@pytest.mark.parametrize(
    ("doc", "count"),
    [
        pytest.param(controller("Deployment", replicas=3), 3, id="deployment-replicas"),
        pytest.param(controller("Deployment"), 1, id="deployment-default-one"),
        pytest.param(controller("Deployment", replicas=0), 0, id="deployment-scaled-to-zero"),
        pytest.param(controller("ReplicaSet", replicas=4), 4, id="replicaset-replicas"),
        pytest.param(controller("StatefulSet", replicas=2), 2, id="statefulset-replicas"),
        pytest.param(controller("Job", "batch/v1", parallelism=5), 5, id="job-parallelism"),
        pytest.param(controller("Job", "batch/v1"), 1, id="job-default-one"),
        pytest.param(
            controller("Job", "batch/v1", replicas=9, completions=9),
            1,
            id="job-ignores-replicas-and-completions",
        ),
    ],
)
def test_controllers_expand_into_their_replica_count(doc: dict[str, Any], count: int) -> None:
    pods = parse_documents([doc]).pods

    assert len(pods) == count
    assert [p["metadata"]["name"] for p in pods[:3]] == [f"web-{k}" for k in range(min(count, 3))]


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(controller("Deployment", "apps/v1beta1", replicas=2), id="old-api-version"),
        pytest.param(controller("DaemonSet", replicas=2), id="daemonset"),
        pytest.param(controller("CronJob", "batch/v1"), id="cronjob"),
        pytest.param({"apiVersion": "v1", "kind": "Secret"}, id="unnamed-secret"),
        pytest.param({"metadata": {"name": "x"}}, id="no-kind"),
        pytest.param(
            {"apiVersion": "v2", "kind": "Pod", "metadata": {"name": "p"}}, id="pod-wrong-api"
        ),
    ],
)
def test_kinds_the_scheduler_does_not_place_are_skipped(doc: dict[str, Any]) -> None:
    parsed = parse_documents([doc])

    assert (parsed.nodes, parsed.pods, parsed.topologies) == ([], [], [])
    assert len(parsed.skipped) == 1


def test_skipped_entries_say_kind_and_name() -> None:
    parsed = parse_documents([{"apiVersion": "v1", "kind": "Secret"}, {"metadata": {"name": "x"}}])

    assert parsed.skipped == ["Secret <unnamed>", "? x"]


@pytest.mark.parametrize(
    ("doc", "key", "value"),
    [
        pytest.param(controller("Deployment", replicas="3"), "spec.replicas", "3", id="quoted"),
        pytest.param(controller("Deployment", replicas=3.5), "spec.replicas", 3.5, id="float"),
        pytest.param(controller("Deployment", replicas=True), "spec.replicas", True, id="bool"),
        pytest.param(controller("Deployment", replicas=-1), "spec.replicas", -1, id="negative"),
        pytest.param(
            controller("Deployment", replicas=100_001), "spec.replicas", 100_001, id="over-limit"
        ),
        pytest.param(
            controller("ReplicaSet", replicas=10**9), "spec.replicas", 10**9, id="replicaset-1e9"
        ),
        pytest.param(
            controller("StatefulSet", replicas=[3]), "spec.replicas", [3], id="statefulset-list"
        ),
        pytest.param(
            controller("Job", "batch/v1", parallelism="2"),
            "spec.parallelism",
            "2",
            id="job-quoted-parallelism",
        ),
    ],
)
def test_bad_replica_count_is_an_input_error_naming_the_controller_and_key(
    doc: dict[str, Any], key: str, value: object
) -> None:
    with pytest.raises(errors.InputError) as caught:
        parse_documents([doc])

    err = caught.value
    assert (err.key, err.value) == (key, value)
    message = str(err)
    assert message.startswith(f"{doc['kind']} shop/web: {key}=")
    assert repr(value) in message
    assert "an integer 0..100000" in message


# Document shapes


def test_empty_documents_are_ignored() -> None:
    parsed = parse_documents(documents("---\n---\napiVersion: v1\nkind: ConfigMap\n---\n"))

    assert parsed.skipped == ["ConfigMap <unnamed>"]


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param("just a sentence", id="string"),
        pytest.param([{"kind": "Pod"}], id="list"),
        pytest.param(42, id="number"),
    ],
)
def test_a_document_that_is_not_a_mapping_is_an_input_error_naming_the_source(doc: Any) -> None:
    with pytest.raises(errors.InputError) as caught:
        parse_documents([doc], source="pods.yaml")

    assert caught.value.key == "<document>"
    assert str(caught.value).startswith("pods.yaml: <document>=")
    assert "a Kubernetes object (a mapping)" in str(caught.value)


def test_a_non_mapping_list_item_is_an_input_error() -> None:
    with pytest.raises(errors.InputError):
        parse_documents([{"apiVersion": "v1", "kind": "List", "items": ["nope"]}])


def test_list_items_that_are_not_a_list_are_an_input_error() -> None:
    with pytest.raises(errors.InputError, match="items"):
        parse_documents([{"apiVersion": "v1", "kind": "List", "items": {"kind": "Pod"}}])


def test_nested_lists_are_flattened() -> None:
    inner = {"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod"}]}

    parsed = parse_documents([{"apiVersion": "v1", "kind": "List", "items": [inner]}])

    assert len(parsed.pods) == 1


# Topology choice


def topology(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "cloudedge.io/v1alpha1",
        "kind": "NetworkTopology",
        "metadata": {"name": name},
    }


@pytest.mark.parametrize(
    ("given", "chosen"),
    [
        pytest.param([], None, id="none-given"),
        pytest.param(["only"], "only", id="single"),
        pytest.param(["lab", "default", "staging"], "default", id="default-wins-in-the-middle"),
        pytest.param(["default", "lab"], "default", id="default-wins-first"),
        pytest.param(["lab", "staging"], "staging", id="last-without-default"),
    ],
)
def test_the_topology_named_default_is_preferred_else_the_last(
    given: list[str], chosen: str | None
) -> None:
    picked = parse_documents([topology(n) for n in given]).topology_object()

    assert (picked["metadata"]["name"] if picked else None) == chosen


# Files


def test_load_documents_over_two_files_keeps_file_and_document_order(
    tmp_path: pathlib.Path,
) -> None:
    first = tmp_path / "cluster.yaml"
    first.write_text(MANIFEST, encoding="utf-8")
    second = tmp_path / "more.yaml"
    second.write_text(
        textwrap.dedent(
            """\
            apiVersion: v1
            kind: Pod
            metadata: {name: late}
            spec: {containers: []}
            ---
            apiVersion: v1
            kind: Node
            metadata: {name: edge-2}
            status: {allocatable: {cpu: "1"}}
            ---
            apiVersion: v1
            kind: Secret
            metadata: {name: token}
            ---
            apiVersion: cloudedge.io/v1alpha1
            kind: NetworkTopology
            metadata: {name: extra}
            """
        ),
        encoding="utf-8",
    )

    parsed = load_documents([first, str(second)])

    assert [n["metadata"]["name"] for n in parsed.nodes] == ["cloud-1", "edge-1", "edge-2"]
    assert [p["metadata"]["name"] for p in parsed.pods][-2:] == ["listed", "late"]
    assert len(parsed.pods) == 11
    assert parsed.skipped == ["Service web", "ConfigMap settings", "Secret token"]
    assert [t["metadata"]["name"] for t in parsed.topologies] == ["default", "lab", "extra"]


def test_load_documents_of_no_files_is_empty() -> None:
    parsed = load_documents([])

    assert (parsed.nodes, parsed.pods, parsed.topologies, parsed.skipped) == ([], [], [], [])


def test_a_bad_document_in_a_file_names_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\n---\n- not\n- an object\n", encoding="utf-8")

    with pytest.raises(errors.InputError, match=r"bad\.yaml: <document>="):
        load_documents([path])


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("missing.yaml", None, id="missing-file"),
        pytest.param("broken.yaml", b"kind: [Pod\n", id="invalid-yaml"),
        pytest.param("binary.yaml", b"\xff\xfe\x00\x01not utf-8", id="not-utf-8"),
    ],
)
def test_unreadable_file_is_an_input_error_naming_the_file(
    tmp_path: pathlib.Path, name: str, content: bytes | None
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)

    with pytest.raises(errors.InputError) as caught:
        load_documents([path])

    assert caught.value.key == "<file>"
    assert str(caught.value).startswith(f"{path}: <file>=")
    assert "readable YAML" in str(caught.value)


def test_a_directory_stands_for_its_manifest_files_in_name_order(tmp_path: pathlib.Path) -> None:
    # As kubectl apply -f DIR: the .yaml, .yml and .json files, by name, not recursive.
    (tmp_path / "b-pods.yml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: second}\nspec: {containers: []}\n"
    )
    (tmp_path / "a-pods.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: first}\nspec: {containers: []}\n"
    )
    (tmp_path / "c.json").write_text(
        '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "third"}, '
        '"spec": {"containers": []}}'
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "d.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: nested}\nspec: {containers: []}\n"
    )
    docs = load_documents([tmp_path])
    assert [p["metadata"]["name"] for p in docs.pods] == ["first", "second", "third"]


def test_a_directory_without_manifests_is_refused_with_what_is_allowed(
    tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "notes.txt").write_text("not a manifest")
    with pytest.raises(errors.InputError) as err:
        load_documents([tmp_path])
    assert str(tmp_path) in str(err.value)
    assert "a directory of .yaml, .yml or .json files" in str(err.value)
