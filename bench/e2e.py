"""End to end on a real control plane: pods created at once until every one is bound.

Four binders on kwok clusters of the same generated nodes (``bench.workloads.kube_nodes``):

(a) ``cloudedge run --mode scheduler`` (pods name ``schedulerName: cloud-edge-scheduler``);
(b) kube-scheduler alone, default configuration (pods without ``schedulerName``);
(c) kube-scheduler with our extender: a second cluster whose kube-scheduler runs a copy of
    manifests/scheduler-config/kube-scheduler-config.yaml pointed at ``cloudedge run --mode
    extender`` (annotated pods, so filter, prioritize and bind do real work);
(d) the ceiling: bench/minimal_binder.py, same client, watch, Binding call and concurrency,
    no scoring.

Every pod has the same annotated spec (only ``schedulerName`` differs) and asks 100m CPU and
64Mi, so any N here fits many times over and no node can be overcommitted. For each pod the
bench records when its create call returned and when its own watch first saw
``spec.nodeName``; pods per second is N / (last bound - first create).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client import exceptions as k8s_exc

from bench import common, workloads
from cloudedge.cluster import client as ce_client

SEED = 20240702
BEFORE: dict[str, Any] = {
    "commit": "7f22f69",
    "date": "2026-11-25",
    "load": "2-13",
    # pods -> (a)/(b), (a)/(d), (c)/(b), as docs/benchmarks.json recorded them then
    "ratios": {1000: (0.788, 0.331, 0.394), 5000: (1.089, 1.016, 0.877)},
}
"""The ratios of the previous page (same machine, same benchmark), for the before/after table."""
MAIN_CLUSTER = "cloudedge-bench"
EXT_CLUSTER = "cloudedge-bench-ext"
OUR_SCHEDULER = "cloud-edge-scheduler"
MINIMAL_SCHEDULER = "bench-minimal-binder"
CREATE_THREADS = 16
POD_CPU, POD_MEMORY = "100m", "64Mi"
IMAGE = "registry.k8s.io/pause:3.10"
SHIPPED_CONFIG = common.REPO_ROOT / "manifests" / "scheduler-config" / "kube-scheduler-config.yaml"
CONTROL_PLANE = ("kube-apiserver", "etcd", "kube-scheduler", "kwok-controller")
"""Control-plane processes whose CPU time per pod is recorded (kube-controller-manager idles)."""
MODES = {
    "a": "cloudedge operator",
    "b": "kube-scheduler",
    "c": "kube-scheduler + extender",
    "d": "minimal binder",
}


def cache_dir() -> Path:
    return Path(os.environ.get("CACHE_DIR") or Path.home() / ".cache" / "cloudedge")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- clusters ----------------------------------------------------------------------------------


SETTLE_TIMEOUT_S = 300.0
"""How long a fresh cluster's nodes may keep the lifecycle controller's taints."""


class KwokCluster:
    """A kwokctl cluster of ours, started and stopped with hack/cluster-up.sh / cluster-down.sh."""

    def __init__(self, name: str, nodes_file: Path, scheduler_config: Path | None = None) -> None:
        if not name.startswith("cloudedge-bench"):
            raise ValueError(f"the bench only touches clusters named cloudedge-bench*: {name}")
        self.name = name
        self.nodes_file = nodes_file
        self.scheduler_config = scheduler_config
        self.kubeconfig = str(cache_dir() / "clusters" / name / "kubeconfig")
        self.log = Path(tempfile.mkstemp(prefix=f"{name}-up-", suffix=".log")[1])
        self.settled_after_s = math.nan
        """Seconds from cluster-up.sh's return until no node was tainted (see up())."""

    def _env(self) -> dict[str, str]:
        env = dict(os.environ, CLUSTER_NAME=self.name, NODES_FILE=str(self.nodes_file))
        env["CLUSTER_UP_TIMEOUT"] = "300"
        env.pop("KUBE_SCHEDULER_CONFIG", None)
        if self.scheduler_config is not None:
            env["KUBE_SCHEDULER_CONFIG"] = str(self.scheduler_config)
        return env

    def up(self) -> None:
        with self.log.open("ab") as log:
            proc = subprocess.run(
                [str(common.HACK_DIR / "cluster-up.sh")],
                env=self._env(),
                stdout=log,
                stderr=log,
                timeout=900,
                check=False,
            )
        if proc.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"cluster-up.sh for {self.name} failed:\n{tail}")
        self.settled_after_s = self._wait_untainted()

    def _wait_untainted(self) -> float:
        """Seconds until no node carries a ``node.kubernetes.io/`` taint (not-ready,
        unreachable), bounded by :data:`SETTLE_TIMEOUT_S`.

        cluster-up.sh returns when every node is Ready; the node lifecycle controller lifts
        the not-ready taints after that (on the bench's 1,000 nodes within 1-2 s; a quarter
        of 100 nodes changed taints in the 40 s after a start in one watch). Every lifted
        taint is a node change to each scheduler's cache (and a rebuild of our view's model
        state): a run timed meanwhile measures the cluster settling.
        """
        api = ce_client.api_client(self.kubeconfig)
        started = time.monotonic()
        try:
            core = k8s.CoreV1Api(api)
            while True:
                nodes = core.list_node().items
                tainted = sum(
                    1
                    for node in nodes
                    if any(
                        t.key.startswith("node.kubernetes.io/")
                        for t in (node.spec.taints if node.spec and node.spec.taints else [])
                    )
                )
                waited = time.monotonic() - started
                if tainted == 0:
                    return waited
                if waited > SETTLE_TIMEOUT_S:
                    raise RuntimeError(
                        f"{self.name}: {tainted} of {len(nodes)} nodes still carry a "
                        f"node.kubernetes.io/ taint after {SETTLE_TIMEOUT_S:.0f}s"
                    )
                time.sleep(2.0)
        finally:
            api.close()  # type: ignore[no-untyped-call]

    def component_pids(self) -> dict[str, int]:
        """PIDs of the control plane's processes, from kwokctl's pid files."""
        pids: dict[str, int] = {}
        folder = cache_dir() / "kwok" / "clusters" / self.name / "pids"
        for name in CONTROL_PLANE:
            with contextlib.suppress(OSError, ValueError):
                pids[name] = int((folder / f"{name}.pid").read_text().strip())
        return pids

    def down(self) -> None:
        env = dict(os.environ, CLUSTER_NAME=self.name)
        with self.log.open("ab") as log:
            proc = subprocess.run(
                [str(common.HACK_DIR / "cluster-down.sh")],
                env=env,
                stdout=log,
                stderr=log,
                timeout=300,
                check=False,
            )
        if proc.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"cluster-down.sh for {self.name} failed:\n{tail}")
        self.log.unlink(missing_ok=True)  # its tail is in any error raised by up()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of process ``pid`` (/proc/<pid>/stat), all threads."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


