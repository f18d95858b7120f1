"""The scoring engine: behaviour rules → ledger rows → ContactScore.behaviour, all set-based.

One function builds, for a rule, the SELECT of the ledger rows its touches earn. Live scoring
runs it over a batch of the stream (an id range) and counts a cap against rows already in the
ledger; a recompute runs it over the whole stream up to the scoring cursor. Both insert with
INSERT … SELECT, so the database does the work and incremental scoring and a recompute agree
exactly: caps count touches in stream (id) order within fixed calendar periods, and decay is
written as expiring rows at scoring time (models.LedgerEntry), so "the score is the sum of
the live rows" needs no job to rewrite history — the sweep only refreshes the cached sum when
rows expire.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import Window
from django.db.models.functions import Coalesce, RowNumber, Trunc
from django.utils import timezone

from tsunagari.crm.models import Contact
from tsunagari.scoring.conditions import check_regex, from_stored, glob_to_regex, to_q
from tsunagari.scoring.models import (
    BehaviourRule,
    CapPeriod,
    ContactScore,
    Decay,
    LedgerEntry,
    ScoreReset,
)
from tsunagari.tracking.models import ConsumerCursor, Touchpoint

CONSUMER = "scoring"
# The cap period of "ever": every touch falls in the same one.
EVER = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Chunk:
    """One ledger row a scored touch writes: its points and when it stops counting."""

    step: int
    points: int
    expires_after: dt.timedelta | None


def chunks(points: int, decay: str, days: int | None) -> list[Chunk]:
    """How `points` are written: one row, one expiring row, or halving rows (half-life)."""
    if decay == Decay.EXPIRE and days:
        return [Chunk(0, points, dt.timedelta(days=days))]
    if decay == Decay.HALF_LIFE and days:
        sign, value = (1 if points >= 0 else -1), abs(points)
        out, k = [], 0
        while value:
            half = value // 2
            out.append(Chunk(k, sign * (value - half), dt.timedelta(days=days * (k + 1))))
            value, k = half, k + 1
        return out
    return [Chunk(0, points, None)]


def rule_touches(rule: BehaviourRule) -> QuerySet[Touchpoint]:
    """The touchpoints a rule matches, whenever they happened (scoring adds the id range)."""
    return Touchpoint.objects.filter(rule_q(rule))


def rule_q(rule: BehaviourRule) -> Q:
    """What a touchpoint must be to score by `rule` (conditions on the touchpoint row only)."""
    q = Q(contact__isnull=False, is_bot=False)
    if rule.touch_type:
        q &= Q(type=rule.touch_type)
    if rule.url_pattern:
        q &= _url_q(rule.url_pattern, rule.url_match)
    if rule.content_asset:
        q &= Q(content_asset=rule.content_asset)
    if rule.conditions:
        q &= to_q(from_stored(rule.conditions, target="touch"), target="touch")
    if rule.effective_from:
        q &= Q(occurred_at__gte=rule.effective_from)
    if rule.effective_until:
        q &= Q(occurred_at__lt=rule.effective_until)
    # Opens and clicks by mail scanners and privacy proxies are not a person's interest.
    return q & (Q(properties__machine__isnull=True) | Q(properties__machine=False))


def _url_q(pattern: str, kind: str) -> Q:
    """A pattern starting with / matches the path, anything else the full URL.

    A wildcard pattern without wildcards is an exact match, and one with a literal prefix is
    narrowed by that prefix first, so the regular expression runs only on candidate rows.
    """
    column = "path" if pattern.startswith("/") else "url"
    if kind != "glob":
        return Q(**{f"{column}__regex": check_regex(pattern)})
    wild = [i for i, char in enumerate(pattern) if char in "*?"]
    if not wild:
        return Q(**{column: pattern})
    q = Q(**{f"{column}__regex": glob_to_regex(pattern)})
    if wild[0] > 0:
        q &= Q(**{f"{column}__startswith": pattern[: wild[0]]})
    return q


def _period(rule: BehaviourRule):
    if rule.cap_count is None or rule.cap_period == CapPeriod.EVER:
        return Value(EVER, output_field=DateTimeField())
    return Trunc("occurred_at", rule.cap_period, output_field=DateTimeField())


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _execute(statement: str, params: Sequence) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return max(cursor.rowcount, 0)


def _insert_sql(model, columns: Sequence[str], qs: QuerySet) -> tuple[str, list]:
    """INSERT INTO model (columns) <qs's SELECT> ON CONFLICT DO NOTHING, and its parameters."""
    sql, params = qs.query.sql_with_params()
    # "WHERE 1 = 1" keeps SQLite's parser from reading ON CONFLICT as part of a join.
    statement = (
        f"INSERT INTO {_quote(model._meta.db_table)} ({_column_list(model, columns)}) "
        f"SELECT * FROM ({sql}) AS src WHERE 1 = 1 ON CONFLICT DO NOTHING"
    )
    return statement, list(params)


