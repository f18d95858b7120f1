"""Writing segments: saving definitions, materialising membership, static lists, entry/exit hooks.

Membership is written set-based: one `INSERT … SELECT` for the contacts who entered and one
`UPDATE` for the stays that ended, in one transaction with the segment row locked, so a crash
leaves either the old membership or the new one, never half of each, and two refreshes of the
same segment never interleave. Hooks (journeys) run after that transaction commits.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.core.models import User
from tsunagari.crm.models import LIVE, Account, Contact
from tsunagari.segments import language
from tsunagari.segments.compiler import compile_q
from tsunagari.segments.language import DefinitionError
from tsunagari.segments.models import Membership, Segment, SegmentSize

# Counts and previews in the builder must answer or give up; so must a scheduled refresh.
PREVIEW_TIMEOUT_S = 5.0
REFRESH_TIMEOUT_S = 300.0
SAMPLE_SIZE = 10

MembershipHook = Callable[[Segment, list[int], list[int]], None]
_HOOKS: list[MembershipHook] = []


class SegmentTimeout(Exception):
    """The database gave up on a segment query after its time limit."""


@dataclass
class RefreshResult:
    """What a refresh changed. The id lists are filled only when a hook listens for them."""

    segment_id: int
    entered_count: int = 0
    exited_count: int = 0
    entered: list[int] = field(default_factory=list)
    exited: list[int] = field(default_factory=list)
    size: int = 0
    seconds: float = 0.0


# --- Hooks -----------------------------------------------------------------------------------


def register_membership_hook(fn: MembershipHook) -> None:
    """Call `fn(segment, entered_ids, exited_ids)` after every membership change commits."""
    if fn not in _HOOKS:
        _HOOKS.append(fn)


def unregister_membership_hook(fn: MembershipHook) -> None:
    if fn in _HOOKS:
        _HOOKS.remove(fn)


def _announce(segment: Segment, entered: list[int], exited: list[int]) -> None:
    if not (entered or exited) or not _HOOKS:
        return
    hooks = list(_HOOKS)

    def run() -> None:
        for hook in hooks:
            hook(segment, list(entered), list(exited))

    transaction.on_commit(run)


# --- Compiling and running with a time limit -------------------------------------------------


def compile_filter(
    definition: dict,
    *,
    now: dt.datetime | None = None,
    segment_id: int | None = None,
    restrict_ids: Iterable[int] | None = None,
    validated: bool = False,
) -> QuerySet[Contact]:
    """The live contacts `definition` selects, as one lazy queryset (DefinitionError if invalid).

    `now` fixes "the last N days" (tests, previews that must agree with a refresh);
    `segment_id` names the segment the definition belongs to, for cycle detection.
    """
    if not validated:
        language.validate(definition, segment_id=segment_id)
    q = compile_q(
        definition or {},
        now=now or timezone.now(),
        restrict_ids=restrict_ids,
        segment_id=segment_id,
    )
    qs = Contact.objects.filter(LIVE).filter(q)
    if restrict_ids is not None:
        qs = qs.filter(pk__in=list(restrict_ids))
    return qs


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Stop any query that runs longer than `seconds`; SegmentTimeout instead.

    PostgreSQL: `SET LOCAL statement_timeout` inside a transaction (it ends with it). SQLite:
    a progress handler that interrupts the statement once the deadline has passed.
    """
    with transaction.atomic():
        connection.ensure_connection()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = %s", [int(seconds * 1000)])
                # Compiling a count with JIT costs more than it saves (see _bulk_settings).
                cursor.execute("SET LOCAL jit = off")
            try:
                yield
            except OperationalError as exc:
                if "statement timeout" in str(exc) or "canceling statement" in str(exc):
                    raise SegmentTimeout(str(exc)) from exc
                raise
            return
        raw = connection.connection
        deadline = time.monotonic() + seconds
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 100_000)
        try:
            yield
        except OperationalError as exc:
            if "interrupted" in str(exc):
                raise SegmentTimeout(str(exc)) from exc
            raise
        finally:
            raw.set_progress_handler(None, 0)


