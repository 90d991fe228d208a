"""Events and pod conditions as kube-scheduler writes them.

``Scheduled`` (Normal) and ``FailedScheduling`` (Warning) events on the pod, and the pod's
``PodScheduled`` condition set to ``False`` / ``Unschedulable`` when it cannot be placed, so
``kubectl describe pod`` and ``kubectl get events`` read as they do with the default scheduler.
Failures to record are logged, never raised: an event is not worth stopping scheduling for.
Transient failures (API server unreachable, 429, 5xx) are retried a few times first.

An event that repeats (the same object, reason and message within ten minutes: a pod retried
while it still does not fit) updates the first one's ``count`` and ``lastTimestamp`` instead
of adding an object, as client-go's event correlator does; ``kubectl describe pod`` then reads
``(x12 over 3m)`` as it does for kube-scheduler, and a pod that waits long does not fill etcd
with one event per attempt.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from cloudedge import SCHEDULER_NAME, errors
from cloudedge.cluster import client

log = logging.getLogger(__name__)

MAX_MESSAGE = 1024
"""The API server truncates longer event messages; cut them ourselves, visibly."""

WRITE_TRIES = 10
"""Attempts per event or condition when the API server is unreachable or answers 429/5xx,
0.5 s doubling to 8 s apart (about 45 s in all): enough to outlast an API server or etcd
restart. Without them, every event queued during a 5 s restart was lost (tests/faults: 168 of
400 pods bound without a Scheduled event). client-go's recorder retries too (12 tries)."""
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_NAME = 253
"""Longest object name (a DNS subdomain)."""
_SEQUENCE = itertools.count()
SERIES_WINDOW_S = 600.0
"""Repeats within this long of an event's first recording update it (client-go: 10 minutes)."""
SERIES_CACHE = 4096
"""Events remembered for updating, the least recently repeated forgotten first: a bound on
memory, at the cost of a new object for a repeat of a forgotten one."""


@dataclasses.dataclass
class _Series:
    """One recorded event that repeats may update."""

    name: str
    first: float
    count: int


def namespace_terminating(err: BaseException) -> bool:
    """Whether ``err`` is the API server refusing a write into a namespace being deleted (403
    with the ``NamespaceTerminating`` cause): not a missing permission, and never worth a retry
    or a warning, as client-go's event recorder also treats it."""
    if not isinstance(err, ApiException) or err.status != 403:
        return False
    try:
        body = json.loads(err.body or "{}")
    except (TypeError, ValueError):
        return False
    causes = ((body.get("details") or {}).get("causes") or []) if isinstance(body, dict) else []
    return any(isinstance(c, dict) and c.get("reason") == "NamespaceTerminating" for c in causes)


