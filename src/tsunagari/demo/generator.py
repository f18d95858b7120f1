"""Builds the data set: staff, accounts, then contacts chunk by chunk, each chunk one transaction.

Contacts are generated in worker processes while this process writes the previous chunk, so
a large data set takes the time of the slower of the two, not of both.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from tsunagari.core.models import Team, User
from tsunagari.crm.models import (
    Account,
    AccountDomain,
    AccountMerge,
    ConsentRecord,
    Contact,
    ContactMerge,
    LifecycleTransition,
    Tag,
)
from tsunagari.demo import vocabulary as v
from tsunagari.demo import workers as demo_workers
from tsunagari.demo.companies import (
    ACCOUNT_FIELDS,
    DOMAIN_FIELDS,
    AccountSet,
    Uniques,
    make_accounts,
)
from tsunagari.demo.context import ContactChunk, DemoContext, Staff
from tsunagari.demo.indexes import restore_dropped_indexes, secondary_indexes_dropped
from tsunagari.demo.people import (
    CONSENT_FIELDS,
    CONTACT_FIELDS,
    TRANSITION_FIELDS,
    resolve_emails,
    tag_links,
)
from tsunagari.demo.touchpoints import TOUCHPOINT_FIELDS, touchpoint_rows
from tsunagari.demo.writer import TableWriter, reserve_ids, timestamp_adapter
from tsunagari.tracking.models import ConsumerCursor, Touchpoint, Visitor

# Bump when the same (contacts, seed) would give different rows: cached bench data sets are
# keyed by it. The chunk size is part of it, since each chunk draws from its own random stream.
GENERATOR_VERSION = 2  # 2: touchpoints
CHUNK = 20_000
CONTACTS_PER_ACCOUNT = 8
# Contacts arrive over two years; accounts start a month earlier (the imported customer list).
CONTACT_SPAN = 730 * 86_400
ACCOUNT_SPAN = 760 * 86_400
STAFF_USERNAME_PREFIX = "demo-"

Progress = Callable[[str], None]


class DemoError(Exception):
    """The demo data set cannot be generated as asked."""


@dataclass(frozen=True)
class ChunkExtra:
    """Rows made from each chunk of contacts for another table: their tags, their touchpoints.

    `rows(rng, chunk, context)` gets its own random stream per chunk, so adding an extra never
    changes the rows of the others. It runs in the worker processes (demo.workers).
    """

    name: str
    model: Callable[[], type[models.Model]]
    fields: tuple[str, ...]
    rows: Callable[[random.Random, ContactChunk, DemoContext], list[tuple]]


CHUNK_EXTRAS: tuple[ChunkExtra, ...] = (
    ChunkExtra("tag_links", lambda: Contact.tags.through, ("contact", "tag"), tag_links),
    ChunkExtra("touchpoints", lambda: Touchpoint, TOUCHPOINT_FIELDS, touchpoint_rows),
)

# Everything `crm_reset` empties; tables of other apps that point at these are emptied with them
# (company IP ranges), and so is the activity stream: touchpoints, visitors and the consumers'
# positions in it, since touchpoint ids start at 1 again.
_CRM_DATA = (
    Account,
    AccountDomain,
    AccountMerge,
    Tag,
    Contact,
    LifecycleTransition,
    ConsentRecord,
    ContactMerge,
    Touchpoint,
    Visitor,
    ConsumerCursor,
)


def random_stream(seed: int, *parts: object) -> random.Random:
    """An independent, reproducible random stream for one part of the data set."""
    return random.Random(":".join(["tsunagari-demo", str(seed), *map(str, parts)]))


def default_as_of() -> dt.datetime:
    """Midnight today, local time: the same data all day long for the same seed."""
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def crm_contact_count(using: str = DEFAULT_DB_ALIAS) -> int:
    """How many contacts the database holds, trashed ones included."""
    return Contact.objects.using(using).count()


def crm_reset(using: str = DEFAULT_DB_ALIAS) -> None:
    """Delete every account, contact and their history, consent and tags, and the activity
    stream (touchpoints, visitors, consumer positions); ids start at 1 again.

    Custom field definitions, import jobs, tracked sites and users stay. This is TRUNCATE …
    CASCADE on PostgreSQL and the same in effect on SQLite, so it takes seconds even for
    millions of rows.
    """
    connection = connections[using]
    restore_dropped_indexes(connection)
    tables = [m._meta.db_table for m in _CRM_DATA] + [Contact.tags.through._meta.db_table]
    statements = connection.ops.sql_flush(
        no_style(), tables, reset_sequences=True, allow_cascade=True
    )
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            # Within a caller's transaction, rows it inserted still have deferred foreign-key
            # checks pending, and PostgreSQL truncates no table with checks pending.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        connection.ops.execute_sql_flush(statements)


def ensure_staff(using: str = DEFAULT_DB_ALIAS) -> Staff:
    """The demo company's staff and two teams, created once; nobody can log in as them."""
    users: dict[str, User] = {}
    with transaction.atomic(using=using):
        for username, family, given, role, _team in v.STAFF:
            name = STAFF_USERNAME_PREFIX + username
            user = User.objects.using(using).filter(username=name).first()
            if user is None:
                user = User(
                    username=name,
                    last_name=family,
                    first_name=given,
                    display_name=f"{family} {given}",
                    email=f"{username}@tsunagari-demo.example",
                    role=role,
                )
                user.set_unusable_password()
                user.save(using=using)
            users[username] = user
        for key, (team_name, kind) in v.TEAMS.items():
            team, _ = Team.objects.using(using).get_or_create(
                name=team_name, defaults={"kind": kind}
            )
            team.members.add(*(users[u] for u, *_, t in v.STAFF if t == key))
    by_role: dict[str, list[int]] = {}
    for username, _f, _g, role, _t in v.STAFF:
        by_role.setdefault(role, []).append(users[username].pk)
    return Staff(
        marketing=by_role["marketing"],
        inside_sales=by_role["inside_sales"],
        field_sales=by_role["field_sales"],
        usernames={user.pk: user.username for user in users.values()},
    )


