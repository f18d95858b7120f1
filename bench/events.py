"""`tsunagari bench events`: the seminar report and check-in at scale.

On a throw-away copy of the generated data set, one seminar with REGISTRANTS registrations
(default 5,000, spread over 4 sessions that ended yesterday, 60 % attended) is measured:

- the seminar report through `events.queries.report` (registrations, attendance, MQLs,
  deals created within 90 days and their won amount: one query with an EXISTS over the stage
  history and one over the deals per registration, then the registrants' deals); its
  baseline is the same figures by hand-written SQL (one GROUP BY per session with both
  EXISTS, one distinct count, one sum of the won deals) — the report's ratio;
- one check-in through `events.services.checkin` (signed code read, compare-and-set, the
  `seminar_attended` touchpoint) per attendee, p50.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from bench.common import BenchError, database_version, log, percentile, prepared_dataset, timed
from tsunagari.crm.models import LIVE, Contact, LifecycleTransition
from tsunagari.deals.models import Deal
from tsunagari.events import queries, services
from tsunagari.events.models import Registration, Session

DEFAULT_CONTACTS = 1_000_000
REGISTRANTS = int(os.environ.get("TSUNAGARI_BENCH_EVENT_REGISTRANTS", "5000"))
REPEAT = 20
WARMUP = 2
CHECKINS = 200


def _setup(ids: list[int]):
    now = timezone.now()
    event = services.event_create(name="bench: seminar", slug=f"bench-{int(now.timestamp())}")
    sessions = [
        Session.objects.create(
            event=event,
            starts_at=now - dt.timedelta(days=1, hours=2 + i),
            ends_at=now - dt.timedelta(days=1, hours=i),
            place=f"会場{i}",
        )
        for i in range(4)
    ]
    registered_at = now - dt.timedelta(days=10)
    rows = [
        Registration(
            session=sessions[n % 4],
            contact_id=pk,
            status=Registration.Status.REGISTERED,
            source="bench",
            created_at=registered_at,
            attended_at=(now - dt.timedelta(days=1)) if n % 5 < 3 else None,
        )
        for n, pk in enumerate(ids)
    ]
    Registration.objects.bulk_create(rows, batch_size=1000)
    # A twentieth become MQLs and a tenth get a deal after the seminar (half of them won):
    # figures for the report to find.
    LifecycleTransition.objects.bulk_create(
        [
            LifecycleTransition(contact_id=pk, from_stage="lead", to_stage="mql", occurred_at=now)
            for pk in ids[::20]
        ],
        batch_size=1000,
    )
    accounts = dict(
        Contact.objects.filter(pk__in=ids[::10], account__isnull=False).values_list(
            "pk", "account_id"
        )
    )
    Deal.objects.bulk_create(
        [
            Deal(
                name=f"bench deal {n}",
                account_id=account_id,
                primary_contact_id=pk,
                amount=Decimal(100_000 * (1 + n % 30)),
                stage="won" if n % 2 else "proposal",
                closed_at=now if n % 2 else None,
                created_at=now - dt.timedelta(hours=1),
            )
            for n, (pk, account_id) in enumerate(sorted(accounts.items()))
        ],
        batch_size=1000,
    )
    return event


def _baseline(event) -> tuple[int, int, int, Decimal]:
    """The same figures by hand: per session in one GROUP BY with both EXISTS, then people,
    then the won amount of the registrants' deals."""
    q = connection.ops.quote_name
    regs, sessions = q(Registration._meta.db_table), q(Session._meta.db_table)
    transitions, deals_table = q(LifecycleTransition._meta.db_table), q(Deal._meta.db_table)
    ends = list(Session.objects.filter(event=event).values_list("pk", "ends_at"))
    adapt = connection.ops.adapt_datetimefield_value
    case = "CASE r.session_id " + " ".join("WHEN %s THEN %s" for _ in ends) + " END"
    case_params = [v for pk, end in ends for v in (pk, adapt(end + dt.timedelta(days=90)))]

    mql = (
        f"SUM(CASE WHEN EXISTS (SELECT 1 FROM {transitions} t WHERE t.contact_id = "
        f"r.contact_id AND t.to_stage IN ('mql') AND t.occurred_at >= r.created_at "
        f"AND t.occurred_at <= {case}) THEN 1 ELSE 0 END)"
    )
    deal = (
        f"SUM(CASE WHEN EXISTS (SELECT 1 FROM {deals_table} d WHERE d.primary_contact_id = "
        f"r.contact_id AND d.created_at >= r.created_at AND d.created_at <= {case}) "
        "THEN 1 ELSE 0 END)"
    )
    won_sql = (
        f"SELECT SUM(d.amount) FROM {deals_table} d WHERE d.stage = 'won' AND EXISTS (SELECT 1 "
        f"FROM {regs} r JOIN {sessions} s ON s.id = r.session_id WHERE s.event_id = %s AND "
        "r.status = 'registered' AND r.contact_id = d.primary_contact_id AND "
        f"r.created_at <= d.created_at AND {case} >= d.created_at)"
    )
    sql = (
        f"SELECT r.session_id, COUNT(*), COUNT(r.attended_at), {mql}, {deal} "
        f"FROM {regs} r JOIN {sessions} s ON s.id = r.session_id "
        "WHERE s.event_id = %s AND r.status = 'registered' GROUP BY r.session_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*case_params, *case_params, event.pk])
        per_session = cursor.fetchall()
        cursor.execute(
            f"SELECT COUNT(DISTINCT r.contact_id) FROM {regs} r JOIN {sessions} s "
            "ON s.id = r.session_id WHERE s.event_id = %s AND r.status = 'registered'",
            [event.pk],
        )
        cursor.fetchone()
        cursor.execute(won_sql, [event.pk, *case_params])
        won = Decimal(cursor.fetchone()[0] or 0)
    registered = sum(row[1] for row in per_session)
    attended = sum(row[2] for row in per_session)
    deals = sum(int(row[4] or 0) for row in per_session)
    return registered, attended, deals, won


def run(*, contacts: int, fresh: bool, database: str) -> dict:
    with prepared_dataset(contacts, fresh, writable=True) as dataset:
        ids = list(
            Contact.objects.filter(LIVE)
            .order_by("pk")
            .values_list("pk", flat=True)[: min(REGISTRANTS, contacts)]
        )
        if not ids:
            raise BenchError("the data set has no contacts")
        log(f"registering {len(ids):,} contacts for one seminar")
        event = _setup(ids)
        total, _rows = queries.report(event, days=90)
        registered, attended, deals, won = _baseline(event)
        figures = (total.registered, total.attended, total.won_amount)
        if figures != (registered, attended, won) or total.deals < deals:
            raise BenchError(
                f"report {total} disagrees with the baseline {registered, attended, won}"
            )
        report_s = timed(lambda: queries.report(event, days=90), repeat=REPEAT, warmup=WARMUP)
        baseline_s = timed(lambda: _baseline(event), repeat=REPEAT, warmup=WARMUP)
        p50, base50 = percentile(report_s, 50), percentile(baseline_s, 50)
        log(f"report p50 {p50 * 1000:.1f} ms, baseline {base50 * 1000:.1f} ms")

        pending = iter(
            Registration.objects.filter(session__event=event, attended_at__isnull=True)[:CHECKINS]
        )
        tokens = [services.checkin_token(r) for r in pending]
        codes = iter(tokens)
        checkin_s = timed(
            lambda: services.checkin(event=event, token=next(codes)),
            repeat=len(tokens) - 1,
            warmup=1,
        )
        checkin50 = percentile(checkin_s, 50)
        log(f"check-in p50 {checkin50 * 1000:.1f} ms")
        return {
            "bench": "events",
            "database": database,
            "database_version": database_version(),
            "n": contacts,
            "registrants": len(ids),
            "report_p50_ms": round(p50 * 1000, 2),
            "baseline_p50_ms": round(base50 * 1000, 2),
            "ratio": round(p50 / base50, 2),
            "deals": total.deal_count,
            "won_amount": int(total.won_amount),
            "checkin_p50_ms": round(checkin50 * 1000, 2),
            "dataset_build_seconds": dataset.build_seconds,
            "dataset_built_now": dataset.built_now,
        }
