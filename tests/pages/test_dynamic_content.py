"""Dynamic content: the right variant per visitor, decisions on the stream, origin rules."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.crm.factories import make_account, make_contact
from tests.pages.conftest import CHROME, ORIGIN
from tsunagari.pages.dynamic import Profile, matches
from tsunagari.pages.models import ContentSlot, SlotVariant
from tsunagari.scoring.models import ContactScore
from tsunagari.segments.models import Membership, Segment
from tsunagari.tracking.models import Touchpoint, Visitor

pytestmark = pytest.mark.django_db

MAKER = "a" * 32
MQL = "b" * 32
TARGET = "c" * 32
STRANGER = "d" * 32


def visitor(uid, contact=None, account=None):
    now = timezone.now()
    return Visitor.objects.create(
        uid=uid, contact=contact, account=account, first_seen=now, last_seen=now
    )


@pytest.fixture
def hero(db):
    slot = ContentSlot.objects.create(
        key="hero", name="トップバナー", default_html="<p>ようこそ</p>"
    )
    SlotVariant.objects.create(
        slot=slot, key="target", html="<p>ABM</p>", rules={"target_account": True}, position=1
    )
    SlotVariant.objects.create(
        slot=slot,
        key="mql",
        html="<p>MQL</p>",
        rules={"lifecycle": ["mql"], "min_behaviour": 50},
        position=2,
    )
    SlotVariant.objects.create(
        slot=slot,
        key="maker",
        html='<p onclick="x()">製造業</p>',
        rules={"industry": ["manufacturing"]},
        position=3,
    )
    return slot


@pytest.fixture
def people(db):
    maker = make_contact("k@maker.co.jp", account=make_account("製造", industry="manufacturing"))
    visitor(MAKER, maker)
    mql = make_contact("m@it.co.jp", lifecycle_stage="mql")
    ContactScore.objects.create(contact=mql, behaviour=80, fit=10, grade="B")
    visitor(MQL, mql)
    visitor(TARGET, None, make_account("狙い", is_target=True, abm_tier=1))  # anonymous, by IP
    visitor(STRANGER)


def ask(uid, keys="hero", origin=ORIGIN):
    return Client().get(
        "/p/slots.json",
        {"k": keys, "v": uid, "u": f"{ORIGIN}/"},
        headers={"Origin": origin, "User-Agent": CHROME},
    )


@pytest.mark.parametrize(
    ("uid", "variant"),
    [(MAKER, "maker"), (MQL, "mql"), (TARGET, "target"), (STRANGER, "default"), ("", "default")],
)
def test_each_visitor_gets_the_first_matching_variant(site, hero, people, uid, variant):
    response = ask(uid)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response.json()["hero"]["variant"] == variant


def test_variant_html_is_sanitised(site, hero, people):
    assert ask(MAKER).json()["hero"]["html"] == "<p>製造業</p>"


def test_each_decision_is_a_touchpoint(site, hero, people):
    ask(MAKER)
    touch = Touchpoint.objects.get()
    assert touch.type == "custom_event"
    assert touch.properties == {"event": "dynamic_content", "slot": "hero", "variant": "maker"}
    assert touch.contact.email == "k@maker.co.jp"


def test_segment_rules_read_current_memberships(site, hero, people):
    segment = Segment.objects.create(name="展示会2025")
    slot = ContentSlot.objects.create(key="side", name="サイド", default_html="")
    SlotVariant.objects.create(
        slot=slot, key="expo", html="<p>展示会</p>", rules={"segments": [segment.pk]}
    )
    contact = Visitor.objects.get(uid=STRANGER)
    member = make_contact("s@x.co.jp")
    Visitor.objects.filter(pk=contact.pk).update(contact=member)
    stay = Membership.objects.create(segment=segment, contact=member, entered_at=timezone.now())
    assert ask(STRANGER, "side").json()["side"]["variant"] == "expo"
    Membership.objects.filter(pk=stay.pk).update(exited_at=timezone.now())
    assert ask(STRANGER, "side").json()["side"]["variant"] == "default"


def test_a_decision_takes_a_handful_of_queries(site, hero, people):
    ask(MAKER)  # warm the slot cache
    with CaptureQueriesContext(connection) as queries:
        ask(MQL)
    assert len(queries) <= 8


def test_an_unregistered_origin_gets_nothing(site, hero, people):
    assert ask(MAKER, origin="https://evil.example.com").status_code == 403
    assert not Touchpoint.objects.exists()


def test_rules_all_have_to_hold():
    p = Profile(lifecycle="mql", behaviour=40, grade="A", industry="it", abm_tier=2)
    assert matches({}, p)
    assert matches({"lifecycle": ["mql"], "grades": ["A"]}, p)
    assert not matches({"lifecycle": ["mql"], "min_behaviour": 50}, p)
    assert not matches({"abm_tiers": [1]}, p)
    assert matches({"abm_tiers": [1, 2], "industry": ["it"]}, p)


def test_a_browser_not_stored_yet_is_stored_with_the_company_of_its_ip_range(site, hero):
    from tsunagari.tracking.models import IpRange
    from tsunagari.tracking.sites import range_keys

    account = make_account("狙い", is_target=True)
    start, end = range_keys("127.0.0.0/8")
    IpRange.objects.create(account=account, cidr="127.0.0.0/8", start=start, end=end)
    fresh = "e" * 32
    assert ask(fresh).json()["hero"]["variant"] == "target"
    assert Visitor.objects.get(uid=fresh).account_id == account.pk
    assert Touchpoint.objects.get().account_id == account.pk


def test_crawlers_do_not_become_visitors(site, hero):
    Client().get(
        "/p/slots.json",
        {"k": "hero", "v": "f" * 32},
        headers={"Origin": ORIGIN, "User-Agent": "Googlebot/2.1"},
    )
    assert not Visitor.objects.exists() and not Touchpoint.objects.exists()
