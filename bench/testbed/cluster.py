"""The testbed's hands on a kind cluster: CPU quotas, link shaping, allocatable, images, objects.

Everything here shells out to ``docker``, ``tc`` and ``kubectl`` with bounded timeouts: the same
commands a person would type (docs/testbed.md lists them), and errors that carry the command's
own message. Facts relied on (shared KIND-HERE notes, item 15):

* the CFS quota of a node's pods cgroup (``kubelet-kubepods.slice``, set with ``systemctl
  set-property --runtime`` inside the node) caps what its pods compute together, and leaves the
  kubelet, containerd and runc outside it (``docker update --cpus`` would cap them too);
* tbf on the host side of a node's veth shapes what the node downloads, tbf inside the node on
  its ``eth0`` shapes what it uploads; the kernel has tbf and htb but no netem;
* a kind node's kubelet reads ``/etc/default/kubelet`` (``KUBELET_EXTRA_ARGS``), which
  ``make kind-up`` mounts from ``$CACHE_DIR/clusters/kind-<name>/kubelet-<node>.env``: the
  reservation that sets allocatable is rewritten there and the kubelet restarted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.testbed import plan

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("CACHE_DIR", str(Path.home() / ".cache" / "cloudedge")))
MIB = 1024 * 1024
EVICTION_MEMORY = 100 * MIB
"""The kubelet's hard eviction threshold that ``make kind-up`` sets; part of the arithmetic."""


class ClusterError(Exception):
    """A command on the cluster or the host failed; the message has the command and its output."""


def run(
    args: Sequence[str],
    *,
    input_text: str | None = None,
    timeout: float = 120.0,
    check: bool = True,
) -> str:
    """Run a command, return its stdout; a :class:`ClusterError` with stderr when it fails."""
    try:
        proc = subprocess.run(
            list(args),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ClusterError(f"{' '.join(args)}: {err}") from err
    if check and proc.returncode != 0:
        raise ClusterError(
            f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-800:]}"
        )
    return proc.stdout


def kubectl_path() -> str:
    """kubectl from PATH, else the one ``hack/build-tools.sh`` built."""
    found = shutil.which("kubectl")
    if found:
        return found
    bindir = run([str(REPO_ROOT / "hack" / "build-tools.sh"), "--print-bindir"]).strip()
    path = Path(bindir) / "kubectl"
    if not path.exists():
        raise ClusterError(f"no kubectl on PATH nor in {bindir}: run `make tools`")
    return str(path)


@dataclasses.dataclass
class Kube:
    """kubectl against one kubeconfig."""

    kubeconfig: Path
    kubectl: str = dataclasses.field(default_factory=kubectl_path)

    def __call__(self, *args: str, input_text: str | None = None, timeout: float = 120.0) -> str:
        return run(
            [self.kubectl, "--kubeconfig", str(self.kubeconfig), *args],
            input_text=input_text,
            timeout=timeout,
        )

    def json(self, *args: str) -> Any:
        return json.loads(self("-o", "json", *args))

    def apply(self, objects: Sequence[Mapping[str, Any]]) -> None:
        doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        self("apply", "--server-side", "--force-conflicts", "-f", "-", input_text=json.dumps(doc))

    def create(self, obj: Mapping[str, Any]) -> None:
        self("create", "-f", "-", input_text=json.dumps(obj))


def kubeconfig_path(cluster: str) -> Path:
    """Where ``make kind-up`` writes the cluster's kubeconfig."""
    return CACHE_DIR / "clusters" / f"kind-{cluster}" / "kubeconfig"


def kubelet_env_path(cluster: str, node: str) -> Path:
    """The host file a kind node's ``/etc/default/kubelet`` is mounted from (``make kind-up``)."""
    return CACHE_DIR / "clusters" / f"kind-{cluster}" / f"kubelet-{node}.env"


def node_containers(kube: Kube, cluster: str) -> dict[str, str]:
    """Kubernetes node name -> Docker container of a kind cluster's nodes.

    The names differ (kind names containers ``<cluster>-worker2``, the kubelet registers as the
    topology's node name), so they are matched by address: the node's InternalIP is its
    container's address on the kind network.
    """
    out = run(
        [
            "docker",
            "ps",
            "--filter",
            f"label=io.x-k8s.kind.cluster={cluster}",
            "--format",
            "{{.Names}}",
        ]
    )
    by_ip: dict[str, str] = {}
    for container in out.split():
        ips = run(
            [
                "docker",
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                container,
            ]
        )
        for ip in ips.split():
            by_ip[ip] = container
    if not by_ip:
        raise ClusterError(f"no Docker containers of kind cluster {cluster!r}: run make kind-up")
    mapping: dict[str, str] = {}
    for node in kube.json("get", "nodes")["items"]:
        addresses = node.get("status", {}).get("addresses", [])
        internal = [str(a["address"]) for a in addresses if a.get("type") == "InternalIP"]
        if internal and internal[0] in by_ip:
            mapping[node["metadata"]["name"]] = by_ip[internal[0]]
    return mapping


