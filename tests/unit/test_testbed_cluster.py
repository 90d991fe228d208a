"""The testbed's host-side settings that can be checked without a cluster: tbf, reservations,
the second kube-scheduler's configuration."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import testbed_support  # noqa: F401 (puts the repo root on sys.path)
from bench.testbed import cluster, plan, schedulers

MIB = 1024 * 1024


class TestTbf:
    def test_rate_is_in_kbit_and_burst_covers_ten_milliseconds(self) -> None:
        assert cluster.tbf_args(100.0) == [
            "tbf", "rate", "100000kbit", "burst", "125000", "latency", "100ms",
        ]  # fmt: skip

    def test_a_slow_link_keeps_a_burst_large_enough_to_reach_its_rate_and_no_larger(
        self,
    ) -> None:
        # 10 ms at 3.75 Mbit/s is 4,688 bytes; at 1 Mbit/s the 4 kB floor holds (two frames
        # and then some), not a burst that would let a small object through at line rate.
        assert cluster.tbf_args(3.75)[4] == "4688"
        assert cluster.tbf_args(1.0)[4] == str(4 * 1024)

    @pytest.mark.parametrize("rate", [0.0, -1.0, float("inf")], ids=["zero", "negative", "inf"])
    def test_a_rate_that_is_not_positive_and_finite_is_refused(self, rate: float) -> None:
        with pytest.raises(cluster.ClusterError, match="shaping rate"):
            cluster.tbf_args(rate)


KIND_UP_ENV = (
    'KUBELET_EXTRA_ARGS="--runtime-cgroups=/system.slice/containerd.service '
    "--system-reserved=cpu=1000m,memory=1000Ki "
    '--eviction-hard=memory.available<100Mi,nodefs.available<0%"\n'
)


class TestReservations:
    def test_only_the_reservation_changes_to_reserve_the_capacity_above_the_target(self) -> None:
        env = cluster.with_reservation(
            KIND_UP_ENV, 500, 2048 * MIB, host_cpu_m=2000, host_memory=8192 * MIB
        )
        reserved_memory_ki = (8192 - 2048 - 100) * 1024
        assert env == KIND_UP_ENV.replace(
            "cpu=1000m,memory=1000Ki", f"cpu=1500m,memory={reserved_memory_ki}Ki"
        )

    def test_the_eviction_threshold_in_the_file_counts_against_allocatable(self) -> None:
        env = cluster.with_reservation(
            KIND_UP_ENV.replace("<100Mi", "<200Mi"),
            500,
            2048 * MIB,
            host_cpu_m=2000,
            host_memory=8192 * MIB,
        )
        assert f"memory={(8192 - 2048 - 200) * 1024}Ki" in env

    def test_a_file_without_a_reservation_gets_one(self) -> None:
        env = cluster.with_reservation(
            'KUBELET_EXTRA_ARGS="--v=2"\n',
            1000,
            1024 * MIB,
            host_cpu_m=2000,
            host_memory=4096 * MIB,
        )
        assert env.startswith('KUBELET_EXTRA_ARGS="--system-reserved=cpu=1000m,')
        assert env.endswith(' --v=2"\n')

    def test_a_target_above_the_host_is_an_error_naming_both(self) -> None:
        with pytest.raises(cluster.ClusterError, match="exceeds a kind node's capacity"):
            cluster.with_reservation(
                KIND_UP_ENV, 4000, MIB, host_cpu_m=2000, host_memory=8192 * MIB
            )

    def test_the_env_file_is_the_one_make_kind_up_mounts(self) -> None:
        path = cluster.kubelet_env_path("cloudedge-testbed", "edge-node-1")
        assert path.parts[-2:] == ("kind-cloudedge-testbed", "kubelet-edge-node-1.env")


class TestExtenderScheduler:
    def test_a_profile_of_its_own_pointing_at_our_port(self, tmp_path: Path) -> None:
        config = schedulers.extender_config(tmp_path / "kubeconfig", 18888)
        assert config["profiles"] == [{"schedulerName": "testbed-extender"}]
        (extender,) = config["extenders"]
        assert extender["urlPrefix"] == "http://127.0.0.1:18888"
        assert config["clientConnection"] == {"kubeconfig": str(tmp_path / "kubeconfig")}

    def test_batch_is_the_binder_with_batch_placement_unless_told_otherwise(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("TESTBED_BATCH_ARGS", raising=False)
        assert schedulers.placement_args("binder") == []
        assert schedulers.placement_args("batch") == ["--placement=batch"]
        monkeypatch.setenv("TESTBED_BATCH_ARGS", "--placement=batch --batch-window=0.5")
        assert schedulers.placement_args("batch") == ["--placement=batch", "--batch-window=0.5"]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command the cluster module runs, in order; each answers with no output."""
    made: list[list[str]] = []
    monkeypatch.setattr(cluster, "run", lambda args, **k: made.append(args) or "")
    return made