IDLE_SAMPLE_S = 15.0
"""How long each cluster's control plane is watched, idle, before its first run."""


def idle_cores(cluster: KwokCluster, progress: common.Progress) -> dict[str, float]:
    """Cores each control-plane process uses with no pod to place: what every run's per-pod
    CPU figures carry for as long as the run lasts, whatever the binder."""
    pids = cluster.component_pids()
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    time.sleep(IDLE_SAMPLE_S)
    cores = {
        name: round((cpu_seconds(pid) - before[name]) / IDLE_SAMPLE_S, 3)
        for name, pid in pids.items()
    }
    progress(
        f"e2e: {cluster.name}: nodes untainted {cluster.settled_after_s:.0f}s after "
        f"cluster-up.sh; idle for {IDLE_SAMPLE_S:.0f}s: cores {cores}"
    )
    return cores


# -- processes ---------------------------------------------------------------------------------


class Process:
    """A child process on 127.0.0.1 with its log in a temp file."""

    def __init__(self, name: str, args: Sequence[str]) -> None:
        self.name = name
        self.args = list(args)
        self.log = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port: int | None = None
        self.stats_file: Path | None = None

    def start(self) -> Process:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, env=dict(os.environ))
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def memory_kb(self) -> dict[str, int]:
        """VmHWM (peak resident) and VmRSS from /proc/<pid>/status, in kB."""
        out: dict[str, int] = {}
        if self.proc is None:
            return out
        with contextlib.suppress(OSError), open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    out[key] = int(value.split()[0])
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time so far (/proc/<pid>/stat), all threads."""
        return math.nan if self.proc is None else cpu_seconds(self.proc.pid)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def remove_log(self) -> None:
        with contextlib.suppress(OSError):
            self.log.unlink()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def start_cloudedge(
    kubeconfig: str,
    mode: str,
    *,
    extender_port: int | None = None,
    extra_args: Sequence[str] = (),
) -> Process:
    """``cloudedge run`` in ``mode`` (and ``extra_args``), healthy (its view has listed nodes
    and pods)."""
    metrics_port = free_port()
    proc = Process(
        f"cloudedge-{mode}",
        [
            sys.executable,
            "-m",
            "cloudedge.cli",
            "run",
            "--kubeconfig",
            kubeconfig,
            "--mode",
            mode,
            "--bind-address",
            "127.0.0.1",
            "--metrics-port",
            str(metrics_port),
            "--extender-port",
            str(extender_port or free_port()),
            "--no-leader-elect",
            "--log-format",
            "text",
            *extra_args,
        ],
    ).start()
    proc.metrics_port = metrics_port
    url = f"http://127.0.0.1:{metrics_port}/healthz"

    def healthy() -> bool:
        if not proc.alive():
            raise RuntimeError(f"cloudedge run exited: {proc.tail()}")
        return http_ok(url)

    common.wait_until(f"cloudedge run --mode {mode} /healthz", healthy, timeout=120)
    return proc


TIMED_METRICS = ("cloudedge_binding_duration_seconds", "cloudedge_scheduling_duration_seconds")


def scrape(proc: Process | None) -> dict[str, float]:
    """``_sum`` and ``_count`` of the operator's duration histograms (empty when unavailable)."""
    if proc is None or proc.metrics_port is None:
        return {}
    from prometheus_client.parser import text_string_to_metric_families

    try:
        url = f"http://127.0.0.1:{proc.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.removesuffix("_sum").removesuffix("_count") in TIMED_METRICS and (
                sample.name.endswith(("_sum", "_count"))
            ):
                out[sample.name] = out.get(sample.name, 0.0) + float(sample.value)
    return out


