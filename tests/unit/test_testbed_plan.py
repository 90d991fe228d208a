"""The testbed plan: how a scenario is scaled onto the machine, and the objects it becomes."""

from __future__ import annotations

import dataclasses
import json
import statistics
from typing import Any

import pytest
import testbed_support  # noqa: F401 (puts the repo root on sys.path)
from bench.testbed import plan, runner, scenarios

from cloudedge import model

GIB = 1024.0**3


def node(name: str, tier: str, site: str, cpu_m: float, bw: float) -> model.Node:
    return model.Node(
        name=name,
        tier=model.Tier(tier),
        site=site,
        bandwidth_mbps=bw,
        compute_rate=cpu_m,
        allocatable={"cpu": cpu_m, "memory": 4 * GIB, "pods": 110.0},
    )


NODES = [
    node("cloud-a", "cloud", "cloud", 8000, 10000),
    node("edge-a", "edge", "store-1", 2000, 100),
]
POD = model.Pod(
    name="detect-0",
    requests={"cpu": 250.0, "memory": 512 * 1024 * 1024.0, "pods": 1.0},
    workload=model.Workload.LATENCY_SENSITIVE,
    compute_cost=200.0,
    data_source="store-1",
    data_size_mb=2.0,
    max_latency_ms=500.0,
)


def make(**overrides: object) -> plan.Plan:
    kwargs: dict[str, object] = {
        "nodes": NODES,
        "topology": None,
        "pods": [POD],
        "kind_workers": ["w1", "w2"],
        "cpu_budget": 1.0,
        "work": 0.5,
        "node_cpu_m": 2000.0,
        "node_memory": 16 * GIB,
    }
    kwargs.update(overrides)
    return plan.make_plan("t", **kwargs)  # type: ignore[arg-type]


class TestScale:
    def test_cpu_quotas_sum_to_the_budget_in_proportion_to_compute_rate(self) -> None:
        p = make()
        assert p.scale.rate == pytest.approx(0.1)
        assert [plan.cpu_quota(n) for n in p.nodes] == [0.8, 0.2]
        assert sum(plan.cpu_quota(n) for n in p.nodes) == pytest.approx(1.0)

    def test_a_node_does_as_many_units_per_second_as_its_quota_has_millicores(self) -> None:
        for n in make().nodes:
            assert n.compute_rate == pytest.approx(plan.cpu_quota(n) * 1000)

    def test_bandwidth_is_scaled_like_cpu(self) -> None:
        assert [n.bandwidth_mbps for n in make().nodes] == pytest.approx([1000.0, 10.0])

    def test_allocatable_shrinks_only_when_a_node_would_not_fit_a_kind_node(self) -> None:
        p = make()
        assert p.scale.resources == pytest.approx(0.25)  # 8000m onto a 2000m kind node
        assert [n.allocatable.cpu for n in p.nodes] == [2000, 500]
        assert p.pods[0].requests.cpu == 63  # 250m x 0.25, rounded up
        assert make(nodes=NODES[1:], kind_workers=["w1"]).scale.resources == 1.0

    def test_every_model_time_is_the_scenario_time_times_w_over_s(self) -> None:
        p = make()
        config = model.ModelConfig()
        before = model.evaluate(POD, model.ClusterState(NODES), config)
        after = model.evaluate(p.pods[0], p.cluster(), config)
        # Up to whole millicores: a request of 250m x 0.25 becomes 63m, which moves the
        # waiting term's utilization by 0.05%.
        assert after.ect == pytest.approx(before.ect * p.scale.time, rel=1e-3)
        assert p.pods[0].max_latency_ms == pytest.approx(500.0 * p.scale.time)

    def test_the_scheduler_makes_the_scenario_s_decision_on_the_testbed(self) -> None:
        config = model.ModelConfig()
        for name in scenarios.NAMES:
            sc = scenarios.load(name)
            p = plan.make_plan(
                name,
                nodes=sc.nodes,
                topology=sc.topology,
                pods=sc.pods,
                kind_workers=[n.name for n in sc.nodes],
                cpu_budget=1.5,
                work=sc.work,
                node_cpu_m=2000.0,
                node_memory=12 * GIB,
            )
            original = model.place(
                list(sc.pods), model.ClusterState(list(sc.nodes), topology=sc.topology), config
            )
            scaled = model.place(list(p.pods), p.cluster(), config)
            assert [x.node for x in scaled.placements] == [x.node for x in original.placements]

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"kind_workers": ["w1"]}, "has 2 nodes; the kind cluster has 1 workers"),
            ({"cpu_budget": 0.0}, "CPU budget"),
            ({"work": -1.0}, "work scale"),
            ({"nodes": []}, "no nodes"),
        ],
        ids=["too-few-workers", "no-budget", "negative-work", "no-nodes"],
    )
    def test_a_scenario_that_cannot_be_planned_says_why(
        self, overrides: dict[str, object], message: str
    ) -> None:
        with pytest.raises(plan.PlanError, match=message):
            make(**overrides)


