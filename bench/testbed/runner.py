"""``make testbed``: the scenarios, run for real on kind under each scheduler, measured.

    python -m bench.testbed.runner [--scenarios seed,video-analytics,burst]
        [--schedulers kube-scheduler,extender,binder,batch] [--cpu-budget 0.9]
        [--work-cpus 1] [--out docs]
    python -m bench.testbed.runner --smoke     # one shaped transfer and one task, then exit

Steps: the task image is built (FROM the local Python base) and loaded into the nodes; the
kind cluster ``$KIND_CLUSTER_NAME`` (default ``cloudedge``, the one ``make kind-up`` makes) is
created with the kind scripts when absent; the work loop is calibrated once per machine. Then
per scenario: nodes are labelled, given the scenario's allocatable (kubelet reservations),
capped (a CFS quota each task of the node enters once started, on the host CPU kept for the
tasks) and shaped (tbf, both directions); the data servers start; and per scheduler (in an
order rotated by one per scenario, :func:`run_order`) the scenario's pods are submitted at
once, in arrival order, as Jobs, and measured until all have finished or nothing has moved
for ``--idle-timeout`` seconds (those left are pods that never started). docs/testbed.json
and docs/testbed.md are written at the end, with plots.

Progress goes to stderr. Every wait is bounded; the run stops at ``--budget`` minutes and
reports what it has.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import scipy.stats

from bench.testbed import cluster, plan, report, scenarios, schedulers
from cloudedge import model
from cloudedge.model import evaluator

DEFAULT_CLUSTER = "cloudedge"
"""The cluster ``make kind-up`` makes (``KIND_CLUSTER_NAME`` overrides both): the testbed runs
on it after that one command, and restores every node it changed when it ends."""
PYTHON_IMAGE = os.environ.get("PYTHON_IMAGE", "cloudedge-python-base:bookworm")
START = time.monotonic()


def progress(message: str) -> None:
    print(f"[testbed {time.monotonic() - START:7.1f}s] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Cluster and calibration


def ensure_cluster(name: str, *, topology: str) -> Path:
    """The kubeconfig of kind cluster ``name``, created by the kind scripts when absent."""
    kubeconfig = cluster.kubeconfig_path(name)
    exists = cluster.run(["docker", "ps", "-q", "--filter", f"label=io.x-k8s.kind.cluster={name}"])
    if exists.strip() and kubeconfig.exists():
        return kubeconfig
    default_script = cluster.REPO_ROOT / "hack" / "kind" / "up.sh"
    script = Path(os.environ.get("TESTBED_KIND_UP", str(default_script)))
    progress(f"creating kind cluster {name} ({topology} topology) with {script}")
    env = {**os.environ, "KIND_CLUSTER_NAME": name, "KIND_TOPOLOGY": topology}
    proc = subprocess.run(
        [str(script)], env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    if proc.returncode != 0:
        raise cluster.ClusterError(f"{script} failed: {proc.stderr[-1500:]}")
    if not kubeconfig.exists():
        raise cluster.ClusterError(f"{script} made no kubeconfig at {kubeconfig}")
    return kubeconfig


def calibrate(image: str) -> float:
    """Loop iterations per work unit, measured once per machine and image in an uncapped
    container (cached under $CACHE_DIR/testbed/)."""
    cache = (
        cluster.CACHE_DIR
        / "testbed"
        / f"calibration-{image.replace(':', '-')}-{platform.node()}.json"
    )
    if cache.exists():
        return float(json.loads(cache.read_text())["iterations_per_unit"])
    out = cluster.run(
        ["docker", "run", "--rm", image, "/opt/testbed/task.py", "calibrate"], timeout=300
    )
    value = float(json.loads(out)["iterations_per_unit"])
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"iterations_per_unit": value, "image": image}) + "\n")
    return value


def workers(kube: cluster.Kube) -> list[str]:
    """The kind cluster's worker node names, sorted (the control plane runs no tasks)."""
    nodes = kube.json("get", "nodes")["items"]
    names = [
        n["metadata"]["name"]
        for n in nodes
        if "node-role.kubernetes.io/control-plane" not in n["metadata"].get("labels", {})
    ]
    # Cloud workers first, as the scenarios list their nodes: the seed topology's names sort so.
    return sorted(names)


def prepare(
    kube: cluster.Kube,
    name: str,
    the_plan: plan.Plan,
    all_workers: Sequence[str],
    *,
    cpus: cluster.CpuSplit | None,
) -> dict[str, Any]:
    """Make the kind workers the plan's nodes: labels, allocatable, CPU quotas, shaping, and
    (``cpus`` given) the tasks' CPUs apart from every node's daemons and the control plane."""
    containers = cluster.node_containers(kube, name)
    if cpus is not None:
        for container in sorted(containers.values()):
            cluster.dedicate_cpus(container, cpus)
    used = {node.name for node in the_plan.nodes}
    for node in the_plan.nodes:
        kube("patch", "node", node.name, "--type=merge", "-p", json.dumps(plan.node_patch(node)))
        if _tainted(kube, node.name):
            kube("taint", "node", node.name, f"{plan.SPARE_TAINT}-")
    for spare in set(all_workers) - used:
        kube("taint", "node", spare, f"{plan.SPARE_TAINT}=true:NoSchedule", "--overwrite")
    cluster.set_allocatable(
        kube,
        name,
        {n.name: (n.allocatable.cpu, n.allocatable.memory) for n in the_plan.nodes},
        containers,
    )
    settings = {}
    for node in the_plan.nodes:
        quota = plan.cpu_quota(node)
        container = containers[node.name]
        cluster.cap_cpu(container, quota)
        period, quota_us, shares = cluster.cpu_cgroup(container, cluster.WORK_CGROUP)
        wanted = (cluster.quota_period_ms(quota) * 1000, cluster.TASKS_CPU_SHARES)
        if (period, shares) != wanted or quota_us <= 0 or abs(quota_us / period - quota) > 0.005:
            raise cluster.ClusterError(
                f"{node.name}: the tasks' quota {cluster.WORK_CGROUP} has period {period} us, "
                f"quota {quota_us} us and {shares} cpu.shares; wanted {quota} CPUs over "
                f"{wanted[0]} us, {wanted[1]} shares"
            )
        _, pods_quota_us, pods_shares = cluster.cpu_cgroup(container, cluster.PODS_CGROUP)
        if pods_quota_us != -1:
            raise cluster.ClusterError(
                f"{node.name}: its pods' slice has a quota of {pods_quota_us} us; wanted none "
                "(pods start outside the tasks' quota)"
            )
        veth = cluster.shape(containers[node.name], node.bandwidth_mbps)
        work_cpus = None
        if cpus is not None:
            work_cpus = cluster.cpuset_cpus(container, cluster.WORK_CPUSET)
            if work_cpus != cpus.work:
                raise cluster.ClusterError(
                    f"{node.name}: the tasks' cpuset {cluster.WORK_CPUSET} holds CPUs "
                    f"{work_cpus!r}; wanted {cpus.work!r}"
                )
        settings[node.name] = {
            "container": containers[node.name],
            "cpus": quota,
            "quota_cgroup": cluster.WORK_CGROUP,
            "quota_period_ms": period / 1000,
            "quota_cpu_shares": shares,
            "work_cpus": work_cpus,
            "pods_cpu_shares": pods_shares,
            "shaped_mbps": node.bandwidth_mbps,
            "host_veth": veth,
            "allocatable_cpu_m": node.allocatable.cpu,
            "compute_rate": node.compute_rate,
        }
    return settings


def _tainted(kube: cluster.Kube, node: str) -> bool:
    taints = kube.json("get", "node", node).get("spec", {}).get("taints") or []
    return any(t.get("key") == plan.SPARE_TAINT for t in taints)


