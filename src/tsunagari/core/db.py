"""Keeping the database's query planner informed (SQLite has no autovacuum/ANALYZE daemon)."""

from __future__ import annotations

from django.db import connection


def refresh_planner_statistics(*, first_time_only: bool = False) -> None:
    """SQLite: ANALYZE when the database has no statistics yet, else PRAGMA optimize.

    Without statistics SQLite may pick a poor index on a million-row table; PostgreSQL's
    autovacuum already keeps its own up to date, so nothing is done there.
    """
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='sqlite_stat1'"
        )
        has_stats = cursor.fetchone()[0] > 0
        if not has_stats:
            cursor.execute("ANALYZE")
        elif not first_time_only:
            cursor.execute("PRAGMA optimize")
