"""Reads of scoring: a contact's score and its explanation, lead queues."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from tsunagari.core.models import User
from tsunagari.core.roles import Capability
from tsunagari.scoring.models import ContactScore, Handoff, LedgerEntry
from tsunagari.tracking.models import CustomTouchpointType
from tsunagari.tracking.vocabulary import Type


@dataclass
class Line:
    """One scored touch (or reset) as the explanation shows it: all its decay steps together."""

    kind: str
    rule: str
    touch_type: str
    touch_label: str
    occurred_at: dt.datetime
    points: int = 0  # as written
    live_points: int = 0  # still counting now
    next_expiry: dt.datetime | None = None
    last_expiry: dt.datetime | None = None


def type_labels() -> dict[str, str]:
    """Touchpoint type keys → the words people read (built-in and custom types)."""
    labels = {key: str(label) for key, label in Type.choices}
    labels.update(CustomTouchpointType.objects.values_list("key", "label"))
    return labels


def score_of(contact_id: int) -> ContactScore:
    """The contact's scores; an unsaved zero row when it has none yet."""
    return ContactScore.objects.filter(contact_id=contact_id).first() or ContactScore(
        contact_id=contact_id
    )


def explanation(contact_id: int, *, limit: int = 100, now=None) -> tuple[list[Line], bool]:
    """The ledger of a contact, newest first, one line per rule and touch; (lines, more?)."""
    now = now or timezone.now()
    rows = (
        LedgerEntry.objects.filter(contact_id=contact_id)
        .order_by("-occurred_at", "-touchpoint_id", "rule_id", "kind", "step")
        .values_list(
            "kind",
            "rule_id",
            "rule__name",
            "touchpoint_id",
            "touchpoint__type",
            "touchpoint__title",
            "touchpoint__path",
            "occurred_at",
            "points",
            "expires_at",
        )
    )
    labels = type_labels()
    lines: dict[tuple, Line] = {}
    more = False
    for (
        kind,
        rule_id,
        rule_name,
        touch_id,
        ttype,
        title,
        path,
        when,
        points,
        expires,
    ) in rows.iterator():
        key = (kind, rule_id, touch_id, when)
        line = lines.get(key)
        if line is None:
            if len(lines) >= limit:
                more = True
                break
            label = labels.get(ttype, ttype or "")
            line = Line(kind, rule_name or "", label, title or path or "", when)
            lines[key] = line
        line.points += points
        if expires is None or expires > now:
            line.live_points += points
            if expires is not None and (line.next_expiry is None or expires < line.next_expiry):
                line.next_expiry = expires
        if expires is not None and (line.last_expiry is None or expires > line.last_expiry):
            line.last_expiry = expires
    return list(lines.values()), more


def handoffs_visible_to(user: User) -> QuerySet[Handoff]:
    """Managers see every hand-off; a rep sees those assigned to them."""
    qs = Handoff.objects.select_related("contact", "contact__account", "owner")
    if user.can(Capability.LEADS_MANAGE):
        return qs
    return qs.filter(owner=user)


def handoffs_for(user: User, *, status: str, everyone: bool = False) -> QuerySet[Handoff]:
    qs = handoffs_visible_to(user)
    if not everyone:
        qs = qs.filter(owner=user)
    if status in Handoff.Status.values:
        qs = qs.filter(status=status)
    order = ["due_at", "pk"] if status == Handoff.Status.OPEN else ["-assigned_at", "-pk"]
    return qs.order_by(*order)


def open_lead_count(user: User) -> int:
    return Handoff.objects.filter(Q(owner=user), status=Handoff.Status.OPEN).count()
