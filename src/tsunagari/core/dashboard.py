"""The dashboard's figures: live contacts by lifecycle stage, MQL/SQL tiles, live accounts.

Counting a million live contacts by stage reads the whole stage index (over 400 ms at a
million contacts), too slow for the page everyone lands on. So:

- up to EXACT_UP_TO live contacts (one capped count tells), the figures are counted on every
  view: exact and current, which is what a new or small database needs;
- above it, the page shows the last snapshot (core.Snapshot), which the worker refreshes
  every REFRESH_SECONDS (the `core.dashboard` work kind), with the time it was taken. Without a
  running worker, a view finding the snapshot missing or older than STALE_SECONDS counts
  once itself and stores the result, so the figures are never older than that.

This is the project shell's page: it reads the crm app (as core's views already do).
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from tsunagari.core.models import Snapshot
from tsunagari.crm.choices import LifecycleStage
from tsunagari.crm.models import LIVE, Account, Contact

SNAPSHOT_KEY = "dashboard"
# Up to this many live contacts the figures are exact on every view (the contact list's cap).
EXACT_UP_TO = 10_000
# The worker refreshes the snapshot this often: the figures are at most this old, plus the
# time one count takes.
REFRESH_SECONDS = 60
# Without a worker, a view recounts when the snapshot is older than this.
STALE_SECONDS = 600
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _count() -> dict:
    """The figures counted now: one GROUP BY over the (stage, id) index of live contacts."""
    rows = (
        Contact.objects.filter(LIVE)
        .order_by()
        .values_list("lifecycle_stage")
        .annotate(n=Count("pk"))
    )
    return {"by_stage": dict(rows), "accounts": Account.objects.filter(LIVE).count()}


def _is_small() -> bool:
    """At most EXACT_UP_TO live contacts: a count that stops at EXACT_UP_TO + 1 rows."""
    return Contact.objects.filter(LIVE).values("pk")[: EXACT_UP_TO + 1].count() <= EXACT_UP_TO


def _store(figures: dict, at: dt.datetime) -> None:
    try:
        with transaction.atomic():
            Snapshot.objects.update_or_create(
                key=SNAPSHOT_KEY, defaults={"data": figures, "computed_at": at}
            )
    except IntegrityError:
        pass  # another process stored its count at the same moment: as good as ours


def dashboard_recount() -> tuple[dict, dt.datetime]:
    """Count now and store the snapshot: the worker once it has claimed it, or a view."""
    figures, at = _count(), timezone.now()
    _store(figures, at)
    return figures, at


def _shape(figures: dict, as_of: dt.datetime | None) -> dict:
    by_stage = figures["by_stage"]
    funnel = [
        {"stage": stage.value, "label": stage.label, "count": by_stage.get(stage.value, 0)}
        for stage in LifecycleStage
    ]
    widest = max((row["count"] for row in funnel), default=0) or 1
    for row in funnel:
        row["percent"] = round(100 * row["count"] / widest)
    return {
        "contacts": sum(by_stage.values()),
        "accounts": figures["accounts"],
        "mql": by_stage.get(LifecycleStage.MQL, 0),
        "sql": by_stage.get(LifecycleStage.SQL, 0),
        "funnel": funnel,
        "as_of": as_of,  # None: counted for this view
    }


def dashboard_stats() -> dict:
    """The dashboard's figures: exact when small, else the snapshot and its time (see above)."""
    if _is_small():
        return _shape(_count(), None)
    snapshot = Snapshot.objects.filter(key=SNAPSHOT_KEY).first()
    now = timezone.now()
    stale = now - dt.timedelta(seconds=STALE_SECONDS)
    # Empty data: a worker claimed a first count and has not stored it (or died doing so).
    if snapshot is None or not snapshot.data or snapshot.computed_at < stale:
        return _shape(*dashboard_recount())
    return _shape(snapshot.data, snapshot.computed_at)


def dashboard_refresh() -> int:
    """Work kind `core.dashboard`: recount when the snapshot is due; 1 if this call did.

    The claim is a compare-and-set on computed_at, so of several workers one recounts.
    """
    now = timezone.now()
    due = now - dt.timedelta(seconds=REFRESH_SECONDS)
    taken = Snapshot.objects.filter(key=SNAPSHOT_KEY).values_list("computed_at", flat=True)
    last = taken.first()
    if last is not None and last >= due:
        return 0  # the common case, every second: one indexed read
    if _is_small():
        return 0  # the view counts exactly itself
    if last is None:
        Snapshot.objects.get_or_create(
            key=SNAPSHOT_KEY, defaults={"data": {}, "computed_at": _EPOCH}
        )
    claimed = Snapshot.objects.filter(key=SNAPSHOT_KEY, computed_at__lt=due).update(computed_at=now)
    if not claimed:
        return 0
    dashboard_recount()
    return 1
