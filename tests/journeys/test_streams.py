"""Nurture streams: cadence, skipping consumed content, exhaustion and resume on append."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from tests.journeys.conftest import opted_in, touch
from tsunagari.journeys import streams
from tsunagari.journeys.models import Stream, StreamMember
from tsunagari.mail.models import Message, Template
from tsunagari.mail.services import template_save

pytestmark = pytest.mark.django_db
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def _template(n: int) -> Template:
    return template_save(
        template=Template(name=f"教育{n}", subject=f"第{n}回", html=f"<p>{n}</p>{{{{ footer }}}}")
    )


def _due_now() -> None:
    StreamMember.objects.update(due_at=timezone.now() - dt.timedelta(seconds=1))


def test_every_other_tuesday_at_ten():
    stream = Stream(weekday=1, hour=10, every_weeks=2)
    first = streams.next_slot(stream, dt.datetime(2026, 11, 20, 12, tzinfo=TOKYO))
    assert first.weekday() == 1 and first.hour == 10
    second = streams.next_slot(stream, first)
    assert (second - first) == dt.timedelta(days=14)


def test_a_stream_skips_consumed_content_runs_out_and_resumes(sender):
    stream = Stream.objects.create(name="製造業向け", weekday=1, hour=10, every_weeks=1)
    one, two, three = _template(1), _template(2), _template(3)
    streams.stream_append(stream, one)
    streams.stream_append(stream, two, content_url="/whitepaper/dx")
    streams.stream_append(stream, three)
    reader = opted_in("reader@example.jp")
    touch(reader, url="https://www.example.co.jp/whitepaper/dx")  # already read item 2
    assert streams.stream_join(stream, [reader.pk]) == 1
    assert streams.stream_join(stream, [reader.pk]) == 0
    member = StreamMember.objects.get()
    assert member.due_at > timezone.now()

    sent = []
    for _ in range(3):
        _due_now()
        streams.run_streams()
        sent = list(Message.objects.order_by("pk").values_list("template_id", flat=True))
    assert sent == [one.pk, three.pk]  # two skipped
    member.refresh_from_db()
    assert member.status == StreamMember.Status.EXHAUSTED

    four = _template(4)
    streams.stream_append(stream, four)
    member.refresh_from_db()
    assert member.status == StreamMember.Status.ACTIVE and member.due_at > timezone.now()
    _due_now()
    streams.run_streams()
    assert list(Message.objects.order_by("pk").values_list("template_id", flat=True)) == [
        one.pk,
        three.pk,
        four.pk,
    ]


def test_a_replayed_delivery_never_sends_the_same_content_twice(sender):
    stream = Stream.objects.create(name="再送", weekday=1, hour=10, every_weeks=1)
    one, two = _template(1), _template(2)
    streams.stream_append(stream, one)
    streams.stream_append(stream, two)
    reader = opted_in("replay@example.jp")
    streams.stream_join(stream, [reader.pk])
    _due_now()
    streams.run_streams()
    # A member row that lost its progress (its position moved back) is replayed: what this
    # stream already sent it is recognised, so the next slot sends the next content.
    StreamMember.objects.update(position=0, status="active")
    _due_now()
    streams.run_streams()
    sent = list(Message.objects.order_by("pk").values_list("template_id", flat=True))
    assert sent == [one.pk, two.pk]


def test_reordering_and_removing_content_repeats_nothing(sender):
    stream = Stream.objects.create(name="並べ替え", weekday=1, hour=10, every_weeks=1)
    one, two, three = _template(1), _template(2), _template(3)
    first = streams.stream_append(stream, one)
    streams.stream_append(stream, two)
    last = streams.stream_append(stream, three)
    reader = opted_in("order@example.jp")
    streams.stream_join(stream, [reader.pk])
    _due_now()
    streams.run_streams()  # one
    streams.stream_item_move(last, -1)  # one, three, two
    streams.stream_item_move(first, 1)  # three, one, two
    assert [i.template_id for i in stream.items.all()] == [three.pk, one.pk, two.pk]
    streams.stream_item_move(stream.items.first(), -1)  # already first: nothing
    for _ in range(3):
        _due_now()
        streams.run_streams()
    sent = list(Message.objects.order_by("pk").values_list("template_id", flat=True))
    assert sent == [one.pk, three.pk, two.pk]  # the new order, nothing twice
    assert StreamMember.objects.get().status == StreamMember.Status.EXHAUSTED

    streams.stream_item_remove(stream.items.get(template=three))
    assert [i.position for i in stream.items.all()] == [2, 3]
    assert Message.objects.filter(template=three).count() == 1  # sent mail stays
