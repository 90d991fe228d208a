"""The processes of the fault suite's own kwokctl cluster: stop, start, pause, revive, etcdctl.

kwokctl's binary runtime starts every component as a detached process (its own session, stdin
/dev/null, output appended to ``logs/<component>.log``) and records its pid in
``pids/<component>.pid`` under ``$CACHE_DIR/kwok/clusters/<name>/``. A component is restarted
here the same way, with the command line it was running with (read from /proc, else from the
cluster's kwok.yaml), and its new pid written back, so ``hack/cluster-down.sh`` (``kwokctl
delete cluster``) still stops it.

Only a cluster whose pid files name live processes of that cluster's own binaries can be
controlled; anything else raises :class:`NotControllableError`, which the fixtures turn into a
test failure with that message (never a skip).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml
from cluster_support import wait_until

COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
)
STOP_TIMEOUT_S = 30.0
"""kube-apiserver drains for a few seconds on SIGTERM; etcd stops at once."""


class NotControllableError(AssertionError):
    """The cluster's control-plane processes are not ours to stop and start."""


def _alive(pid: int) -> bool:
    """Running and not a zombie (PID 1 of a container need not reap what it adopted)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class ControlPlane:
    """The components of one local kwokctl cluster (binary runtime), by name."""

    def __init__(self, name: str, *, cache_dir: Path, bindir: Path) -> None:
        self.name = name
        self.workdir = cache_dir / "kwok" / "clusters" / name
        self.bindir = bindir
        self._argv: dict[str, list[str]] = {}

    # -- what runs -------------------------------------------------------------------------

    def _pid_file(self, component: str) -> Path:
        return self.workdir / "pids" / f"{component}.pid"

    def pid(self, component: str) -> int:
        """The live pid of ``component``; NotControllableError when there is none of ours."""
        path = self._pid_file(component)
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError) as err:
            raise NotControllableError(
                f"cluster {self.name}: no pid file {path} ({err}). The fault suite stops and "
                "starts kube-apiserver and etcd, so it runs only on its own local kwokctl "
                "cluster (binary runtime) started by hack/cluster-up.sh"
            ) from err
        argv = self._read_argv(pid)
        if not argv or not argv[0].startswith(str(self.workdir)):
            found = self._find(component)  # started by an interrupted run of ours: adopt it
            if found is not None:
                pid, argv = found
                path.write_text(str(pid))
                self._argv[component] = argv
                return pid
            raise NotControllableError(
                f"cluster {self.name}: pid {pid} of {path} is not a {component} of this "
                f"cluster (command line {argv[:1]}); the fault suite cannot control it"
            )
        self._argv[component] = argv
        return pid

    def argv(self, component: str) -> list[str]:
        """The command line ``component`` runs (or last ran) with, else kwokctl's for it."""
        if component not in self._argv:
            try:
                self.pid(component)
            except NotControllableError:
                self._argv[component] = self._configured_argv(component)
        return list(self._argv[component])

    def _configured_argv(self, component: str) -> list[str]:
        """The command line kwokctl recorded for ``component`` in the cluster's kwok.yaml."""
        path = self.workdir / "kwok.yaml"
        for doc in yaml.safe_load_all(path.read_text()):
            for comp in (doc or {}).get("components") or []:
                if comp.get("name") == component:
                    return [str(comp["binary"]), *map(str, comp.get("args") or [])]
        raise NotControllableError(f"cluster {self.name}: {path} has no component {component}")

    def _find(self, component: str) -> tuple[int, list[str]] | None:
        """A live process running this cluster's binary of ``component``, if any."""
        try:
            binary = self._configured_argv(component)[0]
        except (OSError, NotControllableError):
            return None
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                argv = self._read_argv(int(entry.name))
                if argv[:1] == [binary]:
                    return int(entry.name), argv
        return None

    def alive(self, component: str) -> bool:
        try:
            self.pid(component)
        except NotControllableError:
            return False
        return True

    def check(self) -> None:
        """Fail unless every component is a live process of this cluster."""
        for component in COMPONENTS:
            self.pid(component)

    @staticmethod
    def _read_argv(pid: int) -> list[str]:
        if not _alive(pid):
            return []
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return []
        return [part.decode() for part in raw.split(b"\0") if part]

    # -- stop, start, pause ---------------------------------------------------------------------

    def stop(self, component: str, *, sig: int = signal.SIGTERM) -> list[str]:
        """Send ``sig``, wait (bounded) for the process to end; returns its command line."""
        pid = self.pid(component)
        argv = self.argv(component)
        os.kill(pid, sig)
        try:
            wait_until(
                f"{component} (pid {pid}) to exit after signal {sig}",
                lambda: not _alive(pid),
                timeout=STOP_TIMEOUT_S,
                interval=0.1,
            )
        except AssertionError:
            os.kill(pid, signal.SIGKILL)
            wait_until(f"{component} (pid {pid}) killed", lambda: not _alive(pid), timeout=10)
        return argv

    def start(self, component: str, argv: list[str] | None = None) -> int:
        """Start ``component`` detached, as kwokctl does, and record its pid."""
        argv = argv or self.argv(component)
        log = self.workdir / "logs" / f"{component}.log"
        # bash starts it in a session of its own and exits: the process is nobody's child here.
        # The pid goes out on fd 3, which the process itself does not inherit.
        script = 'exec 3>&1 </dev/null >>"$0" 2>&1; setsid "$@" 3>&- & echo $! >&3'
        out = subprocess.run(
            ["bash", "-c", script, str(log), *argv],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        pid = int(out.stdout.strip())
        wait_until(
            f"{component} (pid {pid}) started",
            lambda: self._read_argv(pid)[:1] == argv[:1],  # setsid has exec'd it
            timeout=10,
            interval=0.05,
        )
        self._pid_file(component).write_text(str(pid))
        self._argv[component] = argv
        return pid

    def restart(self, component: str, *, down_s: float, sig: int = signal.SIGTERM) -> None:
        """Stop ``component``, leave it down for ``down_s`` seconds, start it again."""
        argv = self.stop(component, sig=sig)
        time.sleep(down_s)
        self.start(component, argv)

    def revive(self) -> list[str]:
        """Start every component that is not running, as a supervisor would; returns them.

        kube-controller-manager and kube-scheduler exit when they cannot renew their leader
        lease (an API server down for over 10 s): in a real cluster the kubelet or systemd
        restarts them; kwokctl's binary runtime does not.
        """
        started = []
        for component in COMPONENTS:
            if not self.alive(component):
                self.start(component, self.argv(component))
                started.append(component)
        return started

    def pause(self, component: str) -> None:
        """SIGSTOP: the process holds its sockets and does nothing."""
        os.kill(self.pid(component), signal.SIGSTOP)

    def resume(self, component: str) -> None:
        """SIGCONT."""
        os.kill(self.pid(component), signal.SIGCONT)

    # -- etcd ------------------------------------------------------------------------------

    def etcd_endpoint(self) -> str:
        for arg in self.argv("etcd"):
            if arg.startswith("--advertise-client-urls="):
                return arg.split("=", 1)[1].split(",")[0]
        raise NotControllableError(f"cluster {self.name}: etcd has no --advertise-client-urls")

    def etcdctl(self, *args: str, timeout: float = 30.0) -> str:
        proc = subprocess.run(
            [str(self.bindir / "etcdctl"), f"--endpoints={self.etcd_endpoint()}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)}: {proc.stdout}{proc.stderr}")
        return proc.stdout

    def etcd_revision(self) -> int:
        status = json.loads(self.etcdctl("endpoint", "status", "-w", "json"))
        return int(status[0]["Status"]["header"]["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd at its current revision: every older resourceVersion is gone."""
        revision = self.etcd_revision()
        self.etcdctl("compact", str(revision), "--physical")
        return revision
