import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from tests.crm.factories import make_account, make_contact
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.services import touchpoints_append

pytestmark = pytest.mark.django_db


def fill(contact, n, type_key="page_view", channel="web", start=None):
    start = start or timezone.now()
    with transaction.atomic():
        touchpoints_append(
            [
                Touchpoint(
                    contact=contact,
                    type=type_key,
                    channel=channel,
                    title=f"page {i}",
                    occurred_at=start - dt.timedelta(hours=i),
                )
                for i in range(n)
            ]
        )


def test_the_timeline_shows_the_newest_first_fifty_at_a_time(marketer_client):
    contact = make_contact()
    fill(contact, 120)
    first = marketer_client.get(f"/contacts/{contact.pk}/timeline/")
    rows = first.context["rows"]
    assert len(rows) == 50 and rows[0].title == "page 0"
    second = marketer_client.get(
        f"/contacts/{contact.pk}/timeline/", {"before": first.context["cursor"]}
    )
    assert second.context["rows"][0].title == "page 50"
    third = marketer_client.get(
        f"/contacts/{contact.pk}/timeline/", {"before": second.context["cursor"]}
    )
    assert len(third.context["rows"]) == 20 and third.context["cursor"] == ""


def test_the_timeline_filters_by_channel_and_period(marketer_client):
    contact = make_contact()
    fill(contact, 3)
    fill(contact, 2, type_key="call", channel="phone", start=timezone.now() - dt.timedelta(days=60))
    by_channel = marketer_client.get(f"/contacts/{contact.pk}/timeline/", {"channel": "phone"})
    assert [t.type for t in by_channel.context["rows"]] == ["call", "call"]
    recent = marketer_client.get(f"/contacts/{contact.pk}/timeline/", {"period": "30d"})
    assert len(recent.context["rows"]) == 3


def test_the_timeline_costs_the_same_few_queries_deep_in_a_long_history(marketer_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    contact = make_contact()
    fill(contact, 300)
    with CaptureQueriesContext(connection) as queries:
        marketer_client.get(f"/contacts/{contact.pk}/timeline/")
    assert len(queries) <= 6


def test_script_in_a_page_title_is_shown_as_text(marketer_client):
    contact = make_contact()
    with transaction.atomic():
        touchpoints_append(
            [
                Touchpoint(
                    contact=contact,
                    type="page_view",
                    title="<img src=x onerror=alert(1)>",
                    occurred_at=timezone.now(),
                )
            ]
        )
    body = marketer_client.get(f"/contacts/{contact.pk}/timeline/").content.decode()
    assert "<img src=x" not in body and "&lt;img src=x" in body


def test_staff_record_an_offline_touch_on_the_contact(marketer_client, marketer):
    contact = make_contact()
    response = marketer_client.post(
        f"/contacts/{contact.pk}/touches/",
        {
            "type": "visit",
            "occurred_at": "2026-10-14T15:00",
            "title": "導入相談",
            "note": "予算は来期",
            "campaign": "",
        },
    )
    assert response.status_code == 302
    touch = Touchpoint.objects.get(contact=contact)
    assert (touch.type, touch.channel, touch.recorded_by) == ("visit", "visit", marketer)
    assert touch.properties["note"] == "予算は来期"


def test_an_offline_touch_in_the_future_or_of_an_unknown_type_is_refused(marketer_client):
    contact = make_contact()
    marketer_client.post(
        f"/contacts/{contact.pk}/touches/", {"type": "visit", "occurred_at": "2099-01-01T10:00"}
    )
    marketer_client.post(
        f"/contacts/{contact.pk}/touches/", {"type": "page_view", "occurred_at": "2026-10-14T15:00"}
    )
    assert not Touchpoint.objects.exists()


def test_read_only_users_see_the_timeline_but_cannot_record(reader_client):
    contact = make_contact()
    assert reader_client.get(f"/contacts/{contact.pk}/timeline/").status_code == 200
    assert (
        reader_client.post(
            f"/contacts/{contact.pk}/touches/", {"type": "call", "occurred_at": "2026-10-14T15:00"}
        ).status_code
        == 403
    )


def test_the_account_timeline_gathers_everyone_at_the_company(marketer_client):
    account = make_account(domains=("hokuto.jp",))
    fill(make_contact("a@hokuto.jp"), 2)
    fill(make_contact("b@hokuto.jp"), 3)
    response = marketer_client.get(f"/accounts/{account.pk}/timeline/")
    assert len(response.context["rows"]) == 5


def test_the_contact_and_account_pages_load_their_timelines(marketer_client):
    account = make_account()
    contact = make_contact(account=account)
    assert (
        f'hx-get="/contacts/{contact.pk}/timeline/"'
        in marketer_client.get(f"/contacts/{contact.pk}/").content.decode()
    )
    assert (
        f'hx-get="/accounts/{account.pk}/timeline/"'
        in marketer_client.get(f"/accounts/{account.pk}/").content.decode()
    )
