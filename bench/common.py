"""What every benchmark shares: progress lines, percentiles, machine facts, bounded waits."""

from __future__ import annotations

import bisect
import contextlib
import datetime
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]
HACK_DIR = REPO_ROOT / "hack"
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Set on some machines of this workplace for old OpenBLAS builds; they slow a current numpy.
The bench command unsets both (``make bench``) and the page records what the run saw."""

T = TypeVar("T")
Numbers = dict[str, float]


class Progress:
    """One line per step on stderr, with the time since the bench started."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        elapsed = time.monotonic() - self.start
        print(f"[bench {elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def mean(samples: Sequence[float]) -> float:
    return float(sum(samples) / len(samples)) if samples else math.nan


def wait_until(
    what: str, probe: Callable[[], T | None], *, timeout: float, interval: float = 0.5
) -> T:
    """Call ``probe`` until it returns a truthy value; bounded in time and in tries."""
    deadline = time.monotonic() + timeout
    last: object = None
    for _ in range(math.ceil(timeout / interval) + 1):
        try:
            value = probe()
        except Exception as err:  # the state may still be converging
            last = err
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def tool_bindir() -> Path:
    """Where hack/build-tools.sh puts kube-apiserver, kubectl, kwokctl (it builds nothing)."""
    out = subprocess.run(
        [str(HACK_DIR / "build-tools.sh"), "--print-bindir"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Path(out.stdout.strip())


def _first(path: str, prefix: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _run(args: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def blas_info() -> list[dict[str, Any]]:
    """What threadpoolctl says numpy's BLAS is (library, version, kernel, threads)."""
    try:
        import threadpoolctl  # type: ignore[import-untyped]
    except ImportError:
        return [{"error": "threadpoolctl is not installed (pip install -e '.[dev]')"}]
    import numpy  # noqa: F401  (loads the BLAS threadpoolctl inspects)

    return [
        {k: v for k, v in info.items() if k != "filepath"}
        for info in threadpoolctl.threadpool_info()
    ]


def speed_gauge_ms(repeats: int = 5) -> float:
    """Milliseconds of a fixed single-threaded workload (the median of ``repeats``): lower
    is faster.

    This virtual machine's speed changes from hour to hour with what else its host runs,
    with the load average near 0 (the scoring kernel's p50 was 48 us one day and 75 to 130
    us the next, the same code). A time-budgeted number (the joint solver's 2 s) or an
    absolute one (microseconds per decision) is read against the gauge taken when its
    section started. The workload is what the solver and the binder spend their time on:
    interpreted loops over lists, dicts and floats, and small numpy calls."""
    import numpy

    rng = numpy.random.default_rng(0)
    values = rng.random(1_000)
    keys = [f"node-{i}" for i in range(1_000)]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        table: dict[str, float] = {}
        for round_ in range(20):
            for i, key in enumerate(keys):
                table[key] = table.get(key, 0.0) + float(values[i]) * round_
            ordered = sorted(table.values())
            bisect.insort(ordered, 0.5)
            for _ in range(50):
                numpy.minimum(values, 0.5).sum()
        times.append((time.perf_counter() - started) * 1e3)
    return float(sorted(times)[len(times) // 2])


def machine_facts() -> dict[str, Any]:
    """The facts the page prints next to every number."""
    import numpy
    import scipy

    mem_kb = _first("/proc/meminfo", "MemTotal")
    try:
        mem_gib = f"{int(mem_kb.split()[0]) / 2**20:.1f} GiB"
    except (ValueError, IndexError):
        mem_gib = mem_kb
    bindir = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        bindir = tool_bindir()
    kube = "unknown"
    if bindir is not None and (bindir / "kube-apiserver").exists():
        kube = _run([str(bindir / "kube-apiserver"), "--version"])
    try:
        import kubernetes

        client_version = str(kubernetes.__version__)
    except ImportError:
        client_version = "unknown"
    commit = _run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "-C", str(REPO_ROOT), "status", "--porcelain"])
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "memory": mem_gib,
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "kubernetes_client": client_version,
        "kubernetes": kube,
        "blas": blas_info(),
        "blas_env": {k: os.environ.get(k) for k in BLAS_ENV},
        "commit": commit + (" (with uncommitted changes)" if dirty not in ("", "unknown") else ""),
        "loadavg_start": os.getloadavg()[0],
    }