def restore(kube: cluster.Kube, name: str, nodes: Sequence[str]) -> None:
    """Lift quotas and shaping (allocatable and labels stay: the next plan sets its own)."""
    containers = cluster.node_containers(kube, name)
    for node in nodes:
        with contextlib.suppress(cluster.ClusterError):
            cluster.uncap_cpu(containers[node])
            cluster.unshape(containers[node])
    for container in sorted(containers.values()):
        with contextlib.suppress(cluster.ClusterError):
            cluster.share_cpus(container)


def install_basics(kube: cluster.Kube, the_plan: plan.Plan) -> None:
    """The namespace, the NetworkTopology CRD and the plan's topology."""
    kube.apply(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": plan.TASK_NAMESPACE}}]
    )
    crds = cluster.REPO_ROOT / "charts" / "cloud-edge-scheduler" / "crds"
    for crd in sorted(crds.glob("*.yaml")):
        kube("apply", "--server-side", "--force-conflicts", "-f", str(crd))
    kube(
        "wait", "--for=condition=Established", "crd/networktopologies.cloudedge.io", "--timeout=60s"
    )
    kube.apply([plan.topology_object(the_plan.topology, the_plan.nodes)])


def delete_data_servers(kube: cluster.Kube) -> None:
    """Delete every data server pod of the testbed (none is not an error)."""
    kube(
        "delete",
        "pods",
        "-n",
        plan.TASK_NAMESPACE,
        "-l",
        "app.kubernetes.io/name=testbed-data",
        "--ignore-not-found",
        "--wait=true",
        "--timeout=120s",
        timeout=150,
    )


def delete_task_jobs(kube: cluster.Kube, run_id: str | None = None) -> None:
    """Delete the task Jobs of run ``run_id`` (every run's when None) and their pods, none
    being no error. A run that was interrupted (Ctrl-C, a failure) leaves its Jobs, whose
    names the next run would reuse."""
    kube(
        "delete",
        "jobs",
        "-n",
        plan.TASK_NAMESPACE,
        "-l",
        plan.TESTBED_LABEL if run_id is None else f"{plan.TESTBED_LABEL}={run_id}",
        "--ignore-not-found",
        "--cascade=foreground",
        "--wait=true",
        "--timeout=180s",
        timeout=200,
    )


def start_data_servers(
    kube: cluster.Kube, name: str, the_plan: plan.Plan, image: str
) -> dict[str, str]:
    """One data server per data source; wait until each is Ready, move its process out of the
    pods' slice (:func:`bench.testbed.cluster.move_to_servers_cgroup`); return source -> URL."""
    pods = [plan.data_server_pod(the_plan, source, image=image) for source in the_plan.sources()]
    delete_data_servers(kube)
    if not pods:
        return {}
    kube.apply(pods)
    kube(
        "wait",
        "-n",
        plan.TASK_NAMESPACE,
        "--for=condition=Ready",
        "pod",
        "-l",
        "app.kubernetes.io/name=testbed-data",
        "--timeout=180s",
        timeout=200,
    )
    containers = cluster.node_containers(kube, name)
    for node in sorted({pod["spec"]["nodeName"] for pod in pods}):
        cluster.move_to_servers_cgroup(containers[node], plan.DATA_SERVER_PROGRAM)
    urls = {}
    for pod in pods:
        live = kube.json("get", "pod", "-n", plan.TASK_NAMESPACE, pod["metadata"]["name"])
        source = pod["metadata"]["annotations"]["testbed.cloudedge.io/source"]
        urls[source] = f"http://{live['status']['podIP']}:8000"
    return urls


# ---------------------------------------------------------------------------------------------
# One scheduler on one scenario

RUN_TIMEOUT_S = 240.0
"""How long one scheduler's run of one scenario may take. Ours end the default scenarios in
about 70 s (video-analytics) and 40 s (the burst); kube-scheduler's spreading can put a
data-intensive pod behind an edge node's slow link for longer (427 s predicted, cut at 362 s
in the run of ``7396d8e``), and the 20-minute budget then had no time left for the last
scheduler of the burst. A cut pod counts at its time so far, a lower bound on its
completion, and the page says which side each ratio then bounds."""


@dataclasses.dataclass
class RunSettings:
    image: str
    iterations_per_unit: float
    idle_timeout_s: float
    run_timeout_s: float
    work_cpuset: bool = True
    """The tasks enter the tasks' cpuset (:func:`bench.testbed.cluster.dedicate_cpus`)."""


