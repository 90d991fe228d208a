"""Host ports, inter-pod (anti-)affinity and topology spread, as kube-scheduler's NodePorts,
InterPodAffinity and PodTopologySpread filters decide them, over the pods already placed."""

from __future__ import annotations

from typing import Any

import pytest

from cloudedge import model
from cloudedge.cluster.view import Choice, ClusterView
from cloudedge.inputs import parse_node, parse_pod
from cloudedge.inputs.pods import parse_placed
from cloudedge.model import interpod

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def node(name: str, zone: str = "z1", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"cloudedge.io/tier": "cloud", HOST: name, ZONE: zone, **labels},
        },
        "status": {"allocatable": {"cpu": "8", "memory": "8Gi", "pods": "110"}},
    }


def pod(name: str, namespace: str = "ns", labels: dict[str, str] | None = None, **spec: Any) -> Any:
    body = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}], **spec}
    meta = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"}
    return {"metadata": {**meta, "labels": labels or {}}, "spec": body}


def ports(*entries: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "c", "ports": list(entries)}]


def term(app: str, key: str = HOST, **extra: Any) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key, **extra}


def state(nodes: list[dict[str, Any]], placed: dict[str, list[Any]]) -> model.ClusterState:
    on = [(parse_placed(p), name) for name, pods in placed.items() for p in pods]
    parsed = [parse_node(n) for n in nodes]
    used = {n.name: model.ResourceList() for n in parsed}
    for p, name in on:
        used[name] = used[name] + p.requests
    parsed = [model.Node(**{**n.__dict__, "used": used[n.name]}) for n in parsed]
    return model.ClusterState(parsed, placed=on)


def feasible(p: Any, cluster: model.ClusterState) -> dict[str, bool]:
    ev = model.evaluate(parse_pod(p), cluster, model.ModelConfig())
    return dict(zip(cluster.names, ev.feasible.tolist(), strict=True))


def reasons(p: Any, cluster: model.ClusterState) -> str:
    return model.evaluate(parse_pod(p), cluster, model.ModelConfig()).failure_summary()


# Host ports (NodePorts)


@pytest.mark.parametrize(
    ("theirs", "mine", "conflict"),
    [
        pytest.param({"containerPort": 80, "hostPort": 8080}, {"hostPort": 8080}, True, id="same"),
        pytest.param(
            {"hostPort": 8080}, {"hostPort": 8080, "protocol": "UDP"}, False, id="other-protocol"
        ),
        pytest.param(
            {"hostPort": 8080, "hostIP": "10.0.0.1"},
            {"hostPort": 8080},
            True,
            id="every-address-covers-a-specific-one",
        ),
        pytest.param(
            {"hostPort": 8080, "hostIP": "10.0.0.1"},
            {"hostPort": 8080, "hostIP": "10.0.0.2"},
            False,
            id="two-specific-addresses",
        ),
        pytest.param({"hostPort": 8080}, {"hostPort": 8081}, False, id="other-port"),
    ],
)
def test_a_host_port_in_use_keeps_a_conflicting_pod_off_the_node(
    theirs: dict[str, Any], mine: dict[str, Any], conflict: bool
) -> None:
    cluster = state([node("a"), node("b")], {"a": [pod("web-1", containers=ports(theirs))]})
    assert feasible(pod("web-2", containers=ports(mine)), cluster) == {"a": not conflict, "b": True}


def test_a_host_network_pod_binds_its_container_ports() -> None:
    host_net = pod("agent", hostNetwork=True, containers=ports({"containerPort": 9100}))
    cluster = state([node("a")], {"a": [host_net]})
    mine = pod("exporter", containers=ports({"containerPort": 9100, "hostPort": 9100}))
    assert reasons(mine, cluster) == (
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
    )


# Inter-pod affinity and anti-affinity


def test_required_anti_affinity_keeps_replicas_on_different_nodes() -> None:
    spec = {"affinity": {"podAntiAffinity": {REQUIRED: [term("db")]}}}
    cluster = state([node("a"), node("b")], {"a": [pod("db-1", labels={"app": "db"}, **spec)]})
    assert feasible(pod("db-2", labels={"app": "db"}, **spec), cluster) == {"a": False, "b": True}


