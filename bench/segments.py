"""`tsunagari bench segments`: counting and materialising six realistic segments at scale.

On a throw-away copy of the generated data set (1M contacts, ~10M touchpoints by default), each
definition below is compiled by the segment compiler and

- counted (what the builder's live count does: `compile_filter(...).count()` under
  `time_limit`, with its settings), and
- materialised from empty (`segment_refresh`: one INSERT … SELECT of the members, the daily
  size row), the real code path of a refresh, three times in turn with the baseline (the rows
  removed in between, untimed), the median kept;
- refreshed with nothing changed (`segment_refresh` again: the UPDATE closing exits and the
  INSERT … SELECT … WHERE NOT EXISTS of entries, both finding nothing);

beside a hand-written SQL query for the same definition, run in the same process on the same
data: its COUNT(*), its INSERT … SELECT into the membership table, and the same UPDATE and
INSERT written by hand for the refresh. The member counts must agree, so both sides write the
same membership rows. `ratio` is ours over the hand-written query for the count;
`materialize_ratio` and `refresh_ratio` the same for materialising and refreshing; `max_ratio`
the worst of the count and materialisation ratios (the issue's targets).

"Now" is the data set's own end (its latest page view), so "the last 30 days" has data.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from bench.common import BenchError, database_version, log, prepared_dataset
from tsunagari.segments import services
from tsunagari.segments.models import Membership, Segment, SegmentSize
from tsunagari.tracking.models import Touchpoint

DEFAULT_CONTACTS = 1_000_000
REPEAT = 3
MATERIALIZE_REPEAT = 3
COUNT_TIMEOUT_S = 120.0

EXAMPLE = {
    "and": [
        {"field": "account.industry", "op": "eq", "value": "manufacturing"},
        {"field": "account.employee_count", "op": "gte", "value": 300},
        {"field": "contact.department", "op": "contains", "value": "情報システム"},
        {
            "activity": "page_view",
            "where": [
                {"field": "path", "op": "starts_with", "value": ["/pricing", "/case-studies"]}
            ],
            "count": {"op": "at_least", "value": 3},
            "when": {"last_days": 30},
        },
        {"field": "contact.email_consent", "op": "eq", "value": "opt_in"},
        {"field": "contact.lifecycle_stage", "op": "neq", "value": "sql"},
    ]
}


def _definitions(ids: dict[str, int]) -> list[tuple[str, str, dict]]:
    """(name, what it is, definition); later ones may refer to earlier segments by name."""
    return [
        (
            "field",
            "a simple field filter: opted in, lead or MQL",
            {
                "and": [
                    {"field": "contact.email_consent", "op": "eq", "value": "opt_in"},
                    {"field": "contact.lifecycle_stage", "op": "in", "value": ["lead", "mql"]},
                ]
            },
        ),
        (
            "behaviour_window",
            "pricing or case-study pages at least 3 times in the last 30 days",
            EXAMPLE["and"][3],
        ),
        (
            "nested_or_accounts",
            "情報 departments of large manufacturers, tier 1-2 or target accounts",
            {
                "and": [
                    {"field": "contact.department", "op": "contains", "value": "情報"},
                    {
                        "or": [
                            {
                                "and": [
                                    {"field": "account.industry", "op": "eq",
                                     "value": "manufacturing"},
                                    {"field": "account.employee_count", "op": "gte", "value": 300},
                                ]
                            },
                            {"field": "account.abm_tier", "op": "in", "value": [1, 2]},
                            {"field": "account.is_target", "op": "is_true"},
                        ]
                    },
                ]
            },
        ),
        (
            "negated_behaviour",
            "opted in and has not opened an email in 90 days (machine opens aside)",
            {
                "and": [
                    {"field": "contact.email_consent", "op": "eq", "value": "opt_in"},
                    {"not": {"activity": "email_opened", "when": {"last_days": 90}}},
                ]
            },
        ),
        (
            "segment_of_segment",
            "in behaviour_window and not in field",
            {
                "and": [
                    {"in_segment": ids.get("behaviour_window", 0)},
                    {"not": {"in_segment": ids.get("field", 0)}},
                ]
            },
        ),
        ("issue_example", "the issue's example segment", EXAMPLE),
    ]  # fmt: skip


def _baselines() -> dict[str, tuple[str, list]]:
    """Hand-written SQL selecting the same contacts' ids, as a DBA would write it."""
    pg = connection.vendor == "postgresql"
    # "contains" and "starts with" ignore case: ILIKE on PostgreSQL, LIKE on SQLite (which
    # already ignores the case of Latin letters), as a DBA would write the same definition.
    like = "ILIKE" if pg else "LIKE"
    live = "c.deleted_at IS NULL"
    pricing = (
        "SELECT contact_id FROM tracking_touchpoint WHERE type = 'page_view' "
        "AND occurred_at >= %s AND contact_id IS NOT NULL "
        f"AND (path {like} %s OR path {like} %s) GROUP BY contact_id HAVING COUNT(*) >= 3"
    )
    field = "c.email_consent = 'opt_in' AND c.lifecycle_stage IN ('lead', 'mql')"
    machine = (
        "COALESCE((t.properties ->> 'machine')::boolean, false)"
        if pg
        else "COALESCE(json_extract(t.properties, '$.machine'), 0)"
    )
    not_opened = (
        "NOT EXISTS (SELECT 1 FROM tracking_touchpoint t WHERE t.contact_id = c.id "
        f"AND t.type = 'email_opened' AND t.occurred_at >= %s AND NOT {machine})"
        if pg
        else "c.id NOT IN (SELECT t.contact_id FROM tracking_touchpoint t "
        f"WHERE t.type = 'email_opened' AND t.occurred_at >= %s AND t.contact_id IS NOT NULL "
        f"AND NOT {machine})"
    )
    patterns = ["/pricing%", "/case-studies%"]
    return {
        "field": (f"SELECT c.id FROM crm_contact c WHERE {live} AND {field}", []),
        "behaviour_window": (
            f"SELECT c.id FROM crm_contact c WHERE {live} AND c.id IN ({pricing})",
            ["@30", *patterns],
        ),
        "nested_or_accounts": (
            "SELECT c.id FROM crm_contact c LEFT JOIN crm_account a ON a.id = c.account_id "
            f"WHERE {live} AND c.department {like} %s AND ((a.industry = 'manufacturing' "
            "AND a.employee_count >= 300) OR a.abm_tier IN (1, 2) OR a.is_target)",
            ["%情報%"],
        ),
        "negated_behaviour": (
            f"SELECT c.id FROM crm_contact c WHERE {live} AND c.email_consent = 'opt_in' "
            f"AND {not_opened}",
            ["@90"],
        ),
        "segment_of_segment": (
            f"SELECT c.id FROM crm_contact c WHERE {live} AND c.id IN ({pricing}) "
            f"AND NOT ({field})",
            ["@30", *patterns],
        ),
        "issue_example": (
            "SELECT c.id FROM crm_contact c JOIN crm_account a ON a.id = c.account_id "
            f"WHERE {live} AND a.industry = 'manufacturing' AND a.employee_count >= 300 "
            f"AND c.department {like} %s AND c.email_consent = 'opt_in' "
            f"AND c.lifecycle_stage <> 'sql' AND c.id IN ({pricing})",
            ["%情報システム%", "@30", *patterns],
        ),
    }


