"""Kubernetes objects and YAML documents -> typed model inputs.

Everything a user writes (node labels and annotations, pod annotations, quantities,
``NetworkTopology`` resources, the configuration file) is validated here, and every bad value
raises :class:`cloudedge.errors.InputError` naming the object, key, value and what is allowed.
"""

from cloudedge.inputs.config import load_config, parse_config
from cloudedge.inputs.constraints import preemption_note, refusal, unhonoured_fields
from cloudedge.inputs.documents import Documents, load_documents, parse_documents
from cloudedge.inputs.nodes import parse_node
from cloudedge.inputs.pods import (
    has_cloudedge_annotations,
    parse_placed,
    parse_pod,
    pod_priority,
)
from cloudedge.inputs.quantity import parse_quantity
from cloudedge.inputs.topology import parse_topology

__all__ = [
    "Documents",
    "has_cloudedge_annotations",
    "load_config",
    "load_documents",
    "parse_config",
    "parse_documents",
    "parse_node",
    "parse_placed",
    "parse_pod",
    "parse_quantity",
    "parse_topology",
    "pod_priority",
    "preemption_note",
    "refusal",
    "unhonoured_fields",
]
