"""Every ``cloudedge.io/`` key the scheduler reads, declared once."""

from __future__ import annotations

PREFIX = "cloudedge.io/"

# Node labels and annotations (set by the cluster admin).
NODE_TIER = PREFIX + "tier"
NODE_BANDWIDTH = PREFIX + "bandwidth-mbps"
NODE_SITE = PREFIX + "site"
NODE_COMPUTE_RATE = PREFIX + "compute-rate"
ZONE_LABEL = "topology.kubernetes.io/zone"

# Pod annotations (set by the workload author).
POD_WORKLOAD = PREFIX + "workload"
POD_COMPUTE_COST = PREFIX + "compute-cost"
POD_DATA_SOURCE = PREFIX + "data-source"
POD_DATA_SIZE = PREFIX + "data-size-mb"
POD_MAX_LATENCY = PREFIX + "max-latency-ms"
POD_TIER = PREFIX + "tier"

DEFAULT_BANDWIDTH_MBPS = 1000.0
"""Bandwidth of a tiered node without the bandwidth label: a common 1 Gbit/s NIC."""

DEFAULT_PODS = 110.0
"""Pods allocatable when a Node document omits it: the kubelet's default maxPods."""
