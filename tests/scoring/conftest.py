"""Helpers for scoring tests: touches appended through the stream, the consumer run to the end."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from tsunagari.scoring import jobs
from tsunagari.scoring.models import BehaviourRule, MqlSettings
from tsunagari.tracking.consumers import consume_batch
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.services import touchpoints_append
from tsunagari.tracking.vocabulary import Type


def touch(contact, type_key: str = Type.PAGE_VIEW, *, at: dt.datetime | None = None, **fields):
    """Append one touchpoint for `contact` the way tracking does."""
    with transaction.atomic():
        (row,) = touchpoints_append(
            [
                Touchpoint(
                    contact=contact,
                    type=type_key,
                    occurred_at=at or timezone.now(),
                    **fields,
                )
            ]
        )
    return row


def consume(limit: int = 1000) -> int:
    """Run the scoring consumer until the stream is read; touchpoints handled."""
    total = 0
    while True:
        n = consume_batch("scoring", jobs.handle_touchpoints, limit=limit)
        if not n:
            return total
        total += n


def make_rule(**fields) -> BehaviourRule:
    fields.setdefault("name", "rule")
    fields.setdefault("touch_type", Type.PAGE_VIEW)
    return BehaviourRule.objects.create(**fields)


@pytest.fixture
def mql_off(db):
    """MQL criteria off, so scoring tests see only scores."""
    settings = MqlSettings.load()
    settings.score_enabled = False
    settings.save()
    return settings
