"""Nurture streams (教育型): ordered content emails on a cadence, each contact at its own place.

A member's next delivery is a row (StreamMember.due_at) the worker claims with a
compare-and-set and a lease, like a journey step. Each slot delivers the first item, in the
stream's current order, that the member has neither received from this stream nor already
consumed (a human click on that template's email, or a tracked visit to the item's content URL),
so reordering or removing content never repeats an email. A member with nothing left becomes
"exhausted" and resumes automatically at the next cadence slot when content is appended. Emails
go through mail's pipeline, which applies consent, suppression and the global frequency cap at
send time.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.crm.models import LIVE, Contact
from tsunagari.journeys.models import Stream, StreamItem, StreamMember
from tsunagari.work.claims import due

LEASE = dt.timedelta(minutes=5)
BATCH = 200


def next_slot(stream: Stream, after: dt.datetime) -> dt.datetime:
    """The first cadence moment (weekday, hour) strictly after `after`, `every_weeks` apart.

    Weeks count from the Monday of the ISO week 1970-01-05 so "every other Tuesday" is the
    same Tuesdays for every member.
    """
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    local = timezone.localtime(after, zone)
    day = local.date()
    epoch = dt.date(1970, 1, 5)
    for offset in range(0, 7 * max(1, stream.every_weeks) + 8):
        candidate = day + dt.timedelta(days=offset)
        if candidate.weekday() != stream.weekday:
            continue
        if ((candidate - epoch).days // 7) % max(1, stream.every_weeks):
            continue
        moment = dt.datetime.combine(candidate, dt.time(stream.hour), tzinfo=zone)
        if moment > local:
            return moment
    raise ValueError("no cadence slot found")


def stream_join(stream: Stream, contact_ids, now: dt.datetime | None = None) -> int:
    """Add contacts (once each); their first email goes at the next cadence slot."""
    now = now or timezone.now()
    ids = list(Contact.objects.filter(LIVE, pk__in=list(contact_ids)).values_list("pk", flat=True))
    slot = next_slot(stream, now)
    before = StreamMember.objects.filter(stream=stream).count()
    StreamMember.objects.bulk_create(
        [StreamMember(stream=stream, contact_id=c, due_at=slot) for c in ids],
        ignore_conflicts=True,
    )
    return StreamMember.objects.filter(stream=stream).count() - before


class StreamError(ValueError):
    """A stream change that cannot be made; `field` names the input it is about."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def stream_save(
    *,
    stream: Stream,
    name: str,
    weekday: int,
    hour: int,
    every_weeks: int,
    is_active: bool = True,
) -> Stream:
    """Create or update a stream's name and cadence; members keep their next slot."""
    name = name.strip()
    if not name:
        raise StreamError(_("Enter a name."), "name")
    if weekday not in range(7):
        raise StreamError(_("Choose a weekday."), "weekday")
    if hour not in range(24):
        raise StreamError(_("The hour is between 0 and 23."), "hour")
    if not 1 <= every_weeks <= 52:
        raise StreamError(_("Every 1 to 52 weeks."), "every_weeks")
    stream.name, stream.weekday, stream.hour = name[:120], weekday, hour
    stream.every_weeks, stream.is_active = every_weeks, is_active
    stream.save()
    return stream


def stream_item_move(item: StreamItem, offset: int) -> None:
    """Swap an item with its neighbour before (-1) or after (+1); at either end, nothing."""
    with transaction.atomic():
        siblings = list(
            StreamItem.objects.select_for_update()
            .filter(stream_id=item.stream_id)
            .order_by("position")
        )
        index = next(i for i, s in enumerate(siblings) if s.pk == item.pk)
        other = index + offset
        if offset not in (-1, 1) or not 0 <= other < len(siblings):
            return
        a, b = siblings[index], siblings[other]
        top = siblings[-1].position + 1  # a free position: (stream, position) is UNIQUE
        StreamItem.objects.filter(pk=a.pk).update(position=top)
        StreamItem.objects.filter(pk=b.pk).update(position=a.position)
        StreamItem.objects.filter(pk=a.pk).update(position=b.position)


def stream_item_remove(item: StreamItem) -> None:
    """Remove content from the stream; emails already sent stay as they are."""
    item.delete()


