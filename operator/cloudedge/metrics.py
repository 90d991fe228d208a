"""Every metric of cloud-edge-scheduler, declared once against an injected registry.

Names follow Prometheus practice: ``cloudedge_<what>_<unit>``, base units, ``_total`` on
counters, bounded label values and never a pod name in a label. Tests pass a fresh
``CollectorRegistry`` so two schedulers in one process do not collide.
"""

from __future__ import annotations

import prometheus_client as prom

# Scheduling is milliseconds on the happy path and seconds under backoff; binding is one
# API round trip. Buckets span both, as kube-scheduler's do.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Extender calls must stay well inside kube-scheduler's httpTimeout: sub-millisecond detail.
EXTENDER_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)
# Estimated completion times run from a few ms at the edge to minutes of batch work.
ECT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

# Batches run from one pod to --batch-max (500 by default).
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
# The joint solve: milliseconds for a few pods, the 200 ms target at 500, its 2 s budget.
SOLVE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)
# Relative gap to the lower bound: 0 is proven optimal; a few percent is a good answer.
GAP_BUCKETS = (0.0, 0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)

RESULTS = ("scheduled", "unschedulable", "invalid", "error")
"""Values of ``cloudedge_schedule_attempts_total{result}``."""


class Metrics:
    """The scheduler's and the extender's metrics in one registry."""

    def __init__(self, registry: prom.CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else prom.CollectorRegistry()
        r = self.registry
        self.schedule_attempts = prom.Counter(
            "cloudedge_schedule_attempts_total",
            "Scheduling attempts by result: scheduled, unschedulable, invalid input, error.",
            ["result"],
            registry=r,
        )
        for result in RESULTS:
            self.schedule_attempts.labels(result)
        self.scheduling_duration = prom.Histogram(
            "cloudedge_scheduling_duration_seconds",
            "Time from the scheduler first seeing a pending pod to its successful binding.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.binding_duration = prom.Histogram(
            "cloudedge_binding_duration_seconds",
            "Duration of the Binding API call.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pending_pods = prom.Gauge(
            "cloudedge_pending_pods",
            "Pods of this scheduler waiting to be bound (queued, backing off or unschedulable).",
            registry=r,
        )
        self.estimated_completion = prom.Histogram(
            "cloudedge_estimated_completion_seconds",
            "Estimated completion time of each scheduled pod on its chosen node, by tier.",
            ["tier"],
            buckets=ECT_BUCKETS,
            registry=r,
        )
        self.tier_requested = prom.Gauge(
            "cloudedge_tier_requested_ratio",
            "Requested share of allocatable per tier and resource (cpu, memory).",
            ["tier", "resource"],
            registry=r,
        )
        self.nodes = prom.Gauge(
            "cloudedge_nodes",
            "Candidate nodes in the scheduler's view, by tier.",
            ["tier"],
            registry=r,
        )
        self.leader = prom.Gauge(
            "cloudedge_leader",
            "1 while this replica holds the scheduling lease and may bind.",
            registry=r,
        )
        self.binding_conflicts = prom.Counter(
            "cloudedge_binding_conflicts_total",
            "Bindings refused because the pod was already bound or gone (409/404).",
            registry=r,
        )
        self.batch_size = prom.Histogram(
            "cloudedge_batch_size_pods",
            "Pods placed together per batch (--placement batch).",
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_solve_duration = prom.Histogram(
            "cloudedge_batch_solve_duration_seconds",
            "Duration of the joint placement of one batch (--placement batch).",
            buckets=SOLVE_BUCKETS,
            registry=r,
        )
        self.batch_bound_gap = prom.Histogram(
            "cloudedge_batch_bound_gap_ratio",
            "Per batch, (total completion time - the LP relaxation's lower bound) / that bound; "
            "observed for the batches where the bound is computed (small batches, count proven).",
            buckets=GAP_BUCKETS,
            registry=r,
        )
        self.extender_requests = prom.Counter(
            "cloudedge_extender_requests_total",
            "Extender HTTP requests by verb and status code.",
            ["verb", "code"],
            registry=r,
        )
        self.extender_duration = prom.Histogram(
            "cloudedge_extender_request_duration_seconds",
            "Extender HTTP request latency by verb.",
            ["verb"],
            buckets=EXTENDER_BUCKETS,
            registry=r,
        )

    def exposition(self) -> bytes:
        """The registry in Prometheus text format, for ``/metrics``."""
        return prom.generate_latest(self.registry)
