"""hack/kind/cluster-config.py: the kind cluster is the seed's, sized by kubelet reservations."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "hack" / "kind" / "cluster-config.py"
GIB = 1024**3


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kind_cluster_config", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reserved(env_line: str) -> dict[str, str]:
    arg = next(a for a in env_line.strip().strip('"').split() if "system-reserved" in a)
    arg = arg.split("=", 1)[1].strip('"')
    return dict(item.split("=") for item in arg.split(","))


def test_reservation_leaves_exactly_the_seeds_capacity_allocatable() -> None:
    config = load_script()
    host_cpu_m, host_memory = 2000, 24 * GIB
    line = config.kubelet_env(500, 2 * GIB, host_cpu_m, host_memory)
    got = reserved(line.split("=", 1)[1])
    assert got["cpu"] == "1500m"
    reserved_kib = int(got["memory"].removesuffix("Ki"))
    # allocatable = capacity - system-reserved - eviction threshold
    assert host_memory - reserved_kib * 1024 - config.EVICTION_MEMORY == 2 * GIB


def test_a_host_smaller_than_a_node_of_the_topology_is_refused_with_both_sizes() -> None:
    config = load_script()
    with pytest.raises(SystemExit, match=r"1000m CPU.*2000m"):
        config.kubelet_env(2000, 2 * GIB, 1000, 24 * GIB)


@pytest.mark.parametrize(("topology", "workers"), [("seed", 8), ("small", 2)])
def test_generated_config_names_and_labels_the_workers_as_the_seeds_nodes(
    tmp_path: Path, topology: str, workers: int
) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--name",
            "t",
            "--topology",
            topology,
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    config = json.loads(Path(proc.stdout.strip()).read_text())
    nodes = [n for n in config["nodes"] if n["role"] == "worker"]
    assert len(nodes) == workers
    seed = {
        d["metadata"]["name"]: d["metadata"]["labels"]
        for d in yaml.safe_load_all((REPO / "examples" / "seed" / "nodes.yaml").read_text())
    }
    for node in nodes:
        (patch,) = node["kubeadmConfigPatches"]
        name = yaml.safe_load(patch)["nodeRegistration"]["name"]
        for key in ("cloudedge.io/tier", "cloudedge.io/bandwidth-mbps"):
            assert node["labels"][key] == seed[name][key]
        (mount,) = node["extraMounts"]
        assert mount["containerPath"] == "/etc/default/kubelet"
        assert "--system-reserved=" in Path(mount["hostPath"]).read_text()
    assert "containerdConfigPatches" not in config


def test_restricted_oom_score_adj_is_set_only_when_asked_for(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--name",
            "t",
            "--state-dir",
            str(tmp_path),
            "--restrict-oom-score-adj",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    config = json.loads(Path(proc.stdout.strip()).read_text())
    (patch,) = config["containerdConfigPatches"]
    assert "restrict_oom_score_adj = true" in patch
