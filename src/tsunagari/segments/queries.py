"""Reading segments: who is in one now (what mail and journeys call), lists, growth, history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F, QuerySet
from django.http import Http404
from django.utils import timezone

from tsunagari.core.models import User
from tsunagari.crm.models import Contact
from tsunagari.segments.models import Membership, Segment, SegmentSize

PAGE_SIZE = 50


def segment_members(segment: Segment) -> QuerySet[Contact]:
    """The live contacts currently in `segment` (materialised membership, static or dynamic)."""
    current = Membership.objects.filter(segment=segment, exited_at__isnull=True)
    return Contact.objects.filter(deleted_at__isnull=True, pk__in=current.values("contact_id"))


def get_segment_for_user(user: User, pk: int) -> Segment:
    """A live segment for a user who may see segments; 404 otherwise."""
    segment = Segment.objects.filter(pk=pk, deleted_at__isnull=True).first()
    if segment is None:
        raise Http404
    return segment


def live_segments() -> QuerySet[Segment]:
    return Segment.objects.filter(deleted_at__isnull=True).select_related("created_by")


@dataclass
class Growth:
    segment: Segment
    week_ago: int | None
    month_ago: int | None

    @property
    def week_change(self) -> int | None:
        return None if self.week_ago is None else self.segment.member_count - self.week_ago

    @property
    def month_change(self) -> int | None:
        return None if self.month_ago is None else self.segment.member_count - self.month_ago


def with_growth(segments: list[Segment], *, today: dt.date | None = None) -> list[Growth]:
    """Each segment with its size 7 and 30 days ago (the last daily snapshot on or before)."""
    today = today or timezone.localdate()
    ids = [s.pk for s in segments]
    rows = SegmentSize.objects.filter(
        segment_id__in=ids, day__gte=today - dt.timedelta(days=60), day__lte=today
    ).values_list("segment_id", "day", "size")
    history: dict[int, list[tuple[dt.date, int]]] = {}
    for segment_id, day, size in rows.order_by("segment_id", "day"):
        history.setdefault(segment_id, []).append((day, size))

    def size_on(segment_id: int, day: dt.date) -> int | None:
        found = None
        for d, size in history.get(segment_id, []):
            if d <= day:
                found = size
        return found

    return [
        Growth(
            s,
            size_on(s.pk, today - dt.timedelta(days=7)),
            size_on(s.pk, today - dt.timedelta(days=30)),
        )
        for s in segments
    ]


def size_history(segment: Segment, *, days: int = 30) -> list[dict]:
    """Daily sizes for the chart on the segment page (days without a refresh carry over)."""
    today = timezone.localdate()
    start = today - dt.timedelta(days=days - 1)
    rows = list(SegmentSize.objects.filter(segment=segment, day__lte=today).order_by("day"))
    before = [r for r in rows if r.day < start]
    size = before[-1].size if before else 0
    by_day = {r.day: r for r in rows if r.day >= start}
    out = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        row = by_day.get(day)
        if row is not None:
            size = row.size
        out.append(
            {
                "day": day,
                "size": size,
                "entered": row.entered if row else 0,
                "exited": row.exited if row else 0,
            }
        )
    peak = max((d["size"] for d in out), default=0) or 1
    for d in out:
        d["percent"] = round(100 * d["size"] / peak)
    return out


def recent_changes(segment: Segment, *, limit: int = 20) -> QuerySet[Membership]:
    """The latest entries into the segment, with their contacts."""
    return (
        Membership.objects.filter(segment=segment)
        .select_related("contact")
        .order_by("-entered_at", "-id")[:limit]
    )


def contact_stays(contact: Contact, *, limit: int = 30) -> QuerySet[Membership]:
    """A contact's stays in live segments, current ones first, then the latest."""
    return (
        Membership.objects.filter(contact=contact, segment__deleted_at__isnull=True)
        .select_related("segment")
        .order_by(F("exited_at").desc(nulls_first=True), "-entered_at")[:limit]
    )