class TestObjects:
    def test_a_data_source_node_is_renamed_to_the_kind_node_playing_it(self) -> None:
        pod = model.Pod(name="p", data_source="edge-a", data_size_mb=1.0)
        p = make(pods=[pod])
        assert p.pods[0].data_source == "w2"
        assert plan.data_server_node(p, "w2") == "w2"

    def test_a_site_source_is_served_from_the_site_s_first_node(self) -> None:
        assert plan.data_server_node(make(), "store-1") == "w2"

    def test_a_source_without_nodes_cannot_be_served(self) -> None:
        with pytest.raises(plan.PlanError, match="neither a node nor a site"):
            plan.data_server_node(make(), "camera-site")

    def test_the_data_server_adds_the_latency_the_model_assumes(self) -> None:
        p = make()
        links = plan.data_server_links(p, "store-1")
        assert links["store-1"]["latency_ms"] == pytest.approx(0.5 * p.scale.time)
        assert links["cloud"]["latency_ms"] == pytest.approx(40.0 * p.scale.time)
        assert links["cloud"]["bandwidth_mbps"] is None

    def test_site_data_is_paced_on_the_server_s_own_node_and_node_data_is_not(self) -> None:
        # store-1's recordings live at the site: a task on w2 pays w2's link in the model, so
        # the server on w2 paces w2's own requests; data on node w2 itself costs nothing.
        p = make()
        site = {
            e["name"]: e["value"]
            for e in plan.data_server_pod(p, "store-1", image="i")["spec"]["containers"][0]["env"]
        }
        node = {
            e["name"]: e["value"]
            for e in plan.data_server_pod(p, "w2", image="i")["spec"]["containers"][0]["env"]
        }
        assert site["TESTBED_NODE"] == "w2"
        assert float(site["TESTBED_LOCAL_MBPS"]) == pytest.approx(p.nodes[1].bandwidth_mbps)
        assert "TESTBED_LOCAL_MBPS" not in node

    def test_the_node_patch_carries_the_scaled_truth(self) -> None:
        patch = plan.node_patch(make().nodes[1])
        assert patch["metadata"]["labels"]["cloudedge.io/bandwidth-mbps"] == "10"
        assert patch["metadata"]["labels"]["cloudedge.io/site"] == "store-1"
        assert patch["metadata"]["annotations"]["cloudedge.io/compute-rate"] == "200"

    @staticmethod
    def job(p: plan.Plan, *, work_cpuset: bool = True) -> dict[str, Any]:
        """The Job of the plan's first pod, fourth in arrival order."""
        return plan.task_job(
            p,
            3,
            p.pods[0],
            image="img:1",
            scheduler_name="cloud-edge-scheduler",
            data_servers={"store-1": "http://10.0.0.1:8000"},
            iterations_per_unit=1234.5,
            submitted_at=1700000000.5,
            run_id="r1",
            active_deadline_s=300,
            work_cpuset=work_cpuset,
        )

    def test_a_job_carries_the_scaled_annotations_the_task_and_the_scheduler_read(self) -> None:
        p = make()
        job = self.job(p)
        template = job["spec"]["template"]
        notes = template["metadata"]["annotations"]
        assert job["metadata"]["name"] == "t003-detect-0"
        assert notes["cloudedge.io/compute-cost"] == "100"
        assert notes["cloudedge.io/data-size-mb"] == "1"
        assert float(notes["cloudedge.io/max-latency-ms"]) == pytest.approx(500 * p.scale.time)
        assert notes[plan.SUBMITTED_AT] == "1700000000.500000"
        spec = template["spec"]
        assert spec["schedulerName"] == "cloud-edge-scheduler"
        assert spec["restartPolicy"] == "Never"
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        assert job["spec"]["backoffLimit"] == 0
        (container,) = spec["containers"]
        assert container["resources"]["requests"]["cpu"] == "63m"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert json.loads(env["TESTBED_DATA_SERVERS"]) == {"store-1": "http://10.0.0.1:8000"}
        assert json.loads(env["TESTBED_NODE_SITES"]) == {"w1": "cloud", "w2": "store-1"}

    def test_a_job_lets_its_task_enter_the_node_quota_with_its_request(self) -> None:
        spec = self.job(make())["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        env = {e["name"]: e for e in container["env"]}
        # The task sees the node's CPU hierarchy at the mount, the quota's cgroup below it.
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["node-cpu-cgroups"]["hostPath"]["path"] == plan.NODE_CPU_CGROUPS
        quota = env["TESTBED_QUOTA_CGROUP"]["value"]
        assert quota == mounts["node-cpu-cgroups"] + "/testbed-work"
        assert plan.QUOTA_CGROUP == plan.NODE_CPU_CGROUPS + "/testbed-work"
        # Its weight in the quota comes from its own request, in millicores.
        field = env["TESTBED_CPU_REQUEST_M"]["valueFrom"]["resourceFieldRef"]
        assert field == {"containerName": "task", "resource": "requests.cpu", "divisor": "1m"}
        # Writing a cgroup's procs file takes root; the image's own user is not.
        assert container["securityContext"]["runAsUser"] == 0

    def test_a_job_lets_its_task_enter_the_tasks_cpuset_unless_told_not_to(self) -> None:
        spec = self.job(make())["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["node-cpusets"]["hostPath"]["path"] == plan.NODE_CPUSETS
        assert env["TESTBED_WORK_CPUSET"] == mounts["node-cpusets"] + "/testbed-work"
        assert plan.WORK_CPUSET == plan.NODE_CPUSETS + "/testbed-work"
        shared = self.job(make(), work_cpuset=False)["spec"]["template"]["spec"]
        (container,) = shared["containers"]
        assert {e["name"]: e.get("value") for e in container["env"]}["TESTBED_WORK_CPUSET"] == ""

    @pytest.mark.parametrize(
        ("index", "name", "expected"),
        [
            (0, "task-1", "t000-task-1"),
            (12, "Detect_Store.1", "t012-detect-store-1"),
            (1, "x" * 80, "t001-" + "x" * 47),
        ],
        ids=["plain", "unsafe-characters", "too-long"],
    )
    def test_job_names_are_dns_labels_in_arrival_order(
        self, index: int, name: str, expected: str
    ) -> None:
        assert plan.job_name(index, name) == expected

    def test_the_topology_object_is_what_the_crd_accepts(self) -> None:
        p = make()
        obj = plan.topology_object(p.topology, p.nodes)
        assert obj["kind"] == "NetworkTopology"
        assert obj["spec"]["defaults"]["cloudEdge"]["latencyMs"] == pytest.approx(
            40.0 * p.scale.time, rel=1e-6
        )
        assert {s["name"] for s in obj["spec"]["sites"]} == {"cloud", "store-1"}


class TestPodRecord:
    def job(self) -> dict[str, object]:
        p = make()
        return plan.task_job(
            p,
            0,
            p.pods[0],
            image="img:1",
            scheduler_name="default-scheduler",
            data_servers={},
            iterations_per_unit=1.0,
            submitted_at=1000.0,
            run_id="r1",
            active_deadline_s=300,
        )

    @pytest.mark.parametrize(
        ("phase", "cut_at", "expected"),
        [("Running", 1240.0, 240.0), ("Pending", 1240.0, 240.0), ("Running", None, None)],
        ids=["running-at-the-timeout", "waiting-at-the-timeout", "run-not-cut"],
    )
    def test_a_pod_unfinished_when_the_run_stopped_records_how_long_it_had_been_out(
        self, phase: str, cut_at: float | None, expected: float | None
    ) -> None:
        live = {"spec": {"nodeName": "w1"}, "status": {"phase": phase}}
        record = runner.pod_record(live, job=self.job(), scenario_pod=make().pods[0], cut_at=cut_at)
        assert record["cut_after_s"] == expected
        assert record["measured"] is None

    def test_a_finished_pod_is_never_cut(self) -> None:
        message = json.dumps({"total_s": 3.0, "finished_at": 1003.0})
        live = {
            "spec": {"nodeName": "w1"},
            "status": {
                "phase": "Succeeded",
                "containerStatuses": [{"state": {"terminated": {"message": message}}}],
            },
        }
        record = runner.pod_record(live, job=self.job(), scenario_pod=make().pods[0], cut_at=1240.0)
        assert record["cut_after_s"] is None
        assert record["measured"] == {"total_s": 3.0, "finished_at": 1003.0}

    def test_the_api_servers_stamps_split_the_wait_into_scheduling_and_starting(self) -> None:
        # submitted_at is 1000.0 (1970-01-01T00:16:40Z); the stamps are whole seconds.
        message = json.dumps({"total_s": 9.0, "wait_s": 7.5})
        live = {
            "metadata": {"creationTimestamp": "1970-01-01T00:16:41Z"},
            "spec": {"nodeName": "w1"},
            "status": {
                "phase": "Succeeded",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "True",
                        "lastTransitionTime": "1970-01-01T00:16:44Z",
                    },
                    {
                        "type": "Ready",
                        "status": "False",
                        "lastTransitionTime": "1970-01-01T00:16:49Z",
                    },
                ],
                "containerStatuses": [
                    {
                        "state": {
                            "terminated": {"message": message, "startedAt": "1970-01-01T00:16:47Z"}
                        }
                    }
                ],
            },
        }
        record = runner.pod_record(live, job=self.job(), scenario_pod=make().pods[0])
        assert record["milestones"] == {
            "created_s": 1.0,
            "scheduled_s": 4.0,
            "container_started_s": 7.0,
        }

    def test_a_pod_never_scheduled_has_no_milestones_past_its_creation(self) -> None:
        live = {
            "metadata": {"creationTimestamp": "1970-01-01T00:16:40Z"},
            "status": {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "lastTransitionTime": "1970-01-01T00:16:41Z",
                    }
                ],
            },
        }
        record = runner.pod_record(live, job=self.job(), scenario_pod=make().pods[0])
        assert record["milestones"] == {
            "created_s": 0.0,
            "scheduled_s": None,
            "container_started_s": None,
        }


