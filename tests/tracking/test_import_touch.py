"""A touch for every row: a trade-show list imported with its event name and date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation

from tsunagari.crm import imports
from tsunagari.crm.imports import writing
from tsunagari.crm.models import ConsentRecord, Contact, ImportJob
from tsunagari.crm.services import CrmError
from tsunagari.tracking import services as tracking_services
from tsunagari.tracking.models import Touchpoint

# These tests match the English messages (the UI defaults to Japanese).
pytestmark = pytest.mark.usefixtures("english")

DATA = Path(__file__).resolve().parents[1] / "data"
EVENT = "展示会 2026秋"
TRADE_SHOW = {"type": "trade_show", "title": EVENT, "date": "2026-10-14"}
BASIS = "2026-10-14 展示会ブースで名刺交換、メール配信に同意"
EMAILS = [
    "ichiro.takahashi@tsunagari.example.jp",
    "ken.kobayashi@sakura-denki.example.jp",
    "mari.yamazaki@fuji-logi.example.jp",
    "hanako.saito@midori-shoji.example.jp",
]


@pytest.fixture(autouse=True)
def _uploads(settings, tmp_path):
    settings.UPLOAD_DIR = tmp_path / "uploads"


def upload(user=None) -> ImportJob:
    return imports.import_create(
        path_or_bytes=DATA / "tradeshow_sjis.csv",
        file_name="tradeshow_sjis.csv",
        object_type="contact",
        user=user,
    )


def import_trade_show() -> ImportJob:
    job = upload()
    imports.import_start(
        job=job, mapping=job.mapping, consent_basis=BASIS, user=None, touch=TRADE_SHOW
    )
    return imports.import_run(job_id=job.pk)


def touch_types_by_contact() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {contact.pk: [] for contact in Contact.objects.all()}
    for contact_id, type_key in Touchpoint.objects.values_list("contact_id", "type"):
        found[contact_id].append(type_key)
    return found


def test_every_contact_of_the_list_gets_one_trade_show_touch_with_its_name_and_date(db, settings):
    job = import_trade_show()
    assert (job.encoding, job.status) == ("cp932", ImportJob.Status.DONE)
    assert (job.created_count, job.updated_count, job.skipped_count) == (5, 0, 0)
    assert job.touch == TRADE_SHOW
    # 4 business cards with an email address and one without: all five are contacts now.
    assert sorted(Contact.objects.exclude(email=None).values_list("email", flat=True)) == sorted(
        EMAILS
    )
    assert Contact.objects.get(email=None).family_name == "中村"
    assert ConsentRecord.objects.filter(action="opt_in", basis=BASIS).count() == 2
    assert ConsentRecord.objects.filter(action="opt_out").count() == 1

    assert set(map(tuple, touch_types_by_contact().values())) == {("trade_show",)}
    ten_am = dt.datetime(2026, 10, 14, 10, 0, tzinfo=ZoneInfo(settings.TIME_ZONE))
    for touch in Touchpoint.objects.select_related("contact"):
        assert touch.channel == "trade_show"
        assert touch.occurred_at == ten_am
        assert (touch.title, touch.campaign) == (EVENT, EVENT)
        assert touch.source == "import:tradeshow_sjis.csv"
        assert touch.account_id == touch.contact.account_id is not None
        assert touch.contact.last_activity_at == ten_am


def test_without_a_touch_the_import_records_none(db):
    job = upload()
    imports.import_start(job=job, mapping=job.mapping, consent_basis=BASIS, user=None)
    job = imports.import_run(job_id=job.pk)
    assert (job.status, job.created_count, job.touch) == (ImportJob.Status.DONE, 5, {})
    assert not Touchpoint.objects.exists()


def test_the_dry_run_records_no_touch(db):
    job = upload()
    preview = imports.import_preview(job=job, mapping=job.mapping, consent_basis=BASIS)
    assert preview.would_create == 5
    assert not Touchpoint.objects.exists()
    assert not Contact.objects.exists()


def test_a_second_import_of_the_same_list_records_a_second_touch(db):
    """Each import is an event record of its own: importing the list twice records it twice.

    The four people with an email address are found again and updated; the card without one
    cannot be matched, so it becomes a second contact, as any import of a name-only row does.
    """
    import_trade_show()
    job = import_trade_show()
    assert (job.created_count, job.updated_count) == (1, 4)
    by_contact = touch_types_by_contact()
    for email in EMAILS:
        assert by_contact[Contact.objects.get(email=email).pk] == ["trade_show", "trade_show"]
    assert [by_contact[c.pk] for c in Contact.objects.filter(email=None)] == [
        ["trade_show"],
        ["trade_show"],
    ]


def test_a_finished_import_cannot_be_run_again_to_double_its_touches(db):
    job = import_trade_show()
    with pytest.raises(CrmError, match="Only a failed import"):
        imports.import_retry(job=job, user=None)
    assert Touchpoint.objects.count() == 5


def test_a_crash_mid_import_keeps_one_touch_per_committed_contact_and_the_retry_completes(
    db, monkeypatch
):
    monkeypatch.setattr(writing, "BATCH_SIZE", 2)  # batches of rows 2–3, 4–5 and 6
    append = tracking_services.touches_for_contacts
    calls = {"n": 0}

    def crash_after_the_second_batchs_touches(**kwargs):
        calls["n"] += 1
        touches = append(**kwargs)
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return touches

    monkeypatch.setattr(
        tracking_services, "touches_for_contacts", crash_after_the_second_batchs_touches
    )
    job = import_trade_show()
    assert job.status == ImportJob.Status.FAILED
    assert (job.rows_done, job.created_count) == (2, 2)
    # The second batch's contacts and touches rolled back together.
    assert Contact.objects.count() == 2
    assert set(map(tuple, touch_types_by_contact().values())) == {("trade_show",)}

    monkeypatch.setattr(tracking_services, "touches_for_contacts", append)
    imports.import_retry(job=job, user=None)
    job = imports.import_run(job_id=job.pk)
    assert (job.status, job.rows_done, job.created_count) == (ImportJob.Status.DONE, 5, 5)
    assert Contact.objects.count() == 5
    assert set(map(tuple, touch_types_by_contact().values())) == {("trade_show",)}
    assert Touchpoint.objects.count() == 5


# The import page


@pytest.fixture
def english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def form_data(job: ImportJob, action: str, **touch) -> dict[str, str]:
    data = {f"col_{i}": job.mapping.get(header, "") for i, header in enumerate(job.headers)}
    data.update(action=action, consent_basis=BASIS, **touch)
    return data


def test_the_mapping_form_offers_the_offline_kinds_of_touch(marketer_client, english):
    job = upload()
    page = marketer_client.get(f"/imports/{job.pk}/").content.decode()
    assert "Record a touch for every row" in page
    for label in ("Trade show visit", "Business card exchange", "Seminar registration", "Call"):
        assert label in page
    assert "Page view" not in page


def test_an_account_import_offers_no_touch(marketer_client, english):
    job = imports.import_create(
        path_or_bytes=DATA / "accounts_utf8.csv",
        file_name="accounts.csv",
        object_type="account",
        user=None,
    )
    page = marketer_client.get(f"/imports/{job.pk}/").content.decode()
    assert "Record a touch for every row" not in page


def test_starting_with_a_touch_keeps_it_and_the_pages_show_it(marketer_client, english):
    job = upload()
    response = marketer_client.post(
        f"/imports/{job.pk}/",
        form_data(
            job, "start", touch_type="trade_show", touch_title=EVENT, touch_date="2026-10-14"
        ),
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.touch) == (ImportJob.Status.QUEUED, TRADE_SHOW)
    shown = f"Trade show visit: {EVENT}, 2026-10-14"
    assert shown in marketer_client.get(f"/imports/{job.pk}/").content.decode()
    assert shown in marketer_client.get("/imports/").content.decode()


@pytest.mark.parametrize(
    ("touch", "message"),
    [
        (
            {"touch_type": "trade_show", "touch_title": EVENT, "touch_date": "future"},
            "The date of the touch cannot be in the future.",
        ),
        ({"touch_type": "trade_show", "touch_title": EVENT}, "Enter the date of the touch."),
        ({"touch_type": "trade_show", "touch_date": "14.10.2026"}, "Enter a valid date."),
        (
            {"touch_title": EVENT, "touch_date": "2026-10-14"},
            "Choose the kind of touch to record, or clear the event name and date.",
        ),
        ({"touch_type": "page_view", "touch_date": "2026-10-14"}, "Select a valid choice."),
    ],
)
def test_a_touch_that_cannot_be_recorded_is_refused_on_the_form(
    marketer_client, english, touch, message
):
    if touch.get("touch_date") == "future":
        touch["touch_date"] = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    job = upload()
    response = marketer_client.post(f"/imports/{job.pk}/", form_data(job, "start", **touch))
    assert response.status_code == 200
    assert message in response.content.decode()
    job.refresh_from_db()
    assert (job.status, job.touch) == (ImportJob.Status.UPLOADED, {})


def test_the_dry_run_from_the_page_records_no_touch(marketer_client, english):
    job = upload()
    response = marketer_client.post(
        f"/imports/{job.pk}/",
        form_data(
            job, "preview", touch_type="trade_show", touch_title=EVENT, touch_date="2026-10-14"
        ),
    )
    assert response.status_code == 200
    assert "Would create" in response.content.decode()
    assert not Touchpoint.objects.exists()
    job.refresh_from_db()
    assert (job.status, job.touch) == (ImportJob.Status.UPLOADED, {})