@dataclass
class Preview:
    count: int
    sample: list[Contact]


def segment_preview(
    definition: dict,
    *,
    now: dt.datetime | None = None,
    segment_id: int | None = None,
    sample_size: int = SAMPLE_SIZE,
    timeout: float = PREVIEW_TIMEOUT_S,
) -> Preview:
    """Count and a sample of the contacts a definition selects, within a time limit.

    DefinitionError for an invalid definition, SegmentTimeout when the database gives up.
    """
    qs = compile_filter(definition, now=now, segment_id=segment_id)
    try:
        with time_limit(timeout):
            count = qs.count()
            sample = list(qs.select_related("account").order_by("-id")[:sample_size])
    except SegmentTimeout:
        raise
    except DatabaseError as exc:  # a timeout surfacing as another database error
        if "interrupted" in str(exc) or "timeout" in str(exc):
            raise SegmentTimeout(str(exc)) from exc
        raise
    return Preview(count=count, sample=sample)


# --- Saving segments -------------------------------------------------------------------------


def segment_save(
    *,
    segment: Segment,
    name: str,
    definition: dict | None = None,
    description: str = "",
    actor: User | None = None,
) -> Segment:
    """Create or update a segment; a dynamic one's definition is validated first.

    DefinitionError (nothing saved) when the definition is invalid.
    """
    name = name.strip()
    if not name:
        raise DefinitionError([("name", _("Enter a name."))])
    if segment.kind == Segment.Kind.DYNAMIC:
        definition = definition or {}
        language.validate(definition, segment_id=segment.pk)
        segment.definition = definition
    else:
        segment.definition = {}
    segment.name = name[:120]
    segment.description = description.strip()[:500]
    if segment.pk is None and actor is not None and actor.is_authenticated:
        segment.created_by = actor
    segment.save()
    return segment


def segment_delete(*, segment: Segment) -> None:
    """Soft-delete: the segment disappears from lists; others referring to it match nobody."""
    now = timezone.now()
    with transaction.atomic():
        Segment.objects.filter(pk=segment.pk).update(deleted_at=now)
        exited = list(
            Membership.objects.filter(segment=segment, exited_at__isnull=True).values_list(
                "contact_id", flat=True
            )
        )
        Membership.objects.filter(segment=segment, exited_at__isnull=True).update(exited_at=now)
        _announce(segment, [], exited)


def referring_segments(segment: Segment) -> list[Segment]:
    """Live segments whose definition refers to `segment` (blocks deletion, shown to people)."""
    found = []
    for other in Segment.objects.filter(kind=Segment.Kind.DYNAMIC, deleted_at__isnull=True):
        if other.pk != segment.pk and segment.pk in _references(other.definition):
            found.append(other)
    return found


def _references(definition: Any) -> set[int]:
    refs: set[int] = set()
    stack = [definition]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("in_segment"), int):
            refs.add(node["in_segment"])
        for key in ("and", "or"):
            if isinstance(node.get(key), list):
                stack.extend(node[key])
        if "not" in node:
            stack.append(node["not"])
    return refs


# --- Materialising membership ----------------------------------------------------------------


def _lock(segment: Segment) -> Segment:
    """The segment row, locked until the transaction ends (PostgreSQL; SQLite has one writer)."""
    return Segment.objects.select_for_update().get(pk=segment.pk)


def _members_sql(matching: QuerySet[Contact]) -> tuple[str, list]:
    """The SQL of the matching contacts' ids (column `member_id`) and its parameters."""
    sql, params = matching.order_by().values(member_id=F("pk")).query.sql_with_params()
    return sql, list(params)