def start_minimal_binder(kubeconfig: str) -> Process:
    ready = Path(tempfile.mkstemp(prefix="bench-binder-", suffix=".ready")[1])
    ready.unlink()
    proc = Process(
        "minimal-binder",
        [
            sys.executable,
            "-m",
            "bench.minimal_binder",
            "--kubeconfig",
            kubeconfig,
            "--scheduler-name",
            MINIMAL_SCHEDULER,
            "--ready-file",
            str(ready),
            "--stats-file",
            str(ready.with_suffix(".stats")),
        ],
    ).start()
    proc.stats_file = ready.with_suffix(".stats")

    def is_ready() -> bool:
        if not proc.alive():
            raise RuntimeError(f"minimal binder exited: {proc.tail()}")
        return ready.exists()

    common.wait_until("minimal binder ready", is_ready, timeout=60)
    ready.unlink()
    return proc


def pyspy_path() -> str | None:
    """py-spy next to this Python (the dev extra installs it), else on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if os.access(here, os.X_OK) else shutil.which("py-spy")


PYSPY_CATEGORIES = {
    "new TLS connections (handshake, context, socket setup)": (
        "do_handshake",
        "ssl_wrap_socket",
        "SSLContext",
        "create_connection",
    ),
    "Event writes (EventRecorder.event)": ("EventRecorder.event",),
    "Binding calls (binding.bind)": ("bind (cloudedge/cluster/binding.py",),
    "the model (scoring.evaluate)": ("evaluate (cloudedge/model/scoring.py",),
    "decisions (ClusterView.decide)": ("decide (cloudedge/cluster/view.py",),
    "pod and node watches (reflector)": ("cloudedge/cluster/reflector.py",),
    "kopf (NetworkTopology status)": ("kopf/",),
    "logging": ("logging/__init__.py",),
}
"""Stack categories of the operator's py-spy profile: a sample counts for every category one
of whose needles appears in its stack (so categories overlap)."""
TLS_CATEGORY = "new TLS connections (handshake, context, socket setup)"
TLS_SITES = ("Event writes (EventRecorder.event)", "Binding calls (binding.bind)")
"""Call sites whose share of connection setup is reported on its own."""


def summarize_pyspy(raw_path: Path, *, top: int = 14) -> dict[str, Any]:
    """Self and inclusive shares of the sampled frames (py-spy ``--format raw``)."""
    self_counts: dict[str, int] = {}
    incl_counts: dict[str, int] = {}
    category_counts = dict.fromkeys(PYSPY_CATEGORIES, 0)
    tls_counts = dict.fromkeys(TLS_SITES, 0)
    total = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        self_counts[frames[-1]] = self_counts.get(frames[-1], 0) + count
        for frame in set(frames):
            incl_counts[frame] = incl_counts.get(frame, 0) + count
        hits = {
            category
            for category, needles in PYSPY_CATEGORIES.items()
            if any(needle in frame for frame in frames for needle in needles)
        }
        for category in hits:
            category_counts[category] += count
        if TLS_CATEGORY in hits:
            for site in TLS_SITES:
                if site in hits:
                    tls_counts[site] += count
    total = max(total, 1)

    def rows(counts: dict[str, int], keep: Any) -> list[dict[str, Any]]:
        picked = sorted(((c, f) for f, c in counts.items() if keep(f)), reverse=True)[:top]
        return [{"frame": f, "share": c / total} for c, f in picked]

    return {
        "samples": total,
        "self": rows(self_counts, lambda f: True),
        "inclusive": rows(incl_counts, lambda f: "cloudedge/" in f or "kopf/" in f),
        "categories": {k: v / total for k, v in category_counts.items()},
        "tls_by_site": {k: v / total for k, v in tls_counts.items()},
    }


def _short_frame(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py:12)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("/site-packages/", "/operator/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})" if where else name


# -- one run -----------------------------------------------------------------------------------


class BindWatch(threading.Thread):
    """List and watch the namespace's pods; record when each is first seen with a node."""

    def __init__(self, core: k8s.CoreV1Api, namespace: str, deadline_s: float) -> None:
        super().__init__(name="bind-watch", daemon=True)
        self.core = core
        self.namespace = namespace
        self.deadline = time.monotonic() + deadline_s
        self.bound: dict[str, tuple[float, str]] = {}
        self.stop = threading.Event()
        self.errors = 0

    def _see(self, obj: dict[str, Any], now: float) -> None:
        node = (obj.get("spec") or {}).get("nodeName")
        name = str((obj.get("metadata") or {}).get("name") or "")
        if node and name not in self.bound:
            self.bound[name] = (now, str(node))

    def run(self) -> None:
        raw: Any = self.core.list_namespaced_pod(
            self.namespace, _preload_content=False, _request_timeout=60
        )
        listed = json.loads(raw.data)
        version = str(listed["metadata"].get("resourceVersion") or "")
        for obj in listed.get("items") or []:
            self._see(obj, time.monotonic())
        while not self.stop.is_set() and time.monotonic() < self.deadline and self.errors < 20:
            w = k8s_watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for event in w.stream(  # type: ignore[no-untyped-call]
                    self.core.list_namespaced_pod,
                    self.namespace,
                    resource_version=version,
                    timeout_seconds=10,
                    allow_watch_bookmarks=True,
                    deserialize=False,
                    _request_timeout=40,
                ):
                    now = time.monotonic()
                    obj = event.get("object") or {}
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self._see(obj, now)
                    if self.stop.is_set():
                        break
            except Exception:  # a dropped watch resumes from the last version (bounded)
                self.errors += 1
                time.sleep(0.5)


