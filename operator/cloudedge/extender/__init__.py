"""The kube-scheduler extender front end: the v1 wire format (:mod:`.wire`) and the HTTP
service (:mod:`.server`) that answers kube-scheduler from the live cluster view with the same
model the kopf front end uses.
"""

from cloudedge.extender.server import MAX_BODY_BYTES, make_app

__all__ = ["MAX_BODY_BYTES", "make_app"]