def _column_list(model, columns: Sequence[str]) -> str:
    return ", ".join(_quote(model._meta.get_field(c).column) for c in columns)


def _insert_select(model, columns: Sequence[str], qs: QuerySet) -> int:
    return _execute(*_insert_sql(model, columns, qs))


LEDGER_COLUMNS = (
    "contact",
    "rule",
    "touchpoint",
    "kind",
    "step",
    "points",
    "occurred_at",
    "expires_at",
    "period_start",
)
# The annotations each ledger-writing query selects, in LEDGER_COLUMNS order.
LEDGER_SELECT = (
    "s_contact",
    "s_rule",
    "s_touch",
    "s_kind",
    "s_step",
    "s_points",
    "s_occurred",
    "s_expires",
    "s_period",
)
# What the SELECT of a rule's scored touches gives (step 0, caps applied).
TOUCH_SELECT = ("s_contact", "s_touch", "s_occurred", "s_period")


def _plus_days(column: str, days: str) -> str:
    """SQL for the timestamp `column` + `days` whole days, as Django would store it.

    SQLite keeps datetimes as text: the date part moves and the time part stays as written
    (no rounding of microseconds, unlike SQLite's datetime()); on PostgreSQL (sessions in UTC)
    it is interval arithmetic.
    """
    if connection.vendor == "sqlite":
        return f"(date(substr({column}, 1, 10), '+' || {days} || ' days') || substr({column}, 11))"
    return f"({column} + {days} * INTERVAL '1 day')"


# Live scoring runs the same statement for every batch with another id range: it is built
# once per rule set (as it is now) with these stand-ins for the bounds, which are replaced in
# the parameters at each run. Building a query costs more than running it on a batch.
_AFTER, _UPTO = 9_000_000_000_000_000_001, 9_000_000_000_000_000_002
_compiled: dict[tuple, tuple[str, list]] = {}


def _rule_key(rule: BehaviourRule) -> tuple:
    return (
        connection.alias,
        connection.vendor,
        *(repr(getattr(rule, f.attname)) for f in BehaviourRule._meta.concrete_fields),
    )


def score_rule(
    rule: BehaviourRule,
    *,
    after_id: int = 0,
    upto_id: int | None = None,
    contact_ids=None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    into=LedgerEntry,
    on_conflict: bool = True,
) -> int:
    """Write the ledger rows `rule` earns from touches with after_id < id ≤ upto_id.

    Touches before `after_id` are assumed scored already: a cap counts their rows. A back-test
    writes into its scratch table (`into`) the touches that happened in [since, until]. A full
    rebuild into an empty ledger passes on_conflict=False (nothing can conflict).
    """
    batch = (
        after_id > 0
        and upto_id is not None
        and contact_ids is None
        and since is None
        and until is None
        and into is LedgerEntry
        and on_conflict
    )
    if not batch:
        return _execute(
            *_statement(rule, after_id, upto_id, contact_ids, since, until, into, on_conflict)
        )
    return len(_score_range([rule], after_id, upto_id))


def _score_range(rules: Sequence[BehaviourRule], after_id: int, upto_id: int) -> list[int]:
    """Live scoring of the stream range (after_id, upto_id] by these rules, in one statement.

    Returns the contacts of the rows written (one per row). Each rule's cap counts its own
    earlier rows only, so the rules' SELECTs are independent and go in one INSERT.
    """
    if not rules:
        return []
    key = tuple(_rule_key(rule) for rule in rules)
    if key not in _compiled:
        if len(_compiled) > 500:
            _compiled.clear()
        selects = [_select(rule, _AFTER, _UPTO, None, None, None) for rule in rules]
        _compiled[key] = (
            f"{_insert_into(LedgerEntry)} {' UNION ALL '.join(sql for sql, _ in selects)} "
            f"ON CONFLICT DO NOTHING RETURNING {_quote('contact_id')}",
            [p for _, params in selects for p in params],
        )
    sql, params = _compiled[key]
    bounds = {_AFTER: after_id, _UPTO: upto_id}
    with connection.cursor() as cursor:
        cursor.execute(sql, [bounds.get(p, p) if isinstance(p, int) else p for p in params])
        return [row[0] for row in cursor.fetchall()]


