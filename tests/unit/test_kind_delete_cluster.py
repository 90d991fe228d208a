"""hack/kind/delete-cluster.sh: a kind cluster whose nodes froze is thawed and deleted again."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def delete(fails: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """delete_cluster with a command that fails ``fails`` times, and thawing counted."""
    counter = tmp_path / "tries"
    counter.write_text("0")
    # An executable, as kind is: the helper runs it under timeout.
    fake = tmp_path / "kind"
    fake.write_text(
        f"#!/bin/sh\nn=$(( $(cat {counter}) + 1 )); echo $n > {counter}; [ $n -gt {fails} ]\n"
    )
    fake.chmod(0o755)
    script = f"""
set -euo pipefail
kind_log() {{ echo "[kind] $*" >&2; }}
kind_die() {{ echo "[kind] error: $*" >&2; exit 1; }}
thaw_cluster() {{ echo "thaw $1"; }}
sleep() {{ :; }}
source {REPO}/hack/kind/delete-cluster.sh
delete_cluster cloudedge {fake} delete cluster --name cloudedge
echo deleted
"""
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)


def test_the_nodes_are_thawed_before_the_delete(tmp_path: Path) -> None:
    done = delete(0, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["thaw cloudedge", "deleted"]


def test_a_failed_delete_is_thawed_and_tried_again(tmp_path: Path) -> None:
    done = delete(2, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("thaw cloudedge") == 3
    assert "failed (try 2 of 3)" in done.stderr


def test_three_failures_stop_with_a_message_naming_the_cluster(tmp_path: Path) -> None:
    done = delete(3, tmp_path)
    assert done.returncode == 1
    assert "deleted" not in done.stdout
    assert "could not delete kind cluster cloudedge" in done.stderr