def _parse_time(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def pod_record(
    live: Mapping[str, Any],
    *,
    job: Mapping[str, Any],
    scenario_pod: model.Pod,
    cut_at: float | None = None,
) -> dict[str, Any]:
    """What one Job's pod did: its node, phase and the task's termination message.

    ``milestones`` are seconds after submission at which the API server stamped the pod
    created (by the Job controller), scheduled (its ``PodScheduled`` condition) and its
    container started: they split the task's measured wait-to-start into scheduling and
    starting. The API's stamps are whole seconds, so each is up to 1 s early; read medians.

    ``cut_at`` is when the run stopped waiting (its timeout, or nothing moving), if it did: a
    pod not finished by then gets ``cut_after_s``, how long it had been out, which the report
    counts as a lower bound of its completion (report.total_or_bound)."""
    status = live.get("status", {}) if live else {}
    statuses = status.get("containerStatuses") or []
    state = statuses[0].get("state", {}) if statuses else {}
    terminated = state.get("terminated") or {}
    measured: dict[str, Any] | None = None
    error = None
    if terminated.get("message"):
        try:
            doc = json.loads(terminated["message"])
        except json.JSONDecodeError:
            error = terminated["message"][:300]
        else:
            error = doc.pop("error", None)
            measured = doc or None
    started = bool(state.get("running") or terminated)
    notes = job["spec"]["template"]["metadata"]["annotations"]
    submitted_at = float(notes[plan.SUBMITTED_AT])
    phase = status.get("phase", "Missing")
    unfinished = phase not in ("Succeeded", "Failed")
    scheduled = next(
        (
            c.get("lastTransitionTime")
            for c in status.get("conditions") or []
            if c.get("type") == "PodScheduled" and c.get("status") == "True"
        ),
        None,
    )
    container = state.get("running") or terminated
    stamps = {
        "created_s": (live or {}).get("metadata", {}).get("creationTimestamp"),
        "scheduled_s": scheduled,
        "container_started_s": container.get("startedAt") if container else None,
    }
    return {
        "pod": scenario_pod.name,
        "job": job["metadata"]["name"],
        "class": scenario_pod.workload.value,
        "node": (live or {}).get("spec", {}).get("nodeName"),
        "phase": phase,
        "started": started,
        "submitted_at": submitted_at,
        "cut_after_s": (
            round(cut_at - submitted_at, 4) if cut_at is not None and unfinished else None
        ),
        "deadline_s": None
        if scenario_pod.max_latency_ms is None
        else scenario_pod.max_latency_ms / 1000.0,
        "measured": measured,
        "milestones": {
            key: None if (at := _parse_time(stamp)) is None else round(at - submitted_at, 3)
            for key, stamp in stamps.items()
        },
        "error": error,
        "reason": terminated.get("reason"),
    }


PREDICTIONS = {
    "predicted_queueing": "before: queueing",
    "predicted_at_once": "sharing, bound at once",
    "predicted": "after: sharing from the bind",
}
"""The readings of the final state each pod is predicted by (docs/model.md, "Calibration"),
with the page's label: the scheduler's own evaluator (M/M/1 wait on the requested share of
each node); the sharing reading (processor sharing, shared links, the fitted pod start) with
every pod bound at submission, waiting only for room; and the same reading from each pod's
bind (``bound_at``), the calibrated prediction: where and when a pod is bound is the
scheduler's part, what the pod then does is the model's."""


def bound_at(record: Mapping[str, Any]) -> float:
    """Seconds after submission at which a pod was bound to its node, 0 when unknown (a pod
    never bound is predicted nothing).

    The API server's ``PodScheduled`` stamp is whole seconds, cut down, so the bind lies in
    the second after it; the runner's watch (``bound_s``) places it within that second when
    it saw the bind in time, but a loaded API server delivers watch events seconds late (at
    06421ac the watch saw some pods bound after their task had started). So: the watch's time
    when it falls within the stamp's second, else the middle of that second; never after the
    task's own start; for runs recorded before the watch, the stamp itself."""
    stamps = record.get("milestones") or {}
    watched, stamp = stamps.get("bound_s"), stamps.get("scheduled_s")
    if stamp is None:
        at = watched
    elif "bound_s" not in stamps:
        at = stamp
    elif watched is not None and stamp <= watched < stamp + 1.0:
        at = watched
    else:
        at = stamp + 0.5
    measured = record.get("measured") or {}
    if at is not None and measured.get("wait_s") is not None:
        at = min(float(at), float(measured["wait_s"]))
    return max(0.0, float(at or 0.0))


def predict(
    the_plan: plan.Plan,
    records: list[dict[str, Any]],
    config: model.ModelConfig,
    *,
    start: PodStart,
    bound_start: PodStart,
    request_overhead_s: float = 0.0,
) -> None:
    """Add each pod's predicted terms on the node it ran on, graded on the final state (every
    pod of the run on its node, as they ran), in each reading of :data:`PREDICTIONS`: pods
    bound at once take ``start`` to start, pods from their bind ``bound_start``, and requests
    each cost ``request_overhead_s`` (all fitted on other runs, not these pods:
    :func:`predict_scenario`)."""
    state = the_plan.cluster()
    nodes = [state.index.get(str(r.get("node"))) for r in records]
    problem = evaluator.Problem(list(the_plan.pods), state, config)
    grades = {
        "predicted_queueing": evaluator.grade_assignment(problem, nodes),
        "predicted_at_once": evaluator.grade_sharing(
            problem,
            nodes,
            pod_start_s=start.base_s,
            start_spread_s=start.spread_s,
            start_per_pod_s=start.per_pod_s,
            request_overhead_s=request_overhead_s,
        ),
        "predicted": evaluator.grade_sharing(
            problem,
            nodes,
            pod_start_s=bound_start.base_s,
            start_per_pod_s=bound_start.per_pod_s,
            request_overhead_s=request_overhead_s,
            bound_at_s=[bound_at(r) for r in records],
        ),
    }
    # Which pods the reading gives room at once (it admits them at 0 with no start time):
    # the page compares their measured starts with the fitted ones.
    at_once = [
        outcome is not None and outcome.waiting_s == 0.0
        for outcome in evaluator.grade_sharing(problem, nodes).outcomes
    ]
    for record, pod in zip(records, the_plan.pods, strict=True):
        record["data_source"] = pod.data_source
    for key, grade in grades.items():
        for record, outcome, first in zip(records, grade.outcomes, at_once, strict=True):
            record[key] = (
                None
                if outcome is None
                else {
                    "transfer_s": round(outcome.transfer_s, 6),
                    "waiting_s": round(outcome.waiting_s, 6),
                    "processing_s": round(outcome.processing_s, 6),
                    "ect_s": round(outcome.ect_s, 6),
                    "deadline_met": outcome.deadline_met,
                    "room_at_once": first,
                }
            )


def run_order(names: Sequence[str], index: int) -> list[str]:
    """The schedulers in the order the scenario at ``index`` runs them: rotated by one per
    scenario, so that no scheduler is always the first on a freshly prepared scenario. At
    bbb17d8 kube-scheduler, always first, started its pods faster than the three others on
    seed and video-analytics (5.3 s against 6.1-6.8 s there); with the binder run first on
    video-analytics, the two were within 0.2 s. The order is recorded with the scenario."""
    if not names:
        return []
    shift = index % len(names)
    return [*names[shift:], *names[:shift]]


class BindWatch:
    """When each pod of a run was bound, on the runner's clock: a ``kubectl get --watch`` of
    the run's pods, read on a thread, keeps the first moment each Job's pod was seen with a
    node. The API server's ``PodScheduled`` stamp is whole seconds, and a pod's start from its
    bind is 1 to 5 s here; the watch places the bind within that second when its events
    arrive in time (:func:`bound_at` says what is used when they do not)."""

    def __init__(self, kube: cluster.Kube, run_id: str) -> None:
        self._command = [
            kube.kubectl,
            "--kubeconfig",
            str(kube.kubeconfig),
            "get",
            "pods",
            "-n",
            plan.TASK_NAMESPACE,
            "-l",
            f"{plan.TESTBED_LABEL}={run_id}",
            "--watch",
            "--no-headers",
            "-o",
            "custom-columns=JOB:.metadata.labels.job-name,NODE:.spec.nodeName",
        ]
        self._bound: dict[str, float] = {}
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BindWatch:
        self._process = subprocess.Popen(
            self._command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.seen(line, time.time())

    def seen(self, line: str, at: float) -> None:
        """One row of the watch, read at ``at``: the Job's pod is bound once a node shows."""
        fields = line.split()
        if len(fields) == 2 and fields[1] != "<none>":
            with self._lock:
                self._bound.setdefault(fields[0], at)

    def bound(self) -> dict[str, float]:
        """Job name -> the moment its pod was first seen bound."""
        with self._lock:
            return dict(self._bound)

    def __exit__(self, *_exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()


def run_scheduler(
    kube: cluster.Kube,
    the_plan: plan.Plan,
    scheduler_name: str,
    *,
    data_servers: Mapping[str, str],
    settings: RunSettings,
    run_id: str,
) -> list[dict[str, Any]]:
    """Submit every pod of the plan at once (one List, arrival order) and measure them, with
    a :class:`BindWatch` started first (and given a second to list) for their bind times."""
    delete_task_jobs(kube)  # what an interrupted run left
    with BindWatch(kube, run_id) as watch:
        time.sleep(1.0)
        submitted_at = time.time()
        jobs = [
            plan.task_job(
                the_plan,
                k,
                pod,
                image=settings.image,
                scheduler_name=scheduler_name,
                data_servers=data_servers,
                iterations_per_unit=settings.iterations_per_unit,
                submitted_at=submitted_at,
                run_id=run_id,
                active_deadline_s=int(settings.run_timeout_s) + 60,
                work_cpuset=settings.work_cpuset,
            )
            for k, pod in enumerate(the_plan.pods)
        ]
        records = _submit_and_wait(kube, jobs, the_plan.pods, settings=settings, run_id=run_id)
    bound = watch.bound()
    if not bound and any(r["node"] for r in records):
        progress("  the bind watch saw no pod bound: bind times from the API's stamps")
    for record in records:
        at = bound.get(record["job"])
        record["milestones"]["bound_s"] = (
            None if at is None else round(at - record["submitted_at"], 3)
        )
    delete_task_jobs(kube, run_id)
    return records


def _submit_and_wait(
    kube: cluster.Kube,
    jobs: list[dict[str, Any]],
    pods: Sequence[model.Pod],
    *,
    settings: RunSettings,
    run_id: str,
) -> list[dict[str, Any]]:
    """Create the Jobs (one List, arrival order) and wait for them: every one finished, the
    run's timeout, or nothing moving; then each pod's record."""
    kube(
        "create",
        "-f",
        "-",
        input_text=json.dumps({"apiVersion": "v1", "kind": "List", "items": jobs}),
    )
    by_job: dict[str, dict[str, Any]] = {}
    last_change = time.monotonic()
    started = time.monotonic()
    last_states: dict[str, str] = {}
    cut_at: float | None = None
    while True:
        items = kube.json(
            "get", "pods", "-n", plan.TASK_NAMESPACE, "-l", f"{plan.TESTBED_LABEL}={run_id}"
        )["items"]
        for item in items:
            by_job[item["metadata"]["labels"].get("job-name", "")] = item
        states = {name: _state(item) for name, item in by_job.items()}
        if states != last_states:
            last_states, last_change = states, time.monotonic()
        finished = sum(1 for s in states.values() if s in ("Succeeded", "Failed"))
        running = sum(1 for s in states.values() if s == "Running")
        if finished == len(jobs):
            break
        now = time.monotonic()
        if now - started > settings.run_timeout_s:
            progress(f"  run timeout: {finished}/{len(jobs)} finished")
            cut_at = time.time()
            break
        if running == 0 and now - last_change > settings.idle_timeout_s:
            progress(
                f"  nothing moved for {settings.idle_timeout_s:.0f} s: "
                f"{finished}/{len(jobs)} finished"
            )
            cut_at = time.time()
            break
        time.sleep(2)
    return [
        pod_record(
            by_job.get(job["metadata"]["name"], {}), job=job, scenario_pod=pod, cut_at=cut_at
        )
        for job, pod in zip(jobs, pods, strict=True)
    ]


def _state(pod: Mapping[str, Any]) -> str:
    phase = str(pod.get("status", {}).get("phase", "Pending"))
    if phase == "Pending" and pod.get("spec", {}).get("nodeName"):
        return "Bound"
    return phase


# ---------------------------------------------------------------------------------------------
# The smoke run: one shaped transfer, one task


def smoke_plan(kind_workers: Sequence[str], *, cpu_budget: float) -> plan.Plan:
    """Two nodes (a cloud node holding the data, an edge node that fetches it) and one task.

    The edge node's link is the bottleneck (100 Mbit/s at rate 1, scaled like everything), so
    the task's measured throughput is the shaped rate of one node's download.
    """
    gib = 1024.0**3
    nodes = [
        model.Node(
            name="smoke-cloud",
            tier=model.Tier.CLOUD,
            site="cloud",
            bandwidth_mbps=400.0,
            compute_rate=1000.0,
            allocatable=model.ResourceList({"cpu": 1000.0, "memory": 2 * gib, "pods": 110.0}),
        ),
        model.Node(
            name="smoke-edge",
            tier=model.Tier.EDGE,
            site="edge-1",
            bandwidth_mbps=100.0,
            compute_rate=500.0,
            allocatable=model.ResourceList({"cpu": 500.0, "memory": 1 * gib, "pods": 110.0}),
        ),
    ]
    pod = model.Pod(
        name="smoke-task",
        requests=model.ResourceList({"cpu": 250.0, "memory": 256 * 1024 * 1024.0, "pods": 1.0}),
        workload=model.Workload.DATA_INTENSIVE,
        compute_cost=500.0,
        data_source="smoke-cloud",
        data_size_mb=40.0,
    )
    the_plan = plan.make_plan(
        "smoke",
        nodes=nodes,
        topology=None,
        pods=[pod],
        kind_workers=kind_workers,
        cpu_budget=cpu_budget,
        work=1.0,
        node_cpu_m=cluster.host_capacity()[0],
        node_memory=cluster.host_capacity()[1] / 2,
    )
    # Work scale 1 with rate s < 1 dilates time by 1/s; the data is scaled by w = 1, so the
    # transfer lasts 40 MB / (100 s) Mbit/s. The task is pinned to the edge node.
    edge = the_plan.nodes[1].name
    pinned = dataclasses.replace(the_plan.pods[0], node_selector={"kubernetes.io/hostname": edge})
    return dataclasses.replace(the_plan, pods=(pinned,))


def probe(
    kube: cluster.Kube,
    name: str,
    *,
    image: str,
    ipu: float,
    cpu_budget: float,
    cpus: cluster.CpuSplit | None,
) -> dict[str, Any]:
    """Run the smoke plan's one task on two workers (the others spare) and check shaping."""
    all_workers = workers(kube)
    the_plan = smoke_plan(all_workers, cpu_budget=cpu_budget)
    try:
        prepare(kube, name, the_plan, all_workers, cpus=cpus)
        install_basics(kube, the_plan)
        servers = start_data_servers(kube, name, the_plan, image)
        settings = RunSettings(
            image, ipu, idle_timeout_s=120, run_timeout_s=300, work_cpuset=cpus is not None
        )
        (record,) = run_scheduler(
            kube,
            the_plan,
            "default-scheduler",
            data_servers=servers,
            settings=settings,
            run_id=f"smoke-{int(time.time())}",
        )
    finally:
        restore(kube, name, [n.name for n in the_plan.nodes])
    shaped = the_plan.nodes[1].bandwidth_mbps
    record["work_cpus"] = None if cpus is None else cpus.work
    measured = record.get("measured") or {}
    throughput = measured.get("throughput_mbps")
    record["shaped_mbps"] = shaped
    record["shaping"] = (
        None
        if throughput is None
        else {"bytes": measured["bytes"], **report.shaping_check(throughput, shaped)}
    )
    record["iterations_per_unit"] = ipu
    record["scale"] = dataclasses.asdict(the_plan.scale)
    return record


def smoke(args: argparse.Namespace) -> dict[str, Any]:
    """One task end to end on kind (the small topology when the cluster is made here)."""
    kubeconfig = ensure_cluster(args.cluster, topology="small")
    kube = cluster.Kube(kubeconfig)
    image = cluster.build_image(python_image=PYTHON_IMAGE)
    ipu = calibrate(image)
    containers = cluster.node_containers(kube, args.cluster)
    all_workers = workers(kube)
    cluster.load_image(image, [containers[w] for w in all_workers])
    cpus = cpu_split(args)
    with cpus_apart(args.cluster, cpus), as_found(kube, args.cluster, all_workers):
        return probe(
            kube, args.cluster, image=image, ipu=ipu, cpu_budget=args.cpu_budget, cpus=cpus
        )


@contextlib.contextmanager
def as_found(kube: cluster.Kube, name: str, nodes: Sequence[str]) -> Iterator[None]:
    """Leave the cluster as the testbed found it: the workers' labels, annotations, taints and
    kubelet reservations, the ``NetworkTopology``, and no data servers. The testbed runs on
    the cluster ``make kind-up`` made, which the kind suite uses too."""
    snap = cluster.snapshot(kube, name, nodes)
    try:
        yield
    finally:
        progress("putting the cluster back as it was found")
        delete_task_jobs(kube)
        delete_data_servers(kube)
        cluster.restore_snapshot(kube, name, snap, cluster.node_containers(kube, name))


# ---------------------------------------------------------------------------------------------
# The full run


NOTES = """## How the testbed works

- **Nodes.** The kind cluster's workers play the scenario's nodes. Labels (`cloudedge.io/tier`,
  `site`, `bandwidth-mbps`) and the `cloudedge.io/compute-rate` annotation are set from the plan;
  allocatable is set through the kubelet's `--system-reserved` (capacity minus the scenario's
  allocatable, times the resource scale k). Workers the scenario does not use are tainted
  `testbed.cloudedge.io/spare:NoSchedule`.
- **CPU.** The tasks of each node are capped together at its compute rate times the rate scale
  s, so the quotas sum to the CPU budget: the CFS quota of a cgroup of the node's
  (`/sys/fs/cgroup/cpu/testbed-work`) that each task enters once its container has started
  (the task runs as root with the node's CPU cgroups mounted, and moves itself into a child
  weighed by its CPU request, as the kubelet weighs pods). Pod starts are outside it: a
  pod's start costs about 0.1 CPU-s (48 ms for a pod whose container runs `/bin/true`, 102 ms
  for the task's, measured in the pods' `cpuacct`), which at an edge node's 0.15 CPUs is 0.7 s
  of its whole compute, 27 times what the start costs the 4-CPU node it stands for; inside
  the quota, as up to `00d1ff1`, it fell on whatever task ran on the node then. The data
  server's process is outside it too: it stands for the site's storage, not for a pod
  competing for the node's compute. The kubelet, containerd and runc are outside it: squeezed
  into a few hundredths of a CPU they took tens of seconds to start one container (the run of
  `6126faa` measured it), which no real node of the scenario's size does. The quota's period
  is 10 ms (longer where that would grant under 2 ms per period), not the kernel's 100 ms: a
  quota is granted per period, so at 100 ms a task needing a few milliseconds of CPU ran at
  once or waited most of a period, where the model shares the rate fluidly. The quota's
  cgroup and the data servers weigh 65,536 CPU shares against the 1,024 of the node's daemons
  and the kubelet's weight for its pods' slice (1,024 or fewer), so that tasks have their
  quota before containers start beside them.
  **The tasks have a CPU of their own** (`--work-cpus 1`, the host's last): every task, once
  started, also enters the cpuset `/sys/fs/cgroup/cpuset/testbed-work` that holds only that
  CPU, with the data servers; every other cpuset of every node (the kubelet's, containerd's,
  the pods' slices where containers start) and the whole control plane run on the other CPU.
  The quotas sum to at most that CPU (`--cpu-budget`, 0.9 by default; each scenario's work
  scale follows the budget, so its testbed times do not change). Why: the quota says how much
  CPU the tasks get, not when. Sharing both CPUs with the nodes' daemons, a detection task of
  the burst within its quota was ready to run but not running for 0.2 to 0.5 s per phase while
  the burst's containers started (a 0.53 s deadline), where the node it stands for runs its
  daemons on cores of their own; on its own CPU it waited a median 0.056 s, for the other
  tasks only (the run of `286e282`'s burst, binder). The runner and what it starts on the
  host (our schedulers, kubectl) keep off that CPU too, and on the other one the control
  plane's container weighs 8,192 CPU shares against each worker's 1,024 while the run lasts:
  weighed like one worker among nine, the Job controller created the burst's pods 6 to 8 s
  after their submission (at `286e282`), where a real cluster's control plane has machines of
  its own. The runner and what it starts run in a cgroup beside the nodes' containers with
  that weight too (`docker/cloudedge-testbed-host`): left in the root cgroup, where the
  kernel's autogroup weighs a whole session like all the nodes together, they waited up to
  4 s for that CPU in a burst's start storm, and the runs' Jobs reached the API server up to
  11 s after their submission (at `275a7f8`; within 1.9 s in the cgroup).
  Each task reports, per phase, the CPU it used and the time it was ready to run but did not
  (`/proc/self/schedstat`): its node's quota spent, or the tasks' CPU busy with other tasks.
- **Network.** tbf on the host side of each node's veth shapes what it downloads, tbf on the
  node's `eth0` what it uploads, both at the node's bandwidth times s. This kernel has no netem:
  **site-to-site latency is added by the data servers** (they wait the topology's latency before the
  first byte) and a topology link's bandwidth cap is paced by them too, one pacer per link shared
  by every transfer over it (each transfer paced alone would give N transfers N links). A site's
  data is served from a node of the site; a task on that node would fetch it without crossing a
  shaped link, so the server paces those requests to the node's bandwidth, as the model charges.
- **Work.** One work unit is one millisecond of one uncapped core, calibrated once per machine in
  the task image (`task.py calibrate`); a node capped at m millicores does m units per second.
  What the task does besides its work is not scaled: its fetch (a few milliseconds of CPU for
  a small object) runs inside the quota. Its start does not (above); the task is kept lean all
  the same (bytecode compiled in the image, no module it can do without), since every start
  loads the host.
- **Pod start.** Every node's kubelet, containerd and runc share one host CPU with the
  others and with the control plane, so a pod's start here is the host's, not its node's, and
  it is most of each completion below (the table "Where the wait-to-start goes" splits the wait
  at the API server's stamps into scheduling and starting). It differs from machine to machine:
  24 trivial pods pinned across the 8 workers took 13 to 18 s until all had run on the machine
  of the runs before `9079142` (the host at 1.9 of its 2 CPUs, the workers' kubelets,
  containerd, shims and runc using 1.1 to 1.5 of them), 7.7 to 8.7 s on the machine of that
  run. The tasks' pods mount no service account token and get no service links, which they do
  not use; that made no measurable difference to the start (8.2, 7.9, 7.7 s with both against
  8.3, 8.3, 8.7 s without, alternated).
  What the host cannot give: sampled each second over a burst (`cpuacct` of each node
  container and of its pods' slice), the first 15 s after submission used 1.81 to 1.92 of the
  host's 2 CPUs, of which the workers' kubelets, containerd, shims and runc took 0.85 to 0.93,
  the control plane 0.37 to 0.42 and the tasks 0.42 to 0.46, while their quotas summed to 1.5
  (before the tasks had a CPU of their own, above).
- **Time.** With rate scale s and work scale w every model time is w/s times the scenario's;
  latencies and deadlines are scaled by w/s too, so each scheduler faces the scenario's problem.
- **Predicted.** Each pod's terms on the node it ran on, graded on the final state (every pod
  of the run where it ran): before calibration with the scheduler's queueing reading, after it
  with the sharing reading (processor sharing of the node's CPU, fair shares of each link
  among the transfers in flight together, pods waiting for room) from each pod's bind: when a
  pod is bound is its scheduler's part (and the cluster's: a loaded control plane creates and
  binds some pods late), what it then does is the model's. The bind is the runner's own watch
  of the pods (`bound_s`) where it falls within the second of the API server's whole-second
  `PodScheduled` stamp, else the middle of that second (a loaded API server delivers watch
  events seconds late; `runner.bound_at`). The host's numbers are fitted for each run on the
  scenario's other runs, pooled (leave one out: no run, kube-scheduler's included, is graded
  with numbers fitted on its own pods): the pod start from the bind (each start costs some
  work on one CPU the nodes starting pods share equally, a node's share split among the pods
  it starts, then a fixed part) and what a request costs before its first byte beyond the site
  latency. The same reading with every pod bound at its submission is reported beside it, with
  a start fitted for that (a base, a part per pod its node starts at once, and the spread of
  those starts); docs/model.md, "Calibration". A term under 2% of a pod's measured total on
  both sides is not compared.
- **Measured.** Each task reports transfer (request to last byte), wait-to-start (submission to
  container start: scheduling, waiting for room, container start), processing (the CPU loop, shared
  with co-located tasks) and total (submission to the end) in its termination message.
"""


def machine(load_start: float) -> dict[str, Any]:
    model_name = "unknown"
    with (
        contextlib.suppress(OSError),
        open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh,
    ):
        for line in fh:
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
                break
    cpu_m, memory = cluster.host_capacity()
    return {
        "cpus": cpu_m // 1000,
        "cpu_model": model_name,
        "memory_gib": round(memory / 1024**3, 1),
        "load_start": round(load_start, 2),
        "load_end": round(os.getloadavg()[0], 2),
    }


def commit() -> str:
    try:
        head = cluster.run(
            ["git", "-C", str(cluster.REPO_ROOT), "rev-parse", "--short", "HEAD"]
        ).strip()
        dirty = cluster.run(
            ["git", "-C", str(cluster.REPO_ROOT), "status", "--porcelain", "--untracked-files=no"]
        )
    except cluster.ClusterError:
        return "unknown"
    return head + ("-dirty" if dirty.strip() else "")


def probe_pod_start(probe_record: Mapping[str, Any]) -> float:
    """The pod start time the calibrated prediction uses: the probe's measured wait from
    submission to a running container, on an idle cluster (0 when the probe measured none)."""
    measured = probe_record.get("measured") or {}
    return float(measured.get("wait_s") or 0.0)


def scenario_plan(name: str, doc: Mapping[str, Any]) -> plan.Plan:
    """Scenario ``name`` on the testbed that ``doc`` records (the same plan when re-rendered)."""
    scenario = scenarios.load(name)
    inputs = doc["plan_inputs"]
    return plan.make_plan(
        name,
        nodes=scenario.nodes,
        topology=scenario.topology,
        pods=scenario.pods,
        kind_workers=inputs["kind_workers"],
        cpu_budget=doc["cpu_budget"],
        work=scenario.work_at(doc["cpu_budget"]),
        node_cpu_m=inputs["node_cpu_m"],
        node_memory=inputs["node_memory"],
    )


@dataclasses.dataclass(frozen=True)
class PodStart:
    """How long the cluster takes to start a pod, fitted on a run: ``base_s`` plus
    ``per_pod_s`` for each pod its node starts at the same time (itself included), the pods
    given room at once spread over ``spread_s`` around that (:func:`fit_pod_start`)."""

    base_s: float
    per_pod_s: float
    spread_s: float


def room_at_once_waits(
    the_plan: plan.Plan, records: Sequence[Mapping[str, Any]], config: model.ModelConfig
) -> list[tuple[int, float]]:
    """Measured wait-to-start of a run's completed pods that had room at once (the sharing
    reading, run with no start time, admits them at 0), each with how many pods its node was
    given room for at once (itself included): the time the cluster itself took to start them,
    with no wait for room in it, and how many it was starting on that node."""
    state = the_plan.cluster()
    nodes = [state.index.get(str(r.get("node"))) for r in records]
    problem = evaluator.Problem(list(the_plan.pods), state, config)
    on_node: dict[int, list[int]] = {}
    for p, i in enumerate(nodes):
        if i is not None:
            on_node.setdefault(i, []).append(p)
    together = evaluator.starting_together(problem, on_node)
    return [
        (together[p], float(records[p]["measured"]["wait_s"]))
        for p in sorted(together)
        if report.completed(records[p])
    ]


def fit_pod_start(
    the_plan: plan.Plan, runs: Sequence[Sequence[Mapping[str, Any]]], config: model.ModelConfig
) -> PodStart | None:
    """The pod start of a scenario for pods bound at once, fitted on :func:`room_at_once_waits`
    of ``runs`` pooled (for the prediction, the scenario's other runs: :func:`predict_scenario`):
    the wait grows with the pods a node starts at once (each is a sandbox, a network and a
    container for the node's kubelet and runtime to set up on the CPU the system shares), so
    ``per_pod_s`` is the Theil-Sen slope of the wait on that count (0 when the runs have a
    single count, never below 0), ``base_s`` the median of what is left, and ``spread_s`` the
    width of the uniform window with the same 10th-to-90th percentile range as what is left
    (that range over 0.8; 0 with fewer than two pods). ``None`` when no such pod completed."""
    pairs = [pair for records in runs for pair in room_at_once_waits(the_plan, records, config)]
    if not pairs:
        return None
    counts = [float(n) for n, _ in pairs]
    waits = [w for _, w in pairs]
    slope = 0.0
    if len(set(counts)) > 1:
        slope = max(0.0, float(scipy.stats.theilslopes(waits, counts).slope))
    rest = [w - slope * n for n, w in zip(counts, waits, strict=True)]
    spread = 0.0
    if len(rest) >= 2:
        deciles = statistics.quantiles(rest, n=10, method="inclusive")
        spread = float((deciles[8] - deciles[0]) / 0.8)
    return PodStart(base_s=float(statistics.median(rest)), per_pod_s=slope, spread_s=spread)


START_WORK_GRID_S = tuple(k * 0.02 for k in range(151))
"""The start work per pod :func:`fit_bound_start` tries: 0 to 3 s in steps of 20 ms."""


def fit_bound_start(
    the_plan: plan.Plan, runs: Sequence[Sequence[Mapping[str, Any]]], config: model.ModelConfig
) -> PodStart | None:
    """The pod start from the bind, fitted on ``runs`` pooled (for the prediction, the
    scenario's other runs: :func:`predict_scenario`): each start costs ``per_pod_s`` of work on
    the CPU the nodes share equally, split equally among the pods a node is starting
    (:func:`.evaluator.shared_starts`, each run on its own from its pods' measured bind
    times), then ``base_s``. For each work on :data:`START_WORK_GRID_S` ``base_s`` is the
    median of what the shared start leaves of the completed pods' measured bind-to-start over
    every run; the pair kept is the one with the least absolute deviation. ``None`` when no
    pod completed."""
    state = the_plan.cluster()
    prepared: list[tuple[list[tuple[int, int, float]], dict[int, float]]] = []
    for records in runs:
        nodes = [state.index.get(str(r.get("node"))) for r in records]
        placed = [
            (p, i, bound_at(r))
            for p, (r, i) in enumerate(zip(records, nodes, strict=True))
            if i is not None
        ]
        done = [p for p, _, _ in placed if report.completed(records[p])]
        if done:
            binds = {p: at for p, _, at in placed}
            # What the cluster took from each pod's bind to its running task.
            lags = {p: float(records[p]["measured"]["wait_s"]) - binds[p] for p in done}
            prepared.append((placed, lags))
    if not prepared:
        return None
    best: tuple[float, float, float] | None = None
    for work in START_WORK_GRID_S:
        rest: list[float] = []
        for placed, lags in prepared:
            shared = evaluator.shared_starts(placed, work)
            binds = {p: at for p, _, at in placed}
            rest += [lag - (shared[p] - binds[p]) for p, lag in lags.items()]
        base = float(statistics.median(rest))
        cost = sum(abs(r - base) for r in rest)
        if best is None or cost < best[0] - 1e-9:
            best = (cost, base, work)
    assert best is not None
    return PodStart(base_s=best[1], per_pod_s=best[2], spread_s=0.0)


def fit_request_overhead(
    the_plan: plan.Plan, runs: Sequence[Sequence[Mapping[str, Any]]], config: model.ModelConfig
) -> float:
    """What a request costs before its first byte beyond the site latency the data server
    adds: the median of measured first byte minus modelled latency over the completed pods of
    ``runs`` that move data over a link (0 with none). On an idle cluster it is milliseconds;
    with a scenario's pods starting at once on this host, tens to a hundred."""
    state = the_plan.cluster()
    extra: list[float] = []
    for records in runs:
        for record, pod in zip(records, the_plan.pods, strict=True):
            measured = record.get("measured") or {}
            index = state.index.get(str(record.get("node")))
            if (
                index is None
                or pod.data_source is None
                or pod.data_size_mb <= 0
                or not report.completed(record)
                or measured.get("first_byte_s") is None
            ):
                continue
            view = state.source_view(pod.data_source)
            if bool(view.on_node[index]):
                continue  # the model charges no transfer for data on the pod's own node
            extra.append(float(measured["first_byte_s"]) - float(view.latency_s[index]))
    return max(0.0, float(statistics.median(extra))) if extra else 0.0


@dataclasses.dataclass(frozen=True)
class HostFit:
    """The host's numbers one run is predicted with, and the runs they were fitted on (empty:
    the probe's start, the same for every pod)."""

    start: PodStart
    """Pods bound at once (:func:`fit_pod_start`)."""
    bound_start: PodStart
    """From each pod's bind (:func:`fit_bound_start`)."""
    request_overhead_s: float
    fitted_on: tuple[str, ...]

    def as_record(self) -> dict[str, Any]:
        """The fit as the JSON records it, under the run it predicts."""
        return {
            "fitted_on": list(self.fitted_on),
            "bound_start_s": self.bound_start.base_s,
            "bound_start_work_s": self.bound_start.per_pod_s,
            "pod_start_s": self.start.base_s,
            "start_per_pod_s": self.start.per_pod_s,
            "start_spread_s": self.start.spread_s,
            "request_overhead_s": self.request_overhead_s,
        }


def fit_host(
    the_plan: plan.Plan,
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    config: model.ModelConfig,
    *,
    probe_start_s: float,
) -> HostFit:
    """The host's numbers fitted on ``runs`` (name -> pod records) pooled; with no run, or no
    completed pod in them, the probe's start for every pod and no request overhead."""
    records = list(runs.values())
    start = fit_pod_start(the_plan, records, config)
    bound_start = fit_bound_start(the_plan, records, config)
    flat = PodStart(base_s=probe_start_s, per_pod_s=0.0, spread_s=0.0)
    if start is None or bound_start is None:
        return HostFit(start=flat, bound_start=flat, request_overhead_s=0.0, fitted_on=())
    return HostFit(
        start=start,
        bound_start=bound_start,
        request_overhead_s=fit_request_overhead(the_plan, records, config),
        fitted_on=tuple(runs),
    )


def predict_scenario(
    the_plan: plan.Plan,
    entry: dict[str, Any],
    config: model.ModelConfig,
    *,
    probe_start_s: float,
) -> None:
    """Predict every run of one scenario, each with the host's numbers (:func:`fit_host`)
    fitted on the scenario's *other* runs: leave one out, so no run is graded with numbers
    fitted on its own pods, the baseline's included, and each fit pools three runs' pods
    rather than resting on one run's draw of the host's stalls. A scenario run by one
    scheduler alone has nothing to fit on and is predicted with the probe's start."""
    runs = entry["schedulers"]
    entry["data_servers"] = {
        source: plan.data_server_node(the_plan, source) for source in the_plan.sources()
    }
    for stale in (
        "pod_start_s",
        "start_per_pod_s",
        "start_spread_s",
        "bound_start_s",
        "bound_start_work_s",
        "pod_start_from",
        "request_overhead_s",
    ):
        entry.pop(stale, None)  # fitted per scenario on the baseline before leave-one-out
    for name, run in runs.items():
        others = {other: r["pods"] for other, r in runs.items() if other != name}
        host = fit_host(the_plan, others, config, probe_start_s=probe_start_s)
        run["host_fit"] = host.as_record()
        predict(
            the_plan,
            run["pods"],
            config,
            start=host.start,
            bound_start=host.bound_start,
            request_overhead_s=host.request_overhead_s,
        )
        for key in PREDICTIONS:
            run[key.replace("predicted", "model_error")] = report.term_errors(run["pods"], key)
        own = fit_bound_start(the_plan, [run["pods"]], config)
        run["bound_start_own_s"] = None if own is None else own.base_s
        run["bound_start_work_own_s"] = None if own is None else own.per_pod_s
        run.pop("pod_start_own_s", None)
        if own is not None:
            # A diagnostic, not a prediction: the pod start fitted on this run's own pods, so
            # that the page can say how much of the error is the host's start drifting from
            # one run to the next and how much is the rest of the model.
            copies = copy.deepcopy(run["pods"])
            predict(
                the_plan,
                copies,
                config,
                start=host.start,
                bound_start=own,
                request_overhead_s=fit_request_overhead(the_plan, [run["pods"]], config),
            )
            run["model_error_own_start"] = report.term_errors(copies)


def in_table_order(runs: Mapping[str, Any]) -> dict[str, Any]:
    """The runs of a scenario in the page's order (:data:`schedulers.NAMES`), whatever order
    they ran in (``order`` of the scenario)."""
    return {
        name: runs[name] for name in sorted(runs, key=lambda n: (*schedulers.NAMES, n).index(n))
    }


def repredict(doc: dict[str, Any]) -> dict[str, Any]:
    """Predict every recorded pod again with the model as it is now (``--rerender``): the
    placements and measurements are the run's, the predictions the current code's."""
    for entry in doc["scenarios"]:  # the JSON's sorted keys lost the table's order
        entry["schedulers"] = in_table_order(entry.get("schedulers") or {})
    if "plan_inputs" not in doc:
        return doc  # a run from before the plans were recorded keeps its predictions
    config = model.ModelConfig()
    for entry in doc["scenarios"]:
        the_plan = scenario_plan(entry["name"], doc)
        predict_scenario(the_plan, entry, config, probe_start_s=doc["pod_start_s"])
    return doc


def full(args: argparse.Namespace) -> dict[str, Any]:
    load_start = os.getloadavg()[0]
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    kubeconfig = ensure_cluster(args.cluster, topology="seed")
    kube = cluster.Kube(kubeconfig)
    image = cluster.build_image(python_image=PYTHON_IMAGE)
    ipu = calibrate(image)
    all_workers = workers(kube)
    containers = cluster.node_containers(kube, args.cluster)
    progress(f"loading {image} into {len(all_workers)} nodes")
    cluster.load_image(image, [containers[w] for w in all_workers])
    cpus = cpu_split(args)
    with cpus_apart(args.cluster, cpus), as_found(kube, args.cluster, all_workers):
        host_cpu_m, host_memory = cluster.host_capacity()
        config = model.ModelConfig()
        deadline = START + args.budget * 60
        out_dir = Path(args.out)
        doc: dict[str, Any] = {
            "commit": commit(),
            "started": started,
            "cluster": args.cluster,
            "cpu_budget": args.cpu_budget,
            "iterations_per_unit": ipu,
            "image": image,
            "scenarios": [],
            "notes": NOTES,
        }
        doc["work_cpus"] = None if cpus is None else cpus.work
        doc["rest_cpus"] = None if cpus is None else cpus.rest
        progress("shaping probe: one 40 MB transfer into the edge node of the smoke plan")
        shaping_probe = probe(
            kube, args.cluster, image=image, ipu=ipu, cpu_budget=args.cpu_budget, cpus=cpus
        )
        doc["shaping"] = shaping_probe["shaping"]
        doc["probe"] = shaping_probe
        doc["pod_start_s"] = probe_pod_start(shaping_probe)
        doc["plan_inputs"] = {
            "kind_workers": list(all_workers),
            "node_cpu_m": host_cpu_m,
            "node_memory": host_memory / 2,
        }
        progress(f"  {json.dumps(doc['shaping'])}")
        for index, name in enumerate(args.scenarios):
            the_plan = scenario_plan(name, doc)
            progress(
                f"{name}: {len(the_plan.pods)} pods on {len(the_plan.nodes)} nodes, "
                f"scale {the_plan.scale}"
            )
            entry: dict[str, Any] = {
                "name": name,
                "scale": {**dataclasses.asdict(the_plan.scale), "time": the_plan.scale.time},
                "schedulers": {},
                "skipped": {},
                "baseline": "kube-scheduler",
                "order": run_order(args.schedulers, index),
            }
            try:
                entry["nodes"] = prepare(kube, args.cluster, the_plan, all_workers, cpus=cpus)
                install_basics(kube, the_plan)
                servers = start_data_servers(kube, args.cluster, the_plan, image)
                for sched in entry["order"]:
                    # The baseline runs even then: without it the scenario has no ratios.
                    if time.monotonic() > deadline and sched != entry["baseline"]:
                        entry["skipped"][sched] = "the run's time budget was spent"
                        continue
                    run_id = f"{name}-{sched}-{int(time.time())}"
                    progress(f"{name}: {sched}")
                    try:
                        with schedulers.running(
                            sched, kubeconfig=kubeconfig, log_dir=Path(args.log_dir)
                        ) as sname:
                            settings = RunSettings(
                                image,
                                ipu,
                                args.idle_timeout,
                                args.run_timeout,
                                work_cpuset=cpus is not None,
                            )
                            records = run_scheduler(
                                kube,
                                the_plan,
                                sname,
                                data_servers=servers,
                                settings=settings,
                                run_id=run_id,
                            )
                    except schedulers.SchedulerUnavailableError as err:
                        entry["skipped"][sched] = str(err)
                        progress(f"  skipped: {err}")
                        continue
                    summary = report.summarize(records)
                    keys = ("completed", "never_started", "deadline_misses", "mean_s", "p95_s")
                    progress("  " + json.dumps({k: summary[k] for k in (*keys, "makespan_s")}))
                    entry["schedulers"][sched] = {"summary": summary, "pods": records}
            finally:
                restore(kube, args.cluster, [n.name for n in the_plan.nodes])
            entry["schedulers"] = in_table_order(entry["schedulers"])
            predict_scenario(the_plan, entry, config, probe_start_s=doc["pod_start_s"])
            entry["ratios"] = report.ratios_to_baseline(
                {k: v["summary"] for k, v in entry["schedulers"].items()}, baseline="kube-scheduler"
            )
            if entry["schedulers"]:
                plot_name = f"testbed-{name}.png"
                report.plot(entry, out_dir / plot_name)
                entry["plots"] = [plot_name]
            doc["scenarios"].append(entry)
            # Kept after every scenario: a failure later in the run loses only what follows.
            partial = out_dir / "testbed.partial.json"
            partial.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        doc["finished"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        doc["machine"] = machine(load_start)
        return doc


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.testbed.runner", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--cluster", default=os.environ.get("KIND_CLUSTER_NAME", DEFAULT_CLUSTER))
    parser.add_argument("--scenarios", default=",".join(scenarios.NAMES))
    parser.add_argument("--schedulers", default="kube-scheduler,extender,binder,batch")
    parser.add_argument(
        "--cpu-budget",
        type=float,
        default=scenarios.CPU_BUDGET,
        help="CPUs the node quotas sum to (at most --work-cpus when that is not 0)",
    )
    parser.add_argument(
        "--work-cpus",
        type=int,
        default=1,
        help="host CPUs kept for the tasks alone (0: the tasks share every CPU)",
    )
    parser.add_argument("--budget", type=float, default=20.0, help="minutes for the whole run")
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=RUN_TIMEOUT_S,
        help="seconds per scheduler run (pods still running then count at their time so far)",
    )
    parser.add_argument("--idle-timeout", type=float, default=60.0, help="seconds without progress")
    parser.add_argument("--out", default="docs")
    parser.add_argument("--log-dir", default=str(cluster.CACHE_DIR / "logs"))
    parser.add_argument("--smoke", action="store_true", help="one task end to end, JSON on stdout")
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="measure nothing: rebuild the page from --out's JSON",
    )
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    args.schedulers = [s.strip() for s in args.schedulers.split(",") if s.strip()]
    for s in args.scenarios:
        if s not in scenarios.NAMES:
            parser.error(f"--scenarios: unknown {s!r}; use {', '.join(scenarios.NAMES)}")
    for s in args.schedulers:
        if s not in schedulers.NAMES:
            parser.error(f"--schedulers: unknown {s!r}; use {', '.join(schedulers.NAMES)}")
    host_cpus = len(os.sched_getaffinity(0))
    if not 0 <= args.work_cpus < host_cpus:
        parser.error(
            f"--work-cpus {args.work_cpus}: this host has {host_cpus} CPUs; use 0 (the tasks "
            f"share every CPU) up to {host_cpus - 1} (one stays for the nodes and the control "
            "plane)"
        )
    if args.work_cpus and args.cpu_budget > args.work_cpus:
        parser.error(
            f"--cpu-budget {args.cpu_budget:g}: more than the {args.work_cpus} CPU(s) the tasks "
            f"have (--work-cpus {args.work_cpus}); the quotas would promise CPU that is not "
            "there. Use at most that, or --work-cpus 0"
        )
    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    return args


@contextlib.contextmanager
def cpus_apart(name: str, cpus: cluster.CpuSplit | None) -> Iterator[None]:
    """While the run lasts, keep the host's side of it off the tasks' CPUs and let the control
    plane have its share of the others first; both put back after.

    Why: with the nodes' daemons on one CPU (:func:`bench.testbed.cluster.dedicate_cpus`),
    the runner, the schedulers it starts on the host (ours; kube-scheduler is in the control
    plane) and their kubectl calls would otherwise run on the tasks' CPU too. And on that one
    CPU the control plane weighed as much as each of the eight workers: in the burst at
    ``286e282`` the Job controller created the pods a median 6-8 s after their submission
    (0.2-1.7 s when everything shared both CPUs). A real cluster's control plane has machines
    of its own; :data:`bench.testbed.cluster.CONTROL_PLANE_CPU_SHARES` gives it its ~0.4 CPU
    first here.

    The runner and what it starts (the kubectl that creates the Jobs, our schedulers) get
    the control plane's weight too, in a cgroup beside the nodes' containers
    (:func:`bench.testbed.cluster.weighed_like_the_nodes`): left in the root cgroup, where the
    kernel's autogroup weighs a whole session like all the nodes together, they waited
    seconds for that CPU in a burst's start storm. Burst at ``275a7f8``, kube-scheduler and
    the binder: an API probe started like the runner waited up to 4.01 s for a CPU
    (its schedstat), the runs' last Jobs reached the API server 7.5 and 11.3 s after their
    submission and the binder's binds came a median 9.3 s after it; in the cgroup, the
    probe's slowest request took 0.09 s, every Job was created within 1.9 s, and the
    binder's binds came a median 1.2 s after submission (kube-scheduler's 0.7 s).
    """
    if cpus is None:
        yield
        return
    affinity = os.sched_getaffinity(0)
    control_plane = cluster.control_plane_container(name)
    shares = cluster.container_cpu_shares(control_plane, cluster.CONTROL_PLANE_CPU_SHARES)
    os.sched_setaffinity(0, {int(cpu) for cpu in cpus.rest.split(",")})
    try:
        with cluster.weighed_like_the_nodes(cluster.CONTROL_PLANE_CPU_SHARES) as weighed:
            if not weighed:
                progress("the runner stays in its CPU cgroup (no cgroup v1 hierarchy to write)")
            yield
    finally:
        os.sched_setaffinity(0, affinity)
        with contextlib.suppress(cluster.ClusterError):
            cluster.container_cpu_shares(control_plane, shares)


def cpu_split(args: argparse.Namespace) -> cluster.CpuSplit | None:
    """The tasks' CPUs and the rest's (:func:`bench.testbed.cluster.dedicate_cpus`), or None
    when ``--work-cpus 0`` lets the tasks share every CPU."""
    return cluster.split_host_cpus(args.work_cpus) if args.work_cpus else None


def _stop(signum: int, _frame: object) -> None:
    """SIGTERM ends the run like Ctrl-C: through the ``finally`` that puts the cluster back."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _stop)
    try:
        if args.smoke:
            print(json.dumps(smoke(args), indent=1, sort_keys=True))
            return 0
        if args.rerender:
            doc = json.loads((Path(args.out) / "testbed.json").read_text())
            doc["notes"] = NOTES  # the page's explanations, as the current code gives them
            doc["predicted_at"] = commit()
            doc = report.resummarize(repredict(doc))
            for entry in doc["scenarios"]:
                # Predicted against measured moves with the model: draw the plots again.
                for plot_name in entry.get("plots") or []:
                    report.plot(entry, Path(args.out) / plot_name)
            report.write(doc, Path(args.out))
            return 0
        # Made before the run, not at its first plot: a missing directory used to end a
        # finished run with FileNotFoundError and lose what it measured.
        Path(args.out).mkdir(parents=True, exist_ok=True)
        doc = full(args)
    except (cluster.ClusterError, plan.PlanError) as err:
        progress(f"failed: {err}")
        return 1
    report.write(doc, Path(args.out))
    (Path(args.out) / "testbed.partial.json").unlink(missing_ok=True)
    progress(f"wrote {args.out}/testbed.md and testbed.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