def host_veth(container: str) -> str:
    """The host-side interface of the container's ``eth0`` (its peer's ifindex is ``iflink``)."""
    index = run(["docker", "exec", container, "cat", "/sys/class/net/eth0/iflink"]).strip()
    for line in run(["ip", "-o", "link"]).splitlines():
        number, _, rest = line.partition(":")
        if number.strip() == index:
            return rest.strip().split(":")[0].split("@")[0]
    raise ClusterError(f"{container}: no host interface with ifindex {index} (ip -o link)")


def tbf_args(rate_mbps: float) -> list[str]:
    """``tc`` arguments of a tbf at ``rate_mbps`` Mbit/s.

    burst: 10 ms at the rate, at least 4 kB (a tbf burst under rate/HZ, or under two
    full-size frames, cannot reach its rate); latency 100 ms bounds the queue, which TCP then
    paces against. The burst passes at line rate, so it is kept small on slow links: at
    3.75 Mbit/s a 40 kB object took 0.022 s with a 32 kB floor and 0.083 s with 4 kB (its
    time at the rate: 0.085 s), while 4 MB ran at 3.6 Mbit/s with either.
    """
    if not (rate_mbps > 0 and math.isfinite(rate_mbps)):
        raise ClusterError(f"shaping rate {rate_mbps!r} Mbit/s: expected > 0")
    kbit = max(1, round(rate_mbps * 1000))
    burst = max(4 * 1024, round(rate_mbps * 1e6 / 8 * 0.010))
    return ["tbf", "rate", f"{kbit}kbit", "burst", str(burst), "latency", "100ms"]


def shape(container: str, rate_mbps: float) -> str:
    """Shape the node's download (host side of its veth) and upload (its eth0) to the rate."""
    args = tbf_args(rate_mbps)
    veth = host_veth(container)
    run(["tc", "qdisc", "replace", "dev", veth, "root", *args])
    run(["docker", "exec", container, "tc", "qdisc", "replace", "dev", "eth0", "root", *args])
    return veth


def unshape(container: str) -> None:
    """Remove both qdiscs (no error when there are none)."""
    veth = host_veth(container)
    run(["tc", "qdisc", "del", "dev", veth, "root"], check=False)
    run(["docker", "exec", container, "tc", "qdisc", "del", "dev", "eth0", "root"], check=False)


PODS_SLICE = "kubelet-kubepods.slice"
"""The systemd slice of every pod on a kind node (cgroup driver systemd, cgroupRoot /kubelet)."""


TASKS_CPU_SHARES = 65536
"""CPU weight of the tasks' quota and of the data servers (cgroup v1 ``cpu.shares``; the
default is 1024, the kernel's maximum 262144)."""

MIN_QUOTA_MS = 2.0
"""The least CPU time a quota period grants (the kernel refuses a quota under 1 ms)."""


def quota_period_ms(cpus: float) -> int:
    """The CFS period of a quota of ``cpus`` CPUs: 10 ms, or longer where that would grant
    less than :data:`MIN_QUOTA_MS` per period; never above the kernel's default 100 ms."""
    if not (cpus > 0 and math.isfinite(cpus)):
        raise ClusterError(f"CPU quota {cpus!r} CPUs: expected > 0")
    return int(min(100, max(10, math.ceil(MIN_QUOTA_MS / cpus))))


PODS_PARENT_SLICE = "kubelet.slice"
"""The slice that holds the pods slice, beside ``kubelet.service`` (kind's kubelet unit)."""


WORK_CGROUP = plan.QUOTA_CGROUP
"""The cgroup (v1 CPU controller, inside a kind node) that holds the node's CPU quota: every
task moves itself into a child of it before its transfer (:func:`bench.testbed.task.enter_quota`),
so the quota bounds the tasks' work and nothing else."""


def _lift_pods_cpu(container: str) -> None:
    """No quota and systemd's default weights on the node's pods slice and its parent, for
    this boot only: what an older testbed, which capped the pods slice itself, may have left."""
    systemctl = ["docker", "exec", container, "systemctl", "set-property", "--runtime"]
    run([*systemctl, PODS_SLICE, "CPUQuota=", "CPUQuotaPeriodSec=", "CPUShares="])
    run([*systemctl, PODS_PARENT_SLICE, "CPUShares="])