def _touch_query(rule, after_id, upto_id, contact_ids, since, until) -> QuerySet:
    """The SELECT (TOUCH_SELECT) of the touches that score step 0 of `rule`, caps applied.

    A cap counts matching touches per contact and period in stream (id) order; with
    after_id > 0, the rows this rule already wrote in the ledger for the period count first.
    """
    touches = rule_touches(rule).filter(pk__gt=after_id)
    if since is not None:
        touches = touches.filter(occurred_at__gte=since)
    if until is not None:
        touches = touches.filter(occurred_at__lte=until)
    if upto_id is not None:
        touches = touches.filter(pk__lte=upto_id)
    if contact_ids is not None:
        touches = touches.filter(contact_id__in=contact_ids)
    qs = touches.annotate(
        s_contact=F("contact_id"),
        s_touch=F("id"),
        s_occurred=F("occurred_at"),
        s_period=_period(rule),
    )
    if rule.cap_count is not None:
        qs = qs.annotate(
            s_rank=Window(
                RowNumber(), partition_by=[F("contact_id"), _period(rule)], order_by=F("id").asc()
            )
        )
        if after_id:
            earlier = (
                LedgerEntry.objects.filter(
                    rule=rule,
                    contact=OuterRef("contact_id"),
                    period_start=OuterRef("s_period"),
                    step=0,
                    kind=LedgerEntry.Kind.TOUCH,
                )
                .order_by()
                .values("rule")
                .annotate(n=Count("*"))
                .values("n")
            )
            qs = qs.annotate(s_before=Coalesce(Subquery(earlier), 0))
            qs = qs.annotate(s_used=F("s_rank") + F("s_before")).filter(s_used__lte=rule.cap_count)
        else:
            qs = qs.filter(s_rank__lte=rule.cap_count)
    return qs.order_by().values_list(*TOUCH_SELECT)


def _statement(
    rule, after_id, upto_id, contact_ids, since, until, into, on_conflict
) -> tuple[str, list]:
    """One INSERT … SELECT writing every row of the rule: each scored touch × decay step."""
    sql, params = _select(rule, after_id, upto_id, contact_ids, since, until)
    statement = f"{_insert_into(into)} {sql}"
    if on_conflict:
        statement += " ON CONFLICT DO NOTHING"
    return statement, params


def _insert_into(model) -> str:
    return f"INSERT INTO {_quote(model._meta.db_table)} ({_column_list(model, LEDGER_COLUMNS)})"


def _select(rule, after_id, upto_id, contact_ids, since, until) -> tuple[str, list]:
    """The SELECT of a rule's ledger rows (LEDGER_COLUMNS): each scored touch × decay step.

    The decay steps are a small constant table joined to the scored touches, so the
    touchpoints are read once per rule whatever the decay.
    """
    sql, params = _touch_query(
        rule, after_id, upto_id, contact_ids, since, until
    ).query.sql_with_params()
    parts = chunks(rule.points, rule.decay, rule.decay_days)
    kind = LedgerEntry.Kind.TOUCH.value
    if len(parts) == 1 and parts[0].expires_after is None:
        typed_null = (
            "NULL" if connection.vendor == "sqlite" else "CAST(NULL AS timestamp with time zone)"
        )
        values = f"0, {int(parts[0].points)}, src.s_occurred, {typed_null}"
        steps = ""
    else:
        values = f"st.step, st.points, src.s_occurred, {_plus_days('src.s_occurred', 'st.days')}"
        steps = (
            " CROSS JOIN ("
            + " UNION ALL ".join(
                f"SELECT {int(p.step)} AS step, {int(p.points)} AS points, "
                f"{int(p.expires_after.days)} AS days"
                for p in parts
            )
            + ") AS st"
        )
    # "WHERE 1 = 1" keeps SQLite's parser from reading ON CONFLICT as part of a join.
    select = (
        f"SELECT src.s_contact, {int(rule.pk)}, src.s_touch, '{kind}', {values}, src.s_period "
        f"FROM ({sql}) AS src{steps} WHERE 1 = 1"
    )
    return select, list(params)


