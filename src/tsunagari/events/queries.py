"""Reads for seminars: lists, registrants and the seminar report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from tsunagari.crm.choices import LifecycleStage
from tsunagari.crm.models import LifecycleTransition
from tsunagari.events.models import Event, Registration, Session

PAGE_SIZE = 50
DEAL_STAGES = (LifecycleStage.OPPORTUNITY, LifecycleStage.CUSTOMER)
MQL_STAGES = (LifecycleStage.MQL,)


def events_for_list() -> QuerySet[Event]:
    return Event.objects.annotate(
        session_count=Count("sessions", distinct=True),
        registration_count=Count(
            "sessions__registrations",
            filter=Q(sessions__registrations__status=Registration.Status.REGISTERED),
        ),
    ).order_by("-created_at", "-id")


def registrants(event: Event, *, session_id: int | None = None, status: str = "") -> QuerySet:
    qs = (
        Registration.objects.filter(session__event=event)
        .select_related("contact", "session")
        .order_by("session__starts_at", "created_at", "id")
    )
    if session_id:
        qs = qs.filter(session_id=session_id)
    if status == "attended":
        qs = qs.filter(attended_at__isnull=False)
    elif status == "no_show":
        qs = qs.filter(
            status=Registration.Status.REGISTERED,
            attended_at__isnull=True,
            session__ends_at__lte=timezone.now(),
        )
    elif status:
        qs = qs.filter(status=status)
    return qs


@dataclass
class ReportRow:
    label: str
    registered: int = 0
    waitlisted: int = 0
    cancelled: int = 0
    attended: int = 0
    no_shows: int = 0
    mqls: int = 0
    deals: int = 0
    deals_attended: int = 0

    @property
    def attendance_rate(self) -> float | None:
        return self.attended / self.registered if self.registered else None

    @property
    def deal_rate(self) -> float | None:
        """商談化率: registrants who reached opportunity or customer, over registrants."""
        return self.deals / self.registered if self.registered else None

    @property
    def deal_rate_attended(self) -> float | None:
        return self.deals_attended / self.attended if self.attended else None


def _reached(stages, days: int) -> Exists:
    """A stage transition between the registration and N days after the session ended."""
    return Exists(
        LifecycleTransition.objects.filter(
            contact_id=OuterRef("contact_id"),
            to_stage__in=stages,
            occurred_at__gte=OuterRef("created_at"),
            occurred_at__lte=OuterRef("session__ends_at") + dt.timedelta(days=days),
        )
    )


def report(event: Event, *, days: int = 90) -> tuple[ReportRow, list[ReportRow]]:
    """The event's totals and one row per session; people count once per session.

    The "deal" is a contact reaching the opportunity or customer stage (crm lifecycle) until
    a sales app records deals of their own.
    """
    now = timezone.now()
    rows = (
        Registration.objects.filter(session__event=event)
        .annotate(mql=_reached(MQL_STAGES, days), deal=_reached(DEAL_STAGES, days))
        .values_list(
            "session_id", "contact_id", "status", "attended_at", "session__ends_at", "mql", "deal"
        )
    )
    sessions = {s.pk: s for s in Session.objects.filter(event=event)}
    per: dict[int, ReportRow] = {
        pk: ReportRow(label=str(s.starts_at)) for pk, s in sessions.items()
    }
    total = ReportRow(label="")
    seen: dict[str, set[int]] = {
        "registered": set(),
        "attended": set(),
        "mql": set(),
        "deal": set(),
        "deal_att": set(),
    }
    for session_id, contact_id, status, attended_at, ends_at, mql, deal in rows:
        row = per[session_id]
        if status == Registration.Status.WAITLISTED:
            row.waitlisted += 1
            total.waitlisted += 1
            continue
        if status == Registration.Status.CANCELLED:
            row.cancelled += 1
            total.cancelled += 1
            continue
        row.registered += 1
        seen["registered"].add(contact_id)
        if attended_at:
            row.attended += 1
            seen["attended"].add(contact_id)
        elif ends_at <= now:
            row.no_shows += 1
        if mql:
            row.mqls += 1
            seen["mql"].add(contact_id)
        if deal:
            row.deals += 1
            seen["deal"].add(contact_id)
            if attended_at:
                row.deals_attended += 1
                seen["deal_att"].add(contact_id)
    total.registered = len(seen["registered"])
    total.attended = len(seen["attended"])
    total.no_shows = sum(r.no_shows for r in per.values())
    total.mqls = len(seen["mql"])
    total.deals = len(seen["deal"])
    total.deals_attended = len(seen["deal_att"])
    return total, [per[pk] for pk in sessions]


def deal_contacts(event: Event, *, days: int = 90) -> QuerySet[Registration]:
    """The registrations whose contact reached a deal stage in the window, for the report."""
    return (
        Registration.objects.filter(session__event=event, status=Registration.Status.REGISTERED)
        .filter(_reached(DEAL_STAGES, days))
        .select_related("contact", "session")
        .order_by("contact__email")
    )