def _write(sql: str, params: Sequence, want_ids: bool) -> tuple[int, list[int]]:
    """Run one INSERT or UPDATE of membership rows: how many, and their contact ids if asked.

    The ids come back with the statement itself (`RETURNING`, PostgreSQL and SQLite ≥ 3.35)
    instead of reading the rows again afterwards.
    """
    with connection.cursor() as cursor:
        if want_ids:
            cursor.execute(f"{sql} RETURNING contact_id", params)
            ids = [row[0] for row in cursor.fetchall()]
            return len(ids), ids
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0), []


def _insert_entries(
    segment: Segment,
    matching: QuerySet[Contact],
    now: dt.datetime,
    source: str,
    *,
    skip_current: bool = True,
    want_ids: bool = False,
) -> tuple[int, list[int]]:
    """One INSERT … SELECT of the matching contacts who are not current members.

    `skip_current=False` when the segment has no current stay (its first materialisation,
    under the segment's lock): a plain INSERT … SELECT, without probing the table being
    written. (That probe is also what PostgreSQL plans worst: with the membership table still
    empty it picks a nested loop that rescans the rows this very statement inserts.)
    """
    if skip_current:
        current = Membership.objects.filter(
            segment_id=segment.pk, exited_at__isnull=True, contact_id=OuterRef("pk")
        )
        matching = matching.filter(~Exists(current))
    sql, params = _members_sql(matching)
    table = connection.ops.quote_name(Membership._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    # The anti-join hashes the current members: in memory, not in batches on disk.
    with _bulk_settings():
        return _write(
            f"INSERT INTO {table} (segment_id, contact_id, entered_at, source) "
            f"SELECT %s, new.member_id, %s, %s FROM ({sql}) new",
            [segment.pk, stamp, source, *params],
            want_ids,
        )


def _close_exits(
    segment: Segment,
    matching: QuerySet[Contact],
    now: dt.datetime,
    *,
    scope_ids: Sequence[int] | None = None,
    want_ids: bool = False,
) -> tuple[int, list[int]]:
    """One UPDATE closing the current stays (of `scope_ids`, or all) that no longer match.

    Current stays are found by the partial unique index on (segment, contact) WHERE exited_at
    IS NULL, and the matching contacts are computed once into a hash table, never once per
    member: `contact_id NOT IN (the filter)`, which PostgreSQL runs as a hashed subplan and
    SQLite as a temporary index built once. (NOT EXISTS let PostgreSQL pick a nested loop on
    a stale estimate of the segment's size: a behaviour condition's GROUP BY ran once per
    member, 31 s for 159 members of a 100,000-contact set, and a materialised CTE was rescanned
    once per member, minutes for 36,725.) The ids are never NULL, so NOT IN means NOT EXISTS.
    """
    sql, params = _members_sql(matching)
    table = connection.ops.quote_name(Membership._meta.db_table)
    scope, scope_params = "", []
    if scope_ids is not None:
        scope = f" AND contact_id IN ({', '.join(['%s'] * len(scope_ids))})"
        scope_params = list(scope_ids)
    with _bulk_settings():
        return _write(
            f"UPDATE {table} SET exited_at = %s WHERE segment_id = %s AND exited_at IS NULL"
            f"{scope} AND contact_id NOT IN ({sql})",
            [connection.ops.adapt_datetimefield_value(now), segment.pk, *scope_params, *params],
            want_ids,
        )


# PostgreSQL hashes a NOT IN subquery only when its estimated size fits in work_mem (4 MB by
# default: about 170,000 ids), and spills a hash join's table to disk beyond it; a million
# ids need about 40 MB.
REFRESH_WORK_MEM = "256MB"


@contextmanager
def _bulk_settings() -> Iterator[None]:
    """PostgreSQL: settings for one membership statement, restored after it.

    More work_mem (above), and no JIT: INSERT and UPDATE never run in parallel, and compiling
    one of these queries took 0.8–2 s of the 2–4 s it ran at a million contacts. Restored even
    inside a caller's transaction; an error aborts the transaction and the settings with it.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('work_mem'), current_setting('jit')")
        work_mem, jit = cursor.fetchone()
        cursor.execute(
            "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true)",
            [REFRESH_WORK_MEM],
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('work_mem', %s, true), set_config('jit', %s, true)",
            [work_mem, jit],
        )


def _ids(qs: QuerySet) -> list[int]:
    return list(qs.values_list("contact_id", flat=True))


def _current_count(segment: Segment) -> int:
    """Current stays (an index-only count on the partial unique index)."""
    return Membership.objects.filter(segment_id=segment.pk, exited_at__isnull=True).count()


def _record_size(segment: Segment, now: dt.datetime, entered: int, exited: int, size: int) -> int:
    """Keep today's size row (growth over time): the size now and today's entries and exits.

    One upsert (PostgreSQL and SQLite alike) rather than a read, a savepoint and a write.
    """
    table = connection.ops.quote_name(SegmentSize._meta.db_table)
    day = connection.ops.adapt_datefield_value(timezone.localdate(now))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (segment_id, day, size, entered, exited) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (segment_id, day) DO UPDATE SET "
            f"size = excluded.size, entered = {table}.entered + excluded.entered, "
            f"exited = {table}.exited + excluded.exited",
            [segment.pk, day, size, entered, exited],
        )
    return size


def _apply(
    segment: Segment,
    matching: QuerySet[Contact],
    now: dt.datetime,
    *,
    source: str,
    before: int,
    scope_ids: Sequence[int] | None = None,
    exact_before: bool = False,
) -> RefreshResult:
    """Close the current stays in scope that no longer match, then open stays for newcomers.

    Two statements at most: one UPDATE for the exits, one INSERT … SELECT for the entries.
    `before` is the segment's current size; when it is exactly 0 (`exact_before`) there is
    nobody to close and nobody to skip, so the entries are one plain INSERT … SELECT.
    Runs inside the caller's transaction with the segment locked.
    """
    want_ids = bool(_HOOKS)
    exited, exited_ids = 0, []
    if before or not exact_before:
        exited, exited_ids = _close_exits(
            segment, matching, now, scope_ids=scope_ids, want_ids=want_ids
        )
    entered, entered_ids = _insert_entries(
        segment,
        matching,
        now,
        source,
        skip_current=not (exact_before and before == 0),
        want_ids=want_ids,
    )
    result = RefreshResult(
        segment_id=segment.pk,
        entered_count=entered,
        exited_count=exited,
        entered=entered_ids,
        exited=exited_ids,
    )
    result.size = before + entered - exited
    _announce(segment, entered_ids, exited_ids)
    return result


def segment_refresh(
    segment: Segment, *, now: dt.datetime | None = None, timeout: float | None = None
) -> RefreshResult:
    """Recompute a dynamic segment's membership completely, in one transaction.

    Entered contacts get a new stay, departed ones get `exited_at`; unchanged stays are
    untouched. Hooks get the ids after commit. DefinitionError if the definition went bad
    (e.g. a custom field it uses was deleted) — nothing is changed then.
    """
    began = time.perf_counter()
    now = now or timezone.now()
    if segment.kind != Segment.Kind.DYNAMIC:
        raise DefinitionError([("", _("Only dynamic segments are refreshed."))])
    with transaction.atomic():
        locked = _lock(segment)
        matching = compile_filter(locked.definition, now=now, segment_id=locked.pk)
        if timeout is not None and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = %s", [int(timeout * 1000)])
        result = _apply(
            locked,
            matching,
            now,
            source="refresh",
            before=_current_count(locked),
            exact_before=True,
        )
        _record_size(locked, now, result.entered_count, result.exited_count, result.size)
        result.seconds = time.perf_counter() - began
        Segment.objects.filter(pk=locked.pk).update(
            refreshed_at=now,
            changes_seen_at=now,
            member_count=result.size,
            refresh_seconds=round(result.seconds, 3),
            refresh_error="",
        )
    segment.refreshed_at, segment.member_count = now, result.size
    return result


def segment_refresh_contacts(
    segment: Segment, contact_ids: Sequence[int], *, now: dt.datetime | None = None
) -> RefreshResult:
    """Re-evaluate a dynamic segment for some contacts only (incremental refresh)."""
    now = now or timezone.now()
    ids = sorted(set(contact_ids))
    result = RefreshResult(segment_id=segment.pk)
    if not ids or segment.kind != Segment.Kind.DYNAMIC:
        return result
    with transaction.atomic():
        locked = _lock(segment)
        matching = compile_filter(
            locked.definition, now=now, segment_id=locked.pk, restrict_ids=ids, validated=True
        )
        # The locked row's member_count is exact (every write keeps it under this lock): no
        # count of a large segment for each batch of touchpoints.
        result = _apply(
            locked, matching, now, source="refresh", before=locked.member_count, scope_ids=ids
        )
        if result.entered_count or result.exited_count:
            _record_size(locked, now, result.entered_count, result.exited_count, result.size)
            Segment.objects.filter(pk=locked.pk).update(member_count=result.size)
    return result


# --- Static lists ----------------------------------------------------------------------------


def _static(segment: Segment) -> None:
    if segment.kind != Segment.Kind.STATIC:
        raise DefinitionError([("", _("Contacts are added by hand only to static lists."))])


def static_add(
    segment: Segment, contact_ids: Iterable[int], *, source: str = "manual"
) -> list[int]:
    """Add live contacts to a static list; the ids that entered (members already in are skipped).

    Idempotent: adding the same contacts twice opens one stay each.
    """
    _static(segment)
    ids = sorted({int(i) for i in contact_ids})
    if not ids:
        return []
    now = timezone.now()
    entered: list[int] = []
    with transaction.atomic():
        locked = _lock(segment)
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            matching = Contact.objects.filter(LIVE, pk__in=chunk)
            entered += _insert_entries(locked, matching, now, source[:100], want_ids=True)[1]
        size = _record_size(locked, now, len(entered), 0, _current_count(locked))
        Segment.objects.filter(pk=locked.pk).update(member_count=size, refreshed_at=now)
        _announce(locked, entered, [])
    return entered


def static_remove(
    segment: Segment, contact_ids: Iterable[int], *, source: str = "manual"
) -> list[int]:
    """End the stays of these contacts in a static list; the ids that left."""
    _static(segment)
    ids = sorted({int(i) for i in contact_ids})
    if not ids:
        return []
    now = timezone.now()
    exited: list[int] = []
    with transaction.atomic():
        locked = _lock(segment)
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            current = Membership.objects.filter(
                segment_id=locked.pk, contact_id__in=chunk, exited_at__isnull=True
            )
            exited += _ids(current)
            current.update(exited_at=now)
        size = _record_size(locked, now, 0, len(exited), _current_count(locked))
        Segment.objects.filter(pk=locked.pk).update(member_count=size, refreshed_at=now)
        _announce(locked, [], exited)
    return exited


# --- Incremental and scheduled refresh -------------------------------------------------------

INCREMENTAL_LIMIT = 10_000  # more changed contacts than this: a full refresh is cheaper
INCREMENTAL_EVERY = dt.timedelta(minutes=1)
FULL_REFRESH_EVERY = dt.timedelta(hours=1)
REFRESH_LEASE = dt.timedelta(minutes=30)


def _dynamic_segments() -> QuerySet[Segment]:
    return Segment.objects.filter(kind=Segment.Kind.DYNAMIC, deleted_at__isnull=True).exclude(
        refreshed_at__isnull=True
    )


def refresh_for_contacts(contact_ids: Iterable[int], *, now: dt.datetime | None = None) -> int:
    """Re-evaluate every materialised dynamic segment for these contacts; stays changed."""
    ids = sorted(set(contact_ids))
    if not ids:
        return 0
    changed = 0
    for segment in _dynamic_segments():
        try:
            result = segment_refresh_contacts(segment, ids, now=now)
        except DefinitionError as exc:
            Segment.objects.filter(pk=segment.pk).update(refresh_error=str(exc)[:300])
            continue
        changed += result.entered_count + result.exited_count
    return changed


def on_touchpoints(batch: list) -> None:
    """Tracking consumer: contacts with new touchpoints are re-evaluated in the same transaction.

    The consumer advances its cursor in this transaction too, so a crash repeats the batch and
    the refresh (idempotent) rather than losing it.
    """
    ids = {tp.contact_id for tp in batch if tp.contact_id}
    refresh_for_contacts(ids)


def _changed_since(since: dt.datetime, limit: int) -> list[int]:
    """Contacts whose row, account or score changed after `since` (at most `limit` + 1)."""
    from tsunagari.scoring.models import ContactScore

    # Three range scans on the updated_at indexes, not one OR across a join (a table scan).
    sources = (
        Contact.objects.filter(updated_at__gt=since).values_list("pk", flat=True),
        Contact.objects.filter(
            account__in=Account.objects.filter(updated_at__gt=since).values("pk")
        ).values_list("pk", flat=True),
        ContactScore.objects.filter(updated_at__gt=since).values_list("contact_id", flat=True),
    )
    ids: set[int] = set()
    for source in sources:
        ids.update(source.order_by()[: limit + 1])
        if len(ids) > limit:
            break
    return sorted(ids)[: limit + 1]


def refresh_changed_contacts(*, now: dt.datetime | None = None) -> int:
    """Re-evaluate contacts whose profile, account or score changed since segments last looked.

    Each segment looks at most every INCREMENTAL_EVERY; the changed contacts are found once
    for all segments due. More than INCREMENTAL_LIMIT changes: a full refresh instead.
    Returns how many segments were looked at.
    """
    now = now or timezone.now()
    due = list(
        _dynamic_segments().filter(
            Q(changes_seen_at__isnull=True) | Q(changes_seen_at__lt=now - INCREMENTAL_EVERY)
        )
    )
    if not due:
        return 0
    since = min(s.changes_seen_at or s.refreshed_at for s in due)
    ids = _changed_since(since, INCREMENTAL_LIMIT)
    for segment in due:
        try:
            if len(ids) > INCREMENTAL_LIMIT:
                segment_refresh(segment, now=now)
            elif ids:
                segment_refresh_contacts(segment, ids, now=now)
        except DefinitionError as exc:
            Segment.objects.filter(pk=segment.pk).update(refresh_error=str(exc)[:300])
        Segment.objects.filter(pk=segment.pk, changes_seen_at=segment.changes_seen_at).update(
            changes_seen_at=now
        )
    return len(due)


def _claim_due_refresh(now: dt.datetime) -> Segment | None:
    """Claim the dynamic segment most overdue for a full refresh (compare-and-set on a lease)."""
    due = (
        Segment.objects.filter(kind=Segment.Kind.DYNAMIC, deleted_at__isnull=True)
        .filter(Q(refreshed_at__isnull=True) | Q(refreshed_at__lt=now - FULL_REFRESH_EVERY))
        .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=now))
        .order_by("refreshed_at", "id")
    )
    for candidate in due[:5]:
        claimed = (
            Segment.objects.filter(pk=candidate.pk)
            .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=now))
            .update(refresh_lease_until=now + REFRESH_LEASE)
        )
        if claimed == 1:
            return candidate
    return None


def run_due_refreshes() -> int:
    """Worker runner: incremental refresh of changed contacts, then one overdue full refresh."""
    now = timezone.now()
    worked = refresh_changed_contacts(now=now)
    segment = _claim_due_refresh(now)
    if segment is not None:
        try:
            segment_refresh(segment, timeout=REFRESH_TIMEOUT_S)
        except (DefinitionError, DatabaseError) as exc:
            Segment.objects.filter(pk=segment.pk).update(
                refresh_error=str(exc)[:300], refreshed_at=timezone.now()
            )
        finally:
            Segment.objects.filter(pk=segment.pk).update(refresh_lease_until=None)
        worked += 1
    return worked
