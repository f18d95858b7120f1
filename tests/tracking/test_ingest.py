"""The collect endpoint's group-commit writer and the bulk append it uses, on the real database."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tests.crm.factories import make_account, make_contact
from tests.tracking.conftest import ORIGIN
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
def test_the_writer_connection_leaves_checkpoints_to_its_own_thread_on_sqlite():
    writer = GroupCommitWriter()
    writer._prepare_connection()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == 0
        cursor.execute("PRAGMA wal_autocheckpoint=1000")  # the test's connection: as it was
    assert writer._checkpointer is not None and writer._checkpointer.is_alive()