def stream_counts(stream_ids: list[int]) -> dict[int, dict[str, int]]:
    """Members per stream and status (running counts as active), in one query."""
    out: dict[int, dict[str, int]] = {}
    rows = (
        StreamMember.objects.filter(stream_id__in=stream_ids)
        .values("stream_id", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        status = "active" if row["status"] == StreamMember.Status.RUNNING else row["status"]
        counts = out.setdefault(row["stream_id"], {})
        counts[status] = counts.get(status, 0) + row["n"]
    return out


def stream_append(stream: Stream, template, content_url: str = "") -> StreamItem:
    """Add content at the end; exhausted members resume at the next slot (one UPDATE)."""
    with transaction.atomic():
        last = stream.items.aggregate(m=Max("position"))["m"] or 0
        item = StreamItem.objects.create(
            stream=stream, position=last + 1, template=template, content_url=content_url
        )
        StreamMember.objects.filter(stream=stream, status=StreamMember.Status.EXHAUSTED).update(
            status=StreamMember.Status.ACTIVE, due_at=next_slot(stream, timezone.now())
        )
    return item


def _key_prefix(member: StreamMember) -> str:
    return f"stream:{member.stream_id}:{member.contact_id}:"


def _consumed(member: StreamMember, items: list[StreamItem]) -> set[int]:
    """Items already received from this stream, or consumed (clicked, or content URL visited)."""
    from tsunagari.mail.models import Message
    from tsunagari.tracking.models import Touchpoint

    clicked = set(
        Message.objects.filter(
            Q(clicked_at__isnull=False) | Q(idempotency_key__startswith=_key_prefix(member)),
            contact_id=member.contact_id,
            template_id__in=[i.template_id for i in items],
        ).values_list("template_id", flat=True)
    )
    done = {i.pk for i in items if i.template_id in clicked}
    for item in items:
        if (
            item.content_url
            and item.pk not in done
            and Touchpoint.objects.filter(
                contact_id=member.contact_id, url__contains=item.content_url
            ).exists()
        ):
            done.add(item.pk)
    return done


def _deliver(member: StreamMember, now: dt.datetime) -> None:
    from tsunagari.mail.services import message_queue

    stream = member.stream
    items = list(stream.items.select_related("template"))
    items = [i for i in items if i.template.deleted_at is None]
    consumed = _consumed(member, items)
    pending = [i for i in items if i.pk not in consumed]
    with transaction.atomic():
        if not pending:
            last = max([i.position for i in items], default=member.position)
            StreamMember.objects.filter(pk=member.pk, status=StreamMember.Status.RUNNING).update(
                status=StreamMember.Status.EXHAUSTED, position=last, lease_until=None
            )
            return
        item = pending[0]
        contact = Contact.objects.get(pk=member.contact_id)
        message_queue(
            contact=contact,
            template=item.template,
            idempotency_key=f"{_key_prefix(member)}item{item.pk}",
        )
        StreamMember.objects.filter(pk=member.pk, status=StreamMember.Status.RUNNING).update(
            status=StreamMember.Status.ACTIVE,
            position=item.position,
            due_at=next_slot(stream, now),
            lease_until=None,
        )


def run_streams(limit: int = BATCH) -> int:
    """The worker's runner: claim due members (compare-and-set) and deliver their next item."""
    now = timezone.now()
    ready = due(StreamMember.Status.ACTIVE, StreamMember.Status.RUNNING) & Q(due_at__lte=now)
    ids = list(
        StreamMember.objects.filter(ready, stream__is_active=True)
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return 0
    StreamMember.objects.filter(ready, pk__in=ids).update(
        status=StreamMember.Status.RUNNING, lease_until=now + LEASE, attempts=F("attempts") + 1
    )
    members = StreamMember.objects.filter(
        pk__in=ids, status=StreamMember.Status.RUNNING, lease_until=now + LEASE
    ).select_related("stream")
    count = 0
    for member in members:
        if not Contact.objects.filter(LIVE, pk=member.contact_id).exists():
            StreamMember.objects.filter(pk=member.pk).update(status=StreamMember.Status.STOPPED)
            continue
        _deliver(member, now)
        count += 1
    return count
