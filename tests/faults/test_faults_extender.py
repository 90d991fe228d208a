"""The extender under faults: behind kube-scheduler with replies slower than ``httpTimeout`` and
killed mid-request during a burst of 400 pods; fed garbage over the wire; served over TLS.

kube-scheduler runs the shipped ``ignorable: false`` configuration
(manifests/scheduler-config/kube-scheduler-config-strict.yaml, through tests/e2e's
kube_scheduler_support) with a profile name of its own, and reaches
``cloudedge run --mode extender`` directly or through a loopback proxy that delays replies.
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_support import Cluster, wait_until
from faults_support import (
    Invariants,
    TcpProxy,
    TestNodes,
    burst,
    capacity_in_pods,
    create_pods,
)
from kube_scheduler_support import KubeSchedulerProcess, scheduler_config
from operator_support import OperatorProcess

BURST = 400
HTTP_TIMEOUT_S = 5.0  # the shipped httpTimeout


@pytest.fixture
def extender(kube: Cluster) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(
        kube.kubeconfig, lease_name=f"ft-ext-{secrets.token_hex(4)}", mode="extender"
    )
    proc.start()
    yield proc
    proc.close()


def post(
    port: int,
    path: str,
    body: bytes,
    *,
    ctype: str = "application/json",
    timeout: float = 10.0,
) -> tuple[int, Any]:
    """One request to the extender; returns (status, parsed JSON body or raw bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": ctype})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw


def filter_request(nodes: TestNodes, *, tier: str = "edge") -> bytes:
    pod = nodes.pod("probe", annotations={"cloudedge.io/tier": tier})
    pod["metadata"].update(namespace="default", uid=f"uid-{secrets.token_hex(4)}")
    return json.dumps({"Pod": pod, "NodeNames": sorted(nodes.specs)}).encode()


def extender_knows(proc: OperatorProcess, nodes: TestNodes) -> bool:
    status, _ = post(proc.extender_port, "/filter", filter_request(nodes))
    return bool(status == 200)


def with_kube_scheduler(
    kube: Cluster, extender_port: int, *, tls_ca: bytes | None = None
) -> tuple[str, KubeSchedulerProcess]:
    name = f"ft-strict-{secrets.token_hex(3)}"
    config = scheduler_config(
        "strict", scheduler_name=name, extender_port=extender_port, kubeconfig=kube.kubeconfig
    )
    if tls_ca is not None:
        (ext,) = config["extenders"]
        ext["urlPrefix"] = ext["urlPrefix"].replace("http://", "https://")
        ext["enableHTTPS"] = True
        ext["tlsConfig"] = {"caData": base64.b64encode(tls_ca).decode()}
    return name, KubeSchedulerProcess(config).start()


def assert_extender_answered_in_protocol(proc: OperatorProcess) -> None:
    for line in proc.metrics_text().splitlines():
        if line.startswith("cloudedge_extender_requests_total{"):
            assert 'code="5' not in line, f"the extender answered a 5xx: {line}"


@pytest.mark.timeout(360)
def test_extender_replies_slower_than_http_timeout_leave_every_pod_bound_once(
    kube: Cluster, namespace: str, nodes: TestNodes, extender: OperatorProcess
) -> None:
    wait_until("the extender to see the nodes", lambda: extender_knows(extender, nodes))
    proxy = TcpProxy("127.0.0.1", extender.extender_port)
    name, scheduler = with_kube_scheduler(kube, proxy.port)
    try:
        # Every reply late: filter calls time out, pods fail and are retried with backoff.
        pods = burst(nodes, "slow", BURST, scheduler=name)
        proxy.delay_s = HTTP_TIMEOUT_S + 1
        create_pods(kube, namespace, pods[:200])
        time.sleep(10)
        late_filters = extender.sample(
            "cloudedge_extender_requests_total", verb="filter", code="200"
        )
        # Only /bind late: the Binding is made, kube-scheduler gives up on the reply meanwhile.
        proxy.slow_paths = {"/bind"}
        time.sleep(10)
        proxy.delay_s = 0.0
        create_pods(kube, namespace, pods[200:])
        check = Invariants(kube, namespace, nodes, operator=None, total=BURST, source=name)
        outcome = check.wait_settled(timeout=240, events=False)
        outcome.events = check.stable_events()
        missing = len(outcome.bound) - len(outcome.events)
        binds = extender.sample("cloudedge_binding_duration_seconds_count")
        # Every /bind reply is a 200 (refusals are in its Error field). A Binding whose own
        # call timed out under load may still have been made: it counts as a /bind request
        # but not as a Binding the extender saw succeed.
        bind_requests = extender.sample(
            "cloudedge_extender_requests_total", verb="bind", code="200"
        )
        print(
            f"{late_filters:.0f} filter calls answered late; {len(outcome.bound)} bound, "
            f"{binds:.0f} Bindings seen made by the extender of {bind_requests:.0f} /bind "
            f"requests, {missing} without a Scheduled event"
        )
        check.check(
            outcome,
            expect_bound=min(BURST, capacity_in_pods(nodes.specs.values())),
            # kube-scheduler writes no Scheduled event for a pod whose /bind reply timed out
            # while the Binding was made: it finds the pod bound and drops it from its queue.
            missing_events_allowed=BURST,
        )
        assert bind_requests >= len(outcome.bound), "every pod was bound through /bind"
        assert_extender_answered_in_protocol(extender)
    finally:
        scheduler.close()
        proxy.close()


@pytest.mark.timeout(360)
def test_extender_killed_mid_request_and_restarted_leaves_every_pod_bound_once(
    kube: Cluster, namespace: str, nodes: TestNodes, extender: OperatorProcess
) -> None:
    wait_until("the extender to see the nodes", lambda: extender_knows(extender, nodes))
    name, scheduler = with_kube_scheduler(kube, extender.extender_port)
    try:
        creator = threading.Thread(
            target=create_pods, args=(kube, namespace, burst(nodes, "kill", BURST, scheduler=name))
        )
        creator.start()
        wait_until(
            "the extender to bind 100 pods",
            lambda: extender.sample("cloudedge_binding_duration_seconds_count") >= 100,
            timeout=90,
            interval=0.2,
        )
        # Stopped first, so kube-scheduler's calls pile up unanswered; then killed under them.
        assert extender.proc is not None
        extender.proc.send_signal(signal.SIGSTOP)
        time.sleep(1.0)
        extender.kill(signal.SIGKILL)
        time.sleep(3.0)
        extender.start()  # the same ports
        creator.join(timeout=60)
        check = Invariants(kube, namespace, nodes, operator=None, total=BURST, source=name)
        outcome = check.wait_settled(timeout=240, events=False)
        outcome.events = check.stable_events()
        print(
            f"{len(outcome.bound)} bound; {len(outcome.bound) - len(outcome.events)} without a "
            "Scheduled event"
        )
        check.check(
            outcome,
            expect_bound=min(BURST, capacity_in_pods(nodes.specs.values())),
            missing_events_allowed=BURST,
        )
        assert_extender_answered_in_protocol(extender)
    finally:
        scheduler.close()


@pytest.fixture(scope="module")
def garbage_target(kube: Cluster) -> Iterator[tuple[OperatorProcess, TestNodes, Any]]:
    """One extender process and its answer to a valid /filter, for every garbage case."""
    test_nodes = TestNodes(kube)
    proc = OperatorProcess(
        kube.kubeconfig, lease_name=f"ft-ext-{secrets.token_hex(4)}", mode="extender"
    )
    try:
        test_nodes.wait_ready()
        proc.start()
        wait_until("the extender to see the nodes", lambda: extender_knows(proc, test_nodes))
        status, answer = post(proc.extender_port, "/filter", filter_request(test_nodes))
        assert status == 200
        assert sorted(answer["NodeNames"]) == sorted(
            n for n, s in test_nodes.specs.items() if s.tier == "edge"
        )
        yield proc, test_nodes, answer
        assert_extender_answered_in_protocol(proc)
    finally:
        proc.close()
        test_nodes.delete_all()


GARBAGE = [
    pytest.param(b'{"Pod": {"metadata": {"name": "p"', "application/json", {400}, id="truncated"),
    pytest.param(b"", "application/json", {400}, id="empty"),
    pytest.param(b"[1, 2, 3]", "application/json", {400}, id="an-array"),
    pytest.param(b'{"Pod": NaN, "NodeNames": []}', "application/json", {400}, id="nan"),
    pytest.param(b"[" * 100_000, "application/json", {400}, id="nested-100k-deep"),
    pytest.param(b"\xff\xfe{}", "application/json", {400}, id="not-utf8"),
    pytest.param(b"{}", "text/plain", {400}, id="text-plain"),
    pytest.param(b"{}", "application/x-www-form-urlencoded", {400}, id="form"),
    pytest.param(b"<xml/>", "application/xml", {400}, id="xml"),
    pytest.param(b"{" + b" " * (10 * 2**20) + b"}", "application/json", {413}, id="10MB"),
]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("path", ["/filter", "/prioritize", "/bind", "/preempt"])
@pytest.mark.parametrize(("body", "ctype", "allowed"), GARBAGE)
def test_extender_process_answers_garbage_with_400_or_413_and_keeps_answering(
    garbage_target: tuple[OperatorProcess, TestNodes, Any],
    path: str,
    body: bytes,
    ctype: str,
    allowed: set[int],
) -> None:
    proc, nodes, good_answer = garbage_target
    started = time.monotonic()
    status, reply = post(proc.extender_port, path, body, ctype=ctype, timeout=20)
    took = time.monotonic() - started
    assert status in allowed, (status, reply)
    assert isinstance(reply, dict)
    assert reply.get("Error"), reply
    assert took < 10, f"{took:.1f}s for an answer"
    assert post(proc.extender_port, "/filter", filter_request(nodes)) == (200, good_answer)
    assert proc.proc is not None
    assert proc.proc.poll() is None


@pytest.mark.timeout(120)
def test_extender_process_serves_others_while_clients_stall_or_stream_endless_bodies(
    garbage_target: tuple[OperatorProcess, TestNodes, Any],
) -> None:
    proc, nodes, good_answer = garbage_target
    port = proc.extender_port
    stalled = []
    try:
        for _ in range(20):  # headers promising a body that never comes
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(
                b"POST /filter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"Pod":'
            )
            stalled.append(s)
        started = time.monotonic()
        assert post(port, "/filter", filter_request(nodes)) == (200, good_answer)
        assert time.monotonic() - started < 5
        # A chunked body without Content-Length, past the 10 MB limit: cut off with 413.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        chunk = b" " * 2**20

        def body() -> Iterator[bytes]:
            yield b"{"
            for _ in range(12):
                yield chunk

        try:
            conn.request(
                "POST",
                "/filter",
                body=body(),
                headers={"Content-Type": "application/json"},
                encode_chunked=True,
            )
            status = conn.getresponse().status
        except (BrokenPipeError, ConnectionResetError):
            status = 413  # the server answered and closed before the client finished sending
        finally:
            conn.close()
        assert status == 413
        assert post(port, "/filter", filter_request(nodes)) == (200, good_answer)
    finally:
        for s in stalled:
            s.close()
    # Clients that left mid-body are a 400 nobody reads, not a failure of the service.
    wait_until(
        "the stalled clients counted",
        lambda: proc.sample("cloudedge_extender_requests_total", verb="filter", code="400") >= 20,
        timeout=10,
    )


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), made with the openssl command."""
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=cloud-edge-scheduler",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.mark.timeout(240)
def test_extender_serves_tls_from_a_certificate_and_kube_scheduler_uses_it(
    kube: Cluster, namespace: str, nodes: TestNodes, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    proc = OperatorProcess(
        kube.kubeconfig,
        lease_name=f"ft-tls-{secrets.token_hex(4)}",
        mode="extender",
        extra_args=["--tls-cert-file", str(cert), "--tls-private-key-file", str(key)],
    )
    proc.start()
    try:
        context = ssl.create_default_context(cafile=str(cert))

        def tls_filter() -> Any:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", proc.extender_port, context=context, timeout=10
            )
            try:
                conn.request(
                    "POST",
                    "/filter",
                    body=filter_request(nodes),
                    headers={"Content-Type": "application/json"},
                )
                resp = conn.getresponse()
                return (resp.status, json.loads(resp.read())) if resp.status == 200 else None
            finally:
                conn.close()

        _, answer = wait_until("the TLS extender to see the nodes", tls_filter, timeout=60)
        assert sorted(answer["NodeNames"]) == sorted(
            n for n, s in nodes.specs.items() if s.tier == "edge"
        )
        # Plain HTTP on the TLS port gets no extender answer.
        with pytest.raises((http.client.HTTPException, OSError)):
            post(proc.extender_port, "/filter", filter_request(nodes), timeout=5)
        # kube-scheduler verifies the certificate against caData and binds through it.
        name, scheduler = with_kube_scheduler(kube, proc.extender_port, tls_ca=cert.read_bytes())
        try:
            pods = burst(nodes, "tls", 20, scheduler=name)
            for pod in pods:
                pod["metadata"]["annotations"]["cloudedge.io/tier"] = "edge"
            create_pods(kube, namespace, pods)
            wait_until(
                "20 pods bound through the TLS extender",
                lambda: (
                    len(got := kube.pods(namespace)) == 20 and all(p.spec.node_name for p in got)
                ),
                timeout=90,
                interval=1,
            )
        finally:
            scheduler.close()
        edge = {n for n, s in nodes.specs.items() if s.tier == "edge"}
        assert {p.spec.node_name for p in kube.pods(namespace)} <= edge
        assert proc.sample("cloudedge_extender_requests_total", verb="bind", code="200") >= 20
    finally:
        proc.close()