def _write_all_rules(rules: Sequence[BehaviourRule], position: int) -> int:
    """Write every rule's rows into the (empty) ledger; rows written.

    On PostgreSQL one statement reads the touchpoints once: the touches any rule matches, with
    the columns the rules read, are taken into a CTE named like the touchpoint table, which
    each rule's query (the same SQL as live scoring) then reads instead of the table. SQLite
    has no such shadowing: one statement per rule.
    """
    if not rules:
        return 0
    if connection.vendor != "postgresql":
        return sum(score_rule(rule, upto_id=position, on_conflict=False) for rule in rules)
    selects = [_select(rule, 0, position, None, None, None) for rule in rules]
    table = Touchpoint._meta.db_table
    read = re.compile(re.escape(_quote(table)) + r'\."(\w+)"')
    columns = {"id"} | {c for sql, _ in selects for c in read.findall(sql)}
    candidates = Touchpoint.objects.filter(pk__lte=position).filter(
        functools.reduce(operator.or_, (rule_q(rule) for rule in rules))
    )
    attnames = {f.column: f.attname for f in Touchpoint._meta.concrete_fields}
    body, body_params = (
        candidates.order_by()
        .values(*(attnames[c] for c in sorted(columns)))
        .query.sql_with_params()
    )
    statement = (
        f"WITH {_quote(table)} AS MATERIALIZED ({body}) {_insert_into(LedgerEntry)} "
        + " UNION ALL ".join(sql for sql, _ in selects)
    )
    params = [*body_params, *(p for _, ps in selects for p in ps)]
    return _execute(statement, params)