def pod_body(k: int, sites: Sequence[str], scheduler_name: str | None) -> dict[str, Any]:
    """The one annotated pod spec of every run (only ``schedulerName`` differs)."""
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "c",
                "image": IMAGE,
                "resources": {"requests": {"cpu": POD_CPU, "memory": POD_MEMORY}},
            }
        ],
        "terminationGracePeriodSeconds": 0,
    }
    if scheduler_name:
        spec["schedulerName"] = scheduler_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"bench-{k:05d}",
            "labels": {"app": "cloudedge-bench"},
            "annotations": {
                "cloudedge.io/workload": "latency-sensitive",
                "cloudedge.io/data-source": sites[k % len(sites)],
                "cloudedge.io/data-size-mb": "2",
                "cloudedge.io/compute-cost": "200",
                "cloudedge.io/max-latency-ms": "2000",
            },
        },
        "spec": spec,
    }


def connection_probe(core: k8s.CoreV1Api, calls: int = 200) -> dict[str, float]:
    """Client CPU and wall time per API call when the reply is left unread vs read.

    ``_preload_content=False`` without reading the body keeps the connection out of urllib3's
    pool, so the next call opens a new TLS connection; binding.bind and EventRecorder.event
    call the API that way. Measured with Event creates in ``default`` (our own cluster).
    """
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "bench-probe.", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "bench-probe", "namespace": "default"},
        "reason": "BenchProbe",
        "message": "connection reuse probe",
        "type": "Normal",
    }
    out: dict[str, float] = {}
    for mode in ("unread", "read", "unread", "read"):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for _ in range(calls):
            resp: Any = core.create_namespaced_event(
                "default", cast(Any, body), _preload_content=False, _request_timeout=10
            )
            if mode == "read":
                _ = resp.data
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        # Two rounds each; keep the second (the first warms the pool and the server).
        out[f"{mode}_wall_ms"] = wall / calls * 1000
        out[f"{mode}_cpu_ms"] = cpu / calls * 1000
    return out


def make_namespace(core: k8s.CoreV1Api, name: str) -> None:
    core.create_namespace(cast(Any, {"metadata": {"name": name}}), _preload_content=False)
    # The ServiceAccount admission plugin rejects pods until the namespace's default SA exists.
    common.wait_until(
        f"serviceaccount default in {name}",
        lambda: core.read_namespaced_service_account("default", name, _preload_content=False),
        timeout=60,
    )


