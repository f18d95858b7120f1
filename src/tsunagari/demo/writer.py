"""Set-based inserts for generated rows: executemany on SQLite, COPY on PostgreSQL, ids reserved.

The ORM's bulk_create cannot set auto_now_add/auto_now fields and builds a model instance per
row; a data set of a million contacts needs neither. SQL is written from the models' `_meta`
(table and column names), so it follows the schema on both databases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

_EPOCH = dt.date(1970, 1, 1)
_days: dict[int, str] = {}


def _sqlite_timestamp(seconds: int) -> str:
    """'YYYY-MM-DD HH:MM:SS' in UTC, as Django writes a DateTimeField on SQLite."""
    day, rest = divmod(seconds, 86_400)
    date = _days.get(day)
    if date is None:
        date = _days[day] = (_EPOCH + dt.timedelta(days=day)).isoformat()
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{date} {hours:02d}:{minutes:02d}:{secs:02d}"


def _postgres_timestamp(seconds: int) -> str:
    return _sqlite_timestamp(seconds) + "+00:00"


def timestamp_adapter(vendor: str) -> Callable[[int], str]:
    """A function turning epoch seconds (UTC) into the text this database reads for a datetime.

    Generated times are plain integers, which is cheap; this is the one place they become
    datetimes: naive UTC text on SQLite, as Django stores it there, and ISO text with the offset
    for PostgreSQL's timestamptz. Both functions are module-level, so chunks built in worker
    processes carry plain strings.
    """
    return _sqlite_timestamp if vendor == "sqlite" else _postgres_timestamp


class TableWriter:
    """Inserts rows of the given fields into a model's table; every other column gets its default.

    `fields` are field names (or attnames such as `account_id`). Columns the generator leaves out
    take the field's default (NULL ones are left to the database), so a field added later with a
    default needs no change here.
    """

    def __init__(
        self, connection: BaseDatabaseWrapper, model: type[models.Model], fields: Sequence[str]
    ) -> None:
        self.connection = connection
        self.model = model
        meta = model._meta
        given = [meta.get_field(name) for name in fields]
        given_names = {f.name for f in given}
        rest = [
            f
            for f in meta.concrete_fields
            if f.name not in given_names and not isinstance(f, models.fields.AutoFieldMixin)
        ]
        for field in rest:
            if not field.has_default() and not field.null:
                raise ValueError(f"{meta.label}.{field.name} has no default; generate it")
        defaults = [(f, f.get_db_prep_save(f.get_default(), connection)) for f in rest]
        # A column left NULL is left out: the database fills it in. On SQLite a boolean is
        # written as 0 or 1: Python's sqlite3 binds None and bools through its slow adapter path.
        defaults = [
            (f, int(value) if isinstance(value, bool) and connection.vendor == "sqlite" else value)
            for f, value in defaults
            if value is not None or f.db_default is not models.NOT_PROVIDED
        ]
        self.defaults = tuple(value for _, value in defaults)
        self.columns = [f.column for f in given] + [f.column for f, _ in defaults]
        quote = connection.ops.quote_name
        self.table = quote(meta.db_table)
        self.column_list = ", ".join(quote(c) for c in self.columns)
        placeholders = ", ".join(["%s"] * len(self.columns))
        self.insert_sql = f"INSERT INTO {self.table} ({self.column_list}) VALUES ({placeholders})"

    def write(self, rows: Sequence[tuple]) -> int:
        """Insert the rows (each in `fields` order); returns how many were written."""
        if not rows:
            return 0
        defaults = self.defaults
        full = [row + defaults for row in rows] if defaults else rows
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                # COPY is PostgreSQL's bulk-load path; psycopg escapes every value itself.
                sql = f"COPY {self.table} ({self.column_list}) FROM STDIN"
                with cursor.cursor.copy(sql) as copy:
                    for row in full:
                        copy.write_row(row)
            else:
                cursor.executemany(self.insert_sql, full)
        return len(rows)


def reserve_ids(
    connection: BaseDatabaseWrapper, model: type[models.Model], count: int
) -> list[int]:
    """`count` fresh primary keys for `model`, ascending.

    PostgreSQL hands them out from the table's own sequence, so concurrent inserts never collide.
    On SQLite they are the ids after the highest ever used: free as long as nothing else inserts
    into the table before they are used (else the insert fails on the primary key, loudly).
    """
    if count <= 0:
        return []
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [connection.ops.quote_name(table), pk, count],
            )
            return sorted(row[0] for row in cursor.fetchall())
        quote = connection.ops.quote_name
        cursor.execute(f"SELECT MAX({quote(pk)}) FROM {quote(table)}")
        highest = cursor.fetchone()[0] or 0
        # AUTOINCREMENT never reuses an id, even of a deleted row; neither do we.
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        start = max(highest, row[0] if row else 0) + 1
    return list(range(start, start + count))