def _params(params: list, now) -> list:
    out = []
    for p in params:
        if isinstance(p, str) and p.startswith("@"):
            cutoff = now - timezone.timedelta(days=int(p[1:]))
            out.append(connection.ops.adapt_datetimefield_value(cutoff))
        else:
            out.append(p)
    return out


def _median_seconds(call: Callable[[], object]) -> tuple[float, object]:
    result = call()  # warm-up: caches, statistics, the plan
    samples = []
    for _ in range(REPEAT):
        began = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples), result


def _session_settings(cursor) -> None:
    """The settings the segment code runs its statements with, for the hand-written SQL too.

    PostgreSQL: no JIT (its compilation cost more than it saved here) and work_mem enough to
    hash a million ids, so that the ratio compares the queries, not the settings.
    """
    if connection.vendor == "postgresql":
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '256MB'")


def _count(qs) -> int:
    """The builder's live count: under its time limit (here a generous one) and settings."""
    with services.time_limit(COUNT_TIMEOUT_S):
        return qs.count()


def _sql_count(sql: str, params: list) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) b", params)
        return cursor.fetchone()[0]


def _sql_materialize(segment: Segment, sql: str, params: list, now) -> int:
    stamp = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic(), connection.cursor() as cursor:
        _session_settings(cursor)
        cursor.execute(
            "INSERT INTO segments_membership (segment_id, contact_id, entered_at, source) "
            f"SELECT %s, b.id, %s, 'baseline' FROM ({sql}) b",
            [segment.pk, stamp, *params],
        )
        return cursor.rowcount