def _ensure_tags(using: str) -> dict[str, int]:
    Tag.objects.using(using).bulk_create([Tag(name=n) for n in v.TAGS], ignore_conflicts=True)
    return dict(Tag.objects.using(using).filter(name__in=v.TAGS).values_list("name", "pk"))


def _existing_uniques(using: str) -> Uniques:
    """Unique values already in the database, so an appended data set never collides with them."""
    uniques = Uniques()
    if not Account.objects.using(using).exists() and not Contact.objects.using(using).exists():
        return uniques
    uniques.corporate_numbers.update(
        Account.objects.using(using)
        .exclude(corporate_number=None)
        .values_list("corporate_number", flat=True)
        .iterator(chunk_size=CHUNK)
    )
    uniques.domains.update(
        AccountDomain.objects.using(using)
        .values_list("domain", flat=True)
        .iterator(chunk_size=CHUNK)
    )
    uniques.emails.update(
        Contact.objects.using(using)
        .exclude(email=None)
        .values_list("email", flat=True)
        .iterator(chunk_size=CHUNK)
    )
    return uniques


def _chunks(
    tasks: list[tuple[int, list[int], int, int, int]],
    workers: int,
    shared: tuple[int, AccountSet, DemoContext],
) -> Iterator[ContactChunk]:
    """The chunks in order, built by `workers` processes (0: in this process) a few ahead."""
    if workers == 0:
        demo_workers.start(*shared)
        for task in tasks:
            yield demo_workers.build_chunk(*task)
        return
    # spawn, not fork: a forked child would share this process's open database connection.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, demo_workers.start, shared) as pool:
        pending: deque = deque()
        for task in tasks:
            pending.append(pool.submit(demo_workers.build_chunk, *task))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def default_workers(contacts: int) -> int:
    """Worker processes for this many contacts: none for a few chunks, else all cores but one."""
    if contacts <= 2 * CHUNK:
        return 0
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def generate(
    *,
    contacts: int,
    seed: int = 1,
    progress: Progress | None = None,
    as_of: dt.datetime | None = None,
    workers: int | None = None,
    drop_indexes: bool = False,
    using: str = DEFAULT_DB_ALIAS,
) -> dict[str, int | float]:
    """Add the demo data set to the database: `contacts` people at about contacts/8 companies.

    The same (contacts, seed, as_of) gives the same rows on an empty database, whatever the
    number of `workers`; `as_of` (default: midnight today) is "now" for the data set, and every
    generated time lies in the two years before it (touchpoints: in the year before it).
    `drop_indexes` loads the tables without their secondary indexes and builds them at the end,
    and checks foreign keys once at the end rather than row by row (demo.indexes), which is
    much faster for large sets but makes the tables slow to query meanwhile: for a database
    nobody else is using.

    Ids are taken up front; on SQLite nothing else may add accounts or contacts meanwhile (a
    clash fails the chunk's transaction, it never mixes rows up). Returns the rows written per
    kind and the seconds it took.
    """
    if contacts < 1:
        raise DemoError("The data set needs at least one contact.")
    report = progress or (lambda message: None)
    began = time.perf_counter()
    connection = connections[using]
    restore_dropped_indexes(connection, report)
    end = int((as_of or default_as_of()).timestamp())
    context = DemoContext(
        end=end,
        timestamp=timestamp_adapter(connection.vendor),
        staff=ensure_staff(using),
        tag_ids=_ensure_tags(using),
    )
    uniques = _existing_uniques(using)
    counts: dict[str, int | float] = {
        "accounts": 0,
        "contacts": 0,
        "transitions": 0,
        "consents": 0,
        **{extra.name: 0 for extra in CHUNK_EXTRAS},
    }
    bulk_tables = [
        Account,
        AccountDomain,
        Contact,
        LifecycleTransition,
        ConsentRecord,
        *(extra.model() for extra in CHUNK_EXTRAS),
    ]
    loading = (
        secondary_indexes_dropped(connection, bulk_tables, report)
        if drop_indexes
        else nullcontext()
    )
    with loading:
        accounts = _write_accounts(connection, seed, contacts, context, uniques, counts, report)
        _write_contacts(
            connection,
            seed,
            contacts,
            context,
            accounts,
            uniques,
            counts,
            report,
            default_workers(contacts) if workers is None else workers,
        )
    counts["users"] = len(v.STAFF)
    counts["seconds"] = round(time.perf_counter() - began, 2)
    return counts


