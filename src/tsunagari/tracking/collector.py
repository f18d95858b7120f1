"""The collect endpoint as its own server: one event loop per process, no thread per request.

`tsunagari serve` runs this beside the web app (granian's RSGI interface, see
`tsunagari.collector`). The decisions are `endpoint.collect_decision`'s, the same as the WSGI
path's; only the waiting differs. A WSGI request holds a thread until the group commit has
its hit, and on two cores at 5,000 page views a second those threads' wake-ups cost more than
everything else the request does. Here a request is a coroutine parked on a future: the
writer thread commits a batch and wakes the event loop once for all of it.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import time
from dataclasses import dataclass
from typing import Any

from tsunagari.core.proxies import client_address
from tsunagari.tracking import ingest
from tsunagari.tracking.collect import MAX_BODY_BYTES
from tsunagari.tracking.endpoint import Reply, collect_decision, error
from tsunagari.tracking.ingest import GroupCommitWriter, IngestTimeout, Pending
from tsunagari.tracking.sites import site_cache

PATH = "/t/collect"
SWEEP_SECONDS = 0.25  # how often hits waiting too long for their commit are answered 503


class LoopWaker:
    """Resolves the futures of committed hits on their event loop, one wake-up per batch.

    `finished` runs on the writer thread, once per hit. Only the first hit since the last
    wake-up schedules one; the loop then resolves everything that finished meanwhile. (The
    writer is the only thread that calls `finished`, so no lock is needed around the flag.)
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._finished: collections.deque[AwaitedHit] = collections.deque()
        self._scheduled = False
        # Waiting hits in the order they were queued, so the oldest are looked at first.
        self._waiting: collections.deque[tuple[float, asyncio.Future]] = collections.deque()
        self._sweeper: asyncio.TimerHandle | None = None

    def finished(self, pending: AwaitedHit) -> None:
        self._finished.append(pending)
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        self._scheduled = False  # before draining: a hit finished from now on schedules again
        finished = self._finished
        while finished:
            pending = finished.popleft()
            future = pending.future
            if future is not None and not future.done():
                if pending.error is None:
                    future.set_result(None)
                else:
                    future.set_exception(pending.error)

    def wait_for(self, pending: AwaitedHit) -> asyncio.Future:
        """A future resolved when the writer has the hit's outcome, or failed after WAIT_SECONDS."""
        future = self.loop.create_future()
        pending.future = future
        self._waiting.append((time.monotonic() + ingest.WAIT_SECONDS, future))
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(SWEEP_SECONDS, self._sweep)
        return future

    def _sweep(self) -> None:
        now = time.monotonic()
        waiting = self._waiting
        while waiting and (waiting[0][1].done() or waiting[0][0] <= now):
            _deadline, future = waiting.popleft()
            if not future.done():
                future.set_exception(IngestTimeout("the hit was not stored in time"))
        self._sweeper = self.loop.call_later(SWEEP_SECONDS, self._sweep) if waiting else None


@dataclass
class AwaitedHit(Pending):
    """A hit whose request awaits a future instead of sleeping in a thread."""

    _done: Any = None  # no lock to sleep on
    future: asyncio.Future | None = None
    waker: LoopWaker | None = None

    def finish(self) -> None:
        self.waker.finished(self)


def _client_ip(client: str) -> str:
    """The address of "host:port" as granian gives it ("[::1]:port" for IPv6)."""
    host = client.rpartition(":")[0] if ":" in client else client
    return host.strip("[]")


class Collector:
    """The RSGI application: POST and OPTIONS on /t/collect, GET /healthz, 404 elsewhere."""

    def __init__(self, writer: GroupCommitWriter | None = None) -> None:
        self.writer = writer or ingest.writer
        self.waker: LoopWaker | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.waker = LoopWaker(loop)
        site_cache.keep_fresh()  # the event loop must never wait on the database
        # Everything loaded so far (Django, the app) lives as long as the process: out of the
        # collector's way. A full collection otherwise walks all of it, a pause of 80 ms or
        # more with every waiting page view behind it.
        gc.collect()
        gc.freeze()

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.writer.stop()  # shutting down: commit what is queued before the process ends

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return
        if scope.path != PATH:
            if scope.path == "/healthz" and scope.method == "GET":
                # Ready once the registered sites are known: before, every hit would be a 403.
                ready = site_cache.loaded
                proto.response_bytes(
                    200 if ready else 503,
                    [("Content-Type", "text/plain")],
                    b"ok" if ready else b"starting",
                )
            else:
                _send(proto, error(404, "not found"))
            return
        reply = await self.collect(scope, proto)
        _send(proto, reply)

    async def collect(self, scope: Any, proto: Any) -> Reply:
        headers = scope.headers
        origin = headers.get("origin", "")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            return error(400, "payload too large")
        body = await proto() if length else b""
        decided = collect_decision(
            method=scope.method,
            origin=origin,
            body=body,
            user_agent=headers.get("user-agent", ""),
            dnt=headers.get("dnt") == "1",
            ip=client_address(_client_ip(scope.client), headers.get("x-forwarded-for", "")),
            make=AwaitedHit,
        )
        if isinstance(decided, Reply):
            return decided
        decided.waker = self.waker
        waited = self.waker.wait_for(decided)
        self.writer.enqueue(decided)
        try:
            await waited
        except IngestTimeout:
            return error(503, "busy, retry", origin)
        except Exception:
            return error(500, "the hit could not be stored", origin)
        return Reply(204, cors_origin=origin)


def _send(proto: Any, reply: Reply) -> None:
    proto.response_bytes(reply.status, reply.headers(), reply.body)
