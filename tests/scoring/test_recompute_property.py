"""Property: whatever the rules and the order of batches, a full recompute reproduces live scoring.

Live scoring reads the stream in batches of any size and counts caps against rows already in
the ledger; a recompute rebuilds everything in one pass. Both must write the same ledger rows,
and the score must be the sum of the live rows.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.crm.factories import make_contact
from tsunagari.scoring import engine, jobs
from tsunagari.scoring.models import BehaviourRule, ContactScore, LedgerEntry, MqlSettings
from tsunagari.tracking.consumers import consume_batch
from tsunagari.tracking.models import ConsumerCursor, Touchpoint
from tsunagari.tracking.services import touchpoints_append
from tsunagari.tracking.vocabulary import Type

pytestmark = pytest.mark.django_db

rules_st = st.lists(
    st.fixed_dictionaries(
        {
            "touch_type": st.sampled_from(["", Type.PAGE_VIEW, Type.DOWNLOAD]),
            "url_pattern": st.sampled_from(["", "/pricing*", "/careers"]),
            "points": st.integers(-30, 50).filter(bool),
            "cap_count": st.one_of(st.none(), st.integers(1, 3)),
            "cap_period": st.sampled_from(["day", "week", "month", "ever"]),
            "decay": st.sampled_from(["", "half_life", "expire"]),
            "decay_days": st.integers(1, 60),
        }
    ),
    min_size=1,
    max_size=4,
)
touches_st = st.lists(
    st.tuples(
        st.integers(0, 2),  # contact
        st.sampled_from([Type.PAGE_VIEW, Type.DOWNLOAD]),
        st.sampled_from(["/pricing", "/pricing/x", "/careers", "/about"]),
        st.integers(0, 24 * 200),  # hours ago
    ),
    min_size=1,
    max_size=25,
)


def ledger_snapshot() -> set[tuple]:
    return set(
        LedgerEntry.objects.values_list(
            "contact_id", "rule_id", "touchpoint_id", "kind", "step", "points", "expires_at"
        )
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rules=rules_st, touches=touches_st, batch=st.integers(1, 7), reset_at=st.integers(0, 25))
def test_a_full_recompute_reproduces_incremental_scoring(rules, touches, batch, reset_at):
    with transaction.atomic():
        MqlSettings.objects.update_or_create(pk=1, defaults={"score_enabled": False})
        ConsumerCursor.objects.filter(name="scoring").delete()
        position = Touchpoint.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        ConsumerCursor.objects.create(name="scoring", position=position)
        contacts = [make_contact(email=None, family_name=f"p{i}") for i in range(3)]
        for i, fields in enumerate(rules):
            BehaviourRule.objects.create(name=f"r{i}", **fields)
        now = timezone.now()
        for n, (who, kind, path, hours) in enumerate(touches):
            with transaction.atomic():
                touchpoints_append(
                    [
                        Touchpoint(
                            contact=contacts[who],
                            type=kind,
                            path=path,
                            occurred_at=now - dt.timedelta(hours=hours),
                        )
                    ]
                )
            if n == reset_at:
                while consume_batch("scoring", jobs.handle_touchpoints, limit=batch):
                    pass
                engine.reset_contact(contact_id=contacts[0].pk, now=now)
        while consume_batch("scoring", jobs.handle_touchpoints, limit=batch):
            pass
        live_rows = ledger_snapshot()
        live_scores = dict(ContactScore.objects.values_list("contact_id", "behaviour"))
        for contact in contacts:
            expected = (
                LedgerEntry.objects.filter(contact=contact)
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
                .aggregate(s=Sum("points"))["s"]
                or 0
            )
            assert live_scores.get(contact.pk, 0) == expected
        engine.recompute(now=timezone.now())
        assert ledger_snapshot() == live_rows
        recomputed = dict(ContactScore.objects.values_list("contact_id", "behaviour"))
        assert {k: v for k, v in recomputed.items() if v} == {
            k: v for k, v in live_scores.items() if v
        }
        transaction.set_rollback(True)
