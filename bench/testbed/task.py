"""The testbed's task: fetch the declared data, burn the declared work, report what it measured.

A Job's pod runs ``python3 task.py``. The pod reads its own ``cloudedge.io/`` annotations through
the downward API (a mounted file), so the numbers the scheduler saw are the numbers the task
does:

* ``cloudedge.io/data-size-mb`` MB are fetched over HTTP from the data server of
  ``cloudedge.io/data-source`` (the runner passes the source -> URL map): the transfer crosses
  the shaped links of the source's node and of this pod's node;
* ``cloudedge.io/compute-cost`` work units of real CPU are burnt by a pure-Python loop. One work
  unit is one millisecond of one uncapped core of this machine, so a node whose CPU quota is
  ``m`` millicores does ``m`` units per second: the model's default compute rate (allocatable
  millicores) has the same unit. The loop's iterations per unit are calibrated once per machine
  (``task.py calibrate``) and passed in ``TESTBED_ITERATIONS_PER_UNIT``;
* the measured transfer, wait-to-start (submission -> container start), processing and total
  times go to the termination message as one JSON object, which the runner reads from the pod's
  status: no log scraping, no shared volume.

Stdlib only: the image holds python3 and this file. It imports as little as it can (no
dataclasses, argparse, typing or http.client: a raw socket speaks the one request it needs),
and the image runs it from precompiled bytecode: every start loads the host's CPUs. The
start is not charged to the node's scaled quota: the task enters that quota only once started
(:func:`enter_quota`), since at an edge node's 75 millicores the 160 ms of CPU the task once
took to start were 2 s of the node's whole compute, 27 times what the same start takes on the
2-CPU node it stands for.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing alone costs a capped node tens of milliseconds
    from collections.abc import Mapping, Sequence
    from typing import Any

PREFIX = "cloudedge.io/"
SUBMITTED_AT = "testbed.cloudedge.io/submitted-at"
"""Annotation the runner stamps on each Job's pod template: when it submitted it (Unix s)."""

MB = 1_000_000
"""The model's MB (``8 * D_p / rate`` with rate in Mbit/s): decimal, as bandwidths are."""

CHUNK = 64 * 1024
"""Read size of the transfer: large enough that Python's per-call cost stays far below a
packet time at the rates shaped here, small enough to be bounded memory."""

TERMINATION_LOG_LIMIT = 4096
"""Kubernetes keeps at most 4096 bytes of a termination message."""


class TaskError(Exception):
    """Bad input to the task (an annotation, an environment variable, the data server's reply).

    The message names what was wrong and what is allowed; the task exits 2 with it in the
    termination message, so the runner reports it beside the pod instead of a bare failure.
    """


# ---------------------------------------------------------------------------------------------
# Downward API annotations


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}


