"""Writes to the activity stream: appending touchpoints, identifying visitors, offline touches."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from tsunagari.core.models import User
from tsunagari.crm.models import Account, Contact, ImportJob
from tsunagari.tracking.models import CustomTouchpointType, IpRange, Touchpoint, Visitor
from tsunagari.tracking.vocabulary import NOT_ACTIVITY_TYPES, TYPE_CHANNEL, Type

# Any constant shared by every writer of the stream: the PostgreSQL advisory lock taken
# around touchpoint inserts, so ids become visible in increasing order (see ordered_insert).
STREAM_LOCK_KEY = 0x7473_6761  # "tsga"


class TrackingError(Exception):
    """A touch that cannot be recorded, with a message for people."""


def channel_for(type_key: str) -> str:
    """The channel of a built-in or custom type; TrackingError for an unknown type."""
    if type_key in TYPE_CHANNEL:
        return TYPE_CHANNEL[type_key]
    custom = CustomTouchpointType.objects.filter(key=type_key).values_list("channel", flat=True)
    for channel in custom:
        return channel
    raise TrackingError(f"Unknown touchpoint type {type_key!r}")


def _lock_stream() -> None:
    """Serialise stream writers on PostgreSQL; SQLite already has one writer at a time.

    A consumer reads `id > cursor` in id order. On PostgreSQL two concurrent transactions can
    commit ids out of order (101 visible before 100), and a consumer would skip 100 for ever.
    Holding this lock from before the insert until commit makes visibility follow id order.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [STREAM_LOCK_KEY])


def _prepare(rows: Sequence[Touchpoint]) -> None:
    """Fill what every touchpoint needs: the contact's account, the channel, receipt time."""
    if not connection.in_atomic_block:
        raise TrackingError("touchpoints are appended inside transaction.atomic()")
    now = timezone.now()
    missing_account = {r.contact_id for r in rows if r.contact_id and r.account_id is None}
    accounts = (
        dict(Contact.objects.filter(pk__in=missing_account).values_list("pk", "account_id"))
        if missing_account
        else {}
    )
    for row in rows:
        if row.account_id is None and row.contact_id:
            row.account_id = accounts.get(row.contact_id)
        if not row.channel:
            row.channel = TYPE_CHANNEL.get(row.type, "system")
        row.received_at = row.received_at or now


def _latest_per_contact(records: Iterable[Mapping[str, Any]]) -> dict[int, dt.datetime]:
    """Each contact's newest touch among these (bots' touches are no activity)."""
    latest: dict[int, dt.datetime] = {}
    for record in records:
        contact_id, when = record["contact_id"], record["occurred_at"]
        if not contact_id or record["is_bot"] or record["type"] in NOT_ACTIVITY_TYPES:
            continue
        if contact_id not in latest or when > latest[contact_id]:
            latest[contact_id] = when
    return latest


def _after_append(rows: Sequence[Touchpoint]) -> None:
    _touch_last_activity(
        _latest_per_contact(
            {
                "contact_id": r.contact_id,
                "occurred_at": r.occurred_at,
                "is_bot": r.is_bot,
                "type": r.type,
            }
            for r in rows
        )
    )


def touchpoints_append(rows: Sequence[Touchpoint]) -> list[Touchpoint]:
    """Append touchpoints to the stream and return them with their ids.

    Every touchpoint is written here or by touchpoints_append_many (same rules, no ids back).
    Fills account from the contact when missing, and moves each contact's last activity
    forward. Must run inside the caller's transaction so the touchpoints commit with the
    change that caused them.
    """
    if not rows:
        return []
    _prepare(rows)
    _lock_stream()
    created = Touchpoint.objects.bulk_create(rows)
    _after_append(rows)
    return created


_COLUMNS = [f for f in Touchpoint._meta.concrete_fields if not f.primary_key]
_DATETIME_COLUMNS = {f.attname for f in _COLUMNS if f.get_internal_type() == "DateTimeField"}
_JSON_FIELDS = {f.attname: f for f in _COLUMNS if f.get_internal_type() == "JSONField"}
# A column's value when a record leaves it out: the model's default, made afresh per record
# where the default is a callable (a dict for `properties`), shared where it is a constant.
_DEFAULTS = {f.attname: f.get_default for f in _COLUMNS}
_FRESH_DEFAULTS = {
    f.attname: f.default for f in _COLUMNS if f.has_default() and callable(f.default)
}
_FIXED_DEFAULTS = {f.attname: f.get_default() for f in _COLUMNS if f.attname not in _FRESH_DEFAULTS}
# Rows per INSERT statement on SQLite: within its limit of 32,766 parameters.
_INSERT_CHUNK = 500


