"""A Kubernetes API client from a kubeconfig (``--kubeconfig``, ``KUBECONFIG``, ``~/.kube``)
or, inside a pod, from the ServiceAccount.

Each component gets its own ``ApiClient`` with a connection pool large enough for the
concurrent binds and events of a burst (urllib3's default of 4 would serialize them).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from cloudedge import errors

POOL_SIZE = 32
"""Connections per client: the bind pool's width plus room for events and status patches."""


def kubeconfig_path(explicit: str | None = None) -> str | None:
    """The kubeconfig to use, or None to use the in-cluster ServiceAccount."""
    if explicit:
        return explicit
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    default = pathlib.Path.home() / ".kube" / "config"
    if default.exists():
        return str(default)
    return None


def api_client(kubeconfig: str | None = None) -> k8s.ApiClient:
    """A configured ``ApiClient``; raises ClusterError when no configuration is found."""
    cfg = k8s.Configuration()
    path = kubeconfig_path(kubeconfig)
    try:
        if path is not None:
            k8s_config.load_kube_config(config_file=path, client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, OSError, TypeError, ValueError) as err:
        where = path or "the in-cluster ServiceAccount"
        raise errors.ClusterError(
            f"cannot load Kubernetes configuration from {where}: {err}"
        ) from err
    cfg.connection_pool_maxsize = POOL_SIZE
    return k8s.ApiClient(configuration=cfg)


def drain(resp: Any) -> bytes:
    """Read a ``_preload_content=False`` reply to its end and give the connection back.

    urllib3 returns a connection to its pool only once the reply was read and released; an
    unread reply costs the next call a new TCP and TLS handshake (measured: 7.6 ms of client
    CPU per call instead of 1.4 ms, most of the operator's CPU under a burst).
    """
    try:
        data: bytes = resp.data
    finally:
        resp.release_conn()
    return data
