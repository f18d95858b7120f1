"""Back-testing a rule set: replay the last N days and see which contacts would have been MQLs.

The candidate rules score the window's touchpoints with the same SQL as live scoring, into a
scratch table inside a transaction that is rolled back at the end: live scores, the ledger and
every other table are untouched. A contact is an MQL of the back-test at the first moment its
running score (points in, expired points out) reaches the threshold while its grade — as it is
today — meets the criterion. Outcomes come from the lifecycle history: an MQL that later
moved to SQL, opportunity or customer was a good one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from tsunagari.crm.choices import LifecycleStage
from tsunagari.crm.models import LifecycleTransition
from tsunagari.scoring.engine import score_rule
from tsunagari.scoring.models import BacktestRow, BehaviourRule, ContactScore
from tsunagari.scoring.mql import GRADES_AT_LEAST

OUTCOMES = (LifecycleStage.SQL, LifecycleStage.OPPORTUNITY, LifecycleStage.CUSTOMER)


@dataclass
class Result:
    days: int
    threshold: int
    min_grade: str
    rules: list[str]
    mqls: dict[int, dt.datetime] = field(default_factory=dict)  # contact → when it crossed
    reached: dict[str, int] = field(default_factory=dict)  # outcome stage → MQLs reaching it
    positives: int = 0  # contacts that reached SQL or beyond in the window
    true_positives: int = 0

    @property
    def mql_count(self) -> int:
        return len(self.mqls)

    @property
    def precision(self) -> float | None:
        return round(self.true_positives / len(self.mqls) * 100, 1) if self.mqls else None

    @property
    def recall(self) -> float | None:
        return round(self.true_positives / self.positives * 100, 1) if self.positives else None


class _Rollback(Exception):
    pass


def _crossings(threshold: int, now: dt.datetime) -> dict[int, dt.datetime]:
    table = connection.ops.quote_name(BacktestRow._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    sql = (
        "SELECT contact_id, MIN(t) FROM ("
        " SELECT contact_id, t, SUM(p) OVER (PARTITION BY contact_id ORDER BY t, ord, n"
        "  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM ("
        f"  SELECT contact_id, occurred_at AS t, points AS p, 1 AS ord, id AS n FROM {table}"
        "  UNION ALL"
        f"  SELECT contact_id, expires_at AS t, -points AS p, 0 AS ord, id AS n FROM {table}"
        "   WHERE expires_at IS NOT NULL AND expires_at <= %s"
        " ) e"
        ") r WHERE running >= %s GROUP BY contact_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [stamp, threshold])
        rows = cursor.fetchall()
    out = {}
    for contact_id, when in rows:
        if isinstance(when, str):  # SQLite returns the aggregate of a subquery as text
            when = dt.datetime.fromisoformat(when)
        if timezone.is_naive(when):
            when = timezone.make_aware(when, dt.UTC)
        out[contact_id] = when
    return out


def run(
    *,
    rules: list[BehaviourRule],
    days: int,
    threshold: int,
    min_grade: str = "",
    now: dt.datetime | None = None,
) -> Result:
    """Back-test `rules` over the last `days` with this threshold; nothing is written."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=days)
    result = Result(days, threshold, min_grade, [r.name for r in rules])
    try:
        with transaction.atomic():
            for rule in rules:
                score_rule(rule, since=since, until=now, into=BacktestRow)
            crossings = _crossings(threshold, now)
            if min_grade:
                allowed = set(
                    ContactScore.objects.filter(
                        contact_id__in=list(crossings), grade__in=GRADES_AT_LEAST[min_grade]
                    ).values_list("contact_id", flat=True)
                )
                crossings = {k: v for k, v in crossings.items() if k in allowed}
            result.mqls = crossings
            raise _Rollback
    except _Rollback:
        pass
    _outcomes(result, since)
    return result


def _outcomes(result: Result, since: dt.datetime) -> None:
    transitions = LifecycleTransition.objects.filter(
        to_stage__in=OUTCOMES, occurred_at__gte=since
    ).values_list("contact_id", "to_stage", "occurred_at")
    reached: dict[str, set[int]] = {stage: set() for stage in OUTCOMES}
    positives: set[int] = set()
    good: set[int] = set()
    for contact_id, stage, when in transitions.iterator():
        positives.add(contact_id)
        crossed = result.mqls.get(contact_id)
        if crossed is not None and when >= crossed:
            reached[stage].add(contact_id)
            good.add(contact_id)
    result.reached = {stage: len(ids) for stage, ids in reached.items()}
    result.positives = len(positives)
    result.true_positives = len(good)
