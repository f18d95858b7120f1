"""The generated activity stream: about ten touches a contact over the year before `as_of`."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from statistics import mean
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Count, Max

from tests.demo.conftest import AS_OF
from tsunagari.core.models import User
from tsunagari.crm.models import Contact
from tsunagari.demo import crm_reset, generate
from tsunagari.demo.touchpoints import calendar
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.vocabulary import NOT_ACTIVITY_TYPES, TYPE_CHANNEL, Type

N = 500
YEAR = dt.timedelta(days=365)
ENGAGED = ("mql", "sql", "opportunity", "customer")


@pytest.fixture
def touched(db) -> dict:
    return generate(contacts=N, seed=11, as_of=AS_OF)


def _per_contact() -> dict[int, int]:
    rows = Touchpoint.objects.values("contact").annotate(n=Count("id"))
    return {row["contact"]: row["n"] for row in rows}


def test_about_ten_touches_a_contact_some_with_many(touched):
    total = Touchpoint.objects.count()
    assert touched["touchpoints"] == total
    assert 8.5 <= total / N <= 11.5
    counts = _per_contact()
    assert not Touchpoint.objects.filter(contact=None).exists()
    # Long-tailed: many contacts with a few, a keen few with 30 and more.
    few = sum(1 for n in counts.values() if n <= 5)
    assert few > N / 5
    assert sum(1 for n in counts.values() if n >= 30) >= 5


def test_touches_belong_to_the_contact_and_its_account(touched):
    accounts = dict(Contact.objects.values_list("pk", "account_id"))
    rows = Touchpoint.objects.values_list("contact", "account", "visitor", "is_bot")
    for contact, account, visitor, is_bot in rows:
        assert account == accounts[contact]
        assert visitor is None and is_bot is False
    assert Touchpoint.objects.exclude(account=None).exists()


def test_every_channel_is_the_one_of_its_type(touched):
    pairs = set(Touchpoint.objects.values_list("type", "channel").distinct())
    assert pairs and all(TYPE_CHANNEL[t] == channel for t, channel in pairs)


def test_touches_fall_in_the_year_before_as_of_and_arrive_after_they_happen(touched):
    for occurred, received in Touchpoint.objects.values_list("occurred_at", "received_at"):
        assert AS_OF - YEAR <= occurred < AS_OF
        assert occurred <= received <= AS_OF


def test_last_activity_is_the_latest_touch(touched):
    latest = dict(
        Touchpoint.objects.exclude(type__in=NOT_ACTIVITY_TYPES)
        .values("contact")
        .annotate(m=Max("occurred_at"))
        .values_list("contact", "m")
    )
    for pk, last_activity in Contact.objects.values_list("pk", "last_activity_at"):
        if pk in latest:
            assert last_activity == latest[pk]
        else:  # no touch: never active, or not in the last year
            assert last_activity is None or last_activity < AS_OF - YEAR
    assert len(latest) > N * 0.6


def test_engaged_stages_touch_more_and_look_at_prices(touched):
    counts = _per_contact()
    by_stage = defaultdict(list)
    for pk, stage in Contact.objects.values_list("pk", "lifecycle_stage"):
        by_stage[stage in ENGAGED].append(counts.get(pk, 0))
    assert mean(by_stage[True]) > 1.5 * mean(by_stage[False])

    def pricing_share(engaged: bool) -> float:
        views = Touchpoint.objects.filter(type=Type.PAGE_VIEW)
        views = (
            views.filter(contact__lifecycle_stage__in=ENGAGED)
            if engaged
            else views.exclude(contact__lifecycle_stage__in=ENGAGED)
        )
        priced = (
            views.filter(path__in=["/pricing"]).count()
            + views.filter(path__startswith="/case-studies/").count()
        )
        return priced / views.count()

    assert pricing_share(True) > 1.5 * pricing_share(False)


def test_the_mix_looks_like_a_b2b_marketing_year(touched):
    types = Counter(Touchpoint.objects.values_list("type", flat=True))
    expected = {
        Type.PAGE_VIEW,
        Type.PAGE_LEAVE,
        Type.EMAIL_SENT,
        Type.EMAIL_OPENED,
        Type.EMAIL_CLICKED,
        Type.FORM_SUBMITTED,
        Type.TRADE_SHOW_SCAN,
        Type.BUSINESS_CARD,
        Type.SEMINAR_REGISTERED,
        Type.SEMINAR_ATTENDED,
        Type.CALL,
        Type.MEETING,
    }
    assert expected <= set(types)
    assert types[Type.PAGE_VIEW] > types[Type.FORM_SUBMITTED] > types[Type.MEETING]

    views = Touchpoint.objects.filter(type=Type.PAGE_VIEW)
    paths = set(views.values_list("path", flat=True))
    assert "/pricing" in paths
    for prefix in ("/blog/", "/case-studies/", "/products/", "/seminar/", "/whitepaper"):
        assert any(p.startswith(prefix) for p in paths), prefix
    for url, path, title, source in views.values_list("url", "path", "title", "source"):
        assert url.startswith(source + path) and title
    assert views.exclude(utm_source="").exists()
    assert {"https://www.google.com/", "https://search.yahoo.co.jp/", ""} <= set(
        views.values_list("referrer", flat=True)
    )
    tagged = views.exclude(utm_source="").first()
    assert f"utm_source={tagged.utm_source}" in tagged.url
    assert tagged.campaign == tagged.utm_campaign

    leaves = Touchpoint.objects.filter(type=Type.PAGE_LEAVE)
    assert not leaves.filter(duration_ms=None).exists()
    assert not Touchpoint.objects.exclude(type=Type.PAGE_LEAVE).exclude(duration_ms=None).exists()

    newsletters = Touchpoint.objects.filter(
        type=Type.EMAIL_SENT, campaign__endswith="ニュースレター"
    )
    assert newsletters.filter(campaign__regex=r"^20\d\d年\d{1,2}月ニュースレター$").exists()
    forms = Touchpoint.objects.filter(type=Type.FORM_SUBMITTED)
    names = {t.properties["form"] for t in forms}
    assert any(n.startswith("資料ダウンロード：") for n in names)
    assert any(n.startswith("セミナー申込：") for n in names) and "デモ依頼" in names
    shows = set(
        Touchpoint.objects.filter(type=Type.TRADE_SHOW_SCAN).values_list("campaign", flat=True)
    )
    assert any(s.startswith("Japan IT Week") for s in shows)


def test_staff_record_calls_and_meetings(touched):
    staff = dict(User.objects.values_list("pk", "username"))
    offline = Touchpoint.objects.filter(type__in=[Type.CALL, Type.VISIT, Type.MEETING])
    assert offline.exists()
    for user, source, title, properties in offline.values_list(
        "recorded_by", "source", "title", "properties"
    ):
        assert source == f"staff:{staff[user]}" and title
        assert properties == {} or set(properties) == {"note"}
    assert not Touchpoint.objects.filter(type=Type.PAGE_VIEW).exclude(recorded_by=None).exists()


def test_emails_go_only_to_people_who_opted_in(touched):
    mailed = set(Touchpoint.objects.filter(type=Type.EMAIL_SENT).values_list("contact", flat=True))
    states = dict(Contact.objects.values_list("pk", "email_consent"))
    assert mailed and {states[pk] for pk in mailed} <= {"opt_in", "opt_out"}
    for contact, unsubscribed in Touchpoint.objects.filter(
        type=Type.EMAIL_UNSUBSCRIBED
    ).values_list("contact", "occurred_at"):
        assert states[contact] == "opt_out"
        later = Touchpoint.objects.filter(
            contact=contact, type=Type.EMAIL_SENT, occurred_at__gt=unsubscribed
        )
        assert not later.exists()


def test_properties_are_small_json_objects(touched):
    for properties in Touchpoint.objects.values_list("properties", flat=True):
        assert isinstance(properties, dict) and len(json.dumps(properties)) < 200


def test_the_calendar_has_monthly_newsletters_and_this_years_shows():
    end = int(AS_OF.timestamp())
    cal = calendar(end)
    year = [e for e in cal.emails if end - 365 * 86_400 <= e[0] < end]
    assert sum(1 for e in year if e[5] == "newsletter") in (12, 13)
    names = {name for _, name, _, _ in cal.show_days}
    assert "Japan IT Week 秋 2025" in names


def test_reset_empties_the_stream_and_its_positions(touched):
    from tsunagari.tracking.models import ConsumerCursor, Visitor

    contact = Contact.objects.first()
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    Visitor.objects.create(uid="a" * 32, contact=contact, first_seen=now, last_seen=now)
    ConsumerCursor.objects.create(name="scoring", position=Touchpoint.objects.count())
    crm_reset()
    assert not Touchpoint.objects.exists()
    assert not Visitor.objects.exists()
    assert not ConsumerCursor.objects.exists()
    generate(contacts=20, seed=1, as_of=AS_OF)
    assert Touchpoint.objects.order_by("id").first().pk == 1


def test_seminars_and_trade_shows_happen_on_their_days(touched):
    jst = ZoneInfo("Asia/Tokyo")
    attended = Touchpoint.objects.filter(type=Type.SEMINAR_ATTENDED)
    assert attended.exists()
    for contact, seminar, at in attended.values_list("contact", "campaign", "occurred_at"):
        local = at.astimezone(jst)
        assert (local.weekday(), local.hour) == (3, 15) and local.minute < 10  # Thursday 15:00
        registered = Touchpoint.objects.filter(
            contact=contact, type=Type.SEMINAR_REGISTERED, campaign=seminar, occurred_at__lt=at
        )
        assert registered.exists()
    imported = Touchpoint.objects.filter(source__startswith="import:")
    assert imported.exists()
    for at, received in imported.values_list("occurred_at", "received_at"):
        assert at.astimezone(jst).time() == dt.time(10, 0)  # as list imports place them
        assert received >= at
