"""The content-asset page: exact while small, a worker-kept snapshot above EXACT_UP_TO touches."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from tests.crm.factories import make_contact
from tsunagari.core.models import Snapshot
from tsunagari.pages import reports
from tsunagari.pages.models import ContentAsset
from tsunagari.pages.queries import asset_report
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.services import touchpoints_append

pytestmark = pytest.mark.django_db

SITE = "https://www.example.co.jp"


def _views(contact, n: int, path: str = "/cases/a") -> None:
    with transaction.atomic():
        touchpoints_append(
            [
                Touchpoint(
                    contact=contact,
                    type="page_view",
                    occurred_at=timezone.now() - dt.timedelta(minutes=i),
                    url=f"{SITE}{path}",
                    path=path,
                )
                for i in range(n)
            ]
        )


@pytest.fixture
def asset(db) -> ContentAsset:
    return ContentAsset.objects.create(
        key="case-a", name="導入事例A", kind="education", url_pattern=f"{SITE}/cases/a"
    )


def test_a_small_period_is_computed_for_every_view(marketer_client, asset):
    _views(make_contact(), 3)
    response = marketer_client.get("/pages/assets/?days=30")
    assert response.context["rows"][0].visits == 3
    assert response.context["as_of"] is None and not response.context["pending"]
    assert not Snapshot.objects.exists()


def test_a_large_period_is_read_from_a_snapshot_the_worker_keeps(
    marketer_client, asset, monkeypatch
):
    monkeypatch.setattr(reports, "EXACT_UP_TO", 2)
    contact = make_contact()
    _views(contact, 3)

    # First view: nothing computed in the request; a snapshot is asked for.
    response = marketer_client.get("/pages/assets/?days=30")
    assert response.context["pending"] and response.context["rows"][0].visits == 0
    assert Snapshot.objects.get(key="pages.asset_report.30").data == {}

    # The worker computes it, once: the same figures as the report itself.
    assert reports.asset_report_refresh() == 1
    assert reports.asset_report_refresh() == 0
    response = marketer_client.get("/pages/assets/?days=30")
    (row,) = response.context["rows"]
    (expected,) = asset_report(days=30)[0]
    assert (row.visits, row.leads, row.mqls, row.deals) == (
        expected.visits,
        expected.leads,
        expected.mqls,
        expected.deals,
    )
    assert row.visits == 3 and response.context["as_of"] is not None
    education = next(t for t in response.context["totals"] if t.asset.kind == "education")
    assert education.visits == 3

    # New touches show once the snapshot is due again, not before.
    _views(contact, 2)
    assert reports.asset_report_refresh() == 0
    Snapshot.objects.filter(key="pages.asset_report.30").update(
        computed_at=timezone.now() - dt.timedelta(seconds=reports.REFRESH_SECONDS + 1)
    )
    assert reports.asset_report_refresh() == 1
    response = marketer_client.get("/pages/assets/?days=30")
    assert response.context["rows"][0].visits == 5
    # Periods nobody opened are not computed.
    assert not Snapshot.objects.filter(key="pages.asset_report.90").exists()


def test_an_unknown_period_shows_the_default():
    assert reports.period_of("365") == 365
    assert reports.period_of("7") == reports.DEFAULT_PERIOD
    assert reports.period_of("abc") == reports.DEFAULT_PERIOD
