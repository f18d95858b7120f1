"""Reads of the activity stream: timelines of a contact or an account, newest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from tsunagari.tracking.models import CustomTouchpointType, Touchpoint, Visitor
from tsunagari.tracking.vocabulary import Channel, Type

TIMELINE_PAGE = 50
PERIODS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}


@dataclass
class TimelineFilter:
    channel: str = ""
    type: str = ""
    period: str = ""
    before: tuple[dt.datetime, int] | None = None  # keyset: older than this (time, id)


def timeline_filter_from(params: QueryDict) -> TimelineFilter:
    channel = params.get("channel", "")
    type_key = params.get("type", "")[:40]
    period = params.get("period", "")
    before = None
    raw = params.get("before", "")
    if "_" in raw:
        stamp, _, pk = raw.partition("_")
        try:
            before = (dt.datetime.fromisoformat(stamp), int(pk))
        except ValueError:
            before = None
    return TimelineFilter(
        channel=channel if channel in Channel.values else "",
        type=type_key,
        period=period if period in PERIODS else "",
        before=before,
    )


def _filtered(qs: QuerySet[Touchpoint], f: TimelineFilter) -> QuerySet[Touchpoint]:
    if f.channel:
        qs = qs.filter(channel=f.channel)
    if f.type:
        qs = qs.filter(type=f.type)
    if f.period:
        qs = qs.filter(occurred_at__gte=timezone.now() - dt.timedelta(days=PERIODS[f.period]))
    if f.before:
        when, pk = f.before
        qs = qs.filter(Q(occurred_at__lt=when) | Q(occurred_at=when, pk__lt=pk))
    return qs.order_by("-occurred_at", "-id")


def timeline_page(qs: QuerySet[Touchpoint], f: TimelineFilter) -> tuple[list[Touchpoint], str]:
    """One page of the stream and the keyset cursor of the next page ('' at the end).

    Keyset paging costs the same on page 200 as on page 1, whatever the contact's history.
    """
    rows = list(_filtered(qs, f).select_related("recorded_by")[: TIMELINE_PAGE + 1])
    more = len(rows) > TIMELINE_PAGE
    rows = rows[:TIMELINE_PAGE]
    cursor = f"{rows[-1].occurred_at.isoformat()}_{rows[-1].pk}" if more and rows else ""
    return rows, cursor


def contact_touchpoints(contact_id: int) -> QuerySet[Touchpoint]:
    return Touchpoint.objects.filter(contact_id=contact_id)


def account_touchpoints(account_id: int) -> QuerySet[Touchpoint]:
    return Touchpoint.objects.filter(account_id=account_id).select_related("contact")


def anonymous_visitors_of_account(account_id: int) -> int:
    return Visitor.objects.filter(account_id=account_id, contact__isnull=True).count()


def type_choices() -> list[tuple[str, str]]:
    custom = [(t.key, t.label) for t in CustomTouchpointType.objects.order_by("label")]
    return [*Type.choices, *custom]