class TestPodsQuota:
    def test_the_cap_is_a_quota_cgroup_over_a_short_period_weighed_first(
        self, calls: list[list[str]]
    ) -> None:
        cluster.cap_cpu("node", 0.15)
        systemctl = ["docker", "exec", "node", "systemctl", "set-property", "--runtime"]
        # The pods' slice: no quota, so no pod's start is charged to the node's compute.
        assert calls[:2] == [
            [*systemctl, "kubelet-kubepods.slice", "CPUQuota=", "CPUQuotaPeriodSec=", "CPUShares="],
            [*systemctl, "kubelet.slice", "CPUShares="],
        ]
        (script,) = [c[-1] for c in calls[2:] if c[:3] == ["docker", "exec", "node"]]
        assert f"mkdir -p {cluster.WORK_CGROUP}" in script
        # 0.15 CPUs over 14 ms: 2.1 ms a period; the old quota lifted before the new period.
        assert script.index("echo -1 > cpu.cfs_quota_us") < script.index("cpu.cfs_period_us")
        assert "echo 14000 > cpu.cfs_period_us" in script
        assert "echo 2100 > cpu.cfs_quota_us" in script
        assert "echo 65536 > cpu.shares" in script

    def test_a_quota_under_the_kernels_least_is_raised_to_it(self, calls: list[list[str]]) -> None:
        cluster.cap_cpu("node", 0.001)
        assert "echo 1000 > cpu.cfs_quota_us" in calls[-1][-1]

    def test_lifting_the_cap_gives_systemd_its_defaults_back_and_removes_the_quota(
        self, calls: list[list[str]]
    ) -> None:
        cluster.uncap_cpu("node")
        assert calls[0][-4:] == [
            "kubelet-kubepods.slice", "CPUQuota=", "CPUQuotaPeriodSec=", "CPUShares=",
        ]  # fmt: skip
        assert calls[1][-2:] == ["kubelet.slice", "CPUShares="]
        script = calls[2][-1]
        # A cgroup that still holds a process stays, but uncapped.
        assert f"echo -1 > {cluster.WORK_CGROUP}/cpu.cfs_quota_us" in script
        assert script.index("cpu.cfs_quota_us") < script.index(f"rmdir {cluster.WORK_CGROUP}")

    @pytest.mark.parametrize(
        ("cpus", "period_ms"),
        [(1.5, 10), (0.3, 10), (0.2, 10), (0.15, 14), (0.075, 27), (0.01, 100), (0.001, 100)],
    )
    def test_the_period_is_ten_milliseconds_unless_its_quota_would_be_under_two(
        self, cpus: float, period_ms: int
    ) -> None:
        period = cluster.quota_period_ms(cpus)
        assert period == period_ms
        assert cpus * period >= cluster.MIN_QUOTA_MS or period == 100

    @pytest.mark.parametrize("cpus", [0.0, -0.5, float("nan")], ids=["zero", "negative", "nan"])
    def test_a_quota_that_is_not_positive_has_no_period(self, cpus: float) -> None:
        with pytest.raises(cluster.ClusterError, match="CPU quota"):
            cluster.quota_period_ms(cpus)

    def test_a_cgroup_reads_back_from_its_files(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[list[str]] = []
        monkeypatch.setattr(
            cluster, "run", lambda args, **k: calls.append(args) or "14000\n2100\n65536\n"
        )
        assert cluster.cpu_cgroup("node", cluster.WORK_CGROUP) == (14000, 2100, 65536)
        assert calls[0][-3:] == [
            f"{cluster.WORK_CGROUP}/cpu.cfs_period_us",
            f"{cluster.WORK_CGROUP}/cpu.cfs_quota_us",
            f"{cluster.WORK_CGROUP}/cpu.shares",
        ]
        monkeypatch.setattr(cluster, "run", lambda *a, **k: "cat: no such file\n")
        with pytest.raises(cluster.ClusterError, match="period, quota and shares"):
            cluster.cpu_cgroup("node", cluster.PODS_CGROUP)


class TestAsFound:
    def test_a_patch_puts_changed_keys_back_and_deletes_added_ones(self) -> None:
        old = {"cloudedge.io/tier": "edge", "kept": "1"}
        now = {"cloudedge.io/tier": "cloud", "kept": "1", "cloudedge.io/site": "store-1"}
        assert cluster._map_patch(old, now) == {
            "cloudedge.io/tier": "edge",
            "cloudedge.io/site": None,
        }

    def test_an_unchanged_map_needs_no_patch(self) -> None:
        assert cluster._map_patch({"a": "1"}, {"a": "1"}) == {}


class TestDataServersOutsideThePods:
    def test_every_matching_process_moves_and_the_count_comes_back(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[list[str]] = []

        def fake(args: list[str], **_: object) -> str:
            calls.append(args)
            return "2\n"

        monkeypatch.setattr(cluster, "run", fake)
        assert cluster.move_to_servers_cgroup("node", "/opt/testbed/dataserver.py") == 2
        script = calls[0][-1]
        # The pattern must not match the shell that runs it.
        assert "pgrep -f '[/]opt/testbed/dataserver.py'" in script
        assert f"{cluster.SERVERS_CGROUP}/cgroup.procs" in script
        # And onto the tasks' CPUs, where the node has them.
        assert f"[ ! -d {cluster.SERVERS_CPUSET} ] || echo $p > " in script

    def test_no_process_found_is_an_error_naming_the_node(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(cluster, "run", lambda *a, **k: "0\n")
        with pytest.raises(cluster.ClusterError, match="node-1: no process matches"):
            cluster.move_to_servers_cgroup("node-1", "/opt/testbed/dataserver.py")


class TestPythonBase:
    """The task image's base is built when Docker lacks it (``make testbed`` right after
    ``make kind-up`` on a fresh machine), by the script that builds it for the kind suite."""

    def fake_docker(self, monkeypatch: pytest.MonkeyPatch, built: Path) -> list[list[str]]:
        calls: list[list[str]] = []

        def run(args: list[str], **_: object) -> str:
            calls.append(list(args))
            assert args[:3] == ["docker", "image", "inspect"]
            return '[{"Id": "x"}]' if built.exists() and args[3] == built.read_text() else "[]"

        monkeypatch.setattr(cluster, "run", run)
        return calls

    def script(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
        script = tmp_path / "build-python-base.sh"
        script.write_text("#!/bin/sh\n" + body)
        script.chmod(0o755)
        monkeypatch.setattr(cluster, "PYTHON_BASE_SCRIPT", script)
        return tmp_path / "built"

    def test_a_missing_base_is_built_under_the_tag_asked_for(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        built = self.script(
            tmp_path, monkeypatch, f'printf %s "$PYTHON_BASE_IMAGE" > {tmp_path}/built\n'
        )
        self.fake_docker(monkeypatch, built)
        cluster.ensure_python_base("base:test")
        assert built.read_text() == "base:test"

    def test_a_present_base_is_not_rebuilt(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        built = self.script(tmp_path, monkeypatch, "exit 3\n")
        built.write_text("base:test")
        calls = self.fake_docker(monkeypatch, built)
        cluster.ensure_python_base("base:test")
        assert calls == [["docker", "image", "inspect", "base:test"]]

    def test_a_failed_build_is_an_error_naming_the_script_and_the_image(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        built = self.script(tmp_path, monkeypatch, "echo 'debootstrap: no network' >&2; exit 1\n")
        self.fake_docker(monkeypatch, built)
        with pytest.raises(cluster.ClusterError, match=r"did not build base:test \(exit 1\)"):
            cluster.ensure_python_base("base:test")


def fake_cpusets(root: Path) -> list[Path]:
    """A node's cpuset hierarchy as plain files: the root with three processes (systemd is
    1) and a pod's cgroups under the kubelet's slices, every one on CPUs 0-1."""
    slices = root / "kubelet.slice" / "kubelet-kubepods.slice"
    dirs = [root / "kubelet", root / "kubelet.slice", slices, slices / "pod-a", slices / "pod-a/c"]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.procs").write_text("1\n155\n227\n")
    (root / "cpuset.mems").write_text("0\n")
    for d in [root, *dirs]:
        (d / "cpuset.cpus").write_text("0-1\n")
    return dirs


class TestTasksCpus:
    def test_the_last_cpus_are_the_tasks_and_the_others_everything_elses(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(cluster.os, "sched_getaffinity", lambda _: {0, 1, 2, 3})
        assert cluster.split_host_cpus(1) == cluster.CpuSplit(work="3", rest="0,1,2")
        assert cluster.split_host_cpus(2) == cluster.CpuSplit(work="2,3", rest="0,1")

    @pytest.mark.parametrize(("cpus", "work"), [({0}, 1), ({0, 1}, 2), ({0, 1}, 0)])
    def test_a_split_that_leaves_a_side_without_a_cpu_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, cpus: set[int], work: int
    ) -> None:
        monkeypatch.setattr(cluster.os, "sched_getaffinity", lambda _: cpus)
        with pytest.raises(cluster.ClusterError, match="at least one CPU of their own"):
            cluster.split_host_cpus(work)

    def test_every_cpuset_but_the_tasks_and_servers_narrows_and_the_daemons_move(
        self, tmp_path: Path
    ) -> None:
        dirs = fake_cpusets(tmp_path)
        cpus = cluster.CpuSplit(work="1", rest="0")
        subprocess.run(["sh", "-c", cluster.dedicate_script(str(tmp_path), cpus)], check=True)
        for d in [*dirs, tmp_path / "testbed-system"]:
            assert (d / "cpuset.cpus").read_text() == "0\n", d
        for name in ("testbed-work", "testbed-data"):
            assert (tmp_path / name / "cpuset.cpus").read_text() == "1\n"
            assert (tmp_path / name / "cpuset.mems").read_text() == "0\n"
        # The root keeps every CPU (the tasks' cpuset is its child) and systemd; the others
        # moved (a plain file keeps the last one written).
        assert (tmp_path / "cpuset.cpus").read_text() == "0-1\n"
        assert (tmp_path / "testbed-system" / "cgroup.procs").read_text() == "227\n"

    def test_sharing_again_gives_every_cpuset_the_roots_cpus_back(self, tmp_path: Path) -> None:
        dirs = fake_cpusets(tmp_path)
        cpus = cluster.CpuSplit(work="1", rest="0")
        subprocess.run(["sh", "-c", cluster.dedicate_script(str(tmp_path), cpus)], check=True)
        subprocess.run(["sh", "-c", cluster.share_script(str(tmp_path))], check=True)
        for d in [*dirs, tmp_path / "testbed-work", tmp_path / "testbed-system"]:
            assert (d / "cpuset.cpus").read_text() == "0-1\n", d
        assert (tmp_path / "cgroup.procs").read_text() == "227\n"

    def test_a_node_without_the_hierarchy_is_left_alone(self, tmp_path: Path) -> None:
        script = cluster.share_script(str(tmp_path / "absent"))
        assert subprocess.run(["sh", "-c", script], check=False).returncode == 0

    def test_the_scripts_run_inside_the_node_on_its_cpuset_hierarchy(
        self, calls: list[list[str]]
    ) -> None:
        cluster.dedicate_cpus("node", cluster.CpuSplit(work="1", rest="0"))
        cluster.share_cpus("node")
        assert [c[:5] for c in calls] == [["docker", "exec", "node", "sh", "-c"]] * 2
        assert calls[0][-1].startswith(f"set -e; cd {plan.NODE_CPUSETS};")
        assert calls[1][-1].startswith(f"cd {plan.NODE_CPUSETS} ||")


class TestHostCgroup:
    def test_the_runner_runs_beside_the_nodes_weighed_like_the_control_plane(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "docker").mkdir()
        monkeypatch.setattr(cluster, "own_cpu_cgroup", lambda: "")
        group = tmp_path / "docker" / "cloudedge-testbed-host"
        with cluster.weighed_like_the_nodes(8192, root=tmp_path) as weighed:
            assert weighed
            assert (group / "cpu.shares").read_text() == "8192\n"
            assert (group / "cgroup.procs").read_text() == f"{os.getpid()}\n"
        # Back in the cgroup it came from; the group itself is removed when it is empty (a
        # real one is once the process left it; here its two files keep it).
        assert (tmp_path / "cgroup.procs").read_text() == f"{os.getpid()}\n"

    def test_without_a_writable_hierarchy_the_run_goes_on_where_it_was(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(cluster, "own_cpu_cgroup", lambda: "")
        # No docker/ directory under the root: the cgroup cannot be made.
        with cluster.weighed_like_the_nodes(8192, root=tmp_path / "absent") as weighed:
            assert not weighed
        assert not (tmp_path / "absent").exists()

    @pytest.mark.parametrize(
        ("listing", "expected"),
        [
            ("4:memory:/job/7\n1:cpu:/docker/abc\n0::/\n", "docker/abc"),
            ("3:cpu,cpuacct:/user.slice\n", "user.slice"),
            ("1:cpu:/\n", ""),
            ("0::/init.scope\n", ""),  # cgroup v2 only: no v1 CPU hierarchy
        ],
        ids=["cpu-alone", "cpu-with-cpuacct", "root", "v2-only"],
    )
    def test_the_own_cgroup_is_read_from_the_cpu_line(
        self, tmp_path: Path, listing: str, expected: str
    ) -> None:
        (tmp_path / "cgroup").write_text(listing)
        assert cluster.own_cpu_cgroup(tmp_path / "cgroup") == expected
