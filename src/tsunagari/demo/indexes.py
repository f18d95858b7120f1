"""Loading without secondary indexes, then building them once: how large data sets load fast.

Index maintenance row by row costs more than generating the rows once a table has millions of
them; building an index from a full table is a sort. Which indexes were dropped is written,
in the same transaction as the drop, to a small journal table, so a load killed half-way has
its indexes rebuilt by the next run (`restore_dropped_indexes`), never silently lost.

Foreign keys are the same story: checking each row's references as it is inserted costs as
much as the insert (a lookup per key, on PostgreSQL a trigger per key at commit), checking a
whole table at the end is one join. On PostgreSQL the loaded tables' foreign keys are dropped
and journalled like the indexes, and adding them back validates every row; on SQLite, where a
constraint cannot be dropped, the connection loads with foreign keys off and
`PRAGMA foreign_key_check` checks the loaded tables afterwards. Either way a wrong reference
fails the load loudly, as a duplicate fails the rebuild of a unique index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from django.db import IntegrityError, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

JOURNAL = "tsunagari_demo_dropped_index"


def _secondary_indexes(connection: BaseDatabaseWrapper, tables: Sequence[str]) -> list[tuple]:
    """(name, CREATE statement) of the indexes on `tables` that no constraint relies on."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                """
                SELECT i.indexname, i.indexdef FROM pg_indexes i
                WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
                  AND NOT EXISTS (
                    SELECT 1 FROM pg_constraint c
                    WHERE c.conindid = (quote_ident(i.schemaname) || '.' ||
                                        quote_ident(i.indexname))::regclass)
                ORDER BY i.indexname
                """,
                [list(tables)],
            )
        else:
            # sql IS NULL marks the automatic indexes behind PRIMARY KEY and UNIQUE.
            placeholders = ", ".join(["%s"] * len(tables))
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                f" AND tbl_name IN ({placeholders}) ORDER BY name",
                list(tables),
            )
        return cursor.fetchall()


def _foreign_keys(connection: BaseDatabaseWrapper, tables: Sequence[str]) -> list[tuple]:
    """PostgreSQL: (name, table, definition) of the foreign keys of `tables`."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conname, r.relname, pg_get_constraintdef(c.oid) FROM pg_constraint c
            JOIN pg_class r ON r.oid = c.conrelid
            WHERE c.contype = 'f' AND r.relname = ANY(%s)
              AND r.relnamespace = current_schema()::regnamespace
            ORDER BY c.conname
            """,
            [list(tables)],
        )
        return cursor.fetchall()


def _journal_exists(connection: BaseDatabaseWrapper) -> bool:
    with connection.cursor() as cursor:
        return JOURNAL in connection.introspection.table_names(cursor)


def restore_dropped_indexes(
    connection: BaseDatabaseWrapper, progress: Callable[[str], None] | None = None
) -> int:
    """Build the indexes a previous load dropped and did not get to rebuild; returns how many."""
    if not _journal_exists(connection):
        return 0
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, statement FROM {quote(JOURNAL)} ORDER BY name")
        pending = cursor.fetchall()
    for name, statement in pending:
        if progress:
            what = "foreign key" if statement.startswith("ALTER TABLE") else "index"
            progress(f"building {what} {name}")
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Inside a caller's transaction, deferred foreign-key checks of the rows just
                # loaded must run first: PostgreSQL builds no index with checks pending.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                # The default 64 MB makes a large index sort spill to disk in many passes.
                cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            cursor.execute(statement)
            cursor.execute(f"DELETE FROM {quote(JOURNAL)} WHERE name = %s", [name])
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {quote(JOURNAL)}")
    return len(pending)


@contextmanager
def secondary_indexes_dropped(
    connection: BaseDatabaseWrapper,
    tables: Sequence[type[models.Model]],
    progress: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Drop the secondary indexes of these models' tables for the block, rebuild them after;
    and check their foreign keys once at the end rather than row by row (see above).

    Unique indexes are dropped too: the generator guarantees uniqueness itself, and rebuilding
    a unique index fails loudly if it were ever wrong.
    """
    restore_dropped_indexes(connection, progress)
    names = [m._meta.db_table for m in tables]
    quote = connection.ops.quote_name
    # (name, statement that drops it, statement that makes it again)
    dropped = [
        (name, f"DROP INDEX {quote(name)}", statement)
        for name, statement in _secondary_indexes(connection, names)
    ]
    if connection.vendor == "postgresql":
        dropped += [
            (
                name,
                f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}",
                f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}",
            )
            for name, table, definition in _foreign_keys(connection, names)
        ]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # No table with deferred foreign-key checks pending can be altered.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            f"CREATE TABLE {quote(JOURNAL)} (name varchar(200) PRIMARY KEY, statement text)"
        )
        for name, drop, statement in dropped:
            cursor.execute(
                f"INSERT INTO {quote(JOURNAL)} (name, statement) VALUES (%s, %s)",
                [name, statement],
            )
            cursor.execute(drop)
    # SQLite cannot turn foreign keys off inside a transaction: then they are checked as usual.
    unchecked = connection.vendor == "sqlite" and connection.disable_constraint_checking()
    try:
        yield
    finally:
        if unchecked:
            connection.enable_constraint_checking()
        restore_dropped_indexes(connection, progress)
    if connection.vendor == "sqlite":
        if progress:
            progress("checking foreign keys")
        try:
            connection.check_constraints(table_names=names)
        except IntegrityError as error:
            raise IntegrityError(f"the loaded rows break a foreign key: {error}") from error