def _sql_refresh(segment: Segment, sql: str, params: list, now) -> int:
    """A refresh by hand: close the stays that no longer match, open stays for newcomers."""
    stamp = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic(), connection.cursor() as cursor:
        _session_settings(cursor)
        cursor.execute(
            "UPDATE segments_membership SET exited_at = %s WHERE segment_id = %s "
            f"AND exited_at IS NULL AND contact_id NOT IN (SELECT b.id FROM ({sql}) b)",
            [stamp, segment.pk, *params],
        )
        changed = cursor.rowcount
        cursor.execute(
            "INSERT INTO segments_membership (segment_id, contact_id, entered_at, source) "
            f"SELECT %s, b.id, %s, 'baseline' FROM ({sql}) b WHERE NOT EXISTS (SELECT 1 "
            "FROM segments_membership m WHERE m.segment_id = %s AND m.exited_at IS NULL "
            "AND m.contact_id = b.id)",
            [segment.pk, stamp, *params, segment.pk],
        )
        return changed + cursor.rowcount


def _empty(segment: Segment) -> None:
    """Remove a segment's stays (between two timed materialisations), untimed."""
    with transaction.atomic():
        Membership.objects.filter(segment=segment).delete()
        SegmentSize.objects.filter(segment=segment).delete()
        Segment.objects.filter(pk=segment.pk).update(member_count=0, refreshed_at=None)