def live(now: dt.datetime) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def refresh_behaviour(*, contact_ids: Iterable[int] | None = None, now=None) -> None:
    """ContactScore.behaviour := sum of live ledger rows, for these contacts (None: everyone)."""
    now = now or timezone.now()
    ids = None if contact_ids is None else sorted(set(contact_ids))
    if ids is not None and not ids:
        return
    table = _quote(LedgerEntry._meta.db_table)
    scores = _quote(ContactScore._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    # A score that did not change keeps its row as it is (and its updated_at, which segments
    # read to find the scores that changed).
    upsert = (
        "ON CONFLICT (contact_id) DO UPDATE SET behaviour = excluded.behaviour, "
        f"updated_at = excluded.updated_at WHERE {scores}.behaviour <> excluded.behaviour"
    )
    with connection.cursor() as cursor:
        if ids is not None:
            # Some contacts (a batch): one row each, 0 when nothing counts any more; reached
            # through the contacts' primary key, so the cost follows the batch, not the table.
            contacts = _quote(Contact._meta.db_table)
            marks = ", ".join(["%s"] * len(ids))
            # The sum is a subquery per contact (the ledger's contact index), not a join the
            # planner could turn into a scan of every live row of the ledger.
            cursor.execute(
                f"INSERT INTO {scores} (contact_id, behaviour, fit, grade, updated_at) "
                "SELECT c.id, COALESCE((SELECT SUM(CASE WHEN l.expires_at IS NULL "
                f"OR l.expires_at > %s THEN l.points ELSE 0 END) FROM {table} l "
                "WHERE l.contact_id = c.id), 0), "
                f"0, '', %s FROM {contacts} c WHERE c.id IN ({marks}) {upsert}",
                [stamp, stamp, *ids],
            )
            return
        cursor.execute(
            f"INSERT INTO {scores} (contact_id, behaviour, fit, grade, updated_at) "
            f"SELECT contact_id, SUM(points), 0, '', %s FROM {table} "
            f"WHERE (expires_at IS NULL OR expires_at > %s) GROUP BY contact_id "
            # In contact order: the unique index on contact_id is then filled page by page.
            f"ORDER BY contact_id {upsert}",
            [stamp, stamp],
        )
        # Everyone: those left without a live row drop to 0.
        cursor.execute(
            f"UPDATE {scores} SET behaviour = 0, updated_at = %s WHERE behaviour <> 0 AND "
            f"NOT EXISTS (SELECT 1 FROM {table} l WHERE l.contact_id = {scores}.contact_id "
            "AND (l.expires_at IS NULL OR l.expires_at > %s))",
            [stamp, stamp],
        )


def active_rules(types: set[str] | None = None) -> list[BehaviourRule]:
    rules = list(BehaviourRule.objects.filter(is_active=True).order_by("pk"))
    if types is None:
        return rules
    return [r for r in rules if not r.touch_type or r.touch_type in types]


def score_batch(batch: Sequence, *, now=None) -> set[int]:
    """Score a batch of the stream (consecutive ids); the contacts whose score may have changed.

    `batch` holds the touches in id order (models or rows with pk and type). Only contacts
    that earned ledger rows are refreshed: a touch no rule scores changes nothing.
    """
    if not batch:
        return set()
    after_id, upto_id = batch[0].pk - 1, batch[-1].pk
    types = {t.type for t in batch}
    contacts = set(_score_range(active_rules(types), after_id, upto_id))
    refresh_behaviour(contact_ids=contacts, now=now)
    return contacts


def scoring_position() -> int:
    """The last touchpoint id live scoring has handled (recomputes stop there)."""
    return (
        ConsumerCursor.objects.filter(name=CONSUMER).values_list("position", flat=True).first() or 0
    )


def lock_scoring_cursor() -> int:
    """Hold the scoring cursor for this transaction: live scoring waits, then goes on after it."""
    ConsumerCursor.objects.get_or_create(name=CONSUMER)
    return ConsumerCursor.objects.select_for_update().get(name=CONSUMER).position


def rederive_resets(*, rule_ids: Iterable[int] | None = None, contact_ids=None) -> int:
    """Write the negating rows of every reset (for these rules/contacts) from the touch rows.

    A reset covers the touches after the previous reset of the contact up to its own position,
    and negates the rows that were still live when it happened, with the same expiry.
    """
    resets = ScoreReset.objects.all()
    if contact_ids is not None:
        resets = resets.filter(contact_id__in=contact_ids)
    written = 0
    previous: dict[int, int] = {}
    for reset in resets.order_by("contact_id", "position", "pk"):
        since = previous.get(reset.contact_id, 0)
        previous[reset.contact_id] = reset.position
        rows = LedgerEntry.objects.filter(
            contact_id=reset.contact_id,
            kind=LedgerEntry.Kind.TOUCH,
            touchpoint_id__gt=since,
            touchpoint_id__lte=reset.position,
        ).filter(live(reset.at))
        if rule_ids is not None:
            rows = rows.filter(rule_id__in=list(rule_ids))
        qs = (
            rows.annotate(
                s_contact=F("contact_id"),
                s_rule=F("rule_id"),
                s_touch=F("touchpoint_id"),
                s_kind=Value(LedgerEntry.Kind.RESET),
                s_step=F("step"),
                s_points=-F("points"),
                s_occurred=Value(reset.at, output_field=DateTimeField()),
                s_expires=F("expires_at"),
                s_period=F("period_start"),
            )
            .order_by()
            .values_list(*LEDGER_SELECT)
        )
        written += _insert_select(LedgerEntry, LEDGER_COLUMNS, qs)
    return written


def recompute(
    *, rule_ids: Iterable[int] | None = None, contact_ids=None, upto_id: int | None = None, now=None
) -> int:
    """Rebuild the ledger from the touchpoints (for some rules or contacts, or all); rows written.

    Runs in the caller's transaction with the scoring cursor held, so live scoring neither
    races it nor scores a touch twice. Inactive rules lose their rows; every live rule is
    rebuilt up to the cursor's position.
    """
    position = lock_scoring_cursor()
    if upto_id is not None:  # the consumer, mid-batch: its cursor moves to upto_id on commit
        position = max(position, upto_id)
    if rule_ids is None and contact_ids is None:
        written = _rebuild_all(position)
        written += rederive_resets()
        with _indexes_set_aside(ContactScore):
            refresh_behaviour(now=now)
        return written
    doomed = LedgerEntry.objects.all()
    if rule_ids is not None:
        rule_ids = list(rule_ids)
        doomed = doomed.filter(rule_id__in=rule_ids)
    if contact_ids is not None:
        contact_ids = list(contact_ids)
        doomed = doomed.filter(contact_id__in=contact_ids)
    doomed._raw_delete(doomed.db)
    rules = active_rules()
    if rule_ids is not None:
        rules = [r for r in rules if r.pk in rule_ids]
    written = 0
    for rule in rules:
        written += score_rule(rule, upto_id=position, contact_ids=contact_ids)
    written += rederive_resets(rule_ids=rule_ids, contact_ids=contact_ids)
    refresh_behaviour(contact_ids=contact_ids, now=now)
    return written


@contextlib.contextmanager
def _indexes_set_aside(model) -> Iterator[None]:
    """On PostgreSQL, drop the model's Meta indexes and build them again afterwards.

    For writes to most of a table in one transaction (a full recompute): building an index
    once over the result is several times cheaper than maintaining it row by row. The table
    is locked until commit; a crash leaves the indexes as they were (transactional DDL).
    """
    if connection.vendor != "postgresql":
        yield
        return
    editor = connection.schema_editor()
    with connection.cursor() as cursor:
        for index in model._meta.indexes:
            cursor.execute(f"DROP INDEX {_quote(index.name)}")
    yield
    with connection.cursor() as cursor:
        for index in model._meta.indexes:
            cursor.execute(str(index.create_sql(model, editor)))


def _rebuild_all(position: int) -> int:
    """Empty the ledger and write it again from the touchpoints; rows written.

    The secondary indexes and the once-per-touch constraint are dropped first and built again
    at the end: sorting millions of rows into an index once is several times cheaper than
    inserting them one by one, and an empty ledger cannot conflict. All of it is in the
    caller's transaction (both databases have transactional DDL): a crash leaves the old
    ledger and its indexes as they were. On PostgreSQL the ledger is locked for the duration,
    so score explanations wait for the rebuild to commit.
    """
    table = _quote(LedgerEntry._meta.db_table)
    editor = connection.schema_editor()
    indexes = LedgerEntry._meta.indexes
    # SQLite keeps the unique constraint inside the table definition: it stays.
    constraints = LedgerEntry._meta.constraints if connection.vendor == "postgresql" else []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The rules' candidate touches (a CTE) and the caps' ranking stay in memory, not in
            # temporary files: 1M contacts' candidates take about 150 MB.
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cursor.execute(f"TRUNCATE {table}")
        else:
            cursor.execute(f"DELETE FROM {table}")
        for index in indexes:
            cursor.execute(f"DROP INDEX {_quote(index.name)}")
        for constraint in constraints:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_quote(constraint.name)}")
    written = _write_all_rules(active_rules(), position)
    with connection.cursor() as cursor:
        for constraint in constraints:
            cursor.execute(str(constraint.create_sql(LedgerEntry, editor)))
        for index in indexes:
            cursor.execute(str(index.create_sql(LedgerEntry, editor)))
        if connection.vendor == "postgresql":
            # Statistics of the new contents: without them the planner takes a contact's rows
            # for thousands, prices the next batches' statements high and compiles them (JIT)
            # for longer than they run.
            cursor.execute(f"ANALYZE {table}")
    return written


