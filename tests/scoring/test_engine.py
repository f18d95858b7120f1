"""Live scoring of the stream: points, caps, decay, negative points, idempotency, recompute."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from tests.crm.factories import make_contact
from tests.scoring.conftest import consume, make_rule, touch
from tsunagari.scoring import engine
from tsunagari.scoring.models import ContactScore, LedgerEntry
from tsunagari.tracking.vocabulary import Type

pytestmark = pytest.mark.django_db(transaction=False)


def behaviour(contact) -> int:
    return (
        ContactScore.objects.filter(contact=contact).values_list("behaviour", flat=True).first()
        or 0
    )


def test_a_pricing_page_view_earns_the_rule_points(mql_off):
    contact = make_contact()
    make_rule(name="pricing", url_pattern="/pricing*", points=10)
    touch(contact, path="/pricing/enterprise", url="https://x.jp/pricing/enterprise")
    touch(contact, path="/about", url="https://x.jp/about")
    consume()
    assert behaviour(contact) == 10
    row = LedgerEntry.objects.get(contact=contact)
    assert row.points == 10 and row.touchpoint.path == "/pricing/enterprise"


def test_a_cap_counts_at_most_n_touches_per_week_across_batches(mql_off):
    contact = make_contact()
    make_rule(name="pricing", url_pattern="/pricing", points=10, cap_count=3, cap_period="week")
    monday = timezone.make_aware(dt.datetime(2026, 11, 16, 10))
    for day in range(4):
        touch(contact, path="/pricing", at=monday + dt.timedelta(hours=day))
        consume()  # one batch per touch: the cap counts rows already in the ledger
    touch(contact, path="/pricing", at=monday + dt.timedelta(days=7))
    consume()
    assert behaviour(contact) == 40
    assert LedgerEntry.objects.filter(contact=contact).count() == 4


def test_negative_points_lower_the_score_below_zero(mql_off):
    contact = make_contact()
    make_rule(name="careers", url_pattern="/careers*", points=-20)
    touch(contact, path="/careers/engineer")
    consume()
    assert behaviour(contact) == -20


def test_half_life_halves_the_points_as_time_passes(mql_off):
    contact = make_contact()
    make_rule(
        name="whitepaper", touch_type=Type.DOWNLOAD, points=10, decay="half_life", decay_days=30
    )
    at = timezone.now() - dt.timedelta(days=45)
    touch(contact, Type.DOWNLOAD, at=at)
    consume()
    rows = sorted(LedgerEntry.objects.filter(contact=contact).values_list("step", "points"))
    assert rows == [(0, 5), (1, 3), (2, 1), (3, 1)]
    assert behaviour(contact) == 5  # one half-life has passed
    later = at + dt.timedelta(days=61)
    engine.sweep_expired(since=timezone.now(), now=later)
    assert behaviour(contact) == 2


def test_step_expiry_drops_the_points_after_n_days(mql_off):
    contact = make_contact()
    make_rule(name="form", touch_type=Type.FORM_SUBMITTED, points=30, decay="expire", decay_days=90)
    touch(contact, Type.FORM_SUBMITTED, at=timezone.now() - dt.timedelta(days=91))
    touch(contact, Type.FORM_SUBMITTED, at=timezone.now() - dt.timedelta(days=1))
    consume()
    assert behaviour(contact) == 30


def test_machine_opens_and_bots_do_not_score(mql_off):
    contact = make_contact()
    make_rule(name="open", touch_type=Type.EMAIL_OPENED, points=1)
    touch(contact, Type.EMAIL_OPENED, properties={"broadcast_id": 1, "machine": True})
    touch(contact, Type.EMAIL_OPENED, properties={"broadcast_id": 1, "machine": False})
    touch(contact, Type.EMAIL_OPENED, properties={"broadcast_id": 2})
    touch(contact, Type.EMAIL_OPENED, is_bot=True)
    consume()
    assert behaviour(contact) == 2


def test_property_conditions_match_form_names(mql_off):
    contact = make_contact()
    make_rule(
        name="demo",
        touch_type=Type.FORM_SUBMITTED,
        points=50,
        conditions=[{"field": "properties.form", "op": "=", "value": "デモ申込"}],
    )
    touch(contact, Type.FORM_SUBMITTED, properties={"form_id": 1, "form": "資料請求"})
    touch(contact, Type.FORM_SUBMITTED, properties={"form_id": 2, "form": "デモ申込"})
    consume()
    assert behaviour(contact) == 50


def test_a_replayed_batch_never_counts_twice(mql_off):
    contact = make_contact()
    rule = make_rule(name="pricing", points=10)
    first = touch(contact)
    consume()
    with transaction.atomic():
        engine.score_rule(rule, after_id=first.pk - 1, upto_id=first.pk)
        engine.refresh_behaviour(contact_ids=[contact.pk])
    assert behaviour(contact) == 10 and LedgerEntry.objects.count() == 1


def test_a_failing_batch_leaves_no_points_and_is_read_again(mql_off, monkeypatch):
    contact = make_contact()
    make_rule(name="pricing", points=10)
    touch(contact)

    def broken(contact_ids, now=None):
        raise RuntimeError("disk full")

    monkeypatch.setattr(engine, "refresh_behaviour", broken)
    with pytest.raises(RuntimeError):
        consume()
    assert LedgerEntry.objects.count() == 0
    monkeypatch.undo()
    consume()
    assert behaviour(contact) == 10


def test_a_recompute_reproduces_live_scores_and_drops_an_inactive_rule(mql_off):
    contact = make_contact()
    keep = make_rule(name="pricing", points=10, cap_count=2, cap_period="ever")
    drop = make_rule(name="any", touch_type="", points=1)
    for _ in range(3):
        touch(contact)
    consume()
    assert behaviour(contact) == 20 + 3
    before = set(LedgerEntry.objects.filter(rule=keep).values_list("touchpoint_id", "points"))
    drop.is_active = False
    drop.save()
    with transaction.atomic():
        engine.recompute()
    assert behaviour(contact) == 20
    assert set(LedgerEntry.objects.values_list("touchpoint_id", "points")) == before


def test_a_reset_brings_the_score_to_zero_through_the_ledger_and_survives_a_recompute(mql_off):
    contact = make_contact()
    make_rule(name="pricing", points=10)
    touch(contact)
    consume()
    with transaction.atomic():
        engine.reset_contact(contact_id=contact.pk)
    assert behaviour(contact) == 0
    assert LedgerEntry.objects.filter(kind="reset", points=-10).count() == 1
    touch(contact)
    consume()
    assert behaviour(contact) == 10
    with transaction.atomic():
        engine.recompute()
    assert behaviour(contact) == 10


def test_merging_two_contacts_moves_the_points_to_the_kept_one(mql_off):
    from tsunagari.crm.services import contact_merge

    keep = make_contact(email="keep@example.jp")
    drop = make_contact(email="drop@example.jp")
    make_rule(name="pricing", points=10, cap_count=2, cap_period="ever")
    touch(keep)
    touch(drop)
    touch(drop)
    consume()
    assert (behaviour(keep), behaviour(drop)) == (10, 20)
    contact_merge(keep=keep, drop=drop)
    assert behaviour(keep) == 20  # the cap of 2 applies to the merged history
    assert behaviour(drop) == 0
    assert not LedgerEntry.objects.filter(contact=drop).exists()


def test_a_bad_limit_on_the_panel_falls_back_to_the_default(reader_client):
    contact = make_contact()
    assert reader_client.get(f"/contacts/{contact.pk}/score/?limit=abc").status_code == 200
