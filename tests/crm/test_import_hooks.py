"""The import's registry for the apps above crm: touch kinds and the after-batch hooks."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection

from tsunagari.crm import imports
from tsunagari.crm.imports import hooks, writing
from tsunagari.crm.models import Contact, ImportJob
from tsunagari.crm.services import CrmError, contact_save

# These tests match the English messages (the UI defaults to Japanese).
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture(autouse=True)
def _uploads(settings, tmp_path):
    settings.UPLOAD_DIR = tmp_path / "uploads"


@pytest.fixture
def calls(monkeypatch) -> list[tuple[int, list[int], bool]]:
    """Only this test's hook is registered; each call as (job id, contact ids, in a transaction)."""
    seen: list[tuple[int, list[int], bool]] = []
    monkeypatch.setattr(hooks, "_AFTER_BATCH", [])
    imports.register_after_batch(
        lambda job, ids: seen.append((job.pk, list(ids), connection.in_atomic_block))
    )
    return seen


def csv_upload(rows: list[list[str]], object_type: str = "contact") -> ImportJob:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return imports.import_create(
        path_or_bytes=buffer.getvalue().encode(),
        file_name="list.csv",
        object_type=object_type,
        user=None,
    )


def run(job: ImportJob, **start) -> ImportJob:
    imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None, **start)
    return imports.import_run(job_id=job.pk)


def test_a_hook_gets_the_contacts_each_batch_created_or_updated_in_row_order(
    db, calls, monkeypatch
):
    monkeypatch.setattr(writing, "BATCH_SIZE", 3)
    existing = contact_save(contact=Contact(email="b@example.jp", family_name="既存"))
    job = csv_upload(
        [
            ["email", "family_name"],
            ["c@example.jp", "三"],
            ["b@example.jp", "二"],  # already there: updated
            ["not-an-email", "誤"],  # an error: no contact
            ["a@example.jp", "一"],
            ["", "名前だけ"],  # no email: created by name
            ["c@example.jp", "重複"],  # a duplicate row: an error
        ]
    )
    job = run(job)
    assert (job.created_count, job.updated_count, job.skipped_count) == (3, 1, 2)
    ids = {c.email or c.family_name: c.pk for c in Contact.objects.all()}
    assert calls == [
        (job.pk, [ids["c@example.jp"], existing.pk], True),
        (job.pk, [ids["a@example.jp"], ids["名前だけ"]], True),
    ]


def test_no_hook_runs_for_an_account_import(db, calls):
    job = run(csv_upload([["会社名"], ["株式会社つながり"]], object_type="account"))
    assert job.created_count == 1
    assert calls == []


def test_the_dry_run_calls_no_hook(db, calls):
    job = csv_upload([["email"], ["a@example.jp"]])
    preview = imports.import_preview(job=job, mapping=job.mapping)
    assert preview.would_create == 1
    assert calls == []


def test_a_failing_hook_rolls_its_batch_back(db, monkeypatch):
    def broken(job, ids):
        raise RuntimeError("hook failed")

    monkeypatch.setattr(hooks, "_AFTER_BATCH", [])
    imports.register_after_batch(broken)
    job = run(csv_upload([["email"], ["a@example.jp"]]))
    assert job.status == ImportJob.Status.FAILED
    assert "hook failed" in job.failure
    assert job.rows_done == 0
    assert not Contact.objects.exists()


def test_registering_twice_is_harmless(db, monkeypatch):
    monkeypatch.setattr(hooks, "_TOUCH_KINDS", {})
    monkeypatch.setattr(hooks, "_AFTER_BATCH", [])
    imports.register_touch_kinds([("trade_show", "Trade show")])
    imports.register_touch_kinds([("trade_show", "Trade show"), ("call", "Call")])
    assert imports.touch_kinds() == [("trade_show", "Trade show"), ("call", "Call")]
    seen = []

    def hook(job, ids):
        seen.append(ids)

    imports.register_after_batch(hook)
    imports.register_after_batch(hook)  # as a second AppConfig.ready() would
    run(csv_upload([["email"], ["a@example.jp"]]))
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("touch", "message"),
    [
        ({"type": "telepathy", "date": "2026-10-14"}, "not a kind of touch"),
        ({"type": "trade_show"}, "Enter the date"),
        ({"type": "trade_show", "date": "14/10/2026"}, "Enter the date"),
        ({"type": "trade_show", "date": "2999-01-01"}, "cannot be in the future"),
        ({"type": "trade_show", "date": "2026-10-14", "title": "x" * 101}, "longer than 100"),
    ],
)
def test_a_touch_that_cannot_be_recorded_is_refused_at_the_start(db, monkeypatch, touch, message):
    monkeypatch.setattr(hooks, "_TOUCH_KINDS", {"trade_show": "Trade show"})
    job = csv_upload([["email"], ["a@example.jp"]])
    with pytest.raises(CrmError, match=message):
        imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None, touch=touch)
    assert ImportJob.objects.get().status == ImportJob.Status.UPLOADED


def test_an_account_import_cannot_record_a_touch(db, monkeypatch):
    monkeypatch.setattr(hooks, "_TOUCH_KINDS", {"trade_show": "Trade show"})
    job = csv_upload([["会社名"], ["株式会社つながり"]], object_type="account")
    with pytest.raises(CrmError, match="only when importing contacts"):
        imports.import_start(
            job=job,
            mapping=job.mapping,
            consent_basis="",
            user=None,
            touch={"type": "trade_show", "date": "2026-10-14"},
        )


def test_the_touch_is_kept_on_the_job_trimmed_and_none_is_an_empty_object(db, monkeypatch):
    monkeypatch.setattr(hooks, "_TOUCH_KINDS", {"trade_show": "Trade show"})
    job = csv_upload([["email"], ["a@example.jp"]])
    job = imports.import_start(
        job=job,
        mapping=job.mapping,
        consent_basis="",
        user=None,
        touch={"type": "trade_show", "title": " 展示会 2026秋 ", "date": "2026-10-14"},
    )
    assert job.touch == {"type": "trade_show", "title": "展示会 2026秋", "date": "2026-10-14"}
    other = csv_upload([["email"], ["b@example.jp"]])
    assert (
        imports.import_start(
            job=other, mapping=other.mapping, consent_basis="", user=None, touch={"type": ""}
        ).touch
        == {}
    )
