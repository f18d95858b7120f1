import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from tests.crm.factories import make_contact
from tsunagari.tracking import consumers
from tsunagari.tracking.models import ConsumerCursor, Touchpoint
from tsunagari.tracking.services import TrackingError, touchpoints_append

pytestmark = pytest.mark.django_db


def append(contact, n, type_key="page_view"):
    now = timezone.now()
    with transaction.atomic():
        return touchpoints_append(
            [
                Touchpoint(
                    contact=contact, type=type_key, occurred_at=now - dt.timedelta(minutes=i)
                )
                for i in range(n)
            ]
        )


def test_a_consumer_reads_every_touchpoint_once_in_order_in_batches():
    contact = make_contact()
    append(contact, 7)
    seen = []
    sizes = []

    def handler(batch):
        sizes.append(len(batch))
        seen.extend(t.pk for t in batch)

    while consumers.consume_batch("test", handler, limit=3):
        pass
    append(contact, 2)
    while consumers.consume_batch("test", handler, limit=3):
        pass
    assert seen == sorted(Touchpoint.objects.values_list("pk", flat=True))
    assert sizes == [3, 3, 1, 2]
    assert ConsumerCursor.objects.get(name="test").position == seen[-1]


def test_a_failing_handler_moves_nothing_and_the_batch_comes_back():
    append(make_contact(), 3)
    written = []

    def broken(batch):
        written.append(len(batch))
        raise RuntimeError("scoring crashed")

    with pytest.raises(RuntimeError):
        consumers.consume_batch("test", broken)
    assert ConsumerCursor.objects.filter(name="test", position__gt=0).count() == 0
    got = []
    consumers.consume_batch("test", lambda b: got.extend(b))
    assert len(got) == 3


def test_consumers_keep_separate_cursors():
    append(make_contact(), 2)
    a, b = [], []
    consumers.consume_batch("a", a.extend)
    consumers.consume_batch("b", b.extend)
    assert len(a) == len(b) == 2


def test_the_registered_consumers_run_from_the_worker():
    append(make_contact(), 2)
    got = []
    consumers.register("test.worker", got.extend)
    try:
        from tsunagari.work.worker import run_once

        run_once()
    finally:
        consumers.unregister("test.worker")
    assert len(got) == 2


def test_touchpoints_are_only_written_through_the_stream():
    with pytest.raises(TypeError):
        Touchpoint(type="call", channel="phone", occurred_at=timezone.now()).save()


@pytest.mark.django_db(transaction=True)
def test_appending_outside_a_transaction_is_refused():
    with pytest.raises(TrackingError):
        touchpoints_append([Touchpoint(type="call", occurred_at=timezone.now())])
    assert not Touchpoint.objects.exists()


def test_appending_moves_last_activity_forward_but_never_back():
    contact = make_contact()
    append(contact, 1)
    contact.refresh_from_db()
    latest = contact.last_activity_at
    with transaction.atomic():
        touchpoints_append(
            [Touchpoint(contact=contact, type="call", occurred_at=latest - dt.timedelta(days=30))]
        )
    contact.refresh_from_db()
    assert contact.last_activity_at == latest


@pytest.mark.parametrize("bulk", [False, True])
def test_what_we_send_a_contact_is_not_its_activity(bulk):
    """An email sent or a score change leaves last activity alone; an open moves it."""
    from tsunagari.tracking.services import touchpoints_append_many

    contact = make_contact()
    now = timezone.now()

    def add(type_key, when):
        with transaction.atomic():
            if bulk:
                touchpoints_append_many(
                    [{"contact_id": contact.pk, "type": type_key, "occurred_at": when}]
                )
            else:
                touchpoints_append([Touchpoint(contact=contact, type=type_key, occurred_at=when)])
        contact.refresh_from_db()
        return contact.last_activity_at

    assert add("email_sent", now - dt.timedelta(hours=2)) is None
    assert add("score_changed", now - dt.timedelta(hours=1)) is None
    assert add("email_opened", now - dt.timedelta(minutes=30)) == now - dt.timedelta(minutes=30)
    assert add("email_sent", now) == now - dt.timedelta(minutes=30)
