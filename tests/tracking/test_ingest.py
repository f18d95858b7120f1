"""The collect endpoint's group-commit writer and the bulk append it uses, on the real database."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from tests.crm.factories import make_account, make_contact
from tests.tracking.conftest import ORIGIN
from tsunagari.tracking import endpoint, ingest
from tsunagari.tracking.collect import parse_hit
from tsunagari.tracking.ingest import GroupCommitWriter, Pending, write_batch
from tsunagari.tracking.models import IpRange, Touchpoint, Visitor
from tsunagari.tracking.services import touchpoints_append_many
from tsunagari.tracking.sites import range_keys

pytestmark = pytest.mark.django_db(transaction=True)

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
NEW, KNOWN, OFFICE = "a" * 32, "b" * 32, "c" * 32


def pending(uid: str, path: str = "/pricing", ip: str = "192.0.2.1") -> Pending:
    body = json.dumps({"k": "pv", "v": uid, "u": f"{ORIGIN}{path}", "t": "料金", "c": 1})
    hit = parse_hit(body.encode(), origin=ORIGIN)
    return Pending(hit=hit, source=ORIGIN, user_agent=CHROME, is_bot=False, ip=ip)


def test_text_and_properties_reach_the_table_exactly_as_given():
    # PostgreSQL appends with COPY, whose text format escapes tabs, newlines and backslashes;
    # SQLite with multi-row INSERTs. Either way the row must read back unchanged.
    awkward = 'tab\there, new\nline, back\\slash, \\N, "quotes", 絵文字 🎌, \r'
    props = {"note": awkward, "nested": {"list": [1, "\\", None]}, "flag": True}
    now = timezone.now()
    with transaction.atomic():
        touchpoints_append_many(
            [
                {
                    "type": "page_view",
                    "occurred_at": now,
                    "title": awkward,
                    "properties": props,
                },
                {"type": "page_view", "occurred_at": now, "path": "", "duration_ms": None},
            ]
        )
    first, second = Touchpoint.objects.order_by("id")
    assert first.title == awkward and first.properties == props
    assert (first.channel, first.received_at is not None) == ("web", True)
    assert (second.path, second.duration_ms, second.properties) == ("", None, {})


def test_a_batch_creates_new_visitors_once_and_moves_known_ones():
    office = make_account(name="Office")
    start, end = range_keys("198.51.100.0/24")
    IpRange.objects.create(account=office, cidr="198.51.100.0/24", start=start, end=end)
    contact = make_contact()
    long_ago = timezone.now() - timezone.timedelta(days=30)
    known = Visitor.objects.create(
        uid=KNOWN,
        contact=contact,
        account=contact.account,
        first_seen=long_ago,
        last_seen=long_ago,
    )

    write_batch(
        [
            pending(NEW, "/a"),
            pending(NEW, "/b"),  # the same new browser twice in one batch: one visitor
            pending(KNOWN, "/c"),
            pending(OFFICE, "/d", ip="198.51.100.7"),
        ]
    )

    assert Visitor.objects.filter(uid=NEW).count() == 1
    known.refresh_from_db()
    assert known.last_seen > long_ago and known.first_seen == long_ago
    assert Visitor.objects.get(uid=OFFICE).account_id == office.pk
    touches = {t.path: t for t in Touchpoint.objects.all()}
    new = Visitor.objects.get(uid=NEW)
    assert touches["/a"].visitor_id == touches["/b"].visitor_id == new.pk
    assert (touches["/c"].visitor_id, touches["/c"].contact_id) == (known.pk, contact.pk)
    assert touches["/c"].account_id == contact.account_id
    assert touches["/d"].account_id == office.pk and touches["/d"].contact_id is None


def test_a_batch_that_fails_stores_nothing_and_every_waiter_hears_why():
    writer = GroupCommitWriter()
    bad = pending(NEW)
    bad.hit.occurred_at = None  # occurred_at is required: the whole batch must roll back
    good = pending(KNOWN)
    errors: list[BaseException] = []

    def submit(p: Pending) -> None:
        try:
            writer.submit(p, timeout=30)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(p,)) for p in (bad, good)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.stop()
    # The two may share a batch (both fail) or not (the good one is stored): never half a batch.
    assert errors
    assert Touchpoint.objects.filter(visitor__uid=NEW).count() == 0
    assert not Visitor.objects.filter(uid=NEW).exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_the_writer_connection_plans_no_sequential_scans_on_postgresql():
    # Without statistics (autovacuum behind or off) the visitor lookups and the foreign-key
    # checks at commit would be planned as scans of the whole table, and kept for the
    # connection's life.
    GroupCommitWriter()._prepare_connection()
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "off"
        cursor.execute("RESET enable_seqscan")  # this is the test's connection, not a writer's


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_sqlite_checkpoints_run_beside_the_writer_not_in_its_commits(monkeypatch):
    monkeypatch.setattr(ingest, "CHECKPOINT_SECONDS", 0.05)
    writer = GroupCommitWriter()
    try:
        writer.submit(pending(NEW), timeout=30)
        deadline = time.monotonic() + 10
        while writer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.checkpoints >= 1  # the checkpointer thread moved the log
    finally:
        writer.stop()
    assert not writer._thread.is_alive() and not writer._checkpointer.is_alive()
    assert Touchpoint.objects.filter(visitor__uid=NEW).count() == 1
    # A connection the writer sets up leaves checkpoints to that thread.
    probe = GroupCommitWriter()
    probe._prepare_connection()  # on this test's connection
    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            assert cursor.fetchone()[0] == 0
            cursor.execute("PRAGMA wal_autocheckpoint=1000")  # the test's connection: as it was
    finally:
        probe.stop()


def test_a_hit_not_committed_in_time_gets_a_503_and_is_still_stored(site, monkeypatch):
    slow = threading.Event()
    real_write = ingest.write_batch

    def write_after_the_answer(items):
        slow.wait(10)  # the request has given up before this batch commits
        real_write(items)

    monkeypatch.setattr(ingest, "write_batch", write_after_the_answer)
    writer = GroupCommitWriter()
    monkeypatch.setattr(endpoint, "writer", writer)
    monkeypatch.setattr(ingest, "WAIT_SECONDS", 0.2)
    body = json.dumps({"k": "pv", "v": NEW, "u": f"{ORIGIN}/late", "c": 1})
    response = Client().post(
        "/t/collect",
        body,
        content_type="text/plain",
        headers={"Origin": ORIGIN, "User-Agent": CHROME},
    )
    assert response.status_code == 503 and response.json() == {"error": "busy, retry"}
    slow.set()  # the batch commits after all: the browser's retry may store it twice,
    for _ in range(100):  # but nothing acknowledged is ever lost
        if Touchpoint.objects.filter(path="/late").exists():
            break
        time.sleep(0.05)
    assert Touchpoint.objects.filter(path="/late").count() == 1
    writer.stop()


def test_a_page_view_moves_a_visitor_row_that_no_index_has_to_follow():
    # Every page view updates its visitor's last_seen: in no index, and with free space in
    # each PostgreSQL page, that update stays in place (HOT) instead of touching every index.
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "tracking_visitor")
        assert not [c for c in constraints.values() if "last_seen" in (c["columns"] or [])]
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'tracking_visitor'")
            assert "fillfactor=70" in cursor.fetchone()[0]


def test_two_writers_creating_the_same_new_visitors_at_once_make_one_each():
    # Two processes' writers (here two threads, each on its own connection) meet the same new
    # browsers, in opposite orders: one creates each visitor, the other finds it, neither
    # waits on the other for ever, and every hit is kept.
    uids = [f"{i:032x}" for i in range(200)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(order: list[str], path: str) -> None:
        start.wait()
        try:
            for i in range(0, len(order), 40):
                write_batch([pending(uid, path) for uid in order[i : i + 40]])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=write, args=(uids, "/one")),
        threading.Thread(target=write, args=(uids[::-1], "/two")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Visitor.objects.count() == len(uids)
    assert not Touchpoint.objects.filter(visitor__isnull=True).exists()
    for path in ("/one", "/two"):
        assert Touchpoint.objects.filter(path=path).values("visitor").distinct().count() == 200
