"""List-then-watch of one resource into a :class:`ClusterView`, in a thread, forever.

The watch resumes from the last resourceVersion it saw; on ``410 Gone`` (the version was
compacted away) or any error it relists, and the relist *replaces* the view's objects so that
nothing deleted during the gap keeps counting. Backoff between failures is bounded (0.5 s
doubling to 10 s) so a restarting API server is retried promptly but not hammered. The same
failure again is logged as a warning once every ``REPEAT_WARNING_S`` (at debug level in
between): a resource the API server does not serve (a CRD not installed, HTTP 404) or a long
outage would otherwise write a warning per reflector every 10 s.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client import exceptions as k8s_exc

from cloudedge.cluster import client

log = logging.getLogger(__name__)

WATCH_TIMEOUT_S = 300
"""Server-side watch timeout; the API server closes the stream and we resume from the last
version, which also proves the connection is alive."""
BACKOFF_START_S, BACKOFF_MAX_S = 0.5, 10.0
REPEAT_WARNING_S = 300.0
"""How often the same failure of one reflector is logged again as a warning."""
WATCH_CLIENT_MARGIN_S = 30
"""The client gives a watch this long past the server's timeout before taking it for dead."""
LIST_TIMEOUT_S = 60
"""A list (relist) that takes longer is abandoned and retried."""

Lister = Callable[..., Any]


class Reflector:
    """Keeps ``on_replace``/``on_upsert``/``on_delete`` in step with one resource."""

    def __init__(
        self,
        api: k8s.ApiClient,
        lister: Lister,
        *,
        name: str,
        on_replace: Callable[[list[Mapping[str, Any]]], None],
        on_upsert: Callable[[Mapping[str, Any]], None],
        on_delete: Callable[[Mapping[str, Any]], None],
        field_selector: str | None = None,
        stop: threading.Event | None = None,
        on_list_start: Callable[[], None] | None = None,
        on_stale: Callable[[], None] | None = None,
    ) -> None:
        self.api = api
        self.lister = lister
        self.name = name
        self.on_replace = on_replace
        self.on_upsert = on_upsert
        self.on_delete = on_delete
        self.field_selector = field_selector
        self.on_list_start = on_list_start
        self.on_stale = on_stale
        self.stop = stop or threading.Event()
        self.relists = 0
        self._thread: threading.Thread | None = None
        self._watch: k8s_watch.Watch | None = None
        self._failure = ""
        """The last failure, as logged; empty while the list and watch work."""
        self._failures = 0
        """Failures in a row since the list or watch last worked."""
        self._warned_at = float("-inf")

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name=f"reflector-{self.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop after the current event."""
        self.stop.set()
        if self._watch is not None:
            self._watch.stop()  # type: ignore[no-untyped-call]

    def _kwargs(self) -> dict[str, Any]:
        return {"field_selector": self.field_selector} if self.field_selector else {}

    def _list(self) -> str:
        # Plain dicts, as watch events give them; sanitizing model objects for every pod
        # would cost more than the rest of the scheduler together.
        if self.on_list_start is not None:
            self.on_list_start()
        resp = self.lister(
            _preload_content=False, _request_timeout=LIST_TIMEOUT_S, **self._kwargs()
        )
        doc = json.loads(client.drain(resp))
        if self.stop.is_set():
            # Closed while the list was in flight (a stop during the start): the view and the
            # queue it would feed are being shut down, so the list is dropped.
            return ""
        self.on_replace(list(doc.get("items") or []))
        self.relists += 1
        return str(doc.get("metadata", {}).get("resourceVersion", ""))

    def run(self) -> None:
        """List, watch, relist on error, until stopped."""
        backoff = BACKOFF_START_S
        version = ""
        while not self.stop.is_set():
            try:
                if not version:
                    version = self._list()
                    if self.stop.is_set():
                        return
                    log.info("%s listed at resourceVersion %s", self.name, version)
                    if self._failures:
                        log.info("%s works again after %d failures", self.name, self._failures)
                    self._failure, self._failures = "", 0
                version = self._watch_from(version)
                backoff = BACKOFF_START_S
            except k8s_exc.ApiException as err:
                if self.stop.is_set():
                    return  # closed: see below
                self._went_stale()
                if err.status == 410:
                    log.info("%s watch expired (410 Gone); relisting", self.name)
                    version = ""
                    continue
                what = f"HTTP {err.status}"
                if err.status == 404:
                    what += " (the API server does not serve this resource: is its CRD installed?)"
                self._failed(what, backoff)
                version = ""
                self.stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            except Exception as err:  # connection refused, reset, timeouts: relist after backoff
                if self.stop.is_set():
                    # Closed, and the stream broke because of it (the process is stopping):
                    # a daemon thread that logs now can race the interpreter's shutdown for
                    # stderr, which aborts the process (SIGABRT) after a clean stop.
                    return
                self._went_stale()
                self._failed(str(err), backoff)
                version = ""
                self.stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _failed(self, what: str, backoff: float) -> None:
        """Log a failed list or watch: a warning when it is new, or the same one
        ``REPEAT_WARNING_S`` after the last warning; debug in between."""
        self._failures += 1
        now = time.monotonic()
        level = logging.DEBUG
        if what != self._failure or now - self._warned_at >= REPEAT_WARNING_S:
            level, self._warned_at = logging.WARNING, now
        self._failure = what
        again = f" ({self._failures} in a row)" if self._failures > 1 else ""
        log.log(level, "%s watch failed: %s; retrying in %.1fs%s", self.name, what, backoff, again)

    def _went_stale(self) -> None:
        """The watch broke: what was seen may be out of date until the relist."""
        if self.on_stale is not None:
            self.on_stale()

    def _watch_from(self, version: str) -> str:
        self._watch = k8s_watch.Watch()  # type: ignore[no-untyped-call]
        stream = self._watch.stream(  # type: ignore[no-untyped-call]
            self.lister,
            resource_version=version,
            timeout_seconds=WATCH_TIMEOUT_S,
            allow_watch_bookmarks=True,
            deserialize=False,  # plain dicts: model objects for every event cost too much
            _request_timeout=WATCH_TIMEOUT_S + WATCH_CLIENT_MARGIN_S,
            **self._kwargs(),
        )
        for event in stream:
            if self.stop.is_set():
                break
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                code = obj.get("code")
                if code == 410:
                    raise k8s_exc.ApiException(status=410, reason="Gone")
                raise k8s_exc.ApiException(status=code or 500, reason=str(obj.get("message")))
            meta = obj.get("metadata") or {}
            version = str(meta.get("resourceVersion") or version)
            if kind == "BOOKMARK":
                continue
            if kind == "DELETED":
                self.on_delete(obj)
            else:
                self.on_upsert(obj)
        return version