class TestScenarios:
    @pytest.mark.parametrize("name", scenarios.NAMES)
    def test_every_source_of_every_scenario_can_be_served(self, name: str) -> None:
        assert scenarios.check_sources(scenarios.load(name)) == []

    def test_the_burst_has_deadlines_and_heavy_jobs_in_one_fixed_order(self) -> None:
        pods = scenarios.burst_pods()
        assert pods == scenarios.burst_pods()
        assert sum(1 for p in pods if p.max_latency_ms is not None) == 20
        assert len(pods) == 26
        assert len({p.name for p in pods}) == 26

    def test_an_unknown_scenario_lists_the_known_ones(self) -> None:
        with pytest.raises(ValueError, match="seed, video-analytics, burst"):
            scenarios.load("nope")


class TestStartupFits:
    """What the sharing reading's startup numbers are fitted from: a run's own records."""

    @staticmethod
    def records(
        the_plan: plan.Plan, rows: list[tuple[str, float, float]]
    ) -> list[dict[str, object]]:
        state = the_plan.cluster()
        view = state.source_view("store-1")
        return [
            {
                "node": node_name,
                "phase": "Succeeded",
                "measured": {
                    "total_s": wait + 1.0,
                    "wait_s": wait,
                    "first_byte_s": float(view.latency_s[state.index[node_name]]) + extra,
                },
            }
            for node_name, wait, extra in rows
        ]

    def test_the_spread_is_the_uniform_window_of_the_starts_and_the_overhead_their_median(
        self,
    ) -> None:
        pods = [dataclasses.replace(POD, name=f"detect-{k}") for k in range(3)]
        the_plan = make(pods=pods)
        records = self.records(the_plan, [("w1", 2.0, 0.05), ("w1", 4.0, 0.1), ("w2", 6.0, 0.15)])
        config = model.ModelConfig()
        # Two pods start together on w1 (2 and 4 s), one alone on w2 (6 s): the slope of the
        # wait on the count is negative, so no per-pod part. Inclusive deciles of 2, 4, 6: 2.4
        # and 5.6; a uniform window with that range is 4 s.
        fitted = runner.fit_pod_start(the_plan, [records], config)
        assert fitted is not None
        assert (fitted.base_s, fitted.per_pod_s) == (pytest.approx(4.0), 0.0)
        assert fitted.spread_s == pytest.approx(4.0)
        assert runner.fit_request_overhead(the_plan, [records], config) == pytest.approx(0.1)

    def test_the_wait_grows_by_the_slope_per_pod_its_node_starts_at_once(self) -> None:
        pods = [dataclasses.replace(POD, name=f"detect-{k}") for k in range(4)]
        the_plan = make(pods=pods)
        # w1 starts three at once (5, 6, 7 s), w2 one (3 s): Theil-Sen slope of (3,5) (3,6)
        # (3,7) against (1,3) is the median of 1, 1.5 and 2; what is left: 0.5, 1.5, 2.5, 1.5.
        rows = [("w1", 5.0, 0.1), ("w1", 6.0, 0.1), ("w1", 7.0, 0.1), ("w2", 3.0, 0.1)]
        fitted = runner.fit_pod_start(the_plan, [self.records(the_plan, rows)], model.ModelConfig())
        assert fitted is not None
        assert fitted.per_pod_s == pytest.approx(1.5)
        assert fitted.base_s == pytest.approx(statistics.median([0.5, 1.5, 2.5, 1.5]))

    def test_the_start_from_the_bind_finds_the_work_the_nodes_share(self) -> None:
        pods = [dataclasses.replace(POD, name=f"detect-{k}") for k in range(3)]
        the_plan = make(pods=pods)
        # Bound at 0 (two on w1, one on w2) with 0.5 s of shared start work and a 1 s base:
        # w2's pod is done with its work at 1 s, w1's at 1.5 s; so they ran at 2, 2.5, 2.5.
        rows = [("w1", 2.5, 0.1), ("w1", 2.5, 0.1), ("w2", 2.0, 0.1)]
        records = self.records(the_plan, rows)
        for record in records:
            record["milestones"] = {"bound_s": 0.0, "scheduled_s": 0.0}
        fitted = runner.fit_bound_start(the_plan, [records], model.ModelConfig())
        assert fitted is not None
        assert fitted.per_pod_s == pytest.approx(0.5)
        assert fitted.base_s == pytest.approx(1.0)

    def test_the_start_from_the_bind_pools_the_runs_it_is_fitted_on(self) -> None:
        pods = [dataclasses.replace(POD, name=f"detect-{k}") for k in range(2)]
        the_plan = make(pods=pods)
        # Run a: one pod alone on w1, running 1.5 s after its bind: any split of 1.5 s into
        # shared work and base fits it, and the least work (0) is kept. Run b: two pods bound
        # together on w1, each running 2 s after: with a, only 0.5 s of work (1 s alone, 2 s
        # for two sharing) and a 1 s base fit all three.
        alone = self.records(the_plan, [("w1", 1.5, 0.1), ("w2", 9.0, 0.1)])
        alone[1].update(phase="Pending", node=None)  # never bound: no start to share
        pair = self.records(the_plan, [("w1", 2.0, 0.1), ("w1", 2.0, 0.1)])
        for record in alone + pair:
            record["milestones"] = {"bound_s": 0.0, "scheduled_s": 0.0}
        config = model.ModelConfig()
        one = runner.fit_bound_start(the_plan, [alone], config)
        assert one is not None
        assert (one.per_pod_s, one.base_s) == (0.0, pytest.approx(1.5))
        pooled = runner.fit_bound_start(the_plan, [alone, pair], config)
        assert pooled is not None
        assert (pooled.per_pod_s, pooled.base_s) == (pytest.approx(0.5), pytest.approx(1.0))

    def test_each_run_is_predicted_with_numbers_fitted_on_the_other_runs(self) -> None:
        pods = [dataclasses.replace(POD, name=f"detect-{k}") for k in range(2)]
        the_plan = make(pods=pods)
        waits = {"kube-scheduler": 2.0, "binder": 3.0, "batch": 7.0}
        runs = {}
        for name, wait in waits.items():
            records = self.records(the_plan, [("w1", wait, 0.1), ("w2", 1.0, 0.1)])
            records[1].update(phase="Pending", node=None)
            for record in records:
                record.update(pod="p", milestones={"bound_s": 0.0, "scheduled_s": 0.0})
                record["class"] = "latency-sensitive"
            runs[name] = records
        entry: dict[str, object] = {
            "schedulers": {name: {"pods": records} for name, records in runs.items()},
            "baseline": "kube-scheduler",
            "bound_start_s": 9.0,  # a per-scenario fit of an older page: dropped
        }
        runner.predict_scenario(the_plan, entry, model.ModelConfig(), probe_start_s=0.5)
        assert "bound_start_s" not in entry
        fits = {
            name: run["host_fit"]  # type: ignore[index]
            for name, run in entry["schedulers"].items()  # type: ignore[attr-defined]
        }
        assert fits["kube-scheduler"]["fitted_on"] == ["binder", "batch"]
        assert fits["binder"]["fitted_on"] == ["kube-scheduler", "batch"]
        assert fits["batch"]["fitted_on"] == ["kube-scheduler", "binder"]
        # One pod per run, alone: the start is the median of the other two runs' waits (any
        # split into work and base fits them alike; the least work is kept). Each run is
        # predicted from the others' starts, never its own.
        for name, (a, b) in {
            "kube-scheduler": (3.0, 7.0),
            "binder": (2.0, 7.0),
            "batch": (2.0, 3.0),
        }.items():
            assert fits[name]["bound_start_work_s"] == 0.0
            assert fits[name]["bound_start_s"] == pytest.approx((a + b) / 2)

    def test_a_scenario_run_alone_is_predicted_with_the_probes_start(self) -> None:
        the_plan = make()
        records = self.records(the_plan, [("w1", 2.0, 0.05)])
        records[0].update(pod="p", **{"class": "latency-sensitive"})
        entry: dict[str, object] = {"schedulers": {"binder": {"pods": records}}}
        runner.predict_scenario(the_plan, entry, model.ModelConfig(), probe_start_s=0.5)
        fit = entry["schedulers"]["binder"]["host_fit"]  # type: ignore[index]
        assert fit["fitted_on"] == []
        assert (fit["bound_start_s"], fit["bound_start_work_s"]) == (0.5, 0.0)

    def test_the_bind_is_the_watchs_within_the_api_servers_second(self) -> None:
        def at(**stamps: float | None) -> float:
            return runner.bound_at({"milestones": stamps, "measured": {"wait_s": 3.0}})

        # The stamp is cut down to the second: the watch's 1.42 lies in it and is kept.
        assert at(bound_s=1.42, scheduled_s=1.0) == 1.42
        # A watch event delivered late (or early): the middle of the stamp's second.
        assert at(bound_s=2.7, scheduled_s=1.0) == 1.5
        assert at(bound_s=None, scheduled_s=1.0) == 1.5
        # Never after the task's own start, never before the submission.
        assert at(bound_s=None, scheduled_s=2.8) == 3.0
        assert at(bound_s=-0.5, scheduled_s=-1.0) == 0.0
        # Runs recorded before the watch: the stamp itself; nothing known: 0.
        assert runner.bound_at({"milestones": {"scheduled_s": 1.0}}) == 1.0
        assert runner.bound_at({}) == 0.0

    def test_pods_that_did_not_complete_fit_nothing(self) -> None:
        the_plan = make()
        records = self.records(the_plan, [("w1", 2.0, 0.05)])
        records[0]["phase"] = "Failed"
        config = model.ModelConfig()
        assert runner.fit_request_overhead(the_plan, [records], config) == 0.0
        assert runner.fit_pod_start(the_plan, [records], config) is None
        assert runner.fit_bound_start(the_plan, [records], config) is None


class TestBindWatch:
    def test_a_pod_is_bound_the_first_time_a_node_shows(self) -> None:
        kube = runner.cluster.Kube(kubeconfig=runner.Path("/nonexistent"), kubectl="kubectl")
        watch = runner.BindWatch(kube, "r1")
        watch.seen("t000-task-1   <none>\n", 1.0)
        watch.seen("t000-task-1   edge-node-1\n", 2.0)
        watch.seen("t000-task-1   edge-node-1\n", 3.0)
        watch.seen("garbage\n", 4.0)
        assert watch.bound() == {"t000-task-1": 2.0}