def _unquote_go(quoted: str) -> str:
    r"""Decode a Go ``strconv.Quote`` string (with its quotes), as the kubelet writes values.

    Go escapes bytes (``\xNN``) and runes (``\uNNNN``, ``\UNNNNNNNN``); bytes are collected and
    decoded as UTF-8 at the end so that a multi-byte character escaped byte by byte comes back.
    """
    if len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
        raise TaskError(f"downward API value {quoted!r}: expected a double-quoted string")
    body = quoted[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        if i + 1 >= len(body):
            raise TaskError(f"downward API value {quoted!r}: dangling backslash")
        code = body[i + 1]
        if code in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[code].encode("utf-8")
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(code)
        digits = body[i + 2 : i + 2 + width] if width else ""
        if (
            not width
            or len(digits) != width
            or any(c not in "0123456789abcdefABCDEF" for c in digits)
        ):
            raise TaskError(f"downward API value {quoted!r}: bad escape at offset {i}")
        value = int(digits, 16)
        out += bytes([value]) if code == "x" else chr(value).encode("utf-8")
        i += 2 + width
    return out.decode("utf-8", errors="replace")


def parse_annotations(text: str) -> dict[str, str]:
    """The downward API's ``metadata.annotations`` file: one ``key="value"`` per line."""
    result: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise TaskError(f'downward API annotations line {lineno}: expected key="value"')
        result[key] = _unquote_go(value)
    return result


# ---------------------------------------------------------------------------------------------
# What the task has to do


class _Record:
    """A frozen record compared by value (what ``dataclasses`` would make, without its
    import cost at every task start)."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")


class TaskSpec(_Record):
    """The task's work, read from its annotations (the scheduler read the same ones)."""

    __slots__ = ("compute_cost", "data_size_mb", "data_source", "submitted_at")
    compute_cost: float
    data_size_mb: float
    data_source: str | None
    submitted_at: float | None

    def __init__(
        self,
        compute_cost: float,
        data_size_mb: float,
        data_source: str | None,
        submitted_at: float | None,
    ) -> None:
        for name, value in zip(
            self.__slots__, (compute_cost, data_size_mb, data_source, submitted_at), strict=True
        ):
            object.__setattr__(self, name, value)


def _number(annotations: Mapping[str, str], key: str, *, default: float) -> float:
    raw = annotations.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise TaskError(f"annotation {key}={raw!r}: expected a finite number >= 0")
    return value


def task_spec(annotations: Mapping[str, str]) -> TaskSpec:
    """Validate the annotations the task acts on; a data size needs a data source."""
    cost = _number(annotations, PREFIX + "compute-cost", default=0.0)
    size = _number(annotations, PREFIX + "data-size-mb", default=0.0)
    source = annotations.get(PREFIX + "data-source") or None
    if size > 0 and source is None:
        raise TaskError(
            f"annotation {PREFIX}data-size-mb={annotations[PREFIX + 'data-size-mb']!r} "
            f"needs {PREFIX}data-source (a node name or a site) to fetch it from"
        )
    submitted = annotations.get(SUBMITTED_AT)
    submitted_at = None
    if submitted is not None:
        submitted_at = _number(annotations, SUBMITTED_AT, default=0.0)
    return TaskSpec(
        compute_cost=cost, data_size_mb=size, data_source=source, submitted_at=submitted_at
    )


# ---------------------------------------------------------------------------------------------
# CPU work


def burn(iterations: int) -> int:
    """Spin a linear congruential generator ``iterations`` times: pure CPU, no memory traffic.

    Returns the final state so that the loop cannot be optimized away and a test can check that
    the work was done.
    """
    x = 1
    for _ in range(iterations):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


def iterations_for(units: float, iterations_per_unit: float) -> int:
    """How many loop iterations ``units`` work units are on this machine."""
    if iterations_per_unit <= 0 or not math.isfinite(iterations_per_unit):
        raise TaskError(
            f"TESTBED_ITERATIONS_PER_UNIT={iterations_per_unit!r}: expected a number > 0 "
            "(run `task.py calibrate` once on this machine)"
        )
    return round(units * iterations_per_unit)


def calibrate(*, probe_iterations: int = 200_000, repeats: int = 7) -> float:
    """Iterations of :func:`burn` per work unit (one millisecond of CPU of one core).

    CPU time (``thread_time``) rather than wall time, and the best of several runs: on a shared
    machine another process can take the core away, which lengthens wall time but not the CPU
    time this thread got; the minimum discards cache and frequency warm-up.
    """
    best = math.inf
    for _ in range(repeats):
        start = time.thread_time()
        burn(probe_iterations)
        best = min(best, time.thread_time() - start)
    if best <= 0:
        raise TaskError("calibration measured no CPU time; raise probe_iterations")
    return probe_iterations / (best * 1000.0)


# ---------------------------------------------------------------------------------------------
# Data transfer


class Transfer(_Record):
    """One fetch: bytes received, seconds from sending the request to the last byte, and to
    the response headers (the data server's added latency plus a round trip)."""

    __slots__ = ("bytes", "first_byte_s", "seconds")
    bytes: int
    seconds: float
    first_byte_s: float

    def __init__(self, bytes: int, seconds: float, first_byte_s: float = 0.0) -> None:
        object.__setattr__(self, "bytes", bytes)
        object.__setattr__(self, "seconds", seconds)
        object.__setattr__(self, "first_byte_s", first_byte_s)

    @property
    def throughput_mbps(self) -> float | None:
        """Mbit/s of the body (headers to last byte: the link's rate, without the latency),
        None for an empty transfer."""
        body = self.seconds - self.first_byte_s
        if self.bytes == 0 or body <= 0:
            return None
        return self.bytes * 8 / body / 1e6


PROC_CGROUP = "/proc/self/cgroup"
"""This process's cgroups, one ``id:controllers:path`` line per hierarchy."""


def cpu_shares(request_m: float) -> int:
    """The ``cpu.shares`` the kubelet gives a CPU request of ``request_m`` millicores."""
    return max(2, int(request_m * 1024 // 1000))


def _move_into(directory: str, controller: str, what: str, proc_cgroup: str) -> str:
    """Move this process into the cgroup ``directory`` of the ``controller`` hierarchy and
    return the path ``proc_cgroup`` then gives it; a TaskError naming ``what`` if the kernel
    did not make the move."""
    try:
        with open(f"{directory}/cgroup.procs", "w", encoding="ascii") as fh:
            fh.write("0\n")  # "0": the writing process itself
        with open(proc_cgroup, encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError as err:
        raise TaskError(f"entering {what} {directory}: {err}") from err
    name = directory.rsplit("/", 1)[-1]
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            if path.endswith(f"/{name}"):
                return path
            raise TaskError(
                f"entering {what} {directory}: this process's {controller} cgroup is {path}"
            )
    raise TaskError(f"entering {what} {directory}: {proc_cgroup} names no {controller} cgroup")


def enter_quota(
    quota_dir: str, name: str, request_m: float, *, proc_cgroup: str = PROC_CGROUP
) -> str:
    """Move this process into its own child ``name`` of the node's quota cgroup ``quota_dir``
    (``cpu.shares`` as the kubelet weighs the request) and return the child's cgroup path.

    Why: the node's CPU quota is scaled down by the testbed's rate, while a pod's start is not:
    started inside the quota, runc and the interpreter of one pod took 0.7 s of an edge node's
    whole compute and slowed the tasks already running there
    (:func:`bench.testbed.cluster.cap_cpu`). The task therefore starts outside it and enters
    it here, before its fetch and its work. A move that does not happen is an error: numbers
    measured outside the quota would not be the node's.
    """
    child = f"{quota_dir.rstrip('/')}/{name}"
    try:
        os.makedirs(child, exist_ok=True)
        with open(f"{child}/cpu.shares", "w", encoding="ascii") as fh:
            fh.write(f"{cpu_shares(request_m)}\n")
    except OSError as err:
        raise TaskError(f"entering the node's CPU quota {child}: {err}") from err
    return _move_into(child, "cpu", "the node's CPU quota", proc_cgroup)


def enter_cpuset(cpuset_dir: str, *, proc_cgroup: str = PROC_CGROUP) -> list[int]:
    """Move this process into the tasks' cpuset ``cpuset_dir`` and return the CPUs it may now
    run on.

    Why: the node's quota bounds how much CPU the tasks get, not when. On this 2-CPU host the
    nodes' kubelets, containerds and the control plane kept both CPUs busy while a burst's
    pods started, and a task within its quota still waited 0.2-0.5 s in the run queue per
    phase. The tasks' cpuset holds a CPU none of those run on
    (:func:`bench.testbed.cluster.dedicate_cpus`), so a task waits only for the tasks.
    """
    _move_into(cpuset_dir.rstrip("/"), "cpuset", "the tasks' cpuset", proc_cgroup)
    return sorted(os.sched_getaffinity(0))


SCHEDSTAT = "/proc/self/schedstat"
"""The kernel's per-task scheduler statistics: CPU time, time runnable but not running, and
slices, in nanoseconds."""


def parse_schedstat(text: str) -> tuple[float, float] | None:
    """``(cpu_s, runnable_s)`` of a ``schedstat`` line, or None if it is not one."""
    fields = text.split()
    if len(fields) < 2 or not all(f.isdigit() for f in fields[:2]):
        return None
    return int(fields[0]) / 1e9, int(fields[1]) / 1e9


def cpu_clock(path: str = SCHEDSTAT) -> tuple[float, float] | None:
    """This task's CPU seconds so far, and the seconds it was ready to run but not running
    (other processes on the host's CPUs, or its node's quota spent); None where the kernel
    does not keep them. Read before and after each phase, they say whether a slow phase
    waited for the CPU or for its data."""
    try:
        with open(path, encoding="ascii") as fh:
            return parse_schedstat(fh.read())
    except OSError:
        return None


def cpu_spent(
    before: tuple[float, float] | None, after: tuple[float, float] | None
) -> tuple[float | None, float | None]:
    """``(cpu_s, runnable_s)`` between two :func:`cpu_clock` readings (None if either is)."""
    if before is None or after is None:
        return None, None
    return round(after[0] - before[0], 6), round(after[1] - before[1], 6)


def data_url(source: str, servers: Mapping[str, str]) -> str:
    """The data server URL of ``source`` (a node name or a site)."""
    try:
        return servers[source]
    except KeyError:
        known = ", ".join(sorted(servers)) or "none"
        raise TaskError(
            f"annotation {PREFIX}data-source={source!r}: no data server for it (known: {known})"
        ) from None


def object_path(size_bytes: int, *, site: str, node: str = "") -> str:
    """The data server request for ``size_bytes`` delivered to ``site`` (and ``node``)."""
    query = [("bytes", str(size_bytes)), ("site", site)]
    if node:
        query.append(("node", node))
    return "/objects?" + "&".join(f"{k}={_quote(v)}" for k, v in query)


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(value: str) -> str:
    """Percent-encode a query value (RFC 3986 unreserved characters stay as they are)."""
    return "".join(
        c if c in _UNRESERVED else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in value
    )


def _split_url(url: str) -> tuple[str, int]:
    """``http://host:port`` -> (host, port); anything else is a TaskError."""
    rest = url[len("http://") :] if url.startswith("http://") else ""
    host, _, port = rest.rstrip("/").partition(":")
    if not host or "/" in host or (port and not port.isdigit()):
        raise TaskError(f"data server URL {url!r}: expected http://host:port")
    return host, int(port) if port else 80


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status code, headers (lower-case names) and the body bytes already received."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(CHUNK)
        if not chunk:
            raise TaskError("data server closed the connection before its response headers")
        data += chunk
        if len(data) > 65536:
            raise TaskError("data server sent more than 64 KiB of response headers")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise TaskError(f"data server sent no HTTP status line: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, body


def fetch(
    url: str, size_bytes: int, *, site: str, node: str = "", timeout_s: float = 600.0
) -> Transfer:
    """GET ``size_bytes`` from the data server at ``url`` (``http://host:port``) for ``site``
    (the task's node named too: the server paces a fetch from its own node)."""
    host, port = _split_url(url)
    request = (
        f"GET {object_path(size_bytes, site=site, node=node)} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    received = 0
    try:
        start = time.monotonic()
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(request)
            status, headers, body = _read_head(sock)
            first_byte = time.monotonic() - start
            if status != 200:
                text = body[:512].decode("utf-8", errors="replace")
                raise TaskError(f"data server {url} answered {status}: {text}")
            expected = int(headers.get("content-length", size_bytes))
            received = len(body)
            while received < expected and (chunk := sock.recv(CHUNK)):
                received += len(chunk)
        seconds = time.monotonic() - start
    except OSError as err:
        raise TaskError(f"data server {url}: {err}") from err
    if received != size_bytes:
        raise TaskError(f"data server {url} sent {received} bytes of {size_bytes}")
    return Transfer(bytes=received, seconds=seconds, first_byte_s=first_byte)


# ---------------------------------------------------------------------------------------------
# The report


def result_document(
    *,
    pod: str,
    node: str,
    spec: TaskSpec,
    started_at: float,
    transfer: Transfer,
    processing_s: float,
    finished_at: float,
    transfer_cpu: tuple[float | None, float | None] = (None, None),
    processing_cpu: tuple[float | None, float | None] = (None, None),
    quota_cgroup: str | None = None,
    work_cpus: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The termination message: every measured time in seconds, compact keys (4 kB limit).

    ``wait_s`` is submission to container start, so it holds scheduling, queueing for room and
    the container start; ``total_s`` is submission to the end of the work. Without a submission
    stamp both are None: a run by hand has no submission. ``*_cpu_s`` and ``*_runnable_s`` are
    the task's CPU time in each phase and the time it was ready to run but did not
    (:func:`cpu_clock`; None where the kernel does not say). ``quota_cgroup`` is the cgroup
    of the node's quota the task measured in (:func:`enter_quota`; None: not capped), and
    ``work_cpus`` the CPUs it ran on (:func:`enter_cpuset`; None: any of the host's).
    """
    wait = None if spec.submitted_at is None else started_at - spec.submitted_at
    total = None if spec.submitted_at is None else finished_at - spec.submitted_at
    return {
        "pod": pod,
        "node": node,
        "bytes": transfer.bytes,
        "transfer_s": round(transfer.seconds, 6),
        "first_byte_s": round(transfer.first_byte_s, 6),
        "throughput_mbps": (
            None if transfer.throughput_mbps is None else round(transfer.throughput_mbps, 3)
        ),
        "wait_s": None if wait is None else round(wait, 6),
        "processing_s": round(processing_s, 6),
        "transfer_cpu_s": transfer_cpu[0],
        "transfer_runnable_s": transfer_cpu[1],
        "processing_cpu_s": processing_cpu[0],
        "processing_runnable_s": processing_cpu[1],
        "quota_cgroup": quota_cgroup,
        "work_cpus": None if work_cpus is None else list(work_cpus),
        "total_s": None if total is None else round(total, 6),
        "units": spec.compute_cost,
        "started_at": round(started_at, 6),
        "finished_at": round(finished_at, 6),
    }


def encode_result(doc: Mapping[str, Any]) -> str:
    """One JSON line that fits the termination message, or a TaskError saying it does not."""
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
    if len(text.encode("utf-8")) > TERMINATION_LOG_LIMIT:
        raise TaskError(f"result is {len(text)} bytes; a termination message holds 4096")
    return text


def _json_env(env: Mapping[str, str], name: str) -> dict[str, str]:
    raw = env.get(name, "{}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise TaskError(f"{name}: not JSON ({err})") from err
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise TaskError(f"{name}: expected a JSON object of strings, got {raw[:80]!r}")
    return value


def run(env: Mapping[str, str], *, started_at: float) -> dict[str, Any]:
    """Do the task the annotations describe; return the result document."""
    path = env.get("TESTBED_ANNOTATIONS", "/etc/podinfo/annotations")
    try:
        with open(path, encoding="utf-8") as fh:
            annotations = parse_annotations(fh.read())
    except OSError as err:
        raise TaskError(f"downward API annotations {path}: {err}") from err
    spec = task_spec(annotations)
    node = env.get("NODE_NAME", "")
    try:
        ipu = float(env.get("TESTBED_ITERATIONS_PER_UNIT", "nan"))
    except ValueError:
        ipu = math.nan
    iterations = iterations_for(spec.compute_cost, ipu)
    quota_dir = env.get("TESTBED_QUOTA_CGROUP", "")
    quota_cgroup = None
    if quota_dir:
        try:
            request_m = float(env.get("TESTBED_CPU_REQUEST_M", ""))
        except ValueError:
            raise TaskError(
                f"TESTBED_CPU_REQUEST_M={env.get('TESTBED_CPU_REQUEST_M')!r}: expected the "
                "container's CPU request in millicores"
            ) from None
        quota_cgroup = enter_quota(quota_dir, env.get("POD_NAME") or "task", request_m)
    cpuset_dir = env.get("TESTBED_WORK_CPUSET", "")
    work_cpus = enter_cpuset(cpuset_dir) if cpuset_dir else None
    transfer = Transfer(bytes=0, seconds=0.0)
    size = round(spec.data_size_mb * MB)
    before_transfer = cpu_clock()
    if size > 0 and spec.data_source is not None:
        url = data_url(spec.data_source, _json_env(env, "TESTBED_DATA_SERVERS"))
        sites = _json_env(env, "TESTBED_NODE_SITES")
        transfer = fetch(url, size, site=sites.get(node, node), node=node)
    # The CPU readings inside the timed span: a wait for the CPU (its quota spent) between a
    # reading and the clock would count in the readings and not in the span.
    start = time.monotonic()
    before_processing = cpu_clock()
    burn(iterations)
    after = cpu_clock()
    processing = time.monotonic() - start
    return result_document(
        pod=env.get("POD_NAME", ""),
        node=node,
        spec=spec,
        started_at=started_at,
        transfer=transfer,
        processing_s=processing,
        finished_at=time.time(),
        transfer_cpu=cpu_spent(before_transfer, before_processing),
        processing_cpu=cpu_spent(before_processing, after),
        quota_cgroup=quota_cgroup,
        work_cpus=work_cpus,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``task.py [run]`` does the task; ``task.py calibrate`` prints iterations per unit."""
    started_at = time.time()
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "run"
    if len(args) > 1 or command not in ("run", "calibrate"):
        print(f"usage: task.py [run|calibrate]; got {' '.join(args)!r}", file=sys.stderr)
        return 2
    if command == "calibrate":
        print(json.dumps({"iterations_per_unit": calibrate()}))
        return 0
    log = os.environ.get("TESTBED_TERMINATION_LOG", "/dev/termination-log")
    try:
        text = encode_result(run(os.environ, started_at=started_at))
        status = 0
    except TaskError as err:
        text = json.dumps({"error": str(err)[:3900]})
        status = 2
    print(text, flush=True)
    try:
        with open(log, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as err:
        print(f"termination log {log}: {err}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
