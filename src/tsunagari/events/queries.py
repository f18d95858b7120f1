"""Reads for seminars: lists, registrants and the seminar report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from tsunagari.crm.choices import LifecycleStage
from tsunagari.crm.models import LifecycleTransition
from tsunagari.deals.models import Deal, Stage
from tsunagari.events.models import Event, Registration, Session

PAGE_SIZE = 50
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
    deals: int = 0  # registrants who became the primary contact of a deal in the window
    deals_attended: int = 0
    deal_count: int = 0  # those deals (a registrant may have several)
    won_deals: int = 0  # counted in the totals only
    won_amount: Decimal = field(default_factory=Decimal)

    @property
    def attendance_rate(self) -> float | None:
        return self.attended / self.registered if self.registered else None

    @property
    def deal_rate(self) -> float | None:
        """商談化率: registrants with a deal created in the window, over registrants."""
        return self.deals / self.registered if self.registered else None

    @property
    def deal_rate_attended(self) -> float | None:
        return self.deals_attended / self.attended if self.attended else None


def _reached(stages) -> Exists:
    """A stage transition between the registration and its horizon (N days after the end).

    The horizon is annotated as a parameter per session, not `session.ends_at + N days` in
    SQL: SQLite computes such date arithmetic in a Python function once per row.
    """
    return Exists(
        LifecycleTransition.objects.filter(
            contact_id=OuterRef("contact_id"),
            to_stage__in=stages,
            occurred_at__gte=OuterRef("created_at"),
            occurred_at__lte=OuterRef("horizon"),
        )
    )


def _deals_in_window(**extra) -> QuerySet[Deal]:
    """Deals naming the registrant as primary contact, created between the registration and
    the horizon (index deals_deal_contact: primary_contact, created_at)."""
    return Deal.objects.filter(
        primary_contact_id=OuterRef("contact_id"),
        created_at__gte=OuterRef("created_at"),
        created_at__lte=OuterRef("horizon"),
        **extra,
    ).order_by()


def _per_registrant(aggregate, **extra) -> Subquery:
    return Subquery(
        _deals_in_window(**extra)
        .values("primary_contact_id")
        .annotate(value=aggregate)
        .values("value")
    )


def _with_horizon(event: Event, sessions: list[Session], days: int) -> QuerySet[Registration]:
    horizon = Case(
        *[When(session_id=s.pk, then=Value(s.ends_at + dt.timedelta(days=days))) for s in sessions],
        default=Value(None),
        output_field=DateTimeField(),
    )
    return Registration.objects.filter(
        session__event=event, status=Registration.Status.REGISTERED
    ).annotate(horizon=horizon)


def _registrant_deals(event: Event, sessions: list[Session], days: int) -> QuerySet[Deal]:
    """Deals created in the window of a registration of their primary contact.

    The IN on the event's registrants lets the database walk deals_deal_contact from them
    instead of testing every deal of the table.
    """
    registrants = Registration.objects.filter(
        session__event=event, status=Registration.Status.REGISTERED
    ).values("contact_id")
    return Deal.objects.filter(
        primary_contact_id__in=registrants,
    ).filter(
        Exists(
            _with_horizon(event, sessions, days).filter(
                contact_id=OuterRef("primary_contact_id"),
                created_at__lte=OuterRef("created_at"),
                horizon__gte=OuterRef("created_at"),
            )
        )
    )


def report(event: Event, *, days: int = 90) -> tuple[ReportRow, list[ReportRow]]:
    """The event's totals and one row per session; a person or a deal counts once in totals.

    A registrant "became a deal" when a deal naming them as its primary contact was created
    between their registration and `days` after their session ended; the won amount sums the
    amounts of those deals that are won. Five queries whatever the number of sessions: the
    sessions, counts per session, the (few) registrants who became MQLs or deals with their
    deals' counts and won amounts, the distinct deals' totals, distinct people.
    """
    now = timezone.now()
    registered = Q(status=Registration.Status.REGISTERED)
    sessions = list(Session.objects.filter(event=event))
    rows = {s.pk: ReportRow(label=str(s.starts_at)) for s in sessions}
    counts = (
        Registration.objects.filter(session__event=event)
        .values("session_id")
        .annotate(
            registered=Count("pk", filter=registered),
            waitlisted=Count("pk", filter=Q(status=Registration.Status.WAITLISTED)),
            cancelled=Count("pk", filter=Q(status=Registration.Status.CANCELLED)),
            attended=Count("pk", filter=registered & Q(attended_at__isnull=False)),
        )
        .order_by()
    )
    ended = {s.pk for s in sessions if s.ends_at <= now}
    for c in counts:
        row = rows[c["session_id"]]
        row.registered, row.waitlisted = c["registered"], c["waitlisted"]
        row.cancelled, row.attended = c["cancelled"], c["attended"]
        if c["session_id"] in ended:
            row.no_shows = row.registered - row.attended
    mqls: set[int] = set()
    deals: set[int] = set()
    deals_attended: set[int] = set()
    found = {"n": 0, "won_n": 0, "won": None}
    if sessions:
        # Per registration, only for the few who became MQLs or got a deal: the numbers
        # come from the database, so no timestamps are read back into Python.
        reached = (
            _with_horizon(event, sessions, days)
            .annotate(mql=_reached(MQL_STAGES), deal=Exists(_deals_in_window()))
            .filter(Q(mql=True) | Q(deal=True))
            .annotate(
                deal_n=_per_registrant(Count("pk")),
                won=_per_registrant(Sum("amount"), stage=Stage.WON),
            )
            .order_by()
            .values_list("session_id", "contact_id", "attended_at", "mql", "deal", "deal_n", "won")
        )
        for session_id, contact_id, attended_at, mql, deal, deal_n, won in reached:
            row = rows[session_id]
            if mql:
                row.mqls += 1
                mqls.add(contact_id)
            if deal:
                row.deals += 1
                deals.add(contact_id)
                row.deal_count += deal_n or 0
                row.won_amount += won or 0
                if attended_at:
                    row.deals_attended += 1
                    deals_attended.add(contact_id)
        if deals:
            # The totals count each deal once, even for a registrant of several sessions.
            found = (
                _registrant_deals(event, sessions, days)
                .order_by()
                .aggregate(
                    n=Count("pk"),
                    won_n=Count("pk", filter=Q(stage=Stage.WON)),
                    won=Sum("amount", filter=Q(stage=Stage.WON)),
                )
            )
    people = Registration.objects.filter(registered, session__event=event).aggregate(
        registered=Count("contact", distinct=True),
        attended=Count("contact", distinct=True, filter=Q(attended_at__isnull=False)),
    )
    per_session = [rows[s.pk] for s in sessions]
    total = ReportRow(
        label="",
        registered=people["registered"],
        attended=people["attended"],
        waitlisted=sum(r.waitlisted for r in per_session),
        cancelled=sum(r.cancelled for r in per_session),
        no_shows=sum(r.no_shows for r in per_session),
        mqls=len(mqls),
        deals=len(deals),
        deals_attended=len(deals_attended),
        deal_count=found["n"],
        won_deals=found["won_n"],
        won_amount=found["won"] or Decimal(0),
    )
    return total, per_session


def registrant_deals(event: Event, *, days: int = 90) -> QuerySet[Deal]:
    """The deals the report counts, newest first, for its list."""
    sessions = list(Session.objects.filter(event=event))
    if not sessions:
        return Deal.objects.none()
    return (
        _registrant_deals(event, sessions, days)
        .select_related("account", "primary_contact")
        .order_by("-created_at", "-id")
    )
