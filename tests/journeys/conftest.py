"""Journey test data made through the services: a template, opted-in contacts, journeys."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from tests.mail.conftest import make_segment, opted_in, sender, template
from tsunagari.journeys import engine, services
from tsunagari.journeys.models import Journey
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.services import touchpoints_append
from tsunagari.tracking.vocabulary import Type

__all__ = ["make_segment", "opted_in", "sender", "template"]


def make_journey(
    steps: dict, *, start: str | None = None, publish: bool = True, **fields
) -> Journey:
    journey = services.journey_create(
        name=fields.pop("name", "テスト"),
        graph={"start": start or next(iter(steps)), "steps": steps},
        **fields,
    )
    if publish:
        services.journey_publish(journey=journey)
    return journey


def run_all(limit: int = 1000, rounds: int = 50) -> int:
    """Run the step runner until nothing is due now; runs handled."""
    total = 0
    for _ in range(rounds):
        n = engine.run_steps(limit)
        if not n:
            return total
        total += n
    raise AssertionError("the runner never settled")


def touch(contact, type_key: str = Type.PAGE_VIEW, *, at: dt.datetime | None = None, **fields):
    with transaction.atomic():
        (row,) = touchpoints_append(
            [
                Touchpoint(
                    contact=contact,
                    type=type_key,
                    channel="web",
                    occurred_at=at or timezone.now(),
                    **fields,
                )
            ]
        )
    return row


@pytest.fixture
def journey_settings(db):
    from tsunagari.journeys.models import JourneySettings

    row = JourneySettings.get()
    row.webhook_secret = "s3cret"
    row.save()
    return row
