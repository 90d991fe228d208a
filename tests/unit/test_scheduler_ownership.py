"""``--owned-lease``: which Lease is given which Deployment as owner (scheduler/ownership.py).
The adoption itself is proven on the real API server (tests/e2e/test_deploy.py)."""

from __future__ import annotations

import pytest

from cloudedge import app, errors
from cloudedge.scheduler.ownership import OwnedLease


def test_a_lease_alone_is_owned_by_the_deployment_of_its_name() -> None:
    assert OwnedLease.parse("ces-kube-scheduler") == OwnedLease(
        "ces-kube-scheduler", "ces-kube-scheduler"
    )


def test_a_lease_may_name_its_deployment() -> None:
    assert OwnedLease.parse("lock=ces") == OwnedLease("lock", "ces")
    assert OwnedLease.parse(" lock = ces ") == OwnedLease("lock", "ces")


@pytest.mark.parametrize("text", ["", "=ces", "ns/lock", "lock=apps/ces"])
def test_a_malformed_owned_lease_is_refused_with_the_allowed_form(text: str) -> None:
    with pytest.raises(ValueError, match="LEASE or LEASE=DEPLOYMENT"):
        OwnedLease.parse(text)


def test_the_run_command_refuses_a_malformed_owned_lease_before_starting() -> None:
    with pytest.raises(errors.ConfigError, match="--owned-lease 'a/b'"):
        app.App(app.RunOptions(mode="extender", owned_leases=("a/b",), leader_elect=False))
