"""What every benchmark shares: the cached data set, progress on stderr, timing and percentiles.

A data set is built once per (generator version, contacts, seed) and kept:

- SQLite: a file under TSUNAGARI_DATA_DIR/bench/, built under a temporary name and renamed
  when complete, so a half-built file is never taken for a data set;
- PostgreSQL: a database `tsunagari_bench_<N>_v<version>` on the server of DATABASE_URL.

Both carry a marker table written last, in the build's final step; a data set without it is
rebuilt. `prepared_dataset` points Django's connection at the data set for the duration of a
`with` block and back afterwards.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor

from tsunagari import demo

BENCH_SEED = 1
MARKER = "tsunagari_bench_dataset"
_started = time.perf_counter()


class BenchError(RuntimeError):
    """The benchmark cannot run or measured something wrong; it must fail loudly."""


def log(message: str) -> None:
    """Progress on stderr, with the seconds since the process started."""
    print(f"[{time.perf_counter() - _started:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Dataset:
    vendor: str  # "sqlite" or "postgresql"
    name: str  # the SQLite file or the PostgreSQL database in use
    contacts: int
    seed: int
    build_seconds: float  # of this run's build, or of the cached build
    built_now: bool
    counts: dict = field(default_factory=dict)


def database_version(using: str = DEFAULT_DB_ALIAS) -> str:
    """'SQLite 3.40.1' or 'PostgreSQL 15.20': for the figures' machine description."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
        cursor.execute("SELECT sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]}"


def _point_at(connection: BaseDatabaseWrapper, name: str) -> None:
    """Make the connection use another database; it reconnects on its next query."""
    connection.close()
    connection.settings_dict["NAME"] = name


def _migrate(connection: BaseDatabaseWrapper) -> None:
    """Apply pending migrations; a data set built by an older revision gets the new schema."""
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        log("applying migrations")
        call_command("migrate", interactive=False, verbosity=0, database=connection.alias)


def _read_marker(connection: BaseDatabaseWrapper, contacts: int, seed: int) -> dict | None:
    with connection.cursor() as cursor:
        if MARKER not in connection.introspection.table_names(cursor):
            return None
        cursor.execute(
            f"SELECT build_seconds, counts FROM {MARKER} "
            "WHERE generator_version = %s AND contacts = %s AND seed = %s",
            [demo.GENERATOR_VERSION, contacts, seed],
        )
        row = cursor.fetchone()
    return None if row is None else {"build_seconds": row[0], "counts": json.loads(row[1])}


def _write_marker(connection: BaseDatabaseWrapper, contacts: int, seed: int, built: dict) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {MARKER} (generator_version integer, contacts integer, seed integer, "
            "build_seconds real, counts text)"
        )
        cursor.execute(
            f"INSERT INTO {MARKER} VALUES (%s, %s, %s, %s, %s)",
            [
                demo.GENERATOR_VERSION,
                contacts,
                seed,
                built["build_seconds"],
                json.dumps(built["counts"]),
            ],
        )


def _build(connection: BaseDatabaseWrapper, contacts: int, seed: int) -> dict:
    """Migrate the empty database the connection points at and fill it; returns the marker."""
    log(f"building the data set of {contacts:,} contacts (seed {seed}) in {connection.vendor}")
    began = time.perf_counter()
    _migrate(connection)
    if connection.vendor == "sqlite":
        # A file nobody reads until it is complete: no need to survive a power cut meanwhile.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous = OFF")
            cursor.execute("PRAGMA cache_size = -262144")
    counts = demo.generate(
        contacts=contacts,
        seed=seed,
        progress=log,
        drop_indexes=True,
        using=connection.alias,
    )
    with connection.cursor() as cursor:
        # Statistics as autovacuum (PostgreSQL) or `PRAGMA optimize` (SQLite) would leave them.
        cursor.execute("ANALYZE")
    built = {"build_seconds": round(time.perf_counter() - began, 1), "counts": counts}
    _write_marker(connection, contacts, seed, built)
    log(f"built in {built['build_seconds']:.1f} s: {counts}")
    return built


@contextmanager
def prepared_dataset(
    contacts: int,
    fresh: bool = False,
    *,
    seed: int = BENCH_SEED,
    writable: bool = False,
    using: str = DEFAULT_DB_ALIAS,
) -> Iterator[Dataset]:
    """The generated data set of `contacts`, built once and cached, as the database in use.

    `fresh` rebuilds it. `writable` gives a throw-away copy for benchmarks that write (the
    cached set stays as built); otherwise the benchmark works on the cached set itself and may
    only add what it needs to log in. Migrations are applied to a reused data set.
    """
    connection = connections[using]
    original = dict(connection.settings_dict)
    try:
        if connection.vendor == "sqlite":
            dataset = _sqlite_dataset(connection, contacts, seed, fresh, writable)
        elif connection.vendor == "postgresql":
            dataset = _postgres_dataset(connection, contacts, seed, fresh, writable)
        else:
            raise BenchError(f"Benchmarks run on SQLite or PostgreSQL, not {connection.vendor}")
        yield dataset
    finally:
        connection.close()
        in_use = connection.settings_dict["NAME"]
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
        if writable and in_use != original["NAME"]:
            _drop_copy(connection, in_use)


def _sqlite_file_name(contacts: int, seed: int) -> str:
    return f"tsunagari-v{demo.GENERATOR_VERSION}-n{contacts}-s{seed}.sqlite3"


def _postgres_name(contacts: int, seed: int) -> str:
    name = f"tsunagari_bench_{contacts}_v{demo.GENERATOR_VERSION}"
    return name if seed == BENCH_SEED else f"{name}_s{seed}"


def _sqlite_dataset(connection, contacts: int, seed: int, fresh: bool, writable: bool) -> Dataset:
    directory = Path(settings.DATA_DIR) / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _sqlite_file_name(contacts, seed)
    marker = None
    if path.exists() and not fresh:
        _point_at(connection, str(path))
        marker = _read_marker(connection, contacts, seed)
        connection.close()
    built_now = marker is None
    if built_now:
        building = path.with_name(path.name + ".building")
        for leftover in (building, *(Path(f"{building}{s}") for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
        _point_at(connection, str(building))
        marker = _build(connection, contacts, seed)
        with connection.cursor() as cursor:
            # One self-contained file (no -wal beside it) before the rename makes it the set.
            cursor.execute("PRAGMA journal_mode = DELETE")
        connection.close()
        os.replace(building, path)
    in_use = path
    if writable:
        in_use = path.with_name(f"{path.stem}.work-{os.getpid()}.sqlite3")
        shutil.copyfile(path, in_use)
    _point_at(connection, str(in_use))
    _migrate(connection)
    return Dataset(
        "sqlite", str(in_use), contacts, seed, marker["build_seconds"], built_now, marker["counts"]
    )


def _admin_connection(connection: BaseDatabaseWrapper, dbname: str = "postgres"):
    """An autocommit psycopg connection to the server of `connection`, for CREATE/DROP DATABASE."""
    import psycopg

    settings_dict = connection.settings_dict
    django_only = {"isolation_level", "server_side_binding", "assume_role", "pool"}
    params = {k: v for k, v in settings_dict.get("OPTIONS", {}).items() if k not in django_only}
    for key, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host")):
        if settings_dict.get(key):
            params[name] = settings_dict[key]
    if settings_dict.get("PORT"):
        params["port"] = int(settings_dict["PORT"])
    return psycopg.connect(dbname=dbname, autocommit=True, **params)


def _postgres_dataset(connection, contacts: int, seed: int, fresh: bool, writable: bool) -> Dataset:
    from psycopg import sql

    name = _postgres_name(contacts, seed)
    connection.close()
    with _admin_connection(connection) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    marker = None
    if exists and not fresh:
        _point_at(connection, name)
        marker = _read_marker(connection, contacts, seed)
        connection.close()
    built_now = marker is None
    if built_now:
        with _admin_connection(connection) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        _point_at(connection, name)
        marker = _build(connection, contacts, seed)
        connection.close()
    in_use = name
    if writable:
        in_use = f"{name}_work_{os.getpid()}"
        with _admin_connection(connection) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(in_use), sql.Identifier(name)
                )
            )
    _point_at(connection, in_use)
    _migrate(connection)
    return Dataset(
        "postgresql", in_use, contacts, seed, marker["build_seconds"], built_now, marker["counts"]
    )


def _drop_copy(connection: BaseDatabaseWrapper, name: str) -> None:
    if connection.vendor == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)
        return
    from psycopg import sql

    with _admin_connection(connection) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def forget_dataset(contacts: int, *, seed: int = BENCH_SEED, using: str = DEFAULT_DB_ALIAS) -> None:
    """Delete the cached data set of `contacts` (its file, or its PostgreSQL database)."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        path = Path(settings.DATA_DIR) / "bench" / _sqlite_file_name(contacts, seed)
        _drop_copy(connection, str(path))
    else:
        _drop_copy(connection, _postgres_name(contacts, seed))


def timed(call: Callable[[], object], *, repeat: int, warmup: int = 3) -> list[float]:
    """Seconds of each of `repeat` calls, after `warmup` calls that fill caches untimed."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return samples


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100), interpolating between the closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
