"""The worker's side of an import: claiming a job and running it batch by batch.

Each batch is one transaction that also advances job.rows_done and runs the after-batch hooks
(hooks.py), so a crash loses only the batch in flight, and a retry resumes after the last
committed row without writing any row, or anything a hook wrote for it, twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.crm.imports.cleaning import CheckedRows, Row
from tsunagari.crm.imports.fields import CONTACT
from tsunagari.crm.imports.hooks import after_batch
from tsunagari.crm.imports.writing import Run
from tsunagari.crm.models import ImportJob
from tsunagari.crm.services import CrmError
from tsunagari.work.claims import claim_one, due

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
# The shared worker runs other kinds of work too: a long import yields after this long.
WORKER_SLICE_SECONDS = 20.0
MAX_STORED_ERRORS = 1000
# While an import runs on SQLite, the write-ahead log is copied into the database after about
# this many pages (4 KiB each) instead of SQLite's default 1,000.
WAL_CHECKPOINT_PAGES = 25_000


class _Stopped(Exception):
    """The job was cancelled or taken over by another worker: stop without writing."""


def import_claim(*, job_id: int) -> bool:
    """Take a due job for this worker; True for exactly one of any number of racing workers."""
    return claim_one(
        ImportJob,
        pk=job_id,
        ready=due(ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
        running_status=ImportJob.Status.RUNNING,
        lease=LEASE,
    )


def import_run(*, job_id: int) -> ImportJob:
    """Claim the job and run it to the end in this process (tests, benchmark, CLI)."""
    if not import_claim(job_id=job_id):
        raise CrmError(_("This import is not waiting to run."))
    process(job_id, max_seconds=None)
    return ImportJob.objects.get(pk=job_id)


def run_due_imports() -> int:
    """Worker entry: claim one due import and run it for a time slice; the number of jobs run."""
    due_ids = (
        ImportJob.objects.filter(due(ImportJob.Status.QUEUED, ImportJob.Status.RUNNING))
        .order_by("pk")
        .values_list("pk", flat=True)[:10]
    )
    for job_id in due_ids:
        if import_claim(job_id=job_id):
            process(job_id, max_seconds=WORKER_SLICE_SECONDS)
            return 1
    return 0


def process(job_id: int, *, max_seconds: float | None) -> None:
    """Run a claimed job batch by batch; stop when done, failed, cancelled or out of time."""
    started = time.monotonic()
    job = ImportJob.objects.get(pk=job_id)
    done = job.rows_done
    errors = list(job.errors)
    try:
        run = Run(job, job.mapping, job.consent_basis, writing=True)
        contacts = job.object_type == CONTACT
        with _deferred_checkpoints():
            for rows in run.batches(skip=done):
                with transaction.atomic():
                    _hold(job_id, done)
                    batch = run.plan(rows)
                    run.write(batch)
                    if contacts:
                        after_batch(job, batch.contact_ids())
                    done += len(rows)
                    failed = [{"row": r.number, "errors": r.errors} for r in rows if r.errors]
                    errors += failed[: max(0, MAX_STORED_ERRORS - len(errors))]
                    _advance(job_id, done, rows, errors)
                out_of_time = max_seconds is not None and time.monotonic() - started > max_seconds
                if out_of_time and done < job.row_count:
                    # Expire our own lease: the job stays RUNNING and is due again at once.
                    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
                        lease_until=timezone.now()
                    )
                    return
    except _Stopped:
        return
    except Exception as exc:
        log.exception("import %s failed after %s rows", job_id, done)
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.FAILED,
            failure=f"{type(exc).__name__}: {exc}"[:2000],
            lease_until=None,
            finished_at=timezone.now(),
        )
        return
    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.DONE, lease_until=None, finished_at=timezone.now()
    )
    CheckedRows.discard(job)


@contextmanager
def _deferred_checkpoints() -> Iterator[None]:
    """On SQLite, copy the write-ahead log into the database rarely rather than per batch.

    A checkpoint writes and syncs every page the batch touched; the next batch touches most
    of the same index pages again, so fewer, larger checkpoints write far less.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        (before,) = cursor.fetchone()
        cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint = {int(before)}")
            if not connection.in_atomic_block:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _hold(job_id: int, done: int) -> None:
    """Renew the lease, and check the job is still ours and where we left it.

    Inside the batch's transaction, this UPDATE also locks the job row (PostgreSQL), so two
    workers can never write the same batch.
    """
    held = ImportJob.objects.filter(
        pk=job_id, status=ImportJob.Status.RUNNING, rows_done=done
    ).update(lease_until=timezone.now() + LEASE)
    if held != 1:
        raise _Stopped


def _advance(job_id: int, done: int, rows: list[Row], errors: list[dict]) -> None:
    counts = {"create": 0, "update": 0, "error": 0}
    for row in rows:
        counts[row.action] += 1
    ImportJob.objects.filter(pk=job_id).update(
        rows_done=done,
        created_count=F("created_count") + counts["create"],
        updated_count=F("updated_count") + counts["update"],
        skipped_count=F("skipped_count") + counts["error"],
        errors=errors,
    )
