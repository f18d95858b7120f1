"""The import's use cases for people: upload, mapping, dry run, start, retry and cancel."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.core.models import User
from tsunagari.core.roles import Capability
from tsunagari.crm.imports.cleaning import CheckedRows
from tsunagari.crm.imports.fields import (
    ACCOUNT,
    CONTACT,
    checked_mapping,
    header_signature,
    import_fields,
    suggest_mapping,
)
from tsunagari.crm.imports.hooks import touch_kinds
from tsunagari.crm.imports.reading import (
    ImportFileError,
    decode,
    detect_delimiter,
    inspect_text,
    job_rows,
    stored_file,
)
from tsunagari.crm.imports.writing import Run
from tsunagari.crm.models import ImportJob, ImportMappingMemory
from tsunagari.crm.services import CrmError

PREVIEW_SAMPLE_ROWS = 20
PREVIEW_ERROR_ROWS = 200
ACTIVE_STATUSES = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
# A touch's event name is also its campaign, which holds this many characters.
TOUCH_TITLE_MAX = 100


def _require(user: User | None) -> None:
    if user is not None and not user.can(Capability.CRM_IMPORT):
        raise CrmError(_("You may not import data."))


def import_create(
    *, path_or_bytes: Path | str | bytes, file_name: str, object_type: str, user: User | None
) -> ImportJob:
    """Check and keep an uploaded file; ImportFileError (nothing kept) when it cannot be read."""
    _require(user)
    if object_type not in (CONTACT, ACCOUNT):
        raise CrmError(_("Choose whether the file holds contacts or accounts."))
    limit = settings.TSUNAGARI_IMPORT_MAX_BYTES
    size = (
        len(path_or_bytes)
        if isinstance(path_or_bytes, bytes)
        else Path(path_or_bytes).stat().st_size
    )
    if size > limit:
        raise ImportFileError(
            _("The file is %(size)s; an import takes at most %(limit)s. Split it into parts.")
            % {"size": filesizeformat(size), "limit": filesizeformat(limit)}
        )
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    if not data.strip():
        raise ImportFileError(_("The file is empty."))
    encoding, text = decode(data)
    delimiter = detect_delimiter(text)
    headers, row_count = inspect_text(text, delimiter)
    relative = f"imports/{uuid.uuid4().hex}.csv"
    target = Path(settings.UPLOAD_DIR) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    try:
        return ImportJob.objects.create(
            object_type=object_type,
            file_name=Path(file_name).name[:255] or "import.csv",
            stored_path=relative,
            file_size=size,
            encoding=encoding,
            delimiter=delimiter,
            headers=headers,
            mapping=suggest_mapping(object_type=object_type, headers=headers),
            row_count=row_count,
            created_by=user,
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def import_set_mapping(*, job: ImportJob, mapping: dict[str, str], consent_basis: str) -> None:
    """Keep the mapping being worked on (before the start), so the page shows it again."""
    checked = checked_mapping(job, mapping, import_fields(job.object_type))
    basis = _checked_basis(consent_basis)
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.UPLOADED).update(
        mapping=checked, consent_basis=basis
    )
    job.mapping, job.consent_basis = checked, basis


def _checked_basis(consent_basis: str) -> str:
    basis = consent_basis.strip()
    if len(basis) > ImportJob._meta.get_field("consent_basis").max_length:
        raise CrmError(_("The consent basis is longer than 300 characters."))
    return basis


def _checked_touch(job: ImportJob, touch: dict[str, str] | None) -> dict[str, str]:
    """The touch to keep on the job ({} for none), or CrmError saying what is wrong with it."""
    kind = (touch or {}).get("type") or ""
    if not kind:
        return {}
    if job.object_type != CONTACT:
        raise CrmError(_("A touch can be recorded only when importing contacts."))
    if kind not in dict(touch_kinds()):
        raise CrmError(
            _("“%(kind)s” is not a kind of touch an import can record.") % {"kind": kind}
        )
    title = str(touch.get("title") or "").strip()
    if len(title) > TOUCH_TITLE_MAX:
        raise CrmError(
            _("The event name is longer than %(limit)s characters.") % {"limit": TOUCH_TITLE_MAX}
        )
    try:
        day = date.fromisoformat(str(touch.get("date") or ""))
    except ValueError:
        raise CrmError(_("Enter the date of the touch.")) from None
    if day > timezone.localdate():
        raise CrmError(_("The date of the touch cannot be in the future."))
    return {"type": kind, "title": title, "date": day.isoformat()}


@dataclass
class PreviewRow:
    row: int  # the row number a spreadsheet shows (the header is row 1)
    action: str  # "create", "update" or "error"
    values: list[str]
    errors: list[str]
    account: str = ""


@dataclass
class Preview:
    """What an import would do, found by a dry run over every row."""

    columns: list[str]
    total: int = 0
    would_create: int = 0
    would_update: int = 0
    error_count: int = 0
    accounts_would_create: int = 0
    sample: list[PreviewRow] = field(default_factory=list)
    errors: list[PreviewRow] = field(default_factory=list)


def import_preview(*, job: ImportJob, mapping: dict[str, str], consent_basis: str = "") -> Preview:
    """Validate and match every row as the import would, writing nothing to the CRM.

    Its reading of the rows is kept beside the upload, for the import to reuse when it is
    started with the same mapping.
    """
    checked = checked_mapping(job, mapping, import_fields(job.object_type))
    run = Run(job, checked, _checked_basis(consent_basis), writing=False)
    preview = Preview(columns=[str(run.fields[key].label) for key in checked.values()])
    record = CheckedRows(job, run.fingerprint)
    try:
        _tally(preview, run, record)
    except BaseException:
        record.abandon()
        raise
    record.close()
    return preview


def _tally(preview: Preview, run: Run, record: CheckedRows) -> None:
    for rows in run.batches(record=record):
        run.plan(rows)
        for row in rows:
            preview.total += 1
            if row.action == "error":
                preview.error_count += 1
            elif row.action == "create":
                preview.would_create += 1
            else:
                preview.would_update += 1
            wanted_sample = len(preview.sample) < PREVIEW_SAMPLE_ROWS
            wanted_error = row.action == "error" and len(preview.errors) < PREVIEW_ERROR_ROWS
            if wanted_sample or wanted_error:
                shown = PreviewRow(
                    row.number,
                    row.action,
                    run.display(row),
                    list(row.errors),
                    row.account.name if row.account is not None else "",
                )
                if wanted_sample:
                    preview.sample.append(shown)
                if wanted_error:
                    preview.errors.append(shown)
    preview.accounts_would_create = run.accounts.created if run.cleaner.contacts else 0


def import_error_rows(*, job: ImportJob) -> Iterator[tuple[int, list[str], list[str]]]:
    """(row number, original cells, messages) of every row in error, for the errors CSV.

    Before the start, a dry run with the saved mapping finds them; after, the stored errors
    (the first MAX_STORED_ERRORS of them) are matched back to the file's rows. A mapping that
    cannot be used raises CrmError here, before the first row.
    """
    if job.status == ImportJob.Status.UPLOADED:
        mapping = checked_mapping(job, job.mapping, import_fields(job.object_type))
        return _dry_run_errors(Run(job, mapping, job.consent_basis, writing=False))
    stored = {entry["row"]: entry["errors"] for entry in job.errors}
    return _stored_errors(job, stored) if stored else iter(())


def _dry_run_errors(run: Run) -> Iterator[tuple[int, list[str], list[str]]]:
    for rows in run.batches():
        run.plan(rows)
        for row in rows:
            if row.errors:
                yield row.number, row.cells, row.errors


def _stored_errors(
    job: ImportJob, stored: dict[int, list[str]]
) -> Iterator[tuple[int, list[str], list[str]]]:
    last = max(stored)
    for number, cells in job_rows(job):
        if number in stored:
            yield number, cells, stored[number]
        if number >= last:
            return


def import_start(
    *,
    job: ImportJob,
    mapping: dict[str, str],
    consent_basis: str,
    user: User | None,
    touch: dict[str, str] | None = None,
) -> ImportJob:
    """Queue the import for the worker and remember the mapping for files with these headers.

    `touch` ({"type", "title", "date"}, a kind registered in hooks.py) is recorded for every
    contact the import creates or updates, by the hooks registered for it.
    """
    _require(user)
    checked = checked_mapping(job, mapping, import_fields(job.object_type))
    basis = _checked_basis(consent_basis)
    touch = _checked_touch(job, touch)
    with transaction.atomic():
        started = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.UPLOADED).update(
            status=ImportJob.Status.QUEUED, mapping=checked, consent_basis=basis, touch=touch
        )
        if started != 1:
            raise CrmError(_("This import has already been started or cancelled."))
        ImportMappingMemory.objects.update_or_create(
            object_type=job.object_type,
            header_signature=header_signature(job.headers),
            defaults={"mapping": checked},
        )
    job.refresh_from_db()
    return job


def import_retry(*, job: ImportJob, user: User | None) -> None:
    """Queue a failed import again; it resumes after the last row committed."""
    _require(user)
    queued = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.FAILED).update(
        status=ImportJob.Status.QUEUED, failure="", finished_at=None, lease_until=None
    )
    if queued != 1:
        raise CrmError(_("Only a failed import can be retried."))


def import_cancel(*, job: ImportJob, user: User | None) -> None:
    """Stop an import; rows already imported stay (a running batch finishes or rolls back)."""
    _require(user)
    stoppable = (*ACTIVE_STATUSES, ImportJob.Status.UPLOADED, ImportJob.Status.FAILED)
    cancelled = ImportJob.objects.filter(pk=job.pk, status__in=stoppable).update(
        status=ImportJob.Status.CANCELLED, finished_at=timezone.now(), lease_until=None
    )
    if cancelled != 1:
        raise CrmError(_("This import has already finished."))
    CheckedRows.discard(job)
    if job.status == ImportJob.Status.UPLOADED:
        stored_file(job).unlink(missing_ok=True)
