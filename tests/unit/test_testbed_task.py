"""The testbed task's pure parts, and one task run against a local data server."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import testbed_support  # noqa: F401 (puts the repo root on sys.path)
from bench.testbed import dataserver, task


class TestDownwardAnnotations:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ('cloudedge.io/compute-cost="200"', {"cloudedge.io/compute-cost": "200"}),
            ('a="say \\"hi\\""', {"a": 'say "hi"'}),
            ('a="two\\nlines"', {"a": "two\nlines"}),
            ('a="back\\\\slash"', {"a": "back\\slash"}),
            ('a="caf\\xc3\\xa9"', {"a": "café"}),
            ('a="\\u00e9\\U0001F600"', {"a": "é\U0001f600"}),
            ('a="x=y"', {"a": "x=y"}),
        ],
        ids=["plain", "quotes", "newline", "backslash", "utf8-bytes", "runes", "equals-in-value"],
    )
    def test_values_are_decoded_as_the_kubelet_quoted_them(
        self, line: str, expected: dict[str, str]
    ) -> None:
        assert task.parse_annotations(line + "\n") == expected

    def test_every_line_is_one_annotation_and_blank_lines_are_ignored(self) -> None:
        text = 'a="1"\n\nb="2"\n'
        assert task.parse_annotations(text) == {"a": "1", "b": "2"}

    @pytest.mark.parametrize(
        "line",
        ["novalue", "a=unquoted", 'a="dangling\\"', 'a="bad \\q escape"', 'a="\\x4"'],
        ids=["no-equals", "unquoted", "dangling-backslash", "unknown-escape", "short-hex"],
    )
    def test_a_malformed_line_is_an_error_that_says_so(self, line: str) -> None:
        with pytest.raises(task.TaskError, match="downward API"):
            task.parse_annotations(line)


class TestTaskSpec:
    def test_reads_the_annotations_the_scheduler_reads(self) -> None:
        spec = task.task_spec(
            {
                "cloudedge.io/compute-cost": "200",
                "cloudedge.io/data-size-mb": "2.5",
                "cloudedge.io/data-source": "store-1",
                task.SUBMITTED_AT: "1700000000.25",
            }
        )
        assert spec == task.TaskSpec(
            compute_cost=200.0,
            data_size_mb=2.5,
            data_source="store-1",
            submitted_at=1700000000.25,
        )

    def test_no_annotations_is_no_work(self) -> None:
        assert task.task_spec({}) == task.TaskSpec(0.0, 0.0, None, None)

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("cloudedge.io/compute-cost", "-1"),
            ("cloudedge.io/compute-cost", "nan"),
            ("cloudedge.io/data-size-mb", "inf"),
            ("cloudedge.io/data-size-mb", "lots"),
        ],
        ids=["negative", "nan", "infinite", "not-a-number"],
    )
    def test_a_bad_number_names_the_key_and_the_value(self, key: str, value: str) -> None:
        with pytest.raises(task.TaskError, match=f"{key}='{value}'"):
            task.task_spec({key: value, "cloudedge.io/data-source": "s"})

    def test_data_without_a_source_is_an_error(self) -> None:
        with pytest.raises(task.TaskError, match=r"needs cloudedge\.io/data-source"):
            task.task_spec({"cloudedge.io/data-size-mb": "1"})


class TestWork:
    def test_burn_does_the_iterations_it_is_asked(self) -> None:
        x = 1
        for _ in range(5):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        assert task.burn(5) == x
        assert task.burn(0) == 1

    def test_units_become_iterations_at_the_calibrated_rate(self) -> None:
        assert task.iterations_for(200, 1500.0) == 300_000
        assert task.iterations_for(0, 1500.0) == 0

    @pytest.mark.parametrize("ipu", [0.0, -3.0, float("nan")], ids=["zero", "negative", "nan"])
    def test_a_missing_calibration_is_an_error_that_says_how_to_make_one(self, ipu: float) -> None:
        with pytest.raises(task.TaskError, match="calibrate"):
            task.iterations_for(10, ipu)

    def test_calibration_gives_a_positive_rate(self) -> None:
        assert task.calibrate(probe_iterations=20_000, repeats=2) > 0


class TestResult:
    def test_times_are_measured_from_the_submission_stamp(self) -> None:
        spec = task.TaskSpec(100.0, 1.0, "s", submitted_at=1000.0)
        doc = task.result_document(
            pod="p",
            node="n",
            spec=spec,
            started_at=1002.0,
            transfer=task.Transfer(bytes=1_000_000, seconds=0.6, first_byte_s=0.1),
            processing_s=1.25,
            finished_at=1004.0,
        )
        assert doc["wait_s"] == 2.0
        assert doc["total_s"] == 4.0
        assert doc["transfer_s"] == 0.6
        # The rate is the body's: the latency before the first byte is not the link's doing.
        assert doc["throughput_mbps"] == 16.0
        assert doc["processing_s"] == 1.25

    def test_without_a_submission_stamp_wait_and_total_are_unknown(self) -> None:
        doc = task.result_document(
            pod="p",
            node="n",
            spec=task.TaskSpec(0.0, 0.0, None, None),
            started_at=1.0,
            transfer=task.Transfer(bytes=0, seconds=0.0),
            processing_s=0.0,
            finished_at=2.0,
        )
        assert doc["wait_s"] is None
        assert doc["total_s"] is None
        assert doc["throughput_mbps"] is None

    def test_a_result_too_big_for_a_termination_message_is_refused(self) -> None:
        with pytest.raises(task.TaskError, match="4096"):
            task.encode_result({"pod": "x" * 5000})


class TestCpuClock:
    def test_a_schedstat_line_is_cpu_and_runnable_seconds(self) -> None:
        assert task.parse_schedstat("2500000000 125000000 42\n") == (2.5, 0.125)

    @pytest.mark.parametrize("text", ["", "x y z", "12"], ids=["empty", "words", "one-field"])
    def test_anything_else_is_unknown(self, text: str) -> None:
        assert task.parse_schedstat(text) is None

    def test_a_phase_is_the_difference_and_unknown_if_either_end_is(self) -> None:
        assert task.cpu_spent((1.0, 0.5), (1.25, 0.75)) == (0.25, 0.25)
        assert task.cpu_spent(None, (1.0, 1.0)) == (None, None)

    def test_this_process_has_a_clock_that_runs(self) -> None:
        before = task.cpu_clock()
        task.burn(200_000)
        after = task.cpu_clock()
        assert before is not None
        assert after is not None
        assert after[0] > before[0]

    def test_a_missing_file_is_unknown(self, tmp_path: Path) -> None:
        assert task.cpu_clock(str(tmp_path / "none")) is None


def fake_cgroups(tmp_path: Path, where: str) -> tuple[Path, Path]:
    """A quota directory and a /proc/self/cgroup that says the process is ``where``."""
    quota = tmp_path / "testbed-work"
    quota.mkdir()
    proc = tmp_path / "cgroup"
    proc.write_text(f"3:cpuset:/kubelet.slice/x\n2:cpuacct:/kubelet.slice/x\n1:cpu:{where}\n")
    return quota, proc


class TestEnterQuota:
    def test_the_task_gets_a_child_weighed_by_its_request_and_moves_in(
        self, tmp_path: Path
    ) -> None:
        quota, proc = fake_cgroups(tmp_path, "/testbed-work/job-1-abcde")
        path = task.enter_quota(str(quota), "job-1-abcde", 62.0, proc_cgroup=str(proc))
        assert path == "/testbed-work/job-1-abcde"
        child = quota / "job-1-abcde"
        assert (child / "cpu.shares").read_text() == "63\n"
        # "0" moves the writing process itself.
        assert (child / "cgroup.procs").read_text() == "0\n"

    def test_a_child_left_by_an_earlier_run_is_reused(self, tmp_path: Path) -> None:
        quota, proc = fake_cgroups(tmp_path, "/testbed-work/p")
        (quota / "p").mkdir()
        path = task.enter_quota(str(quota), "p", 1000.0, proc_cgroup=str(proc))
        assert path == "/testbed-work/p"
        assert (quota / "p" / "cpu.shares").read_text() == "1024\n"

    def test_a_move_the_kernel_did_not_make_is_an_error(self, tmp_path: Path) -> None:
        quota, proc = fake_cgroups(tmp_path, "/kubelet.slice/kubelet-kubepods.slice/pod/c")
        with pytest.raises(task.TaskError, match=r"cpu cgroup is /kubelet\.slice"):
            task.enter_quota(str(quota), "p", 100.0, proc_cgroup=str(proc))

    def test_a_quota_that_is_not_there_is_an_error_naming_it(self, tmp_path: Path) -> None:
        with pytest.raises(task.TaskError, match=r"entering the node's CPU quota .*/absent/p"):
            task.enter_quota(str(tmp_path / "absent"), "p", 100.0)

    @pytest.mark.parametrize(
        ("request_m", "shares"), [(0.0, 2), (1.0, 2), (62.5, 64), (2000, 2048)]
    )
    def test_shares_are_the_kubelets(self, request_m: float, shares: int) -> None:
        assert task.cpu_shares(request_m) == shares

    def test_a_task_told_of_a_quota_needs_its_request(self, tmp_path: Path) -> None:
        annotations = tmp_path / "annotations"
        annotations.write_text('cloudedge.io/compute-cost="1"\n')
        env = {
            "TESTBED_ANNOTATIONS": str(annotations),
            "TESTBED_ITERATIONS_PER_UNIT": "10",
            "TESTBED_QUOTA_CGROUP": str(tmp_path),
        }
        with pytest.raises(task.TaskError, match="TESTBED_CPU_REQUEST_M"):
            task.run(env, started_at=1.0)


class TestEnterCpuset:
    def proc(self, tmp_path: Path, cpuset: str) -> Path:
        proc = tmp_path / "cgroup"
        proc.write_text(f"3:cpuset:{cpuset}\n1:cpu:/testbed-work/p\n")
        return proc

    def test_the_task_moves_itself_in_and_reports_the_cpus_it_may_use(self, tmp_path: Path) -> None:
        cpuset = tmp_path / "testbed-work"
        cpuset.mkdir()
        cpus = task.enter_cpuset(str(cpuset), proc_cgroup=str(self.proc(tmp_path, "/testbed-work")))
        # "0" moves the writing process itself; the CPUs are the kernel's answer after it.
        assert (cpuset / "cgroup.procs").read_text() == "0\n"
        assert cpus == sorted(os.sched_getaffinity(0))

    def test_a_move_the_kernel_did_not_make_is_an_error(self, tmp_path: Path) -> None:
        cpuset = tmp_path / "testbed-work"
        cpuset.mkdir()
        proc = self.proc(tmp_path, "/testbed-system/kubelet.slice/pod")
        with pytest.raises(task.TaskError, match=r"cpuset cgroup is /testbed-system/kubelet"):
            task.enter_cpuset(str(cpuset), proc_cgroup=str(proc))

    def test_a_cpuset_that_is_not_there_is_an_error_naming_it(self, tmp_path: Path) -> None:
        with pytest.raises(task.TaskError, match=r"entering the tasks' cpuset .*/absent"):
            task.enter_cpuset(str(tmp_path / "absent"))

    def test_a_process_file_without_a_cpuset_line_is_an_error(self, tmp_path: Path) -> None:
        cpuset = tmp_path / "testbed-work"
        cpuset.mkdir()
        proc = tmp_path / "cgroup"
        proc.write_text("1:cpu:/testbed-work/p\n")
        with pytest.raises(task.TaskError, match="names no cpuset"):
            task.enter_cpuset(str(cpuset), proc_cgroup=str(proc))


@pytest.fixture
def local_server() -> Iterator[str]:
    links = {"here": dataserver.Link(latency_ms=0.0, bandwidth_mbps=None)}
    server = dataserver.DataServer(("127.0.0.1", 0), site="store-1", links=links)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class TestRunLocally:
    def test_a_task_fetches_its_data_burns_its_work_and_reports_json(
        self, tmp_path: Path, local_server: str
    ) -> None:
        annotations = tmp_path / "annotations"
        annotations.write_text(
            'cloudedge.io/compute-cost="50"\n'
            'cloudedge.io/data-size-mb="0.3"\n'
            'cloudedge.io/data-source="store-1"\n'
            f'{task.SUBMITTED_AT}="1000"\n'
        )
        log = tmp_path / "termination-log"
        env = {
            "TESTBED_ANNOTATIONS": str(annotations),
            "TESTBED_ITERATIONS_PER_UNIT": "100",
            "TESTBED_DATA_SERVERS": json.dumps({"store-1": local_server}),
            "TESTBED_NODE_SITES": json.dumps({"edge-1": "here"}),
            "TESTBED_TERMINATION_LOG": str(log),
            "NODE_NAME": "edge-1",
            "POD_NAME": "job-1-abcde",
        }
        doc = task.run(env, started_at=1001.0)
        assert doc["bytes"] == 300_000
        assert doc["node"] == "edge-1"
        assert doc["pod"] == "job-1-abcde"
        assert doc["units"] == 50.0
        assert doc["wait_s"] == 1.0
        assert doc["transfer_s"] > 0
        assert doc["processing_s"] >= 0
        assert doc["total_s"] >= doc["wait_s"]
        # Linux keeps each task's CPU and run-queue time; the two phases report theirs.
        assert doc["processing_cpu_s"] >= 0
        assert doc["transfer_runnable_s"] >= 0
        assert doc["quota_cgroup"] is None

    def test_an_unknown_data_source_is_reported_not_crashed_on(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        annotations = tmp_path / "annotations"
        annotations.write_text(
            'cloudedge.io/data-size-mb="1"\ncloudedge.io/data-source="nowhere"\n'
        )
        log = tmp_path / "termination-log"
        monkeypatch.setenv("TESTBED_ANNOTATIONS", str(annotations))
        monkeypatch.setenv("TESTBED_ITERATIONS_PER_UNIT", "10")
        monkeypatch.setenv("TESTBED_DATA_SERVERS", json.dumps({"store-1": "http://127.0.0.1:1"}))
        monkeypatch.setenv("TESTBED_TERMINATION_LOG", str(log))
        assert task.main([]) == 2
        error = json.loads(log.read_text())["error"]
        assert "data-source='nowhere'" in error
        assert "store-1" in error
