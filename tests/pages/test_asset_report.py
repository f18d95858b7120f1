"""The content asset report: visits, new leads, influenced MQLs and deals per asset."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.crm.factories import make_contact
from tsunagari.crm.models import Contact, LifecycleTransition
from tsunagari.pages.models import ContentAsset
from tsunagari.pages.queries import asset_report
from tsunagari.tracking.models import Touchpoint, Visitor
from tsunagari.tracking.services import touchpoints_append

pytestmark = pytest.mark.django_db

SITE = "https://www.example.co.jp"


def _asset(key: str, kind: str, pattern: str = "") -> ContentAsset:
    return ContentAsset.objects.create(key=key, name=key, kind=kind, url_pattern=pattern)


def _touch(contact, when, kind="page_view", path="", asset="", bot=False, visitor=None):
    return Touchpoint(
        contact=contact,
        visitor=visitor,
        type=kind,
        occurred_at=when,
        url=f"{SITE}{path}" if path else "",
        path=path,
        content_asset=asset,
        is_bot=bot,
    )


def _move(contact, stage: str, when) -> None:
    LifecycleTransition.objects.create(
        contact=contact, from_stage="lead", to_stage=stage, occurred_at=when
    )


def _rows() -> dict[str, tuple[int, int, int, int]]:
    rows, _totals = asset_report(days=30)
    return {r.asset.key: (r.visits, r.leads, r.mqls, r.deals) for r in rows}


def test_each_asset_counts_its_own_touches_leads_and_influenced_moves():
    now = timezone.now()
    day = dt.timedelta(days=1)
    blog = _asset("blog", "attraction", f"{SITE}/blog/*")
    _asset("dx", "attraction", f"{SITE}/blog/dx")  # inside blog's URLs: both count
    _asset("paper", "education", f"{SITE}/whitepaper/")
    _asset("pricing", "trigger", f"{SITE}/pricing")
    _asset("unseen", "trigger", f"{SITE}/nothing")
    ContentAsset.objects.create(
        key="off", name="off", kind="trigger", url_pattern=f"{SITE}/blog/", is_active=False
    )
    new = make_contact("new@example.jp")  # created now: a new lead
    old = make_contact("old@example.jp")
    Contact.objects.filter(pk=old.pk).update(created_at=now - 90 * day)
    visitor = Visitor.objects.create(uid="a" * 32, first_seen=now, last_seen=now)
    with transaction.atomic():
        touchpoints_append(
            [
                # new: blog/dx twice (first 5 days ago), the paper tagged by a download.
                _touch(new, now - 5 * day, path="/blog/dx"),
                _touch(new, now - 1 * day, path="/blog/dx?utm_source=x"),
                _touch(new, now - 4 * day, kind="download", asset="paper"),
                # A page view both tagged with the paper and on its URL counts once for it.
                _touch(new, now - 3 * day, path="/whitepaper/a", asset="paper"),
                # old: blog 10 days ago; pricing after its MQL move; outside the period.
                _touch(old, now - 10 * day, path="/blog/other"),
                _touch(old, now - 1 * day, path="/pricing"),
                _touch(old, now - 40 * day, path="/whitepaper/b"),
                # Neither bots, nor other types on an asset URL, nor an upper-case URL count.
                _touch(old, now - 2 * day, path="/blog/x", bot=True),
                _touch(old, now - 2 * day, kind="email_clicked", path="/blog/x"),
                _touch(old, now - 2 * day, path="/BLOG/x"),
                # Anonymous visits count as visits, never as leads.
                _touch(None, now - 2 * day, path="/blog/dx", visitor=visitor),
            ]
        )
    _move(new, "mql", now - 2 * day)  # after its first blog, dx and paper touches
    _move(new, "opportunity", now - 6 * day)  # before any: not influenced
    _move(old, "mql", now - 9 * day)  # after blog (10 days ago), before pricing
    _move(old, "opportunity", now - 8 * day)
    _move(old, "mql", now - 50 * day)  # outside the period
    assert _rows() == {
        "blog": (4, 1, 2, 1),
        "dx": (3, 1, 1, 0),
        "paper": (2, 1, 1, 0),
        "pricing": (1, 0, 0, 0),
        "unseen": (0, 0, 0, 0),
    }
    rows, totals = asset_report(days=30)
    # The model's order: kind, then name.
    assert [r.asset for r in rows][:2] == [blog, ContentAsset.objects.get(key="dx")]
    assert (totals["attraction"].visits, totals["attraction"].mqls) == (7, 3)
    assert (totals["education"].visits, totals["trigger"].visits) == (2, 1)


def test_the_report_makes_the_same_queries_whatever_the_number_of_assets():
    contact = make_contact("a@example.jp")
    with transaction.atomic():
        touchpoints_append([_touch(contact, timezone.now(), path="/blog/1")])
    _asset("one", "attraction", f"{SITE}/blog/")
    with CaptureQueriesContext(connection) as one:
        asset_report(days=30)
    for n in range(20):
        _asset(f"more-{n}", "education", f"{SITE}/page-{n}/")
    with CaptureQueriesContext(connection) as many:
        rows, _ = asset_report(days=30)
    assert len(rows) == 21
    assert len(one.captured_queries) == len(many.captured_queries) == 2


def test_no_assets_no_query_over_the_stream():
    with CaptureQueriesContext(connection) as queries:
        rows, totals = asset_report(days=30)
    assert rows == [] and totals["trigger"].visits == 0
    assert len(queries.captured_queries) == 1