def cap_cpu(container: str, cpus: float) -> None:
    """Cap the node's tasks, together, at ``cpus`` CPUs: the CFS quota of
    :data:`WORK_CGROUP`, over a short quota period, weighed before the node's daemons and
    its starting pods.

    Why the tasks and not the node, nor its pods: a scenario's edge node of 4 CPUs becomes a
    quota of 0.15 CPUs here. A kubelet, containerd and runc squeezed into that took tens of
    seconds to start a container, which no 4-CPU node does. Nor the pods' slice: a pod's start
    costs about 0.1 CPU-s inside it (measured here: 48 ms for a pod whose container runs
    ``/bin/true``, the sandbox and runc's; 102 ms for the task, the interpreter and its
    imports), which at 0.15 CPUs is 0.7 s of the node's whole compute, 27 times what it costs
    the node the edge node stands for, taken from whatever task runs there then. So each task
    enters the quota once it has started (:func:`bench.testbed.task.enter_quota`) and leaves
    it at exit: the quota holds its fetch and its work and nothing of any start. In it each
    task has a child of its own whose ``cpu.shares`` follow its CPU request, as the kubelet
    weighs pods, so co-located tasks share the node's rate as the scenario's pods would.

    Why the short period: the kernel grants a quota per period, all at once: with the default
    100 ms, 0.15 CPUs is 15 ms of CPU and then nothing until the period ends. A detection
    task of the burst needs 8 ms of CPU, 53 ms at its node's rate: it runs in 8 ms when its
    period has quota left and waits most of a period when it has not. The model shares a
    node's rate fluidly; a period of 10 ms (longer only where the quota per period would fall
    under 2 ms) keeps those steps small beside such a task.

    Why the weight: the node's daemons weigh 1024 and its pods' slice (where pods start) what
    the kubelet gives it, in proportion to the allocatable (1024 or fewer); while a burst's
    containers started, they took the CPU a task's quota promised it. The
    quota's cgroup weighs :data:`TASKS_CPU_SHARES`, so the tasks have their quota first and the
    quota still bounds them. (The data servers get the same weight:
    :func:`move_to_servers_cgroup`.)
    """
    period_us = quota_period_ms(cpus) * 1000
    quota_us = max(1000, round(cpus * period_us))
    _lift_pods_cpu(container)
    # The old quota goes first, so the new period never applies to an older run's quota.
    script = (
        f"mkdir -p {WORK_CGROUP} && cd {WORK_CGROUP} && echo -1 > cpu.cfs_quota_us && "
        f"echo {period_us} > cpu.cfs_period_us && echo {quota_us} > cpu.cfs_quota_us && "
        f"echo {TASKS_CPU_SHARES} > cpu.shares"
    )
    run(["docker", "exec", container, "sh", "-c", script])


WORK_CPUSET = plan.WORK_CPUSET
"""The tasks' CPUs inside a kind node (cgroup v1 cpuset): :func:`dedicate_cpus`."""
REST_CPUSET = f"{plan.NODE_CPUSETS}/testbed-system"
"""Where a node's own processes (systemd, containerd, the kubelet) run while the tasks have
CPUs of their own: the node's root cpuset must keep the tasks' CPUs, as their parent."""
SERVERS_CPUSET = f"{plan.NODE_CPUSETS}/testbed-data"
"""The data servers' CPUs: the tasks' (:func:`move_to_servers_cgroup`)."""


@dataclasses.dataclass(frozen=True)
class CpuSplit:
    """The host's CPUs as two cpuset lists: the tasks' (``work``) and everything else's."""

    work: str
    rest: str


