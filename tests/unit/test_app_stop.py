"""SIGTERM during the start of ``cloudedge run`` ends in the ordered shutdown, exit 0.

The API server here accepts connections and never answers, so the process is held in its first
listing for as long as the test wants: the signal lands before kopf (which installs its own
handlers) has run, deterministically. A replica that never wrote its Lease makes no request on
the way out, so nothing waits on the silent server either. The same stop on the real control
plane, at whatever point of the start it lands, is in tests/e2e/test_operator.py.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

STARTED_LINE = "metrics and health on"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


@contextlib.contextmanager
def silent_api_server() -> Iterator[str]:
    """A TCP listener on 127.0.0.1 that accepts and never replies; yields its URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                held.append(conn)

    thread = threading.Thread(target=accept, name="silent-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        done.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubeconfig_for(url: str, path: Path) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: silent, cluster: {{server: '{url}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: silent, user: u}}]\n"
        "current-context: c\n"
    )
    return path


def wait_for_line(log: Path, line: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while line not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"exited early: {log.read_text(errors='replace')}"
        assert time.monotonic() < deadline, f"no {line!r}: {log.read_text(errors='replace')}"
        time.sleep(0.05)


def test_sigterm_while_the_first_listing_hangs_exits_zero_through_the_shutdown(
    tmp_path: Path,
) -> None:
    log = tmp_path / "run.log"
    with silent_api_server() as url:
        kubeconfig = kubeconfig_for(url, tmp_path / "kubeconfig")
        args = [
            sys.executable, "-m", "cloudedge.cli", "run",
            "--kubeconfig", str(kubeconfig),
            "--mode", "both",
            "--bind-address", "127.0.0.1",
            "--metrics-port", str(free_port()),
            "--extender-port", str(free_port()),
            "--log-format", "text",
        ]  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_line(log, STARTED_LINE, proc)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=STOP_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert "SIGTERM received: stopping" in text
    assert "shutting down" in text
    assert "cloudedge.app: stopped" in text
    assert "cluster view synced" not in text  # the signal did land during the listing
