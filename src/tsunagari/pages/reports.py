"""The content-asset report as people open it: exact when small, else a worker-kept snapshot.

The report reads every touch of its period (queries.asset_report): milliseconds on a young
database, seconds over ten million touchpoints — too slow for a page. So, per period offered
(30, 90 and 365 days):

- while the period holds at most EXACT_UP_TO asset-carrying touches (one capped count tells),
  the report is computed for each view, exact and current;
- above it, the page shows the period's snapshot (core.Snapshot) with the time it was taken.
  Opening the page for a period with no snapshot yet asks for one (an empty snapshot row),
  and the `pages.asset_report` work kind computes it; the worker then refreshes every
  requested period once REFRESH_SECONDS have passed. Claims are a compare-and-set on
  `computed_at`, so of several workers one computes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from tsunagari.core.models import Snapshot
from tsunagari.pages.models import ContentAsset
from tsunagari.pages.queries import _ASSET_TYPES, AssetRow, asset_report
from tsunagari.tracking.models import Touchpoint

PERIODS = (30, 90, 365)
DEFAULT_PERIOD = 90
# Up to this many touches in the period, the report is computed for every view.
EXACT_UP_TO = 50_000
# The worker recomputes a requested period's snapshot this often.
REFRESH_SECONDS = 600
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass
class AssetReport:
    rows: list[AssetRow]
    totals: list[AssetRow]
    as_of: dt.datetime | None  # None: computed for this view
    pending: bool = False  # a snapshot is asked for and not taken yet


def period_of(value: object) -> int:
    """The period the page shows for a `days` parameter: one of PERIODS, else the default."""
    try:
        days = int(str(value))
    except ValueError:
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


def _key(days: int) -> str:
    return f"pages.asset_report.{days}"


def _is_small(days: int) -> bool:
    since = timezone.now() - dt.timedelta(days=days)
    touches = Touchpoint.objects.filter(type__in=_ASSET_TYPES, occurred_at__gte=since)
    return touches.values("pk")[: EXACT_UP_TO + 1].count() <= EXACT_UP_TO


def _totals(rows: list[AssetRow]) -> list[AssetRow]:
    totals = {
        kind: AssetRow(asset=ContentAsset(kind=kind, name=label))
        for kind, label in ContentAsset.Kind.choices
    }
    for row in rows:
        total = totals[row.asset.kind]
        total.visits += row.visits
        total.leads += row.leads
        total.mqls += row.mqls
        total.deals += row.deals
    return list(totals.values())


def asset_report_for_page(days: int) -> AssetReport:
    """What the content-asset page shows for a period (see the module's docstring)."""
    if _is_small(days):
        rows, totals = asset_report(days=days)
        return AssetReport(rows, list(totals.values()), None)
    snapshot = Snapshot.objects.filter(key=_key(days)).first()
    if snapshot is None:
        try:
            with transaction.atomic():
                snapshot = Snapshot.objects.create(key=_key(days), data={}, computed_at=_EPOCH)
        except IntegrityError:  # another view asked at the same moment
            snapshot = Snapshot.objects.get(key=_key(days))
    figures = snapshot.data.get("assets")
    rows = [AssetRow(asset=asset) for asset in ContentAsset.objects.filter(is_active=True)]
    for row in rows:
        # An asset added since the snapshot shows zeros until the next one.
        row.visits, row.leads, row.mqls, row.deals = (figures or {}).get(
            str(row.asset.pk), (0, 0, 0, 0)
        )
    if figures is None:
        return AssetReport(rows, _totals(rows), None, pending=True)
    return AssetReport(rows, _totals(rows), snapshot.computed_at)


def _compute(days: int) -> dict:
    rows, _totals_by_kind = asset_report(days=days)
    return {"assets": {str(r.asset.pk): [r.visits, r.leads, r.mqls, r.deals] for r in rows}}


def asset_report_refresh() -> int:
    """Work kind `pages.asset_report`: compute one requested period that is due; 1 if done."""
    now = timezone.now()
    due = now - dt.timedelta(seconds=REFRESH_SECONDS)
    for days in PERIODS:
        key = _key(days)
        # Only periods a view asked for have a row; the claim moves computed_at to now.
        if not Snapshot.objects.filter(key=key, computed_at__lt=due).update(computed_at=now):
            continue
        data = _compute(days)
        Snapshot.objects.filter(key=key).update(data=data, computed_at=timezone.now())
        return 1
    return 0
