"""Loading without secondary indexes, then building them once: how large data sets load fast.

Index maintenance row by row costs more than generating the rows once a table has millions of
them; building an index from a full table is a sort. Which indexes were dropped is written,
in the same transaction as the drop, to a small journal table, so a load killed half-way has
its indexes rebuilt by the next run (`restore_dropped_indexes`), never silently lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from django.db import models, transaction
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
            progress(f"building index {name}")
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
    """Drop the secondary indexes of these models' tables for the block, rebuild them after.

    Unique indexes are dropped too: the generator guarantees uniqueness itself, and rebuilding
    a unique index fails loudly if it were ever wrong.
    """
    restore_dropped_indexes(connection, progress)
    names = [m._meta.db_table for m in tables]
    indexes = _secondary_indexes(connection, names)
    quote = connection.ops.quote_name
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {quote(JOURNAL)} (name varchar(200) PRIMARY KEY, statement text)"
        )
        for name, statement in indexes:
            cursor.execute(
                f"INSERT INTO {quote(JOURNAL)} (name, statement) VALUES (%s, %s)",
                [name, statement],
            )
            cursor.execute(f"DROP INDEX {quote(name)}")
    try:
        yield
    finally:
        restore_dropped_indexes(connection, progress)
