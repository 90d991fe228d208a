"""The one exception hierarchy of cloud-edge-scheduler.

Callers catch the narrowest class they can act on; everything the project raises on purpose
derives from :class:`CloudEdgeError`, and wrapped library errors are chained with ``from``::

    CloudEdgeError
    ├── InputError            a label, annotation, quantity or document is not what is allowed
    │   ├── TopologyError     a NetworkTopology contradicts itself or names unknown sites
    │   └── WireError         an extender request is not kube-scheduler's wire format
    │                         (cloudedge.extender.wire: it belongs to the HTTP edge)
    ├── ConfigError           the scheduler's configuration file or flags are invalid
    └── ClusterError          talking to the API server failed in a way the caller must handle
        └── BindError         a Binding could not be created; its subclasses (conflict, gone,
                              not found, gated, forbidden, retry) are in cloudedge.cluster.binding
"""

from __future__ import annotations


class CloudEdgeError(Exception):
    """Base of every error the project raises on purpose."""


class InputError(CloudEdgeError):
    """A Kubernetes object carries a value the scheduler cannot use.

    The message always names the object, the key, the offending value and what is allowed, so
    that the Warning event built from it tells the workload author exactly what to fix.
    """

    def __init__(self, obj: str, key: str, value: object, allowed: str) -> None:
        self.obj = obj
        self.key = key
        self.value = value
        self.allowed = allowed
        shown = repr(value)
        if len(shown) > 80:
            # 10 kB annotation values must not turn into 10 kB events or log lines.
            shown = shown[:77] + "..."
        super().__init__(f"{obj}: {key}={shown} is invalid: {allowed}")


class TopologyError(InputError):
    """A NetworkTopology is inconsistent (negative latency, contradicting links, ...)."""


class ConfigError(CloudEdgeError):
    """The scheduler configuration (file or flags) is invalid."""


class ClusterError(CloudEdgeError):
    """An API server call failed in a way the caller has to decide about."""


class BindError(ClusterError):
    """A Binding was refused; ``reason`` says whether retrying can help.

    ``node``: for a conflict, the node the pod is bound to (when known).
    """

    def __init__(self, message: str, *, reason: str, node: str | None = None) -> None:
        self.reason = reason
        self.node = node
        super().__init__(message)