def split_host_cpus(work: int) -> CpuSplit:
    """The host's last ``work`` CPUs for the tasks and the others for the rest; a ClusterError
    when that leaves either side without a CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if not 0 < work < len(cpus):
        raise ClusterError(
            f"{work} CPU(s) for the tasks on a host of {len(cpus)}: the tasks need at least one "
            "CPU of their own and the nodes and the control plane at least one other"
        )
    return CpuSplit(
        work=",".join(str(c) for c in cpus[-work:]),
        rest=",".join(str(c) for c in cpus[:-work]),
    )


def dedicate_cpus(container: str, cpus: CpuSplit) -> None:
    """Run the node's tasks (and its data servers) on ``cpus.work`` and everything else of
    the node on ``cpus.rest``.

    Why: the quota bounds how much CPU the tasks get, not when they get it. On this 2-CPU
    host, while a burst's pods started, the nodes' kubelets, containerds and runcs and the
    control plane used 1.0-1.3 CPUs and a task within its quota waited 0.2-0.5 s per phase in
    the host's run queue: a quarter to a half of a 0.53 s deadline, which the scenario's node,
    whose daemons have cores of their own, never pays. With CPUs of their own the tasks wait
    only for each other, as the model's processor sharing says; pod starts, which the model
    counts as the wait-to-start, take what is left.

    How (cgroup v1, where a child's CPUs are a subset of its parent's): the node's root
    cpuset keeps every CPU; its processes but systemd move into :data:`REST_CPUSET` (systemd
    stays: the kubelet puts pods' cgroups under systemd's own); every other cpuset of
    the node narrows to ``cpus.rest`` deepest first, so that the pods the kubelet starts
    later inherit it; :data:`WORK_CPUSET` and :data:`SERVERS_CPUSET` get ``cpus.work``.
    A process started by ``docker exec`` lands in the root and may use any CPU: the runner's
    short commands, not the tasks' neighbours.
    """
    run(["docker", "exec", container, "sh", "-c", dedicate_script(plan.NODE_CPUSETS, cpus)])


_TESTBED_CPUSETS = tuple(
    path.removeprefix(plan.NODE_CPUSETS + "/")
    for path in (REST_CPUSET, WORK_CPUSET, SERVERS_CPUSET)
)


def dedicate_script(root: str, cpus: CpuSplit) -> str:
    """The shell script of :func:`dedicate_cpus` on the cpuset hierarchy at ``root``.

    A cgroup that goes while it runs (a pod deleted) is not an error; one that refuses its
    CPUs is.
    """
    rest, work, servers = _TESTBED_CPUSETS
    return (
        f"set -e; cd {root}; mems=$(cat cpuset.mems); "
        f"for d in {rest} {work} {servers}; do mkdir -p $d; echo $mems > $d/cpuset.mems; done; "
        f"echo {cpus.rest} > {rest}/cpuset.cpus; "
        f"for p in $(cat cgroup.procs); do [ $p = 1 ] || echo $p > {rest}/cgroup.procs "
        "2>/dev/null || true; done; "
        "find . -mindepth 1 -type d ! -path './testbed-*' "
        "| awk -F/ '{print NF, $0}' | sort -rn | cut -d' ' -f2- "
        f'| while read -r d; do echo {cpus.rest} > "$d/cpuset.cpus" 2>/dev/null '
        '|| [ ! -d "$d" ]; done; '
        f"echo {cpus.work} > {work}/cpuset.cpus; echo {cpus.work} > {servers}/cpuset.cpus"
    )


def share_cpus(container: str) -> None:
    """Undo :func:`dedicate_cpus`: every cpuset of the node gets all of the node's CPUs again
    (shallowest first), the node's processes go back to its root cpuset, and the testbed's
    cpusets go once empty."""
    run(["docker", "exec", container, "sh", "-c", share_script(plan.NODE_CPUSETS)])


def share_script(root: str) -> str:
    """The shell script of :func:`share_cpus` on the cpuset hierarchy at ``root``."""
    rest, work, servers = _TESTBED_CPUSETS
    return (
        f"cd {root} || exit 0; all=$(cat cpuset.cpus); "
        "find . -mindepth 1 -type d | awk -F/ '{print NF, $0}' | sort -n | cut -d' ' -f2- "
        '| while read -r d; do echo $all > "$d/cpuset.cpus" 2>/dev/null; done; '
        f"if [ -d {rest} ]; then for p in $(cat {rest}/cgroup.procs); do "
        "echo $p > cgroup.procs 2>/dev/null; done; fi; "
        f"find {rest} {work} {servers} -depth -type d 2>/dev/null "
        '| while read -r d; do rmdir "$d" 2>/dev/null; done; exit 0'
    )


def control_plane_container(cluster: str) -> str:
    """The Docker container of a kind cluster's control plane node."""
    out = run(
        [
            "docker",
            "ps",
            "--filter",
            f"label=io.x-k8s.kind.cluster={cluster}",
            "--filter",
            "label=io.x-k8s.kind.role=control-plane",
            "--format",
            "{{.Names}}",
        ]
    ).split()
    if len(out) != 1:
        raise ClusterError(
            f"kind cluster {cluster}: expected one control plane container, found {out}"
        )
    return out[0]


CONTROL_PLANE_CPU_SHARES = 8192
"""The control plane's weight on the nodes' CPU against each worker's 1,024 (Docker's)."""