def delete_namespace(core: k8s.CoreV1Api, name: str, *, timeout: float) -> bool:
    """Force-delete its pods, delete it, and wait (bounded) until it is gone."""
    with contextlib.suppress(k8s_exc.ApiException):
        core.delete_collection_namespaced_pod(
            name, grace_period_seconds=0, _preload_content=False, _request_timeout=120
        )
    with contextlib.suppress(k8s_exc.ApiException):
        core.delete_namespace(name, _preload_content=False)

    def gone() -> bool:
        try:
            core.read_namespace(name, _preload_content=False)
        except k8s_exc.ApiException as err:
            return bool(err.status == 404)
        return False

    try:
        common.wait_until(f"namespace {name} deleted", gone, timeout=timeout, interval=1.0)
    except TimeoutError:
        return False
    return True


def run_pods(
    core: k8s.CoreV1Api,
    *,
    namespace: str,
    n_pods: int,
    sites: Sequence[str],
    scheduler_name: str | None,
    allocatable: dict[str, tuple[float, float, float]],
    progress: common.Progress,
) -> dict[str, Any]:
    """Create ``n_pods`` at once and wait (bounded) until every one is bound."""
    make_namespace(core, namespace)
    timeout = max(180.0, n_pods / 8.0)
    watcher = BindWatch(core, namespace, timeout + 60)
    watcher.start()
    time.sleep(1.0)  # the watch is established before the first pod exists
    created: dict[str, float] = {}
    failures: list[str] = []

    def create(k: int) -> None:
        body = pod_body(k, sites, scheduler_name)
        for attempt in range(3):
            try:
                resp: Any = core.create_namespaced_pod(
                    namespace, cast(Any, body), _preload_content=False, _request_timeout=60
                )
                _ = resp.data  # read the reply: only then does urllib3 reuse the connection
                created[body["metadata"]["name"]] = time.monotonic()
                return
            except Exception as err:  # a 429 or a dropped connection: retry twice
                if attempt == 2:
                    failures.append(f"{body['metadata']['name']}: {err}")
                time.sleep(0.2)

    t_start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(create, range(n_pods)))
    t_created = time.monotonic()
    progress(f"  created {len(created)}/{n_pods} pods in {t_created - t_start:.1f}s")
    end = time.monotonic() + timeout
    last_report = time.monotonic()
    while time.monotonic() < end and len(watcher.bound) < len(created):
        time.sleep(0.25)
        if time.monotonic() - last_report > 15:
            last_report = time.monotonic()
            progress(f"  {len(watcher.bound)}/{len(created)} bound")
    watcher.stop.set()
    bound = dict(watcher.bound)
    latencies = [bound[name][0] - t for name, t in created.items() if name in bound]
    first_create = min(created.values()) if created else t_start
    last_bound = max((b[0] for b in bound.values()), default=first_create)
    per_node: dict[str, int] = {}
    for _, node in bound.values():
        per_node[node] = per_node.get(node, 0) + 1
    cpu_m, mem = 100.0, 64 * 2**20
    over = sum(
        1
        for node, count in per_node.items()
        if node in allocatable
        and (
            count * cpu_m > allocatable[node][0]
            or count * mem > allocatable[node][1]
            or count > allocatable[node][2]
        )
    )
    span = last_bound - first_create
    return {
        "pods": n_pods,
        "created": len(created),
        "bound": len(bound),
        "create_failures": failures[:5],
        "create_seconds": t_created - t_start,
        "span_seconds": span,
        "pods_per_second": len(bound) / span if span > 0 and bound else 0.0,
        "latency_p50_s": common.percentile(latencies, 50),
        "latency_p99_s": common.percentile(latencies, 99),
        "latency_max_s": max(latencies) if latencies else float("nan"),
        "nodes_used": len(per_node),
        "max_pods_per_node": max(per_node.values(), default=0),
        "overcommitted_nodes": over,
        "complete": len(bound) == n_pods,
        "watch_errors": watcher.errors,
    }


# -- the whole e2e section ---------------------------------------------------------------------


def write_nodes(n_nodes: int) -> tuple[Path, list[str], dict[str, tuple[float, float, float]]]:
    objs = workloads.kube_nodes(n_nodes, random.Random(SEED))
    path = Path(tempfile.mkstemp(prefix="cloudedge-bench-nodes-", suffix=".yaml")[1])
    path.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    sites = sorted(
        {
            o["metadata"]["labels"]["cloudedge.io/site"]
            for o in objs
            if "edge" in o["metadata"]["name"]
        }
    )
    alloc = {}
    for o in objs:
        a = o["status"]["allocatable"]
        alloc[o["metadata"]["name"]] = (
            float(a["cpu"]) * 1000,
            float(a["memory"].removesuffix("Gi")) * 2**30,
            float(a["pods"]),
        )
    return path, sites, alloc


