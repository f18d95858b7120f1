"""The import pages: upload, mapping, dry run, start, progress, errors CSV; access and bad input."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from tsunagari.crm import imports
from tsunagari.crm.models import Account, Contact, ImportJob, ImportMappingMemory

pytestmark = pytest.mark.django_db
DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(autouse=True)
def _uploads(settings, tmp_path):
    settings.UPLOAD_DIR = tmp_path / "uploads"


@pytest.fixture(autouse=True)
def _english(settings):
    # Assertions below read the English messages; the product's default language is Japanese.
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def sample(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (DATA / name).read_bytes(), content_type="text/csv")


def upload(client, name: str = "contacts_utf8.csv", object_type: str = "contact"):
    return client.post(
        "/imports/",
        {"object_type": object_type, "file": sample(name)},
    )


def mapping_post(job: ImportJob, action: str, **extra) -> dict[str, str]:
    data = {f"col_{i}": job.mapping.get(header, "") for i, header in enumerate(job.headers)}
    data.update(action=action, consent_basis="", **extra)
    return data


# Access


def test_anonymous_users_are_sent_to_log_in(client):
    for url in ("/imports/", "/imports/1/", "/imports/1/errors.csv"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_a_read_only_user_cannot_see_imports_or_upload(reader_client):
    assert reader_client.get("/imports/").status_code == 403
    assert upload(reader_client).status_code == 403
    assert not ImportJob.objects.exists()


def test_a_read_only_user_cannot_open_someone_elses_import(reader_client, marketer_client):
    upload(marketer_client)
    job = ImportJob.objects.get()
    assert reader_client.get(f"/imports/{job.pk}/").status_code == 403
    assert reader_client.get(f"/imports/{job.pk}/errors.csv").status_code == 403


def test_an_unknown_import_is_404(marketer_client):
    assert marketer_client.get("/imports/999/").status_code == 404


# The list page


def test_the_import_page_has_an_empty_state_and_the_upload_form(marketer_client):
    page = marketer_client.get("/imports/").content.decode()
    assert "No imports yet" in page
    assert 'enctype="multipart/form-data"' in page
    assert "Shift_JIS" in page


def test_the_import_history_makes_the_same_few_queries_for_many_jobs(marketer_client, marketer):
    for _ in range(5):
        imports.import_create(
            path_or_bytes=DATA / "contacts_tab.tsv",
            file_name="list.tsv",
            object_type="contact",
            user=marketer,
        )
    with CaptureQueriesContext(connection) as queries:
        page = marketer_client.get("/imports/")
    assert page.status_code == 200
    assert page.content.decode().count("list.tsv") == 5
    # session, user, the unread-notification count of the top bar, the jobs with their uploader
    assert len(queries) <= 4, [q["sql"] for q in queries]


# Upload


def test_uploading_a_file_shows_its_columns_with_a_suggested_mapping(marketer_client):
    response = upload(marketer_client)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/imports/{job.pk}/"
    page = marketer_client.get(response["Location"]).content.decode()
    assert "Last Name Kana" in page
    assert 'value="account.corporate_number" selected' in page
    assert "taro.yamada@tsunagari.example.jp" in page  # first values of each column


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_utf16.csv", "UTF-16"),
        ("bad_binary.csv", "Cannot read the file"),
        ("bad_ragged.csv", "rows 3, 5"),
        ("bad_header_only.csv", "no rows"),
    ],
)
def test_an_unreadable_upload_is_refused_with_a_message_and_nothing_kept(
    marketer_client, settings, name, message
):
    response = upload(marketer_client, name)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()
    assert not list(Path(settings.UPLOAD_DIR).glob("**/*.csv"))


def test_an_empty_upload_is_refused(marketer_client):
    response = upload(marketer_client, "bad_empty.csv")
    assert response.status_code == 200
    assert not ImportJob.objects.exists()


def test_an_over_size_upload_is_refused(marketer_client, settings):
    settings.TSUNAGARI_IMPORT_MAX_BYTES = 100
    response = upload(marketer_client)
    assert response.status_code == 200
    assert "at most 100" in response.content.decode()
    assert not ImportJob.objects.exists()


# Mapping, dry run and start


def test_the_dry_run_shows_counts_and_errors_and_writes_nothing(marketer_client):
    upload(marketer_client)
    job = ImportJob.objects.get()
    response = marketer_client.post(f"/imports/{job.pk}/", mapping_post(job, "preview"))
    page = response.content.decode()
    preview = response.context["preview"]
    assert (preview.would_create, preview.would_update, preview.error_count) == (6, 0, 5)
    assert "not-an-email" in page
    assert "1234567890123" in page
    assert not Contact.objects.exists()
    assert not Account.objects.exists()


def test_html_in_a_name_is_shown_escaped_on_the_preview(marketer_client):
    upload(marketer_client)
    job = ImportJob.objects.get()
    page = marketer_client.post(f"/imports/{job.pk}/", mapping_post(job, "preview"))
    html = page.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>太</b>" not in html


def test_a_field_chosen_twice_is_refused_with_a_message(marketer_client):
    upload(marketer_client)
    job = ImportJob.objects.get()
    data = mapping_post(job, "preview", col_1="email")
    page = marketer_client.post(f"/imports/{job.pk}/", data).content.decode()
    assert "choose one" in page
    assert not Contact.objects.exists()


def test_starting_queues_the_import_and_remembers_the_mapping(marketer_client):
    upload(marketer_client)
    job = ImportJob.objects.get()
    response = marketer_client.post(f"/imports/{job.pk}/", mapping_post(job, "start"))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED
    assert ImportMappingMemory.objects.get().mapping == job.mapping
    page = marketer_client.get(f"/imports/{job.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in page


def test_the_progress_partial_polls_while_running_and_reloads_when_done(marketer_client):
    upload(marketer_client)
    job = ImportJob.objects.get()
    marketer_client.post(f"/imports/{job.pk}/", mapping_post(job, "start"))
    partial = marketer_client.get(f"/imports/{job.pk}/", HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert b"<html" not in partial.content
    assert b"hx-get" in partial.content
    imports.run_due_imports()
    finished = marketer_client.get(f"/imports/{job.pk}/", HTTP_HX_REQUEST="true")
    assert finished["HX-Refresh"] == "true"
    page = marketer_client.get(f"/imports/{job.pk}/").content.decode()
    assert "hx-get" not in page
    assert "errors.csv" in page
    assert "not-an-email" in page


def test_a_failed_import_can_be_retried_from_its_page(marketer_client):
    upload(marketer_client, "contacts_tab.tsv")
    job = ImportJob.objects.get()
    marketer_client.post(f"/imports/{job.pk}/", mapping_post(job, "start"))
    ImportJob.objects.filter(pk=job.pk).update(status="failed", failure="OperationalError: x")
    page = marketer_client.get(f"/imports/{job.pk}/").content.decode()
    assert "OperationalError: x" in page
    marketer_client.post(f"/imports/{job.pk}/", {"action": "retry"})
    assert ImportJob.objects.get().status == ImportJob.Status.QUEUED


def test_discarding_an_uploaded_file_cancels_it(marketer_client, settings):
    upload(marketer_client, "contacts_tab.tsv")
    job = ImportJob.objects.get()
    marketer_client.post(f"/imports/{job.pk}/", {"action": "cancel"})
    assert ImportJob.objects.get().status == ImportJob.Status.CANCELLED
    assert not list(Path(settings.UPLOAD_DIR).glob("**/*.csv"))


def test_a_started_import_cannot_be_started_again(marketer_client):
    upload(marketer_client, "contacts_tab.tsv")
    job = ImportJob.objects.get()
    marketer_client.post(f"/imports/{job.pk}/", mapping_post(job, "start"))
    again = marketer_client.post(f"/imports/{job.pk}/", mapping_post(job, "start"), follow=True)
    assert "already been started" in again.content.decode()


# Errors CSV


def read_csv(response, encoding: str = "utf-8-sig") -> list[list[str]]:
    body = b"".join(response.streaming_content).decode(encoding)
    return list(csv.reader(io.StringIO(body)))


def test_the_errors_csv_lists_each_bad_row_as_it_was_with_its_errors(marketer_client):
    upload(marketer_client)
    job = ImportJob.objects.get()
    marketer_client.post(f"/imports/{job.pk}/", mapping_post(job, "start"))
    imports.run_due_imports()
    response = marketer_client.get(f"/imports/{job.pk}/errors.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = read_csv(response)
    assert rows[0] == ["Row", *job.headers, "Errors"]
    assert [row[0] for row in rows[1:]] == ["4", "5", "6", "7", "9"]
    assert rows[1][1] == "not-an-email"
    assert "not-an-email" in rows[1][-1]


def test_the_errors_csv_of_a_dry_run_uses_the_files_encoding(marketer_client):
    upload(marketer_client, "contacts_sjis.csv")
    job = ImportJob.objects.get()
    marketer_client.post(f"/imports/{job.pk}/", mapping_post(job, "preview"))
    response = marketer_client.get(f"/imports/{job.pk}/errors.csv")
    assert response["Content-Type"] == "text/csv; charset=Shift_JIS"
    rows = read_csv(response, "cp932")
    assert rows[0][1] == "メールアドレス"
    assert [row[0] for row in rows[1:]] == ["6"]


def test_formulas_from_the_file_are_neutralised_in_the_errors_csv(marketer_client):
    data = b'email,family_name\r\nnot-an-email,=HYPERLINK("http://evil.example/")\r\n'
    marketer_client.post(
        "/imports/",
        {"object_type": "contact", "file": SimpleUploadedFile("f.csv", data)},
    )
    job = ImportJob.objects.get()
    marketer_client.post(f"/imports/{job.pk}/", mapping_post(job, "preview"))
    rows = read_csv(marketer_client.get(f"/imports/{job.pk}/errors.csv"))
    assert rows[1][2] == '\'=HYPERLINK("http://evil.example/")'


def test_the_errors_csv_of_an_unmapped_file_explains_instead_of_failing(marketer_client):
    data = b"foo,bar\r\n1,2\r\n"
    marketer_client.post(
        "/imports/", {"object_type": "contact", "file": SimpleUploadedFile("x.csv", data)}
    )
    job = ImportJob.objects.get()
    assert job.mapping == {}
    response = marketer_client.get(f"/imports/{job.pk}/errors.csv", follow=True)
    assert "Map a column to the email address or to the name" in response.content.decode()
