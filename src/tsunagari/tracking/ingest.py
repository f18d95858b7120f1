"""Group commit for the collect endpoint: many requests, one transaction, durable before 2xx.

Each request hands its hit to one writer thread and waits. The writer takes everything that
arrived while it was busy (up to a batch limit), writes it in one transaction — visitors
upserted, touchpoints appended — and wakes the waiting requests. A request answers 2xx only
after its hit is committed, so a killed server loses nothing it acknowledged; the batching
turns thousands of small commits a second into a few dozen large ones.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tsunagari.crm.models import Account
from tsunagari.tracking.collect import KINDS, Hit
from tsunagari.tracking.models import Visitor
from tsunagari.tracking.services import touchpoints_append_many
from tsunagari.tracking.sites import account_for_ip
from tsunagari.tracking.vocabulary import Channel

log = logging.getLogger(__name__)

BATCH_LIMIT = 500
WAIT_SECONDS = 10.0
IDLE_CLOSE_SECONDS = 0.5
CHECKPOINT_SECONDS = 1.0  # SQLite: how often the checkpointer moves the log into the database


def _held_lock() -> Any:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class Pending:
    hit: Hit
    source: str
    user_agent: str
    is_bot: bool
    ip: str = ""
    error: BaseException | None = None
    # Held until the writer has the outcome: a bare lock, released once, is the cheapest
    # thing a request thread can sleep on (an Event builds a Condition and a lock per wait).
    _done: Any = field(default_factory=_held_lock, repr=False)

    def finish(self) -> None:
        """Wake the request waiting for this hit (once, by the writer)."""
        self._done.release()

    def wait(self, timeout: float) -> bool:
        return self._done.acquire(timeout=timeout)


class IngestTimeout(RuntimeError):
    """The hit was not committed in time; the client should retry."""


def write_batch(items: list[Pending]) -> None:
    """Store a batch of hits in one transaction (visitors first, then touchpoints)."""
    now = timezone.now()
    uids = {p.hit.visitor_uid for p in items if p.hit.visitor_uid}
    with transaction.atomic():
        visitors = _upsert_visitors(items, uids, now)
        rows = []
        for p in items:
            visitor = visitors.get(p.hit.visitor_uid) if p.hit.visitor_uid else None
            hit = p.hit
            props = dict(hit.properties)
            if hit.event_name:
                props["event"] = hit.event_name
            if hit.screen:
                props["screen"] = hit.screen
            # Plain mappings, not model instances: the batch is the hot path of every page view.
            rows.append(
                {
                    "contact_id": visitor[1] if visitor else None,
                    "visitor_id": visitor[0] if visitor else None,
                    "account_id": visitor[2] if visitor else None,
                    "type": KINDS[hit.kind],
                    "channel": Channel.WEB,
                    "occurred_at": hit.occurred_at,
                    "received_at": now,
                    "source": p.source[:100],
                    "campaign": hit.utm.get("utm_campaign", ""),
                    "url": hit.url,
                    "path": hit.path,
                    "title": hit.title,
                    "referrer": hit.referrer,
                    "duration_ms": hit.duration_ms,
                    "is_bot": p.is_bot,
                    "properties": props,
                    **hit.utm,
                }
            )
        touchpoints_append_many(rows)


def _upsert_visitors(
    items: list[Pending], uids: set[str], now
) -> dict[str, tuple[int, int | None, int | None]]:
    """uid → (visitor id, contact id, account id); new visitors created, last_seen moved.

    Plain SQL, two or three statements a batch whatever its size: this runs for every page
    view, and the ORM's per-query cost was most of the batch's time.
    """
    if not uids:
        return {}
    table = connection.ops.quote_name(Visitor._meta.db_table)
    when = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        # Move last_seen first and read back what is known: one statement for the visitors
        # seen before (SQLite ≥ 3.35 and PostgreSQL both have RETURNING).
        cursor.execute(
            f"UPDATE {table} SET last_seen = %s WHERE uid {_among(uids)} "
            "RETURNING id, uid, contact_id, account_id",
            [when, *_among_params(uids)],
        )
        known = {uid: (pk, contact, account) for pk, uid, contact, account in cursor.fetchall()}
        new: dict[str, Pending] = {}
        for p in items:
            uid = p.hit.visitor_uid
            if uid and uid not in known and uid not in new:
                new[uid] = p
        if new:
            # In uid order: two processes' writers creating the same visitors lock their rows
            # in the same order, so neither can wait on the other for ever.
            new = dict(sorted(new.items()))
            # A company known by its IP range counts the anonymous visit on its account. The
            # ranges are cached for seconds: keep only accounts that still exist, so a company
            # deleted meanwhile cannot fail the batch.
            accounts = {uid: account_for_ip(p.ip) if p.ip else None for uid, p in new.items()}
            existing = set(
                Account.objects.filter(pk__in={a for a in accounts.values() if a}).values_list(
                    "pk", flat=True
                )
            )
            columns = [
                list(new),
                [p.user_agent[:300] for p in new.values()],
                [p.is_bot for p in new.values()],
                [accounts[uid] if accounts[uid] in existing else None for uid in new],
            ]
            # A visitor created by another writer meanwhile is kept (DO NOTHING) and read below;
            # RETURNING gives the ones this batch created.
            insert = (
                f"INSERT INTO {table} (uid, first_seen, last_seen, user_agent, is_bot, account_id) "
            )
            returning = " ON CONFLICT (uid) DO NOTHING RETURNING id, uid, contact_id, account_id"
            if connection.vendor == "postgresql":
                cursor.execute(
                    insert + "SELECT u, %s, %s, a, b, c FROM unnest("
                    "%s::varchar[], %s::varchar[], %s::boolean[], %s::bigint[]) AS t(u, a, b, c)"
                    + returning,
                    [when, when, *columns],
                )
            else:
                cursor.execute(
                    insert
                    + "VALUES "
                    + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(new))
                    + returning,
                    [
                        v
                        for uid, *rest in zip(*columns, strict=True)
                        for v in (uid, when, when, *rest)
                    ],
                )
            known.update(
                (uid, (pk, contact, account)) for pk, uid, contact, account in cursor.fetchall()
            )
            raced = [uid for uid in new if uid not in known]
            if raced:
                columns_read = "id, uid, contact_id, account_id"
                cursor.execute(
                    f"SELECT {columns_read} FROM {table} WHERE uid {_among(raced)}",
                    _among_params(raced),
                )
                known.update(
                    (uid, (pk, contact, account)) for pk, uid, contact, account in cursor.fetchall()
                )
    return known


def _among(values) -> str:
    """`IN (…)` on SQLite; `= ANY(%s)` on PostgreSQL, one array parameter whatever the count.

    (psycopg parses every placeholder of a query in Python, and a query whose text changes
    with the batch size is parsed again on every call.)
    """
    if connection.vendor == "postgresql":
        return "= ANY(%s)"
    return "IN (" + ", ".join(["%s"] * len(values)) + ")"


def _among_params(values) -> list:
    return [list(values)] if connection.vendor == "postgresql" else list(values)


def _keep_connection_healthy() -> None:
    """Reuse the writer's connection across batches; drop it only after it has failed.

    (close_old_connections would reconnect before every batch where CONN_MAX_AGE is 0, as it
    is for SQLite: a new connection and its PRAGMAs for every group commit.)
    """
    if connection.connection is not None and connection.errors_occurred:
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()


class GroupCommitWriter:
    """One thread that commits whatever hits are waiting, in batches.

    On SQLite a second thread checkpoints the write-ahead log. Left to the writer's commits,
    every thousand pages one commit would also copy the log into the database file and sync
    it — hundreds of milliseconds with every waiting page view behind it. A passive
    checkpoint on its own connection runs beside the writer instead; durability is the same
    (a commit is in the log before its 2xx either way).
    """

    def __init__(self) -> None:
        # C, no Condition; None asks the writer to stop
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # starting and stopping the writer thread
        self._checkpointer_lock = threading.Lock()
        self._wrote = threading.Event()
        self._stopping = threading.Event()
        self.checkpoints = 0  # SQLite checkpoints done beside the writer
        self._checkpointer: threading.Thread | None = None
        self._configured: object = None  # the connection _prepare_connection has set up

    def _ensure_running(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()  # a stopped writer starts again when hits come
                self._thread = threading.Thread(
                    target=self._run, name="tsunagari-ingest", daemon=True
                )
                self._thread.start()

    def enqueue(self, pending: Pending) -> None:
        """Queue the hit and return: `pending.finish()` runs once its batch is committed or
        has failed (`pending.error`)."""
        self._ensure_running()
        self._queue.put(pending)

    def submit(self, pending: Pending, timeout: float | None = None) -> None:
        """Block until the hit is committed; raises what the write raised, or IngestTimeout."""
        self.enqueue(pending)
        if not pending.wait(WAIT_SECONDS if timeout is None else timeout):
            raise IngestTimeout("the hit was not stored in time")
        if pending.error is not None:
            raise pending.error

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the writer (and checkpointer) threads.

        A hit submitted meanwhile waits for the threads to end and starts a new writer.
        """
        with self._lock:
            self._stopping.set()
            self._wrote.set()  # the checkpointer: one last checkpoint, then end
            if self._thread is not None and self._thread.is_alive():
                self._queue.put(None)
                self._thread.join(timeout)
            if self._checkpointer is not None:
                self._checkpointer.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_CLOSE_SECONDS)
            except queue.Empty:
                connection.close()  # idle: give the database connection back
                continue
            if first is None:  # stop(): everything queued before it has been written
                connection.close()
                return
            batch = [first]
            while len(batch) < BATCH_LIMIT:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            try:
                _keep_connection_healthy()
                self._prepare_connection()
                write_batch(batch)
                self._wrote.set()
            except BaseException as exc:  # every waiter must hear the outcome
                log.exception("could not store %d tracking hits", len(batch))
                for p in batch:
                    p.error = exc
            finally:
                for p in batch:
                    p.finish()

    def _prepare_connection(self) -> None:
        """Set up the writer's connection once per connection.

        SQLite: its commits do not checkpoint; the checkpointer thread does.

        PostgreSQL: no sequential scans. Every statement of a batch finds rows by key (visitors
        by uid, and at commit the foreign-key checks of each touchpoint by id), but a plan
        made while a table was small, or has no statistics yet (autovacuum behind or off),
        scans the table whole, and a connection keeps the foreign-key checks' plans for its
        life: each page view would then read every visitor.
        """
        connection.ensure_connection()
        if connection.connection is not self._configured:
            with connection.cursor() as cursor:
                if connection.vendor == "sqlite":
                    cursor.execute("PRAGMA wal_autocheckpoint=0")
                elif connection.vendor == "postgresql":
                    cursor.execute("SET enable_seqscan = off")
            self._configured = connection.connection
        if connection.vendor == "sqlite":
            self._checkpoint_beside()

    def _checkpoint_beside(self) -> None:
        """Keep the SQLite checkpointer thread running beside the writer."""
        with self._checkpointer_lock:  # not self._lock: stop() holds it while joining us
            if self._checkpointer is None or not self._checkpointer.is_alive():
                self._checkpointer = threading.Thread(
                    target=self._checkpoint, name="tsunagari-checkpoint", daemon=True
                )
                self._checkpointer.start()

    def _checkpoint(self) -> None:
        while not self._stopping.is_set():
            if not self._wrote.wait(IDLE_CLOSE_SECONDS * 4):
                connection.close()  # nothing written lately: give the connection back
                continue
            self._stopping.wait(CHECKPOINT_SECONDS)
            self._wrote.clear()
            try:
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self.checkpoints += 1
            except Exception:
                log.exception("could not checkpoint the write-ahead log")
                connection.close()
        connection.close()


writer = GroupCommitWriter()