def extender_config(port: int) -> Path:
    """The shipped ignorable configuration with its urlPrefix on ``port``."""
    doc = yaml.safe_load(SHIPPED_CONFIG.read_text())
    (ext,) = doc["extenders"]
    ext["urlPrefix"] = f"http://127.0.0.1:{port}"
    path = Path(tempfile.mkstemp(prefix="cloudedge-bench-kube-scheduler-", suffix=".yaml")[1])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run(
    progress: common.Progress,
    *,
    quick: bool,
    keep_clusters: bool = False,
    modes: str = "abcd",
) -> tuple[common.Numbers, dict[str, Any]]:
    n_nodes = 100 if quick else 1000
    counts = (200,) if quick else (1000, 5000)
    nodes_file, sites, alloc = write_nodes(n_nodes)
    results: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in modes}
    memory: dict[str, float] = {}
    profile: dict[str, Any] = {}
    meta: dict[str, Any] = {
        "nodes": n_nodes,
        "counts": list(counts),
        "kubernetes": "",
        "idle_cores": {},
    }
    try:
        if set(modes) & set("abd"):
            cluster = KwokCluster(MAIN_CLUSTER, nodes_file)
            progress(f"e2e: starting cluster {cluster.name} with {n_nodes} kwok nodes")
            cluster.up()
            try:
                meta["kubernetes"] = _server_version(cluster.kubeconfig)
                meta["idle_cores"]["main"] = idle_cores(cluster, progress)
                _main_cluster_runs(
                    cluster, counts, sites, alloc, modes, results, memory, profile, progress
                )
            finally:
                if not keep_clusters:
                    progress(f"e2e: stopping cluster {cluster.name}")
                    cluster.down()
        if "c" in modes:
            port = free_port()
            config = extender_config(port)
            cluster = KwokCluster(EXT_CLUSTER, nodes_file, scheduler_config=config)
            progress(f"e2e: starting cluster {cluster.name} (kube-scheduler + extender :{port})")
            cluster.up()
            try:
                meta["kubernetes"] = meta["kubernetes"] or _server_version(cluster.kubeconfig)
                meta["idle_cores"]["extender"] = idle_cores(cluster, progress)
                _extender_runs(cluster, port, counts, sites, alloc, results, progress)
            finally:
                if not keep_clusters:
                    progress(f"e2e: stopping cluster {cluster.name}")
                    cluster.down()
                config.unlink()
    finally:
        nodes_file.unlink()
    return _numbers(results, memory, counts, n_nodes), {
        "results": results,
        "memory": memory,
        "profile": profile,
        "quick": quick,
        **meta,
    }


def _server_version(kubeconfig: str) -> str:
    api = ce_client.api_client(kubeconfig)
    try:
        info = k8s.VersionApi(api).get_code()
        return str(info.git_version)
    finally:
        api.close()  # type: ignore[no-untyped-call]


def _one(
    core: k8s.CoreV1Api,
    mode: str,
    n: int,
    sites: Sequence[str],
    alloc: dict[str, tuple[float, float, float]],
    scheduler_name: str | None,
    progress: common.Progress,
    *,
    label: str = "",
    binder: Process | None = None,
    cluster: KwokCluster | None = None,
) -> dict[str, Any]:
    namespace = f"bench-{mode}-{n}" + (f"-{label}" if label else "")
    progress(f"e2e: ({mode}) {MODES[mode]}: {n} pods {label}")
    cpu_before = binder.cpu_seconds() if binder is not None else math.nan
    pids = cluster.component_pids() if cluster is not None else {}
    metrics_before = scrape(binder)
    plane_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    try:
        result = run_pods(
            core,
            namespace=namespace,
            n_pods=n,
            sites=sites,
            scheduler_name=scheduler_name,
            allocatable=alloc,
            progress=progress,
        )
        cpu = (binder.cpu_seconds() if binder is not None else math.nan) - cpu_before
        result["binder_cpu_seconds"] = cpu
        result["binder_cpu_ms_per_pod"] = cpu / max(result["bound"], 1) * 1000.0
        metrics_after = scrape(binder)
        for name in TIMED_METRICS:
            count = metrics_after.get(f"{name}_count", 0.0) - metrics_before.get(
                f"{name}_count", 0.0
            )
            total = metrics_after.get(f"{name}_sum", 0.0) - metrics_before.get(f"{name}_sum", 0.0)
            if count > 0:
                result[f"{name.removeprefix('cloudedge_')}_mean"] = total / count
        # Creation and binding together, so comparable between binders (creation is the same).
        result["control_plane_cpu_ms_per_pod"] = {
            name: (cpu_seconds(pid) - plane_before[name]) / max(result["bound"], 1) * 1000.0
            for name, pid in pids.items()
        }
    finally:
        t0 = time.monotonic()
        cleaned = delete_namespace(core, namespace, timeout=300)
        progress(f"  cleanup {'done' if cleaned else 'TIMED OUT'} in {time.monotonic() - t0:.1f}s")
    progress(
        f"  ({mode}) {n} pods: {result['bound']}/{n} bound, "
        f"{result['pods_per_second']:.1f} pods/s, "
        f"p50 {result['latency_p50_s']:.2f}s p99 {result['latency_p99_s']:.2f}s, "
        f"overcommitted nodes {result['overcommitted_nodes']}"
    )
    return result


