"""Back-testing: the live rule set replayed gives the MQLs live scoring made; nothing is written."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone

from tests.crm.factories import make_contact
from tests.scoring.conftest import consume, make_rule, touch
from tsunagari.core.roles import Role
from tsunagari.crm.models import LifecycleTransition
from tsunagari.scoring import backtest
from tsunagari.scoring.handoff import handoff_accept
from tsunagari.scoring.models import BehaviourRule, ContactScore, Handoff, LedgerEntry, MqlSettings
from tsunagari.tracking.vocabulary import Type

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_rules(db):
    settings = MqlSettings.load()
    settings.min_behaviour = 30
    settings.save()
    make_rule(name="pricing", url_pattern="/pricing*", points=10, cap_count=2, cap_period="week")
    make_rule(name="whitepaper", touch_type=Type.DOWNLOAD, points=15)
    make_rule(name="careers", url_pattern="/careers*", points=-10)
    return settings


def test_the_backtest_of_the_live_rules_finds_the_mqls_live_scoring_made(live_rules, make_user):
    rep = make_user(Role.INSIDE_SALES, username="rep")
    rnd = random.Random(7)
    start = timezone.now() - dt.timedelta(days=20)
    events = []
    contacts = [make_contact(email=f"p{i}@example.jp") for i in range(12)]
    for contact in contacts:
        for _ in range(rnd.randint(1, 6)):
            kind, path = rnd.choice(
                [
                    (Type.PAGE_VIEW, "/pricing"),
                    (Type.PAGE_VIEW, "/careers/jobs"),
                    (Type.DOWNLOAD, "/wp.pdf"),
                    (Type.PAGE_VIEW, "/blog"),
                ]
            )
            events.append(
                (start + dt.timedelta(minutes=rnd.randint(0, 20 * 24 * 60)), contact, kind, path)
            )
    # Touches reach the stream in the order they happen; live scoring reads each as it comes.
    for at, contact, kind, path in sorted(events, key=lambda e: e[0]):
        touch(contact, kind, at=at, path=path)
        consume()
    live_mqls = set(
        LifecycleTransition.objects.filter(to_stage="mql", rule="scoring:MQL").values_list(
            "contact_id", flat=True
        )
    )
    assert live_mqls, "the data should make some MQLs"
    accepted = Handoff.objects.filter(contact_id=min(live_mqls)).get()
    Handoff.objects.filter(pk=accepted.pk).update(owner=rep)
    accepted.refresh_from_db()
    handoff_accept(handoff=accepted, actor=rep, bant={})

    ledger_before = LedgerEntry.objects.count()
    scores_before = list(ContactScore.objects.order_by("pk").values_list("pk", "behaviour"))
    result = backtest.run(
        rules=list(BehaviourRule.objects.filter(is_active=True)), days=30, threshold=30
    )
    assert set(result.mqls) == live_mqls
    assert result.reached["sql"] == 1 and result.true_positives == 1
    assert result.precision == round(100 / len(live_mqls), 1) and result.recall == 100.0
    assert LedgerEntry.objects.count() == ledger_before
    assert list(ContactScore.objects.order_by("pk").values_list("pk", "behaviour")) == scores_before


def test_a_stricter_candidate_makes_fewer_mqls_and_writes_nothing(live_rules):
    contact = make_contact()
    for _ in range(2):
        touch(contact, Type.DOWNLOAD, path="/wp.pdf")
    draft = make_rule(name="draft", touch_type=Type.DOWNLOAD, points=5, is_active=False)
    result = backtest.run(rules=[draft], days=7, threshold=30)
    assert result.mql_count == 0 and result.precision is None
    loose = backtest.run(
        rules=list(BehaviourRule.objects.filter(is_active=True)), days=7, threshold=30
    )
    assert set(loose.mqls) == {contact.pk}
    assert not LedgerEntry.objects.exists()  # nothing consumed, nothing written by back-tests