CPU_CGROUPS = Path("/sys/fs/cgroup/cpu")
"""The host's cgroup v1 CPU hierarchy (Docker's containers are under ``docker/``)."""

HOST_CGROUP = "docker/cloudedge-testbed-host"
"""Where the runner and what it starts run while a run lasts (:func:`weighed_like_the_nodes`):
beside the node containers, under Docker's group."""


def own_cpu_cgroup(listing: Path = Path("/proc/self/cgroup")) -> str:
    """This process's cgroup in the v1 CPU hierarchy, relative to its root ("" for the root,
    and on a host without that hierarchy)."""
    for line in listing.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return path.strip("/")
    return ""


@contextlib.contextmanager
def weighed_like_the_nodes(
    shares: int, *, root: Path = CPU_CGROUPS, cgroup: str = HOST_CGROUP
) -> Iterator[bool]:
    """Run this process, and every process it starts meanwhile, in a CPU cgroup beside the
    node containers weighing ``shares``; back where it was afterwards. Yields whether it could
    (not on cgroup v2, nor without the right to write the hierarchy: the run goes on as
    before).

    Why: the kernel's autogroup puts every process of one session that stays in the root
    cgroup into one group, weighed like the whole of Docker's (all the nodes together); in a
    burst's start storm the runner, the kubectl that creates the Jobs and our schedulers
    then waited seconds for a CPU, where kube-scheduler and the Job controller, in the
    control plane's container, did not."""
    before = own_cpu_cgroup()
    target = root / cgroup
    try:
        target.mkdir(exist_ok=True)
        (target / "cpu.shares").write_text(f"{shares}\n")
        (target / "cgroup.procs").write_text(f"{os.getpid()}\n")
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            (root / before / "cgroup.procs").write_text(f"{os.getpid()}\n")
        with contextlib.suppress(OSError):
            target.rmdir()  # refused while a process it started still runs: left, reused


def container_cpu_shares(container: str, shares: int | None = None) -> int:
    """The ``cpu.shares`` of a node's container (its cgroup on the host); set to ``shares``
    first when given. Returns the value before any change."""
    cid = run(["docker", "inspect", "-f", "{{.Id}}", container]).strip()
    path = Path(f"/sys/fs/cgroup/cpu/docker/{cid}/cpu.shares")
    try:
        before = int(path.read_text())
        if shares is not None:
            path.write_text(f"{shares}\n")
    except (OSError, ValueError) as err:
        raise ClusterError(f"{container}: the CPU weight of its cgroup {path}: {err}") from err
    return before


def cpuset_cpus(container: str, path: str) -> str:
    """The CPUs the cpuset ``path`` inside the node allows (its ``cpuset.cpus``)."""
    return run(["docker", "exec", container, "cat", f"{path}/cpuset.cpus"]).strip()


SERVERS_CGROUP = f"{plan.NODE_CPU_CGROUPS}/testbed-data"
"""Where the data servers' processes run on a node: outside the pods' slice and the tasks'
quota (cgroup v1)."""


def move_to_servers_cgroup(container: str, pattern: str) -> int:
    """Move the node's processes whose command line matches ``pattern`` out of the pods'
    slice, into a cgroup of their own at the tasks' weight; return how many moved.

    Why: the data server stands for the site's storage (a camera store's recorder), not for a
    pod that competes for the node's compute. As a pod without requests it had CPU weight 2
    against hundreds for each task, and with the tasks busy a local fetch waited seconds for
    its first byte, which no storage device of the scenario does. Its traffic still leaves
    through the node's shaped link, and it is never in the tasks' quota (:func:`cap_cpu`).
    """
    # "[/]opt/..." matches the program but not this shell, whose command line holds "[/]".
    regex = f"'[{pattern[0]}]{pattern[1:]}'"
    script = (
        f"mkdir -p {SERVERS_CGROUP} && echo {TASKS_CPU_SHARES} > {SERVERS_CGROUP}/cpu.shares && "
        f"n=0 && for p in $(pgrep -f {regex}); do "
        f"echo $p > {SERVERS_CGROUP}/cgroup.procs && "
        f"{{ [ ! -d {SERVERS_CPUSET} ] || echo $p > {SERVERS_CPUSET}/cgroup.procs; }} && "
        "n=$((n+1)); done; echo $n"
    )
    moved = int(run(["docker", "exec", container, "sh", "-c", script]).strip() or 0)
    if moved == 0:
        raise ClusterError(
            f"{container}: no process matches {pattern!r} to move out of the pods' slice"
        )
    return moved


