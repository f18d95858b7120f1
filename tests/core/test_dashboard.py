"""The dashboard's figures: exact when small, a worker-refreshed snapshot when large."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.crm.factories import make_account, make_contact
from tsunagari.core import dashboard
from tsunagari.core.models import Snapshot
from tsunagari.crm import services
from tsunagari.crm.choices import LifecycleStage
from tsunagari.work.executors import run_inline
from tsunagari.work.registry import runners

pytestmark = pytest.mark.django_db


@pytest.fixture
def large(monkeypatch):
    """Make three live contacts count as a large database (the snapshot path)."""
    monkeypatch.setattr(dashboard, "EXACT_UP_TO", 2)


def _people() -> None:
    make_contact("a@example.jp", lifecycle_stage=LifecycleStage.MQL)
    make_contact("b@example.jp", lifecycle_stage=LifecycleStage.MQL)
    make_contact("c@example.jp", lifecycle_stage=LifecycleStage.SQL)
    services.contact_delete(contact=make_contact("d@example.jp"))
    make_account(name="山田製作所")


def _figures(response) -> tuple:
    stats = response.context["stats"]
    funnel = {row["stage"]: row["count"] for row in stats["funnel"]}
    return stats["contacts"], stats["accounts"], stats["mql"], stats["sql"], funnel["mql"]


def test_a_small_database_is_counted_exactly_on_every_view(marketer_client):
    _people()
    assert _figures(marketer_client.get("/")) == (3, 1, 2, 1, 2)
    make_contact("e@example.jp", lifecycle_stage=LifecycleStage.SQL)
    response = marketer_client.get("/")
    assert _figures(response) == (4, 1, 2, 2, 2)
    assert response.context["stats"]["as_of"] is None
    assert not Snapshot.objects.exists()


def test_the_worker_does_not_count_a_small_database():
    _people()
    assert dashboard.dashboard_refresh() == 0
    assert not Snapshot.objects.exists()


def test_the_worker_kind_is_registered():
    assert runners()["core.dashboard"] is dashboard.dashboard_refresh


def test_a_large_database_shows_the_snapshot_the_worker_took(marketer_client, large):
    _people()
    run_inline()
    snapshot = Snapshot.objects.get(key=dashboard.SNAPSHOT_KEY)
    make_contact("e@example.jp", lifecycle_stage=LifecycleStage.SQL)
    with CaptureQueriesContext(connection) as queries:
        response = marketer_client.get("/")
    # The snapshot's figures, not a recount: the new contact is not in them yet.
    assert _figures(response) == (3, 1, 2, 1, 2)
    assert response.context["stats"]["as_of"] == snapshot.computed_at
    assert not any("GROUP BY" in q["sql"] for q in queries.captured_queries)
    body = response.content.decode()
    assert "<time datetime=" in body and '<table class="funnel">' in body


def test_the_worker_refreshes_a_snapshot_only_once_it_is_due(marketer_client, large):
    _people()
    assert dashboard.dashboard_refresh() == 1
    make_contact("e@example.jp", lifecycle_stage=LifecycleStage.SQL)
    assert dashboard.dashboard_refresh() == 0  # fresh: nothing to do
    assert _figures(marketer_client.get("/"))[0] == 3
    Snapshot.objects.update(computed_at=timezone.now() - dt.timedelta(seconds=61))
    assert dashboard.dashboard_refresh() == 1
    assert _figures(marketer_client.get("/")) == (4, 1, 2, 2, 2)


def test_without_a_worker_a_view_recounts_a_missing_or_stale_snapshot(marketer_client, large):
    _people()
    response = marketer_client.get("/")
    assert _figures(response) == (3, 1, 2, 1, 2)
    assert Snapshot.objects.get().data["by_stage"] == {"mql": 2, "sql": 1}
    make_contact("e@example.jp", lifecycle_stage=LifecycleStage.SQL)
    stale = timezone.now() - dt.timedelta(seconds=dashboard.STALE_SECONDS + 1)
    Snapshot.objects.update(computed_at=stale)
    assert _figures(marketer_client.get("/")) == (4, 1, 2, 2, 2)
    assert Snapshot.objects.get().computed_at > stale


def test_a_claimed_count_not_yet_stored_is_not_shown_as_empty(marketer_client, large):
    _people()
    Snapshot.objects.create(key=dashboard.SNAPSHOT_KEY, data={}, computed_at=timezone.now())
    assert _figures(marketer_client.get("/")) == (3, 1, 2, 1, 2)


def test_a_count_just_taken_is_not_repeated(large):
    _people()
    Snapshot.objects.create(
        key=dashboard.SNAPSHOT_KEY,
        data={"by_stage": {}, "accounts": 0},
        computed_at=timezone.now() - dt.timedelta(hours=1),
    )
    assert [dashboard.dashboard_refresh(), dashboard.dashboard_refresh()] == [1, 0]