def _main_cluster_runs(
    cluster: KwokCluster,
    counts: Sequence[int],
    sites: Sequence[str],
    alloc: dict[str, tuple[float, float, float]],
    modes: str,
    results: dict[str, dict[int, dict[str, Any]]],
    memory: dict[str, float],
    profile: dict[str, Any],
    progress: common.Progress,
) -> None:
    api = ce_client.api_client(cluster.kubeconfig)
    core = k8s.CoreV1Api(api)
    try:
        probe = connection_probe(core)
        memory.update({f"probe_{k}": v for k, v in probe.items()})
        progress(
            "e2e: API call with the reply unread (new TLS connection each time): "
            f"{probe['unread_cpu_ms']:.2f} ms client CPU, {probe['unread_wall_ms']:.2f} ms wall; "
            f"read: {probe['read_cpu_ms']:.2f} ms CPU, {probe['read_wall_ms']:.2f} ms wall"
        )
        for ns in core.list_namespace().items:  # leftovers of an interrupted run
            name = str(ns.metadata.name if ns.metadata else "")
            if name.startswith("bench-"):
                delete_namespace(core, name, timeout=300)
        for n in counts:
            if "b" in modes:
                results["b"][n] = _one(core, "b", n, sites, alloc, None, progress, cluster=cluster)
            if "a" in modes:
                proc = start_cloudedge(cluster.kubeconfig, "scheduler")
                try:
                    results["a"][n] = _one(
                        core,
                        "a",
                        n,
                        sites,
                        alloc,
                        OUR_SCHEDULER,
                        progress,
                        binder=proc,
                        cluster=cluster,
                    )
                    mem = proc.memory_kb()
                    memory[f"a_{n}_vmhwm_kb"] = float(mem.get("VmHWM", 0))
                    memory[f"a_{n}_vmrss_kb"] = float(mem.get("VmRSS", 0))
                    progress(f"  operator VmHWM {mem.get('VmHWM', 0) / 1024:.0f} MiB")
                finally:
                    proc.stop()
                    proc.remove_log()
            if "d" in modes:
                proc = start_minimal_binder(cluster.kubeconfig)
                try:
                    results["d"][n] = _one(
                        core,
                        "d",
                        n,
                        sites,
                        alloc,
                        MINIMAL_SCHEDULER,
                        progress,
                        binder=proc,
                        cluster=cluster,
                    )
                finally:
                    proc.stop()
                    proc.remove_log()
                    stats = _read_stats(proc)
                    if n in results["d"] and "bind_seconds_mean" in stats:
                        results["d"][n]["binding_duration_seconds_mean"] = stats[
                            "bind_seconds_mean"
                        ]
        spy = pyspy_path()
        if "a" in modes and spy is not None:
            profile["operator"] = _profile_operator(
                cluster, core, spy, counts[0], sites, alloc, progress
            )
    finally:
        api.close()  # type: ignore[no-untyped-call]


def _read_stats(proc: Process) -> dict[str, float]:
    """The minimal binder's exit statistics (empty when it wrote none)."""
    if proc.stats_file is None:
        return {}
    try:
        stats = json.loads(proc.stats_file.read_text())
    except (OSError, ValueError):
        return {}
    finally:
        proc.stats_file.unlink(missing_ok=True)
    return {k: float(v) for k, v in stats.items()}


