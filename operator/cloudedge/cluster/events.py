"""Events and pod conditions as kube-scheduler writes them.

``Scheduled`` (Normal) and ``FailedScheduling`` (Warning) events on the pod, and the pod's
``PodScheduled`` condition set to ``False`` / ``Unschedulable`` when it cannot be placed, so
``kubectl describe pod`` and ``kubectl get events`` read as they do with the default scheduler.
Failures to record are logged, never raised: an event is not worth stopping scheduling for.
"""

from __future__ import annotations

import datetime
import logging
import socket
from typing import Any, cast

from kubernetes import client as k8s

from cloudedge import SCHEDULER_NAME

log = logging.getLogger(__name__)

MAX_MESSAGE = 1024
"""The API server truncates longer event messages; cut them ourselves, visibly."""


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Writes events and conditions for pods; every call is best-effort."""

    def __init__(self, core: k8s.CoreV1Api, *, instance: str | None = None) -> None:
        self.core = core
        self.instance = instance or socket.gethostname()

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
        """Record an event about any object; cluster-scoped ones get theirs in ``default``."""
        namespace = involved.get("namespace") or "default"
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        now = _now()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{involved.get('name') or 'object'}.",
                "namespace": namespace,
            },
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
            self.core.create_namespaced_event(
                namespace, cast(Any, body), _preload_content=False, _request_timeout=10
            )
        except Exception as err:
            log.warning(
                "event %s for %s %s not recorded: %s",
                reason,
                involved.get("kind"),
                involved.get("name"),
                err,
            )

    def unschedulable(self, pod: dict[str, Any], *, message: str) -> None:
        """Set the pod's ``PodScheduled`` condition to False with reason ``Unschedulable``."""
        meta = pod.get("metadata") or {}
        patch = {
            "status": {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": message[:MAX_MESSAGE],
                        "lastProbeTime": None,
                        "lastTransitionTime": _now(),
                    }
                ]
            }
        }
        try:
            self.core.patch_namespaced_pod_status(
                str(meta.get("name")),
                str(meta.get("namespace") or "default"),
                patch,
                _preload_content=False,
                _request_timeout=10,
            )
        except Exception as err:
            log.warning(
                "condition of %s/%s not set: %s", meta.get("namespace"), meta.get("name"), err
            )