def reset_contact(*, contact_id: int, actor=None, reason: str = "", now=None) -> ScoreReset:
    """Bring a contact's behaviour score to 0 through the ledger (its history stays)."""
    now = now or timezone.now()
    position = lock_scoring_cursor()
    previous = (
        ScoreReset.objects.filter(contact_id=contact_id)
        .order_by("-position")
        .values_list("position", flat=True)
        .first()
        or 0
    )
    reset = ScoreReset.objects.create(
        contact_id=contact_id, at=now, position=max(position, previous), actor=actor, reason=reason
    )
    _write_reset(reset, previous)
    refresh_behaviour(contact_ids=[contact_id], now=now)
    return reset


def _write_reset(reset: ScoreReset, since: int) -> int:
    rows = LedgerEntry.objects.filter(
        contact_id=reset.contact_id,
        kind=LedgerEntry.Kind.TOUCH,
        touchpoint_id__gt=since,
        touchpoint_id__lte=reset.position,
    ).filter(live(reset.at))
    created = [
        LedgerEntry(
            contact_id=r.contact_id,
            rule_id=r.rule_id,
            touchpoint_id=r.touchpoint_id,
            kind=LedgerEntry.Kind.RESET,
            step=r.step,
            points=-r.points,
            occurred_at=reset.at,
            expires_at=r.expires_at,
            period_start=r.period_start,
        )
        for r in rows
    ]
    LedgerEntry.objects.bulk_create(created, batch_size=1000)
    return len(created)


def sweep_expired(*, since: dt.datetime | None, now: dt.datetime) -> set[int]:
    """Refresh the contacts whose rows expired in (since, now]; returns them."""
    expired = LedgerEntry.objects.filter(expires_at__lte=now)
    if since is not None:
        expired = expired.filter(expires_at__gt=since)
    contacts = set(expired.order_by().values_list("contact_id", flat=True).distinct())
    ids = sorted(contacts)
    for start in range(0, len(ids), 1000):
        refresh_behaviour(contact_ids=ids[start : start + 1000], now=now)
    return contacts