def _measure(name: str, description: str, definition: dict, ids: dict, now) -> dict:
    sql, raw_params = _baselines()[name]
    params = _params(raw_params, now)
    segment = services.segment_save(
        segment=Segment(kind=Segment.Kind.DYNAMIC), name=f"bench {name}", definition=definition
    )
    ids[name] = segment.pk
    qs = services.compile_filter(definition, now=now, segment_id=segment.pk)
    count_s, count = _median_seconds(lambda: _count(qs))
    baseline_s, baseline_count = _median_seconds(lambda: _sql_count(sql, params))
    if count != baseline_count:
        raise BenchError(
            f"{name}: the segment counts {count}, the hand-written SQL {baseline_count}"
        )
    # Materialising from empty, each side MATERIALIZE_REPEAT times in turn (the rows removed
    # in between, untimed), so that neither pays alone for a cold cache or a growing table.
    scratch = Segment.objects.create(name=f"bench baseline {name}", kind=Segment.Kind.STATIC)
    ours, theirs = [], []
    for attempt in range(MATERIALIZE_REPEAT):
        if attempt:
            _empty(segment)
            _empty(scratch)
        began = time.perf_counter()
        result = services.segment_refresh(segment, now=now)
        ours.append(time.perf_counter() - began)
        began = time.perf_counter()
        inserted = _sql_materialize(scratch, sql, params, now)
        theirs.append(time.perf_counter() - began)
        if result.size != count or inserted != count:
            raise BenchError(f"{name}: materialised {result.size} and {inserted}, counted {count}")
    materialize_s, baseline_materialize_s = statistics.median(ours), statistics.median(theirs)
    # A refresh with nothing changed: the exits' UPDATE and the entries' INSERT find nothing
    # to write, so every run is the same work.
    refresh_s, refreshed = _median_seconds(lambda: services.segment_refresh(segment, now=now))
    baseline_refresh_s, changed = _median_seconds(lambda: _sql_refresh(scratch, sql, params, now))
    if refreshed.entered_count or refreshed.exited_count or changed:
        raise BenchError(f"{name}: a refresh with nothing changed changed membership")
    _empty(scratch)
    scratch.delete()
    figures = {
        "name": name,
        "description": description,
        "members": count,
        "count_s": round(count_s, 4),
        "baseline_s": round(baseline_s, 4),
        "ratio": round(count_s / baseline_s, 2) if baseline_s else 0.0,
        "materialize_s": round(materialize_s, 4),
        "baseline_materialize_s": round(baseline_materialize_s, 4),
        "materialize_ratio": round(materialize_s / baseline_materialize_s, 2)
        if baseline_materialize_s
        else 0.0,
        "refresh_s": round(refresh_s, 4),
        "baseline_refresh_s": round(baseline_refresh_s, 4),
        "refresh_ratio": round(refresh_s / baseline_refresh_s, 2) if baseline_refresh_s else 0.0,
    }
    log(
        f"{name}: {count:,} members; count {count_s:.3f} s (SQL {baseline_s:.3f} s, "
        f"×{figures['ratio']}), materialise {materialize_s:.3f} s "
        f"(SQL {baseline_materialize_s:.3f} s, ×{figures['materialize_ratio']}), "
        f"refresh {refresh_s:.3f} s (SQL {baseline_refresh_s:.3f} s, ×{figures['refresh_ratio']})"
    )
    return figures


def run(*, contacts: int, fresh: bool, database: str) -> dict:
    with prepared_dataset(contacts, fresh, writable=True) as dataset:
        now = Touchpoint.objects.filter(type="page_view").aggregate(m=Max("occurred_at"))["m"]
        if now is None:
            raise BenchError("the data set has no page views")
        log(f"data set: {dataset.name}; now = {now.isoformat()}")
        ids: dict[str, int] = {}
        rows = []
        for name, description, _draft in _definitions({}):
            # Resolved now: a later definition refers to segments measured before it.
            definition = {n: d for n, _desc, d in _definitions(ids)}[name]
            rows.append(_measure(name, description, definition, ids, now))
        seconds = sum(r["count_s"] + r["materialize_s"] for r in rows)
        baseline_seconds = sum(r["baseline_s"] + r["baseline_materialize_s"] for r in rows)
        return {
            "bench": "segments",
            "database": database,
            "database_version": database_version(),
            "n": contacts,
            "touchpoints": dataset.counts.get("touchpoints"),
            "seconds": round(seconds, 4),
            "baseline_seconds": round(baseline_seconds, 4),
            "ratio": round(seconds / baseline_seconds, 2) if baseline_seconds else 0.0,
            "segments": rows,
            "max_count_s": max(r["count_s"] for r in rows),
            "max_materialize_s": max(r["materialize_s"] for r in rows),
            "max_ratio": max(max(r["ratio"], r["materialize_ratio"]) for r in rows),
            "max_refresh_s": max(r["refresh_s"] for r in rows),
            "max_refresh_ratio": max(r["refresh_ratio"] for r in rows),
            "dataset_build_seconds": dataset.build_seconds,
            "dataset_built_now": dataset.built_now,
        }