def _profile_operator(
    cluster: KwokCluster,
    core: k8s.CoreV1Api,
    spy: str,
    n: int,
    sites: Sequence[str],
    alloc: dict[str, tuple[float, float, float]],
    progress: common.Progress,
) -> dict[str, Any]:
    """A separate, untimed run of (a) under py-spy: where the operator's CPU goes."""
    progress(f"e2e: profiling the operator with py-spy ({n} pods, not timed)")
    proc = start_cloudedge(cluster.kubeconfig, "scheduler")
    raw = Path(tempfile.mkstemp(prefix="bench-pyspy-", suffix=".txt")[1])
    assert proc.proc is not None
    recorder = subprocess.Popen(
        [
            *(spy, "record", "--pid", str(proc.proc.pid), "--format", "raw", "--rate", "100"),
            *("--nonblocking", "--output", str(raw)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = _one(
            core, "a", n, sites, alloc, OUR_SCHEDULER, progress, label="profiled", cluster=cluster
        )
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait(timeout=10)
        proc.stop()
        proc.remove_log()
    summary = summarize_pyspy(raw) if raw.exists() and raw.stat().st_size else {"samples": 0}
    with contextlib.suppress(OSError):
        raw.unlink()
    return {"pods": n, "pods_per_second": result["pods_per_second"], **summary}


def _extender_runs(
    cluster: KwokCluster,
    port: int,
    counts: Sequence[int],
    sites: Sequence[str],
    alloc: dict[str, tuple[float, float, float]],
    results: dict[str, dict[int, dict[str, Any]]],
    progress: common.Progress,
) -> None:
    api = ce_client.api_client(cluster.kubeconfig)
    core = k8s.CoreV1Api(api)
    proc = start_cloudedge(cluster.kubeconfig, "extender", extender_port=port)
    try:
        for n in counts:
            results["c"][n] = _one(
                core, "c", n, sites, alloc, None, progress, binder=proc, cluster=cluster
            )
    finally:
        proc.stop()
        proc.remove_log()
        api.close()  # type: ignore[no-untyped-call]


def _numbers(
    results: dict[str, dict[int, dict[str, Any]]],
    memory: dict[str, float],
    counts: Sequence[int],
    n_nodes: int,
) -> common.Numbers:
    names = {
        "a": "operator",
        "b": "kube_scheduler",
        "c": "kube_scheduler_extender",
        "d": "minimal_binder",
    }
    out: common.Numbers = {"e2e_nodes": float(n_nodes)}
    for key in ("unread_cpu_ms", "unread_wall_ms", "read_cpu_ms", "read_wall_ms"):
        if f"probe_{key}" in memory:
            reply, what, _ = key.split("_")
            unit = "client_cpu" if what == "cpu" else "wall"
            out[f"e2e_api_call_reply_{reply}_{unit}_ms"] = round(memory[f"probe_{key}"], 3)
    for mode, by_n in results.items():
        for n, r in by_n.items():
            p = f"e2e_{names[mode]}_{n}_pods"
            out[f"{p}_per_second"] = round(r["pods_per_second"], 2)
            out[f"{p}_latency_seconds_p50"] = round(r["latency_p50_s"], 3)
            out[f"{p}_latency_seconds_p99"] = round(r["latency_p99_s"], 3)
            out[f"{p}_bound"] = float(r["bound"])
            out[f"{p}_overcommitted_nodes"] = float(r["overcommitted_nodes"])
            if "binding_duration_seconds_mean" in r:
                out[f"{p}_binding_call_ms_mean"] = round(
                    r["binding_duration_seconds_mean"] * 1e3, 2
                )
            for comp, ms in r.get("control_plane_cpu_ms_per_pod", {}).items():
                out[f"{p}_{comp.replace('-', '_')}_cpu_ms_per_pod"] = round(ms, 3)
            cpu_ms = r.get("binder_cpu_ms_per_pod", math.nan)
            if mode != "b" and not math.isnan(cpu_ms):
                out[f"{p}_process_cpu_ms_per_pod"] = round(cpu_ms, 3)
    for n in counts:
        a, b, c, d = (results.get(m, {}).get(n) for m in "abcd")
        if a and b:
            out[f"e2e_{n}_pods_operator_vs_kube_scheduler_ratio"] = round(
                a["pods_per_second"] / b["pods_per_second"], 3
            )
        if a and d:
            out[f"e2e_{n}_pods_operator_vs_minimal_binder_ratio"] = round(
                a["pods_per_second"] / d["pods_per_second"], 3
            )
        if c and b:
            out[f"e2e_{n}_pods_extender_vs_kube_scheduler_ratio"] = round(
                c["pods_per_second"] / b["pods_per_second"], 3
            )
        hwm = memory.get(f"a_{n}_vmhwm_kb")
        if hwm:
            out[f"e2e_operator_{n}_pods_peak_memory_mib"] = round(hwm / 1024, 1)
    return out