def test_anti_affinity_by_zone_keeps_the_whole_zone_free() -> None:
    spec = {"affinity": {"podAntiAffinity": {REQUIRED: [term("db", ZONE)]}}}
    nodes = [node("a", "z1"), node("b", "z1"), node("c", "z2")]
    cluster = state(nodes, {"a": [pod("db-1", labels={"app": "db"})]})
    got = feasible(pod("db-2", labels={"app": "db"}, **spec), cluster)
    assert got == {"a": False, "b": False, "c": True}


def test_an_existing_pods_anti_affinity_keeps_matching_newcomers_away() -> None:
    loner = pod("loner", **{"affinity": {"podAntiAffinity": {REQUIRED: [term("noisy")]}}})
    cluster = state([node("a"), node("b")], {"a": [loner]})
    got = feasible(pod("noisy-1", labels={"app": "noisy"}), cluster)
    assert got == {"a": False, "b": True}
    assert "existing pods anti-affinity" in reasons(
        pod("n", labels={"app": "noisy"}), state([node("a")], {"a": [loner]})
    )


def test_required_affinity_to_a_pod_that_does_not_exist_places_nothing() -> None:
    spec = {"affinity": {"podAffinity": {REQUIRED: [term("cache")]}}}
    cluster = state([node("a"), node("b")], {})
    assert reasons(pod("web", **spec), cluster) == (
        "0/2 nodes are available: 2 node(s) didn't match pod affinity rules."
    )


def test_required_affinity_follows_the_selected_pod() -> None:
    spec = {"affinity": {"podAffinity": {REQUIRED: [term("cache", ZONE)]}}}
    nodes = [node("a", "z1"), node("b", "z2"), node("c", "z2")]
    cluster = state(nodes, {"b": [pod("cache-1", labels={"app": "cache"})]})
    assert feasible(pod("web", **spec), cluster) == {"a": False, "b": True, "c": True}


def test_the_first_pod_of_a_group_with_affinity_to_itself_is_placed() -> None:
    spec = {"affinity": {"podAffinity": {REQUIRED: [term("group")]}}}
    cluster = state([node("a"), node("b")], {})
    assert feasible(pod("g-1", labels={"app": "group"}, **spec), cluster) == {"a": True, "b": True}


def test_affinity_terms_count_pods_of_their_namespaces_only() -> None:
    nodes = [node("a"), node("b")]
    cluster = state(nodes, {"a": [pod("cache", namespace="other", labels={"app": "cache"})]})
    own = {"affinity": {"podAffinity": {REQUIRED: [term("cache")]}}}
    named = {"affinity": {"podAffinity": {REQUIRED: [term("cache", namespaces=["other"])]}}}
    every = {"affinity": {"podAffinity": {REQUIRED: [term("cache", namespaceSelector={})]}}}
    assert feasible(pod("w1", **own), cluster) == {"a": False, "b": False}
    assert feasible(pod("w2", **named), cluster) == {"a": True, "b": False}
    assert feasible(pod("w3", **every), cluster) == {"a": True, "b": False}


# Topology spread (DoNotSchedule)


def spread(max_skew: int = 1, key: str = ZONE, **extra: Any) -> dict[str, Any]:
    constraint = {
        "maxSkew": max_skew,
        "topologyKey": key,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
        **extra,
    }
    return {"topologySpreadConstraints": [constraint]}


WEB = {"app": "web"}


def test_spread_refuses_the_zone_that_would_exceed_max_skew() -> None:
    nodes = [node("a", "z1"), node("b", "z2")]
    cluster = state(nodes, {"a": [pod("web-1", labels=WEB)]})
    assert feasible(pod("web-2", labels=WEB, **spread()), cluster) == {"a": False, "b": True}


def test_spread_min_domains_counts_missing_domains_as_empty() -> None:
    nodes = [node("a", "z1"), node("b", "z2")]
    cluster = state(nodes, {"a": [pod("w1", labels=WEB)], "b": [pod("w2", labels=WEB)]})
    assert feasible(pod("w3", labels=WEB, **spread()), cluster) == {"a": True, "b": True}
    with_min = spread(minDomains=3)
    assert feasible(pod("w3", labels=WEB, **with_min), cluster) == {"a": False, "b": False}


def test_spread_match_label_keys_count_only_the_same_revision() -> None:
    nodes = [node("a", "z1"), node("b", "z2")]
    old = {"app": "web", "rev": "1"}
    cluster = state(nodes, {"a": [pod("old-1", labels=old), pod("old-2", labels=old)]})
    new = {"app": "web", "rev": "2"}
    plain = spread()
    keyed = spread(matchLabelKeys=["rev"])
    assert feasible(pod("new-1", labels=new, **plain), cluster) == {"a": False, "b": True}
    assert feasible(pod("new-1", labels=new, **keyed), cluster) == {"a": True, "b": True}


