"""Nurture stream pages: list, create and edit the cadence, append/reorder/remove content, the
per-stream counts, access, bad input; and the journey step that joins a stream."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from tests.journeys.conftest import make_journey, opted_in, run_all
from tsunagari.journeys import engine, streams
from tsunagari.journeys.models import Stream, StreamMember
from tsunagari.journeys.services import journey_problems
from tsunagari.mail.models import Template
from tsunagari.mail.services import template_save

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def english(marketer_client):
    marketer_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


def _template(name: str) -> Template:
    return template_save(template=Template(name=name, subject=name, html="<p>x</p>{{ footer }}"))


def _order(html: str) -> list[str]:
    return re.findall(r'<tr data-item="\d+"><td>\d+</td><td>([^<]+)', html)


def test_create_a_stream_and_see_it_listed_with_its_cadence(marketer_client, english):
    response = marketer_client.get(reverse("journeys:streams"))
    assert b"No nurture streams yet" in response.content
    bad = marketer_client.post(
        reverse("journeys:stream_new"),
        {"name": "", "every_weeks": "0", "weekday": "9", "hour": "24"},
    )
    html = bad.content.decode()
    for name in ("name", "every_weeks", "weekday", "hour"):
        assert f'<div class="field has-error" data-field="{name}">' in html
    assert not Stream.objects.exists()

    response = marketer_client.post(
        reverse("journeys:stream_new"),
        {
            "name": "製造業DX講座",
            "every_weeks": "2",
            "weekday": "1",
            "hour": "10",
            "is_active": "on",
        },
    )
    stream = Stream.objects.get()
    assert response["Location"] == reverse("journeys:stream", args=[stream.pk])
    assert (stream.every_weeks, stream.weekday, stream.hour, stream.is_active) == (2, 1, 10, True)
    listing = marketer_client.get(reverse("journeys:streams")).content.decode()
    assert "製造業DX講座" in listing and "Every 2 weeks on Tuesday at 10:00" in listing

    marketer_client.post(
        reverse("journeys:stream_edit", args=[stream.pk]),
        {"name": "製造業DX講座", "every_weeks": "1", "weekday": "3", "hour": "9"},
    )
    stream.refresh_from_db()
    assert (stream.every_weeks, stream.weekday, stream.hour, stream.is_active) == (1, 3, 9, False)


def test_append_reorder_and_remove_content_with_htmx(marketer_client, english, sender):
    stream = Stream.objects.create(name="教育", weekday=1, hour=10, every_weeks=1)
    one, two, gone = _template("第1回"), _template("第2回"), _template("削除済み")
    Template.objects.filter(pk=gone.pk).update(deleted_at="2026-01-01T00:00:00Z")
    page = marketer_client.get(reverse("journeys:stream", args=[stream.pk])).content.decode()
    assert "第1回" in page and "削除済み" not in page  # the template picker

    append = reverse("journeys:stream_append", args=[stream.pk])
    html = marketer_client.post(append, {"template_id": one.pk}, **HX).content.decode()
    assert html.startswith('<section id="stream-items"') and _order(html) == ["第1回"]
    marketer_client.post(append, {"template_id": two.pk, "content_url": "/blog/dx-2"}, **HX)
    refused = marketer_client.post(append, {"template_id": gone.pk}, **HX).content.decode()
    assert 'data-field="template_id"' in refused and "has-error" in refused
    assert stream.items.count() == 2

    second = stream.items.get(template=two)
    url = reverse("journeys:stream_item", args=[stream.pk, second.pk, "up"])
    assert _order(marketer_client.post(url, **HX).content.decode()) == ["第2回", "第1回"]
    url = reverse("journeys:stream_item", args=[stream.pk, second.pk, "remove"])
    assert _order(marketer_client.post(url, **HX).content.decode()) == ["第1回"]
    other = Stream.objects.create(name="別", weekday=1, hour=10, every_weeks=1)
    first = stream.items.get()
    wrong = reverse("journeys:stream_item", args=[other.pk, first.pk, "remove"])
    assert marketer_client.post(wrong, **HX).status_code == 404
    assert stream.items.count() == 1


def test_the_counts_show_active_and_exhausted_members(marketer_client, english, sender):
    stream = Stream.objects.create(name="数", weekday=1, hour=10, every_weeks=1)
    streams.stream_append(stream, _template("第1回"))
    people = [opted_in(f"m{i}@example.jp") for i in range(3)]
    streams.stream_join(stream, [p.pk for p in people])
    StreamMember.objects.filter(contact=people[0]).update(status="exhausted")
    StreamMember.objects.filter(contact=people[1]).update(status="running")
    for url in (reverse("journeys:streams"), reverse("journeys:stream", args=[stream.pk])):
        html = marketer_client.get(url).content.decode()
        for status, n in (("active", "2"), ("exhausted", "1")):  # running counts as active
            assert re.search(rf'data-count="{status}"[^>]*>.*?(\d+)<', html, re.S).group(1) == n


def test_a_read_only_user_cannot_see_or_change_streams(reader_client):
    stream = Stream.objects.create(name="閲覧", weekday=1, hour=10, every_weeks=1)
    assert reader_client.get(reverse("journeys:streams")).status_code == 403
    assert reader_client.get(reverse("journeys:stream", args=[stream.pk])).status_code == 403
    assert reader_client.get(reverse("journeys:stream_new")).status_code == 403
    append = reverse("journeys:stream_append", args=[stream.pk])
    assert reader_client.post(append, {"template_id": 1}).status_code == 403


def test_the_pages_speak_japanese(marketer_client):
    stream = Stream.objects.create(name="日本語", weekday=1, hour=10, every_weeks=2)
    marketer_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"
    html = marketer_client.get(reverse("journeys:streams")).content.decode()
    assert "育成ストリーム" in html and "2週間ごと 火曜日 10:00" in html
    html = marketer_client.get(reverse("journeys:stream", args=[stream.pk])).content.decode()
    assert "メールを追加" in html


def test_a_journey_step_joins_contacts_to_a_stream(sender):
    stream = Stream.objects.create(name="参加", weekday=1, hour=10, every_weeks=1)
    journey = make_journey(
        {
            "join": {"type": "stream", "stream_id": stream.pk, "next": "t"},
            "t": {"type": "tags", "add": ["育成中"]},
        }
    )
    people = [opted_in(f"j{i}@example.jp") for i in range(3)]
    engine.enrol(journey, [p.pk for p in people])
    run_all()
    assert set(StreamMember.objects.values_list("contact_id", flat=True)) == {p.pk for p in people}
    stream.delete()
    broken = make_journey({"join": {"type": "stream", "stream_id": 999}}, publish=False)
    with translation.override("en"):
        assert ("join", "The nurture stream does not exist.") in journey_problems(broken)


def test_the_stream_list_makes_the_same_queries_for_one_or_many_streams(marketer_client, sender):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert marketer_client.get(reverse("journeys:streams")).status_code == 200
        return len(queries)

    first = Stream.objects.create(name="一", weekday=1, hour=10, every_weeks=1)
    streams.stream_append(first, _template("第1回"))
    one = count()
    for i in range(5):
        more = Stream.objects.create(name=f"追加{i}", weekday=1, hour=10, every_weeks=1)
        streams.stream_append(more, _template(f"追加{i}"))
        streams.stream_join(more, [opted_in(f"q{i}@example.jp").pk])
    assert count() == one