def _write_accounts(
    connection: BaseDatabaseWrapper,
    seed: int,
    contacts: int,
    context: DemoContext,
    uniques: Uniques,
    counts: dict[str, int | float],
    report: Progress,
) -> AccountSet:
    account_writer = TableWriter(connection, Account, ACCOUNT_FIELDS)
    domain_writer = TableWriter(connection, AccountDomain, DOMAIN_FIELDS)
    total = max(1, round(contacts / CONTACTS_PER_ACCOUNT))
    ids = reserve_ids(connection, Account, total)
    accounts = AccountSet()
    rng = random_stream(seed, "accounts")
    for first in range(0, total, CHUNK):
        with transaction.atomic(using=connection.alias):
            rows, domains = make_accounts(
                rng,
                ids=ids[first : first + CHUNK],
                first=first,
                total=total,
                start=context.end - ACCOUNT_SPAN,
                end=context.end,
                field_sales=context.staff.field_sales,
                uniques=uniques,
                timestamp=context.timestamp,
                into=accounts,
            )
            counts["accounts"] += account_writer.write(rows)
            domain_writer.write(domains)
        report(f"accounts {counts['accounts']:,}/{total:,}")
    return accounts


def _write_contacts(
    connection: BaseDatabaseWrapper,
    seed: int,
    contacts: int,
    context: DemoContext,
    accounts: AccountSet,
    uniques: Uniques,
    counts: dict[str, int | float],
    report: Progress,
    workers: int,
) -> None:
    contact_writer = TableWriter(connection, Contact, CONTACT_FIELDS)
    transition_writer = TableWriter(connection, LifecycleTransition, TRANSITION_FIELDS)
    consent_writer = TableWriter(connection, ConsentRecord, CONSENT_FIELDS)
    extra_writers = [TableWriter(connection, e.model(), e.fields) for e in CHUNK_EXTRAS]
    ids = reserve_ids(connection, Contact, contacts)
    start = context.end - CONTACT_SPAN
    tasks = [
        (number, ids[first : first + CHUNK], first, contacts, start)
        for number, first in enumerate(range(0, contacts, CHUNK))
    ]
    began = time.perf_counter()
    for chunk in _chunks(tasks, workers, (seed, accounts, context)):
        resolve_emails(chunk, uniques.emails)
        with transaction.atomic(using=connection.alias):
            counts["contacts"] += contact_writer.write(chunk.contacts)
            counts["transitions"] += transition_writer.write(chunk.transitions)
            counts["consents"] += consent_writer.write(chunk.consents)
            for extra, writer in zip(CHUNK_EXTRAS, extra_writers, strict=True):
                counts[extra.name] += writer.write(chunk.extras[extra.name])
        done = counts["contacts"]
        rate = done / (time.perf_counter() - began)
        report(f"contacts {done:,}/{contacts:,} ({rate:,.0f}/s)")