PODS_CGROUP = f"{plan.NODE_CPU_CGROUPS}/{PODS_PARENT_SLICE}/{PODS_SLICE}"
"""The pods slice's cgroup (v1 CPU controller) inside a kind node."""


def cpu_cgroup(container: str, path: str) -> tuple[int, int, int]:
    """``cpu.cfs_period_us``, ``cpu.cfs_quota_us`` (-1: none) and ``cpu.shares`` of the cgroup
    ``path`` inside the node (:data:`WORK_CGROUP`, :data:`PODS_CGROUP`).

    Read from the cgroup files, not from systemd: the kubelet writes the pods slice's weight
    itself, so only the files say what the kernel applies.
    """
    files = [f"{path}/{name}" for name in ("cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares")]
    words = run(["docker", "exec", container, "cat", *files]).split()
    try:
        period, quota, shares = (int(word) for word in words)
    except ValueError:
        raise ClusterError(
            f"{container}: unexpected period, quota and shares of {path}: {words!r}"
        ) from None
    return period, quota, shares


def uncap_cpu(container: str) -> None:
    """Lift the quota (its cgroup and the tasks' children removed, empty once the tasks have
    ended), the pods' weights, and a whole-node ``docker update --cpus`` an older run left.
    (The kubelet sets its own weight on the pods' slice again when it restarts.)"""
    _lift_pods_cpu(container)
    # A child still holding a process cannot go: its quota is lifted instead, so that nothing
    # stays capped by a run that ended.
    script = (
        f"[ -d {WORK_CGROUP} ] || exit 0; echo -1 > {WORK_CGROUP}/cpu.cfs_quota_us; "
        f"for d in {WORK_CGROUP}/*/; do rmdir $d 2>/dev/null; done; rmdir {WORK_CGROUP} "
        "2>/dev/null; exit 0"
    )
    run(["docker", "exec", container, "sh", "-c", script])
    # ``--cpus 0`` leaves a quota in place (it reads as "not given"); the host's CPU count
    # is a quota no node can reach.
    run(["docker", "update", "--cpus", str(os.cpu_count() or 1), container])


def host_capacity() -> tuple[int, int]:
    """CPU millicores and memory bytes a kind node's kubelet reports: the host's."""
    cpus = os.cpu_count() or 1
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return cpus * 1000, int(line.split()[1]) * 1024
    raise ClusterError("no MemTotal in /proc/meminfo")


_RESERVED = re.compile(r"--system-reserved=[^\s\"]*")
_EVICTION = re.compile(r"memory\.available<(\d+)Mi")


def with_reservation(
    text: str, cpu_m: float, memory: float, *, host_cpu_m: int, host_memory: int
) -> str:
    """``/etc/default/kubelet`` with the reservation that makes allocatable ``cpu_m`` and
    ``memory``; every other flag ``make kind-up`` wrote is kept as it is.

    Allocatable memory is capacity minus the reservation minus the hard eviction threshold, so
    the threshold is read from the same file (100 MiB when it names none).
    """
    match = _EVICTION.search(text)
    eviction = int(match.group(1)) * MIB if match else EVICTION_MEMORY
    reserved_cpu = host_cpu_m - math.floor(cpu_m)
    reserved_memory = host_memory - int(memory) - eviction
    if reserved_cpu < 0 or reserved_memory < 0:
        raise ClusterError(
            f"allocatable {cpu_m:.0f}m / {memory / MIB:.0f} MiB exceeds a kind node's capacity "
            f"({host_cpu_m}m / {host_memory // MIB} MiB)"
        )
    flag = f"--system-reserved=cpu={reserved_cpu}m,memory={reserved_memory // 1024}Ki"
    if _RESERVED.search(text):
        return _RESERVED.sub(flag, text, count=1)
    if 'KUBELET_EXTRA_ARGS="' in text:
        return text.replace('KUBELET_EXTRA_ARGS="', f'KUBELET_EXTRA_ARGS="{flag} ', 1)
    return text + f'KUBELET_EXTRA_ARGS="{flag}"\n'