def _column_converters() -> list[tuple[str, Any]]:
    """(attname, database adaptation or None) per column, for this connection.

    Datetimes are adapted once per distinct value: a batch shares its receipt time, and
    adapting is the costliest step per column on SQLite.
    """
    adapt = connection.ops.adapt_datetimefield_value
    adapted: dict[dt.datetime, Any] = {}

    def datetime_value(value: dt.datetime | None) -> Any:
        if value is None:
            return None
        if value not in adapted:
            adapted[value] = adapt(value)
        return adapted[value]

    def json_value(field):
        if field.encoder is None:
            # What JSONField stores, as text: SQLite keeps it so, and PostgreSQL's COPY reads
            # jsonb from it (a psycopg Jsonb wrapper per row would be dumped in Python).
            return json.dumps
        return lambda value: field.get_db_prep_save(value, connection)

    plan = []
    for field in _COLUMNS:
        if field.attname in _DATETIME_COLUMNS:
            plan.append((field.attname, datetime_value))
        elif field.attname in _JSON_FIELDS:
            plan.append((field.attname, json_value(field)))
        else:
            plan.append((field.attname, None))
    return plan


def _record(row: Touchpoint | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(row, Touchpoint):
        return {f.attname: getattr(row, f.attname) for f in _COLUMNS}
    unknown = row.keys() - _DEFAULTS.keys()
    if unknown:
        raise TrackingError(f"not touchpoint columns: {sorted(unknown)}")
    record = {**_FIXED_DEFAULTS, **row}
    for name, make in _FRESH_DEFAULTS.items():
        if name not in row:
            record[name] = make()
    return record


def touchpoints_append_many(rows: Sequence[Touchpoint | Mapping[str, Any]]) -> int:
    """touchpoints_append for high-volume writers: one executemany, no ids returned.

    Rows are Touchpoint instances or plain mappings of column attnames (`contact_id`, `type`,
    `occurred_at`…; missing ones take the model's defaults). The collect endpoint passes
    mappings: building a model instance per hit costs more than inserting it.
    """
    if not rows:
        return 0
    if not connection.in_atomic_block:
        raise TrackingError("touchpoints are appended inside transaction.atomic()")
    records = [_record(row) for row in rows]
    now = timezone.now()
    missing_account = {r["contact_id"] for r in records if r["contact_id"] and not r["account_id"]}
    accounts = (
        dict(Contact.objects.filter(pk__in=missing_account).values_list("pk", "account_id"))
        if missing_account
        else {}
    )
    convert = _column_converters()
    values = []
    for record in records:
        if not record["account_id"] and record["contact_id"]:
            record["account_id"] = accounts.get(record["contact_id"])
        record["channel"] = record["channel"] or TYPE_CHANNEL.get(record["type"], "system")
        record["received_at"] = record["received_at"] or now
        values.append(
            [fn(record[name]) if fn is not None else record[name] for name, fn in convert]
        )
    ops = connection.ops
    table = ops.quote_name(Touchpoint._meta.db_table)
    names = ", ".join(ops.quote_name(f.column) for f in _COLUMNS)
    row_marks = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    _lock_stream()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: the rows stream through psycopg's C row writer. A multi-row INSERT with
            # thousands of placeholders is parsed in Python on every call (its text differs
            # with the batch size, so psycopg cannot cache it): most of a batch's time.
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        else:
            # Multi-row INSERTs rather than executemany: one statement per chunk is one call
            # into SQLite and one release of the GIL instead of one per row, which a busy web
            # process makes wait for its turn every time.
            for start in range(0, len(values), _INSERT_CHUNK):
                chunk = values[start : start + _INSERT_CHUNK]
                cursor.execute(
                    f"INSERT INTO {table} ({names}) VALUES {', '.join([row_marks] * len(chunk))}",
                    [value for row in chunk for value in row],
                )
    _touch_last_activity(_latest_per_contact(records))
    return len(records)


def _touch_last_activity(latest: dict[int, dt.datetime]) -> None:
    """Move last_activity_at forward (never back), one UPDATE per distinct time."""
    by_time: dict[dt.datetime, list[int]] = {}
    for contact_id, when in latest.items():
        by_time.setdefault(when, []).append(contact_id)
    for when, ids in by_time.items():
        Contact.objects.filter(pk__in=ids, last_activity_at__lt=when).update(last_activity_at=when)
        Contact.objects.filter(pk__in=ids, last_activity_at__isnull=True).update(
            last_activity_at=when
        )


def stage_change_touch(
    *,
    contact: Contact,
    before: str,
    after: str,
    source: str,
    actor: User | None = None,
    note: str = "",
) -> None:
    """The `stage_changed` touch on a contact's timeline for a lifecycle move another app made."""
    touchpoints_append(
        [
            Touchpoint(
                contact=contact,
                type=Type.STAGE_CHANGED,
                occurred_at=timezone.now(),
                source=source,
                title=after.upper(),
                properties={"from": before, "to": after, "note": note[:200]},
                recorded_by=actor,
            )
        ]
    )


@transaction.atomic
def visitor_identify(*, visitor: Visitor, contact: Contact, how: str) -> int:
    """Attach a visitor and all its anonymous history to a contact, in one transaction.

    Returns how many touchpoints were attached. A second device of the same person is a
    second visitor; both end up on the contact. Re-identifying as another contact moves
    only what is still anonymous, never history already attached to someone.
    """
    now = timezone.now()
    locked = Visitor.objects.select_for_update().get(pk=visitor.pk)
    moved = Touchpoint.objects.filter(visitor=locked, contact__isnull=True).update(
        contact=contact, account=contact.account_id
    )
    Visitor.objects.filter(pk=locked.pk).update(
        contact=contact, identified_at=now, account=contact.account_id or locked.account_id
    )
    last = Touchpoint.objects.filter(visitor=locked).aggregate(m=Max("occurred_at"))["m"]
    touchpoints_append(
        [
            Touchpoint(
                contact=contact,
                visitor=locked,
                type=Type.IDENTIFIED,
                occurred_at=now,
                source=how,
                properties={"attached": moved},
            )
        ]
    )
    if last:
        _touch_last_activity({contact.pk: last})
    visitor.contact = contact
    return moved


def move_touchpoints_on_merge(keep: Contact, drop: Contact) -> None:
    """crm merge hook: the duplicate's touchpoints and visitors now belong to the kept contact."""
    Touchpoint.objects.filter(contact=drop).update(contact=keep)
    Visitor.objects.filter(contact=drop).update(contact=keep)


def move_account_touchpoints_on_merge(keep: Account, drop: Account) -> None:
    """crm account-merge hook: one timeline for the kept account, its visitors and IP ranges."""
    from tsunagari.tracking.sites import range_cache

    Touchpoint.objects.filter(account=drop).update(account=keep)
    Visitor.objects.filter(account=drop).update(account=keep)
    if IpRange.objects.filter(account=drop).update(account=keep):
        # An update sends no post_save: forget this process's ranges (others reload in
        # seconds, and until then name the retired account, which still exists).
        range_cache.clear()


@transaction.atomic
def touch_record_offline(
    *,
    contact: Contact,
    type_key: str,
    occurred_at: dt.datetime,
    actor: User | None,
    title: str = "",
    note: str = "",
    campaign: str = "",
    source: str = "",
    properties: dict | None = None,
) -> Touchpoint:
    """A call, visit, meeting, trade show, card exchange or seminar, recorded by staff."""
    channel = channel_for(type_key)
    if occurred_at > timezone.now() + dt.timedelta(minutes=5):
        raise TrackingError("A touch cannot be recorded in the future.")
    props = dict(properties or {})
    if note:
        props["note"] = note[:2000]
    (touch,) = touchpoints_append(
        [
            Touchpoint(
                contact=contact,
                type=type_key,
                channel=channel,
                occurred_at=occurred_at,
                title=title[:300],
                campaign=campaign[:100],
                source=(source or (f"staff:{actor.username}" if actor else "staff"))[:100],
                properties=props,
                recorded_by=actor,
            )
        ]
    )
    return touch


def touches_for_contacts(
    *,
    contact_ids: Iterable[int],
    type_key: str,
    occurred_at: dt.datetime,
    campaign: str,
    source: str,
    title: str = "",
) -> list[Touchpoint]:
    """One touch per contact (a trade-show list, a seminar roster), appended in one insert."""
    channel = channel_for(type_key)
    return touchpoints_append(
        [
            Touchpoint(
                contact_id=cid,
                type=type_key,
                channel=channel,
                occurred_at=occurred_at,
                campaign=campaign[:100],
                source=source[:100],
                title=title[:300],
            )
            for cid in contact_ids
        ]
    )


# An imported touch has a date but no time: it is placed at 10:00 local time on that day.
IMPORTED_TOUCH_TIME = dt.time(10, 0)


def touches_for_import(job: ImportJob, contact_ids: list[int]) -> None:
    """crm import hook: the job's touch (a trade show, a seminar…) for every contact of a batch.

    Runs inside the batch's transaction, so the touches commit or roll back with the rows.
    """
    if not job.touch.get("type") or not contact_ids:
        return
    day = dt.date.fromisoformat(job.touch["date"])
    occurred_at = dt.datetime.combine(day, IMPORTED_TOUCH_TIME, tzinfo=ZoneInfo(settings.TIME_ZONE))
    title = job.touch.get("title", "")
    # The event name is the campaign too (clipped to its 100 characters), so that the
    # touches of one trade show group together in reports.
    touches_for_contacts(
        contact_ids=contact_ids,
        type_key=job.touch["type"],
        occurred_at=occurred_at,
        campaign=title,
        source=f"import:{job.file_name}",
        title=title,
    )