def test_spread_node_taints_policy_decides_whether_a_tainted_zone_counts() -> None:
    tainted = node("c", "z3")
    tainted["spec"] = {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}
    nodes = [node("a", "z1"), node("b", "z2"), tainted]
    cluster = state(nodes, {"a": [pod("w1", labels=WEB)], "b": [pod("w2", labels=WEB)]})
    # Ignore (the default): the empty tainted zone counts, the minimum is 0, every zone the
    # pod may use would reach a skew of 2.
    ignore = feasible(pod("w3", labels=WEB, **spread()), cluster)
    assert ignore == {"a": False, "b": False, "c": False}
    # Honor: the zone the pod cannot use is no domain; the minimum is 1.
    honor = feasible(pod("w3", labels=WEB, **spread(nodeTaintsPolicy="Honor")), cluster)
    assert honor == {"a": True, "b": True, "c": False}


def test_spread_refuses_nodes_without_the_topology_key_as_unresolvable() -> None:
    bare = node("bare")
    del bare["metadata"]["labels"][ZONE]
    cluster = state([node("a"), bare], {})
    ev = model.evaluate(parse_pod(pod("w", labels=WEB, **spread())), cluster, model.ModelConfig())
    assert ev.feasible.tolist() == [True, False]
    assert ev.result.reason(1) == (interpod.REASON_SPREAD_LABEL,)
    assert ev.result.unresolvable.tolist() == [False, True]


# Placements and reservations count as soon as they are made


def test_greedy_placement_of_a_batch_honours_anti_affinity_between_its_pods() -> None:
    spec = {"affinity": {"podAntiAffinity": {REQUIRED: [term("db")]}}}
    batch = [parse_pod(pod(f"db-{k}", labels={"app": "db"}, **spec)) for k in range(3)]
    cluster = state([node("a"), node("b")], {})
    result = model.place(batch, cluster, model.ModelConfig(), strategy=model.Strategy.SCORE)
    nodes = [p.node for p in result.placements]
    assert sorted(n for n in nodes if n) == ["a", "b"]
    assert nodes.count(None) == 1


@pytest.mark.parametrize("strategy", [model.Strategy.BATCH, model.Strategy.OPTIMAL])
def test_joint_strategies_place_a_batch_with_inter_pod_constraints_pod_by_pod(
    strategy: model.Strategy,
) -> None:
    spec = {"affinity": {"podAntiAffinity": {REQUIRED: [term("db")]}}}
    batch = [parse_pod(pod(f"db-{k}", labels={"app": "db"}, **spec)) for k in range(3)]
    cluster = state([node("a"), node("b")], {})
    result = model.place(batch, cluster, model.ModelConfig(), strategy=strategy, time_limit_s=1)
    nodes = [p.node for p in result.placements]
    assert sorted(n for n in nodes if n) == ["a", "b"]
    assert result.strategy is strategy
    assert result.solver_status == model.strategies.GREEDY_CONSTRAINED


def test_a_reserved_pod_keeps_its_host_port_before_the_watch_shows_it_bound() -> None:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    first = parse_pod(pod("p1", containers=ports({"hostPort": 80})))
    second = parse_pod(pod("p2", containers=ports({"hostPort": 80})))
    assert _node(view.decide(first, model.ModelConfig())[1]) == "a"
    assert view.decide(second, model.ModelConfig())[1] is None
    view.unreserve(first.uid)
    assert _node(view.decide(second, model.ModelConfig())[1]) == "a"


def _node(choice: Choice | None) -> str | None:
    return None if choice is None else choice.node


def test_the_label_index_follows_placements_and_releases_in_every_copy() -> None:
    cluster = state([node("a"), node("b")], {"a": [pod("w1", labels=WEB)]})
    one_label = model.LabelSelector(match_labels={"app": "web"})
    same_by_expression = model.LabelSelector(
        match_expressions=(model.SelectorRequirement("app", "In", ("web",)),)
    )

    def both(state_: model.ClusterState, namespaces: frozenset[str] | None) -> list[dict[int, int]]:
        return [
            dict(interpod.matching_counts(state_, sel, namespaces))
            for sel in (one_label, same_by_expression)
        ]

    w2 = parse_placed(pod("w2", labels=WEB))
    other_ns = parse_placed(pod("w3", namespace="other", labels=WEB))
    copy = cluster.copy()
    copy.assign(w2, 1)
    copy.assign(other_ns, 1)
    assert both(copy, frozenset({"ns"})) == [{0: 1, 1: 1}] * 2
    assert both(copy, None) == [{0: 1, 1: 2}] * 2
    assert both(cluster, None) == [{0: 1}] * 2, "the original state is untouched"
    copy.release(w2, 1)
    copy.release(other_ns, 1)
    assert both(copy, None) == [{0: 1}] * 2