def set_allocatable(
    kube: Kube,
    cluster: str,
    targets: Mapping[str, tuple[float, float]],
    containers: Mapping[str, str],
) -> None:
    """Make each node's allocatable (cpu m, memory bytes) the target, restarting kubelets that
    need it, then wait until the API server shows every node's new allocatable."""
    host_cpu_m, host_memory = host_capacity()
    restarted: list[str] = []
    for node, (cpu_m, memory) in targets.items():
        path = kubelet_env_path(cluster, node)
        if not path.exists():
            raise ClusterError(
                f"{path} is missing: the testbed sets allocatable through the kubelet env file "
                "that make kind-up mounts into each node"
            )
        old = path.read_text(encoding="utf-8")
        text = with_reservation(old, cpu_m, memory, host_cpu_m=host_cpu_m, host_memory=host_memory)
        if old == text:
            continue
        # Written in place (same inode): the node sees it through its bind mount.
        with path.open("r+", encoding="utf-8") as fh:
            fh.seek(0)
            fh.write(text)
            fh.truncate()
        run(["docker", "exec", containers[node], "systemctl", "restart", "kubelet"])
        restarted.append(node)
    deadline = time.monotonic() + 120
    while True:
        nodes = {n["metadata"]["name"]: n for n in kube.json("get", "nodes")["items"]}
        wrong = [
            name
            for name, (cpu_m, _memory) in targets.items()
            if _cpu_m(nodes[name]["status"]["allocatable"]["cpu"]) != math.floor(cpu_m)
            or not _ready(nodes[name])
        ]
        if not wrong:
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"allocatable not applied after 120 s on {', '.join(wrong)}")
        time.sleep(2)


def _cpu_m(quantity: str) -> int:
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return round(float(quantity) * 1000)


def _ready(node: Mapping[str, Any]) -> bool:
    for cond in node.get("status", {}).get("conditions", []):
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def image_tag(context: Path, dockerfile: Path) -> str:
    """``cloudedge-testbed-task:<hash>``: a content hash of the Dockerfile and the context files."""
    import hashlib

    digest = hashlib.sha256(dockerfile.read_bytes())
    for name in ("task.py", "dataserver.py"):
        digest.update(name.encode())
        digest.update((context / name).read_bytes())
    return f"cloudedge-testbed-task:{digest.hexdigest()[:12]}"


def _image_exists(tag: str) -> bool:
    return run(["docker", "image", "inspect", tag], check=False).strip() not in ("", "[]")


PYTHON_BASE_SCRIPT = REPO_ROOT / "hack" / "kind" / "build-python-base.sh"
"""Builds the task image's base from Debian's packages (cached under ~/.cache/cloudedge)."""


