"""A leader stopped with SIGTERM hands its Lease over at once, on the real control plane.

Without a release, a standby waits out the lease (15 s) after the leader stopped, and every pod
of a burst waits with it (measured before the release: about 17 s). The stopping leader deletes
the Lease if it still holds it; the standby then creates it on its next try (2 s).
"""

from __future__ import annotations

import time

from cluster_support import Cluster, wait_until
from kubernetes.client import CoordinationV1Api
from kubernetes.client.exceptions import ApiException
from operator_support import two_replicas

# Under the 15 s lease duration: a standby that had to wait the lease out could not lead by then.
# (A bound of the wait, as every wait here; the time measured is printed, not asserted.)
RELEASED_HANDOVER_BOUND_S = 10.0


def lease_holder(kube: Cluster, namespace: str, name: str) -> str | None:
    try:
        lease = CoordinationV1Api(kube.api_client).read_namespaced_lease(name, namespace)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    return str(lease.spec.holder_identity) if lease.spec.holder_identity else None


def test_a_leader_stopped_with_sigterm_releases_its_lease_and_the_standby_leads_at_once(
    kube: Cluster,
) -> None:
    with two_replicas(kube.kubeconfig, lease_prefix="release") as (leader, standby):
        lease_ns = "default"
        first = wait_until(
            "the leader's Lease",
            lambda: lease_holder(kube, lease_ns, leader.lease_name),
            timeout=30,
        )
        assert leader.stop(timeout=20) == 0, leader.log_tail()
        stopped = time.monotonic()
        assert "leadership released" in leader.log_tail()
        wait_until(
            "the standby to lead",
            standby.is_leader,
            timeout=RELEASED_HANDOVER_BOUND_S,
            interval=0.2,
        )
        print(f"handover after SIGTERM: {time.monotonic() - stopped:.1f}s")
        second = lease_holder(kube, lease_ns, leader.lease_name)
        assert second is not None
        assert second != first


def test_a_replica_that_never_led_leaves_the_leaders_lease_alone_when_stopped(
    kube: Cluster,
) -> None:
    with two_replicas(kube.kubeconfig, lease_prefix="release") as (leader, standby):
        held = wait_until(
            "the leader's Lease",
            lambda: lease_holder(kube, "default", leader.lease_name),
            timeout=30,
        )
        assert standby.stop(timeout=20) == 0, standby.log_tail()
        assert "leadership released" not in standby.log_tail()
        assert lease_holder(kube, "default", leader.lease_name) == held
        assert leader.is_leader()
