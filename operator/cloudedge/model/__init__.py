"""The placement model: pure numpy/scipy, no Kubernetes client, kopf or HTTP.

Section 4 of the seed article made concrete: filters (:mod:`.filters`), the four terms
(:mod:`.terms`), the per-pod decision (:mod:`.scoring`) and batch strategies
(:mod:`.strategies`, joint placement in :mod:`.batch`) over a column-wise cluster
(:mod:`.state`), every placement graded on its final state by :mod:`.evaluator`.
"""

from cloudedge.model.registry import Kind as TermKind
from cloudedge.model.registry import kube_scored_terms
from cloudedge.model.scoring import Evaluation, NodeTerms, evaluate
from cloudedge.model.state import ClusterState
from cloudedge.model.strategies import Placement, PlacementResult, Strategy, place
from cloudedge.model.types import (
    RESOURCES,
    BandwidthModel,
    CongestionModel,
    HostPort,
    LabelSelector,
    Link,
    ModelConfig,
    Node,
    Pod,
    PodAffinityTerm,
    ResourceList,
    SelectorRequirement,
    SelectorTerm,
    SpreadConstraint,
    Taint,
    Tier,
    Toleration,
    Topology,
    Weights,
    Workload,
)

__all__ = [
    "RESOURCES",
    "BandwidthModel",
    "ClusterState",
    "CongestionModel",
    "Evaluation",
    "HostPort",
    "LabelSelector",
    "Link",
    "ModelConfig",
    "Node",
    "NodeTerms",
    "Placement",
    "PlacementResult",
    "Pod",
    "PodAffinityTerm",
    "ResourceList",
    "SelectorRequirement",
    "SelectorTerm",
    "SpreadConstraint",
    "Strategy",
    "Taint",
    "TermKind",
    "Tier",
    "Toleration",
    "Topology",
    "Weights",
    "Workload",
    "evaluate",
    "kube_scored_terms",
    "place",
]