def ensure_python_base(python_image: str) -> None:
    """Build ``python_image`` with :data:`PYTHON_BASE_SCRIPT` when Docker does not have it.

    ``make kind-up`` builds the node images only; the Python base was built by the kind
    suite's scheduler image, so on a fresh machine ``make testbed`` right after ``make
    kind-up`` found no base and Docker tried to pull it from a registry it cannot reach.
    """
    if _image_exists(python_image):
        return
    proc = subprocess.run(
        [str(PYTHON_BASE_SCRIPT)],
        env={**os.environ, "PYTHON_BASE_IMAGE": python_image},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0 or not _image_exists(python_image):
        raise ClusterError(
            f"{PYTHON_BASE_SCRIPT} did not build {python_image} (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-800:]}"
        )


def build_image(*, python_image: str) -> str:
    """Build the task image unless its tag exists (its base first, if missing); return the tag."""
    context = REPO_ROOT / "bench" / "testbed"
    dockerfile = REPO_ROOT / "images" / "task" / "Dockerfile"
    tag = image_tag(context, dockerfile)
    if _image_exists(tag):
        return tag
    ensure_python_base(python_image)
    run(
        [
            "docker",
            "build",
            "--build-arg",
            f"PYTHON_IMAGE={python_image}",
            "-f",
            str(dockerfile),
            "-t",
            tag,
            str(context),
        ],
        timeout=600,
    )
    return tag


def load_image(tag: str, containers: Sequence[str]) -> None:
    """Import the image into each node's containerd (what ``kind load docker-image`` does)."""
    archive = run(["docker", "image", "inspect", "--format", "{{.Id}}", tag]).strip()
    for container in containers:
        present = run(
            [
                "docker",
                "exec",
                container,
                "ctr",
                "-n",
                "k8s.io",
                "images",
                "ls",
                "-q",
                f"name==docker.io/library/{tag}",
            ],
            check=False,
        )
        if present.strip():
            continue
        save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
        try:
            proc = subprocess.run(
                [
                    "docker",
                    "exec",
                    "-i",
                    container,
                    "ctr",
                    "-n",
                    "k8s.io",
                    "images",
                    "import",
                    "--all-platforms",
                    "-",
                ],
                stdin=save.stdout,
                capture_output=True,
                timeout=300,
                check=False,
            )
        finally:
            if save.stdout is not None:
                save.stdout.close()
            save.wait(timeout=60)
        if proc.returncode != 0:
            raise ClusterError(
                f"loading {tag} ({archive}) into {container}: {proc.stderr.decode()[-500:]}"
            )


# ---------------------------------------------------------------------------------------------
# The cluster as the testbed found it


TOPOLOGY_CRD = "networktopologies.cloudedge.io"
"""The CRD the testbed installs for its topology (and removes again if it found none)."""


@dataclasses.dataclass(frozen=True)
class NodeState:
    """What the testbed changes on a node: labels, annotations, taints, the kubelet's env file."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    taints: Sequence[Mapping[str, Any]]
    kubelet_env: str | None


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The workers and the ``NetworkTopology`` ``default`` before a run (None: there was none),
    and whether its CRD was installed."""

    nodes: Mapping[str, NodeState]
    topology: Mapping[str, Any] | None
    crd: bool = True


def snapshot(kube: Kube, cluster: str, nodes: Sequence[str]) -> Snapshot:
    """Record what :func:`restore_snapshot` puts back."""
    states = {}
    for name in nodes:
        live = kube.json("get", "node", name)
        path = kubelet_env_path(cluster, name)
        states[name] = NodeState(
            labels=dict(live["metadata"].get("labels") or {}),
            annotations=dict(live["metadata"].get("annotations") or {}),
            taints=list(live.get("spec", {}).get("taints") or []),
            kubelet_env=path.read_text(encoding="utf-8") if path.exists() else None,
        )
    topology = None
    crd = bool(kube("get", "crd", TOPOLOGY_CRD, "--ignore-not-found", "-o", "name").strip())
    if crd:
        found = kube(
            "get", "networktopologies.cloudedge.io", "--ignore-not-found", "-o", "name"
        ).split()
        if "networktopology.cloudedge.io/default" in found:
            topology = kube.json("get", "networktopologies.cloudedge.io", "default")
    return Snapshot(nodes=states, topology=topology, crd=crd)


def _map_patch(old: Mapping[str, str], now: Mapping[str, str]) -> dict[str, str | None]:
    """A merge patch that turns ``now`` back into ``old`` (None deletes a key)."""
    return {k: old.get(k) for k in set(old) | set(now) if old.get(k) != now.get(k)}


def restore_snapshot(
    kube: Kube, cluster: str, snap: Snapshot, containers: Mapping[str, str]
) -> None:
    """Put the recorded labels, annotations, taints, kubelet reservations and topology back,
    so that the cluster is the one the testbed was given (the kind suite runs on it after)."""
    restarted = []
    for name, old in snap.nodes.items():
        live = kube.json("get", "node", name)
        patch: dict[str, Any] = {
            "metadata": {
                "labels": _map_patch(old.labels, live["metadata"].get("labels") or {}),
                "annotations": _map_patch(
                    old.annotations, live["metadata"].get("annotations") or {}
                ),
            },
            "spec": {"taints": list(old.taints) or None},
        }
        kube("patch", "node", name, "--type=merge", "-p", json.dumps(patch))
        path = kubelet_env_path(cluster, name)
        if old.kubelet_env is not None and path.read_text(encoding="utf-8") != old.kubelet_env:
            with path.open("r+", encoding="utf-8") as fh:
                fh.seek(0)
                fh.write(old.kubelet_env)
                fh.truncate()
            run(["docker", "exec", containers[name], "systemctl", "restart", "kubelet"])
            restarted.append(name)
    for name in snap.nodes:
        # Empty once the data servers are gone; a cgroup with processes left is kept.
        run(["docker", "exec", containers[name], "rmdir", SERVERS_CGROUP], check=False)
    if not snap.crd:
        kube("delete", "crd", TOPOLOGY_CRD, "--ignore-not-found", "--wait=true", timeout=150)
    elif snap.topology is None:
        kube("delete", "networktopologies.cloudedge.io", "default", "--ignore-not-found")
    else:
        keep = {"name", "namespace", "labels", "annotations"}
        meta = {k: v for k, v in snap.topology["metadata"].items() if k in keep}
        meta.get("annotations", {}).pop("kubectl.kubernetes.io/last-applied-configuration", None)
        obj = {k: v for k, v in snap.topology.items() if k not in ("metadata", "status")}
        kube.apply([{**obj, "metadata": meta}])
    deadline = time.monotonic() + 120
    while restarted:
        nodes = {n["metadata"]["name"]: n for n in kube.json("get", "nodes")["items"]}
        restarted = [n for n in restarted if not _ready(nodes[n])]
        if restarted and time.monotonic() > deadline:
            raise ClusterError(f"not Ready 120 s after the kubelet restart: {', '.join(restarted)}")
        if restarted:
            time.sleep(2)