def event_name(involved: Mapping[str, Any]) -> str:
    """A name fixed before the first attempt, ``<object>.<nanoseconds in hex>`` as client-go's
    recorder names events (plus a counter, for clocks coarser than the calls): a retry of a
    write whose reply was lost is then refused as a duplicate (409) instead of recording the
    event twice, which ``generateName`` did (tests/faults, etcd killed mid-burst: two
    Scheduled events for one binding)."""
    stamp = f"{time.time_ns():x}{next(_SEQUENCE) % 4096:03x}"
    base = str(involved.get("name") or "object")[: MAX_NAME - len(stamp) - 1]
    return f"{base}.{stamp}"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Writes events and conditions for pods; every call is best-effort."""

    def __init__(self, core: k8s.CoreV1Api, *, instance: str | None = None) -> None:
        self.core = core
        self.instance = instance or socket.gethostname()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._series: collections.OrderedDict[tuple[str, ...], _Series] = collections.OrderedDict()

    def close(self) -> None:
        """Stop retrying: writes still failing are dropped at once (shutdown)."""
        self._closed.set()

    def _write(self, call: Callable[[], object], *, creates: bool = False) -> None:
        """``call``, retried (bounded) while the failure is transient; raises the last error.

        ``creates``: the call creates an object of a fixed name, so a 409 on a retry means
        that an earlier attempt was stored and only its reply was lost (an API server that
        timed out on etcd commits the write later): done, not a second object.

        The raw reply is read and released so its connection goes back to the pool (see
        :func:`cloudedge.cluster.client.drain`).
        """
        for attempt in range(WRITE_TRIES):
            try:
                client.drain(call())
                return
            except ApiException as err:
                if creates and attempt > 0 and err.status == 409:
                    return
                if err.status not in TRANSIENT_STATUS or attempt == WRITE_TRIES - 1:
                    raise
            except Exception:  # connection refused or reset, timeouts: the server may be back
                if attempt == WRITE_TRIES - 1:
                    raise
            if self._closed.wait(min(0.5 * 2**attempt, 8.0)):
                raise errors.ClusterError("shutting down")

    def pod_event(
        self,
        pod: dict[str, Any],
        *,
        reason: str,
        message: str,
        warning: bool = False,
        action: str = "Scheduling",
    ) -> None:
        """Record an event about ``pod`` (a dict with metadata.name/namespace/uid)."""
        meta = pod.get("metadata") or {}
        involved = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta.get("name"),
            "namespace": meta.get("namespace") or "default",
            "uid": meta.get("uid"),
        }
        self.event(involved, reason=reason, message=message, warning=warning, action=action)

    def event(
        self,
        involved: dict[str, Any],
        *,
        reason: str,
        message: str,
        warning: bool = False,
        action: str = "Scheduling",
    ) -> None:
        """Record an event about any object; cluster-scoped ones get theirs in ``default``. A
        repeat within :data:`SERIES_WINDOW_S` of the first updates it (the module's docstring)."""
        namespace = involved.get("namespace") or "default"
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        now = _now()
        key = (
            namespace,
            str(involved.get("kind") or ""),
            str(involved.get("name") or ""),
            str(involved.get("uid") or ""),
            reason,
            "Warning" if warning else "Normal",
            action,
            message,
        )
        if self._repeat(key, namespace, now):
            return
        name = event_name(involved)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": SCHEDULER_NAME},
            "reportingComponent": SCHEDULER_NAME,
            "reportingInstance": self.instance,
            "action": action,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            # The client accepts a plain dict body; its type hints only name the model class.
            self._write(
                lambda: self.core.create_namespaced_event(
                    namespace, cast(Any, body), _preload_content=False, _request_timeout=10
                ),
                creates=True,
            )
        except Exception as err:
            if namespace_terminating(err):
                log.debug(
                    "event %s for %s %s dropped: namespace %s is being deleted",
                    reason,
                    involved.get("kind"),
                    involved.get("name"),
                    namespace,
                )
                return
            log.warning(
                "event %s for %s %s not recorded: %s",
                reason,
                involved.get("kind"),
                involved.get("name"),
                err,
            )
            return
        with self._lock:
            self._series[key] = _Series(name=name, first=time.monotonic(), count=1)
            while len(self._series) > SERIES_CACHE:
                self._series.popitem(last=False)

    def _repeat(self, key: tuple[str, ...], namespace: str, now: str) -> bool:
        """Count a repeat on the event first recorded for ``key``: True when that was done (or
        tried: a failed update is logged, not turned into a second object), False when there is
        no such event to update, or it is gone (the API server keeps events an hour)."""
        with self._lock:
            series = self._series.get(key)
            if series is None or time.monotonic() - series.first >= SERIES_WINDOW_S:
                self._series.pop(key, None)
                return False
            series.count += 1
            name, count = series.name, series.count
            self._series.move_to_end(key)
        patch = {"count": count, "lastTimestamp": now}
        try:
            self._write(
                lambda: self.core.patch_namespaced_event(
                    name, namespace, patch, _preload_content=False, _request_timeout=10
                )
            )
        except Exception as err:
            if isinstance(err, ApiException) and err.status == 404:
                with self._lock:
                    self._series.pop(key, None)
                return False
            log.warning("event %s/%s not updated (x%d): %s", namespace, name, count, err)
        return True

    def unschedulable(self, pod: dict[str, Any], *, message: str) -> bool:
        """Set the pod's ``PodScheduled`` condition to False with reason ``Unschedulable``.

        Returns False when the pod is gone: 404, or its name now belongs to another pod (the
        UID in the patch is a precondition; the API server refuses to change it).

        As kube-scheduler's ``UpdatePodCondition``: when ``pod`` (as last seen) already has
        this condition with this message, nothing is sent, and a new message on a pod already
        unschedulable keeps the condition's ``lastTransitionTime`` (the status did not change).
        A pod retried while it does not fit would otherwise be patched at every attempt.
        """
        meta = pod.get("metadata") or {}
        text = message[:MAX_MESSAGE]
        current = next(
            (
                c
                for c in ((pod.get("status") or {}).get("conditions") or [])
                if isinstance(c, dict) and c.get("type") == "PodScheduled"
            ),
            None,
        )
        if current is not None and (current.get("status"), current.get("reason")) != (
            "False",
            "Unschedulable",
        ):
            current = None  # not yet unschedulable: this is a transition
        if current is not None and current.get("message") == text:
            return True
        since = None if current is None else current.get("lastTransitionTime")
        patch = {
            "metadata": {"uid": meta.get("uid")} if meta.get("uid") else {},
            "status": {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": text,
                        "lastProbeTime": None,
                        "lastTransitionTime": since or _now(),
                    }
                ]
            },
        }
        try:
            self._write(
                lambda: self.core.patch_namespaced_pod_status(
                    str(meta.get("name")),
                    str(meta.get("namespace") or "default"),
                    patch,
                    _preload_content=False,
                    _request_timeout=10,
                )
            )
        except ApiException as err:
            if err.status == 404 or (err.status == 422 and "metadata.uid" in str(err.body)):
                return False
            log.warning(
                "condition of %s/%s not set: %s", meta.get("namespace"), meta.get("name"), err
            )
        except Exception as err:
            log.warning(
                "condition of %s/%s not set: %s", meta.get("namespace"), meta.get("name"), err
            )
        return True