def test_without_namespace_labels_a_term_selecting_namespaces_by_label_is_left_out() -> None:
    # The extender: kube-scheduler has enforced the term already, and it must not be guessed.
    by_label = term("cache", namespaceSelector={"matchLabels": {"team": "data"}})
    p = parse_pod(pod("web", affinity={"podAffinity": {REQUIRED: [by_label]}}))
    assert p.affinity == ()


NAMESPACES = {"ns": {"team": "web"}, "data-1": {"team": "data"}, "data-2": {"team": "data"}}


@pytest.mark.parametrize(
    ("extra", "namespaces"),
    [
        pytest.param(
            {"namespaceSelector": {"matchLabels": {"team": "data"}}},
            {"data-1", "data-2"},
            id="matching-labels",
        ),
        pytest.param(
            {"namespaceSelector": {"matchLabels": {"team": "data"}}, "namespaces": ["x"]},
            {"data-1", "data-2", "x"},
            id="added-to-the-named-ones",
        ),
        pytest.param(
            {"namespaceSelector": {"matchLabels": {"team": "none"}}},
            set(),
            id="matching-nothing-is-not-the-own-namespace",
        ),
        pytest.param(
            {
                "namespaceSelector": {
                    "matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["data"]}]
                }
            },
            {"ns"},
            id="expressions",
        ),
    ],
)
def test_a_namespace_selector_resolves_to_the_namespaces_whose_labels_match(
    extra: dict[str, Any], namespaces: set[str]
) -> None:
    spec = {"affinity": {"podAntiAffinity": {REQUIRED: [term("cache", **extra)]}}}
    p = parse_pod(pod("web", **spec), namespace_labels=NAMESPACES)
    assert len(p.anti_affinity) == 1
    assert p.anti_affinity[0].namespaces == frozenset(namespaces)
    assert not p.anti_affinity[0].all_namespaces


def test_anti_affinity_by_namespace_label_keeps_off_nodes_of_pods_in_those_namespaces() -> None:
    nodes = [node("a"), node("b"), node("c")]
    placed = {
        "a": [pod("cache", namespace="data-1", labels={"app": "cache"})],
        "b": [pod("cache", namespace="ns", labels={"app": "cache"})],
    }
    by_label = term("cache", namespaceSelector={"matchLabels": {"team": "data"}})
    spec = {"affinity": {"podAntiAffinity": {REQUIRED: [by_label]}}}
    ev = model.evaluate(
        parse_pod(pod("web", **spec), namespace_labels=NAMESPACES),
        state(nodes, placed),
        model.ModelConfig(),
    )
    assert ev.feasible.tolist() == [False, True, True]


def test_the_view_resolves_placed_pods_terms_again_when_namespace_labels_change() -> None:
    # A placed pod's anti-affinity to "team=data" namespaces must follow a relabelled one.
    view = ClusterView()
    view.replace_nodes([node("a"), node("b")])
    view.replace_namespaces([namespace_obj("ns", team="web"), namespace_obj("data-1")])
    by_label = term("web", namespaceSelector={"matchLabels": {"team": "data"}})
    guard = pod("guard", namespace="ns", affinity={"podAntiAffinity": {REQUIRED: [by_label]}})
    guard["spec"]["nodeName"] = "a"
    view.replace_pods([guard])
    incoming = parse_pod(pod("web", namespace="data-1", labels={"app": "web"}))

    def feasible_nodes() -> list[str]:
        ev = view.evaluate(incoming, model.ModelConfig())
        return [n for n, ok in zip(ev.node_names, ev.feasible.tolist(), strict=True) if ok]

    assert feasible_nodes() == ["a", "b"]
    view.upsert_namespace(namespace_obj("data-1", team="data"))
    assert feasible_nodes() == ["b"]
    view.upsert_namespace(namespace_obj("data-1", team="other"))
    assert feasible_nodes() == ["a", "b"]


def namespace_obj(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}
