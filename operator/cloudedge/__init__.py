"""cloud-edge-scheduler: place Kubernetes pods across cloud and edge nodes.

One scoring core (:mod:`cloudedge.model`) is shared by two front ends: the kopf
operator that binds pods naming ``cloud-edge-scheduler`` and the kube-scheduler
extender HTTP service. Kubernetes objects become model inputs in
:mod:`cloudedge.inputs`; the live cluster view lives in :mod:`cloudedge.cluster`.
"""

__version__ = "0.1.0"

SCHEDULER_NAME = "cloud-edge-scheduler"
"""The value pods put in ``spec.schedulerName`` to be placed by this scheduler."""

PREFIX = "cloudedge.io/"
"""Prefix of every label and annotation the scheduler reads."""
