"""The CSV import services: reading files, mapping, dry run, upsert, failure and resume."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.utils import translation

from tsunagari.core.text import corporate_number_check_digit
from tsunagari.crm import imports
from tsunagari.crm.imports import cleaning, running, writing
from tsunagari.crm.models import (
    Account,
    AccountDomain,
    ConsentRecord,
    Contact,
    CustomField,
    ImportJob,
    ImportMappingMemory,
    LifecycleTransition,
)
from tsunagari.crm.services import CrmError, account_save, contact_save

DATA = Path(__file__).resolve().parents[1] / "data"
TSUNAGARI = "9010401123456"  # valid 法人番号 used by the sample files
SAKURA = "9012001234567"
FUJI = "3020001345678"


@pytest.fixture(autouse=True)
def _uploads(settings, tmp_path, english):
    """Uploads in a scratch folder; messages in English, which the tests match."""
    settings.UPLOAD_DIR = tmp_path / "uploads"


def csv_bytes(rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def upload(source: str | bytes, object_type: str = "contact", user=None) -> ImportJob:
    if isinstance(source, str):
        return imports.import_create(
            path_or_bytes=DATA / source, file_name=source, object_type=object_type, user=user
        )
    return imports.import_create(
        path_or_bytes=source, file_name="test.csv", object_type=object_type, user=user
    )


def run(job: ImportJob, mapping: dict | None = None, consent_basis: str = "") -> ImportJob:
    imports.import_start(
        job=job, mapping=mapping or job.mapping, consent_basis=consent_basis, user=None
    )
    return imports.import_run(job_id=job.pk)


def import_(source: str | bytes, object_type: str = "contact", **kwargs) -> ImportJob:
    return run(upload(source, object_type), **kwargs)


def errors_by_row(job: ImportJob) -> dict[int, str]:
    return {entry["row"]: " ".join(entry["errors"]) for entry in job.errors}


def corporate_number(base12: str) -> str:
    return f"{corporate_number_check_digit(base12)}{base12}"


# Reading files


def test_it_reads_a_utf8_file_with_bom_and_maps_english_headers(db):
    job = upload("contacts_utf8.csv")
    assert (job.encoding, job.delimiter, job.row_count) == ("utf-8-sig", ",", 11)
    assert job.headers[0] == "Email"  # the BOM is not part of the first header
    assert job.mapping["Email"] == "email"
    assert job.mapping["Last Name Kana"] == "family_name_kana"
    assert job.mapping["Company"] == "account.name"
    assert job.mapping["Corporate Number"] == "account.corporate_number"


def test_it_imports_a_shift_jis_excel_export(db):
    job = upload("contacts_sjis.csv")
    assert job.encoding == "cp932"
    assert job.mapping == {
        "メールアドレス": "email",
        "姓": "family_name",
        "名": "given_name",
        "セイ": "family_name_kana",
        "メイ": "given_name_kana",
        "会社名": "account.name",
        "法人番号": "account.corporate_number",
        "部署": "department",
        "役職": "title",
        "電話番号": "phone",
        "都道府県": "account.prefecture",
    }
    job = run(job)
    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.updated_count, job.skipped_count) == (7, 0, 1)
    assert "法人番号" in errors_by_row(job)[6] or "orporate" in errors_by_row(job)[6]
    takahashi = Contact.objects.select_related("account").get(email__startswith="ichiro")
    # CP932 extension characters survive: 髙 (IBM), ① and ㈱ (NEC).
    assert takahashi.family_name == "髙橋"
    assert takahashi.department == "第①営業部"
    assert takahashi.phone == "+81312340001"
    assert takahashi.account.name == "㈱つながり"
    assert takahashi.account.corporate_number == TSUNAGARI
    assert takahashi.account.prefecture == "13"
    # "株式会社 つながり" on the next row is the same company as "㈱つながり".
    watanabe = Contact.objects.get(email__startswith="yoko")
    assert watanabe.account_id == takahashi.account_id


def test_every_row_of_the_utf8_sample_is_imported_or_reported(db):
    job = import_("contacts_utf8.csv")
    assert job.created_count + job.updated_count + job.skipped_count == job.row_count == 11
    assert Contact.objects.count() == job.created_count == 6
    errors = errors_by_row(job)
    assert set(errors) == {4, 5, 6, 7, 9}
    assert "not-an-email" in errors[4]
    assert "1234567890123" in errors[5]
    assert "hot lead" in errors[6]
    assert "row 2" in errors[7]


def test_it_imports_a_tab_separated_file_with_commas_in_values(db):
    job = import_("contacts_tab.tsv")
    assert (job.encoding, job.delimiter) == ("utf-8", "\t")
    assert job.created_count == 3
    kimura = Contact.objects.get(email="kenji.kimura@hikari.example.jp")
    assert kimura.department == "営業本部, 第一課"
    assert sorted(kimura.tags.values_list("name", flat=True)) == ["セミナー", "資料請求"]
    assert Account.objects.filter(name="ひかり商事株式会社").count() == 1


def test_half_width_kana_is_stored_full_width(db):
    import_("contacts_utf8.csv")
    sato = Contact.objects.get(email="hanako.sato@tsunagari.example.jp")
    assert (sato.family_name_kana, sato.given_name_kana) == ("サトウ", "ハナコ")
    assert sato.kana_key == "サトウハナコ"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_utf16.csv", "UTF-16"),
        ("bad_binary.csv", "UTF-8 or Shift_JIS"),
        ("bad_empty.csv", "empty"),
        ("bad_header_only.csv", "no rows"),
        ("bad_ragged.csv", "rows 3, 5"),
    ],
)
def test_an_unreadable_file_is_rejected_with_a_message_and_nothing_kept(
    db, settings, name, message
):
    with pytest.raises(imports.ImportFileError, match=message):
        upload(name)
    assert not ImportJob.objects.exists()
    assert not list(Path(settings.UPLOAD_DIR).glob("**/*.csv"))


def test_a_file_over_the_size_limit_is_rejected(db, settings):
    settings.TSUNAGARI_IMPORT_MAX_BYTES = 100
    with pytest.raises(imports.ImportFileError, match="at most 100"):
        upload("contacts_utf8.csv")
    assert not ImportJob.objects.exists()


def test_an_unclosed_quote_that_swallows_the_file_is_reported(db):
    data = b'email,family_name\r\na@example.jp,"never closed\r\n' + b"x" * 140_000
    with pytest.raises(imports.ImportFileError, match="Row 2"):
        upload(data)


def test_header_names_are_made_unique_and_never_empty(db):
    job = upload(csv_bytes([["email", "", "email"], ["a@example.jp", "x", "y"]]))
    assert job.headers == ["email", "Column 2", "email (2)"]


# Mapping


def test_the_remembered_mapping_is_offered_on_a_second_upload_with_the_same_headers(db):
    first = upload("contacts_utf8.csv")
    custom = {**first.mapping, "Title": "", "Tags": "department", "Department": ""}
    run(first, mapping=custom)
    assert ImportMappingMemory.objects.count() == 1
    second = upload("contacts_utf8.csv")
    assert second.mapping == {k: v for k, v in custom.items() if v}


def test_a_mapping_needs_an_email_or_a_name(db):
    job = upload("contacts_utf8.csv")
    with pytest.raises(CrmError, match="email address or to the name"):
        imports.import_preview(job=job, mapping={"Title": "title"})


def test_a_field_can_take_only_one_column(db):
    job = upload("contacts_utf8.csv")
    with pytest.raises(CrmError, match="both go to"):
        imports.import_preview(job=job, mapping={"Email": "email", "Title": "email"})


def test_custom_fields_can_be_mapped_and_are_validated(db):
    CustomField.objects.create(
        object_type="contact", key="seats", label="Seats", field_type=CustomField.Type.NUMBER
    )
    data = csv_bytes([["email", "Seats"], ["a@example.jp", "1,200"], ["b@example.jp", "many"]])
    job = upload(data)
    assert job.mapping["Seats"] == "custom.seats"
    job = run(job)
    assert Contact.objects.get(email="a@example.jp").custom == {"seats": 1200}
    assert "many" in errors_by_row(job)[3]


# Dry run


def test_the_dry_run_writes_nothing(db):
    job = upload("contacts_sjis.csv")
    preview = imports.import_preview(job=job, mapping=job.mapping)
    assert (preview.total, preview.would_create, preview.would_update) == (8, 7, 0)
    assert preview.error_count == 1
    assert preview.accounts_would_create == 4
    assert preview.errors[0].row == 6
    assert not Contact.objects.exists()
    assert not Account.objects.exists()
    assert not AccountDomain.objects.exists()
    assert not LifecycleTransition.objects.exists()
    assert ImportJob.objects.get().status == ImportJob.Status.UPLOADED


def test_the_dry_run_shows_rows_as_they_would_be_stored(db):
    job = upload("contacts_utf8.csv")
    with translation.override("en"):
        preview = imports.import_preview(job=job, mapping=job.mapping)
    first = preview.sample[0]
    assert (first.row, first.action) == (2, "create")
    shown = dict(zip(preview.columns, first.values, strict=True))
    assert shown["Phone"] == "+81312345678"
    assert shown["Prefecture"] == "Tokyo"
    assert shown["Tags (separated by ; or 、)"] == "展示会2024; VIP"


def test_the_dry_run_counts_updates_of_existing_contacts(db):
    contact_save(contact=Contact(email="taro.yamada@tsunagari.example.jp", family_name="山田"))
    job = upload("contacts_utf8.csv")
    preview = imports.import_preview(job=job, mapping=job.mapping)
    assert (preview.would_create, preview.would_update) == (5, 1)


# Row errors


def test_a_duplicate_email_in_one_file_is_an_error_naming_the_first_row(db):
    data = csv_bytes(
        [
            ["email", "family_name"],
            ["dup@example.jp", "一"],
            ["other@example.jp", "二"],
            [" DUP@example.jp ", "三"],
        ]
    )
    job = import_(data)
    assert job.created_count == 2
    assert errors_by_row(job) == {4: "Duplicate of row 2 (same email address)."}
    assert Contact.objects.get(email="dup@example.jp").family_name == "一"


def test_an_invalid_corporate_number_is_rejected_with_its_row_number(db):
    data = csv_bytes(
        [
            ["email", "会社名", "法人番号"],
            ["a@example.jp", "正しい株式会社", corporate_number("123456789012")],
            ["b@example.jp", "間違い株式会社", "1234567890123"],
        ]
    )
    job = import_(data)
    assert job.created_count == 1
    assert list(errors_by_row(job)) == [3]
    assert "1234567890123" in errors_by_row(job)[3]
    assert not Contact.objects.filter(email="b@example.jp").exists()
    assert not Account.objects.filter(name="間違い株式会社").exists()


def test_choices_accept_codes_english_and_japanese_labels(db):
    data = csv_bytes(
        [
            ["email", "stage", "role", "都道府県", "会社名", "業種"],
            ["a@example.jp", "mql", "決裁者", "東京", "A株式会社", "製造業"],
            [
                "b@example.jp",
                "Customer",
                "Influencer",
                "13",
                "B株式会社",
                "Information and communications",
            ],
            ["c@example.jp", "商談", "user", "大阪府", "C株式会社", "it"],
            ["d@example.jp", "warm", "boss", "Atlantis", "D株式会社", "宇宙"],
        ]
    )
    job = upload(data)
    mapping = {**job.mapping, "stage": "lifecycle_stage", "role": "buying_role"}
    job = run(job, mapping=mapping)
    stages = dict(Contact.objects.values_list("email", "lifecycle_stage"))
    assert stages == {
        "a@example.jp": "mql",
        "b@example.jp": "customer",
        "c@example.jp": "opportunity",
    }
    assert dict(Account.objects.values_list("name", "prefecture")) == {
        "A株式会社": "13",
        "B株式会社": "13",
        "C株式会社": "27",
    }
    message = errors_by_row(job)[5]
    for value in ("warm", "boss", "Atlantis", "宇宙"):
        assert value in message


def test_over_long_fields_are_errors_and_never_truncated(db):
    job = import_("bad_long_fields.csv")
    assert job.created_count == 1
    errors = errors_by_row(job)
    assert "61" in errors[2] and "60" in errors[2]
    assert "101" in errors[3] and "100" in errors[3]
    assert list(Contact.objects.values_list("email", flat=True)) == ["ok@example.jp"]


def test_html_in_a_name_is_stored_as_text(db):
    import_("contacts_utf8.csv")
    contact = Contact.objects.get(email="xss@example.jp")
    assert contact.family_name == "<script>alert(1)</script>"


def test_formulas_in_cells_are_stored_as_plain_text(db):
    import_("bad_formulas.csv")
    assert Contact.objects.get(email="f1@formula.example.jp").family_name == "=1+1"


def test_a_row_without_email_or_name_is_an_error(db):
    job = import_("contacts_utf8.csv")
    assert "neither an email address nor a name" in errors_by_row(job)[9]


def test_a_row_with_only_a_name_is_created_without_email(db):
    import_("contacts_utf8.csv")
    takahashi = Contact.objects.get(family_name="高橋")
    assert takahashi.email is None


# Upsert and deduplication


def test_reimporting_a_file_updates_instead_of_duplicating(db):
    first = import_("contacts_sjis.csv")
    accounts = Account.objects.count()
    second = import_("contacts_sjis.csv")
    assert first.created_count == 7
    # Only the row without an email address (井上) cannot be recognised, so it is added again.
    assert (second.created_count, second.updated_count, second.skipped_count) == (1, 6, 1)
    assert Contact.objects.filter(email__isnull=False).count() == 6
    assert Contact.objects.filter(family_name="井上").count() == 2
    assert Account.objects.count() == accounts


def test_an_empty_cell_does_not_erase_a_stored_value(db):
    contact_save(
        contact=Contact(
            email="a@example.jp", family_name="青木", title="部長", phone="+81312345678"
        )
    )
    data = csv_bytes([["email", "family_name", "title", "phone"], ["A@example.jp", "", "", "  "]])
    job = import_(data)
    assert (job.created_count, job.updated_count) == (0, 1)
    contact = Contact.objects.get(email="a@example.jp")
    assert (contact.family_name, contact.title, contact.phone) == ("青木", "部長", "+81312345678")


def test_non_empty_cells_update_the_contact(db):
    contact_save(contact=Contact(email="a@example.jp", family_name="青木", title="部長"))
    import_(csv_bytes([["email", "title", "department"], ["a@example.jp", "本部長", "営業部"]]))
    contact = Contact.objects.get(email="a@example.jp")
    assert (contact.family_name, contact.title, contact.department) == ("青木", "本部長", "営業部")


def test_an_account_is_found_by_corporate_number(db):
    account = account_save(account=Account(name="旧社名株式会社", corporate_number=TSUNAGARI))
    data = csv_bytes(
        [["email", "会社名", "法人番号"], ["a@example.jp", "新社名株式会社", TSUNAGARI]]
    )
    import_(data)
    assert Contact.objects.get().account_id == account.pk
    assert Account.objects.count() == 1
    # A contact's company columns fill gaps; they do not rename the account.
    assert Account.objects.get().name == "旧社名株式会社"


def test_an_account_is_found_by_domain(db):
    account = account_save(account=Account(name="Tsunagari KK"), domains=["tsunagari.example.jp"])
    data = csv_bytes(
        [
            ["email", "会社名", "ドメイン"],
            ["a@example.jp", "つながり", "https://www.tsunagari.example.jp/"],
        ]
    )
    import_(data)
    assert Contact.objects.get().account_id == account.pk
    assert Account.objects.count() == 1


def test_an_account_is_found_by_its_normalised_name(db):
    account = account_save(account=Account(name="株式会社 つながり"))
    data = csv_bytes([["email", "会社名", "業種"], ["a@example.jp", "㈱つながり", "情報通信業"]])
    import_(data)
    contact = Contact.objects.select_related("account").get()
    assert contact.account_id == account.pk
    assert contact.account.industry == "it"  # an empty field of the account is filled


def test_same_name_with_another_corporate_number_is_another_company(db):
    account_save(
        account=Account(name="山田商店", corporate_number=corporate_number("111111111111"))
    )
    data = csv_bytes(
        [
            ["email", "会社名", "法人番号"],
            ["a@example.jp", "山田商店", corporate_number("222222222222")],
        ]
    )
    import_(data)
    assert Account.objects.filter(name_key="山田商店").count() == 2


def test_new_accounts_get_their_name_key_and_domains(db):
    data = csv_bytes(
        [["会社名", "ドメイン"], ["株式会社 みらい", "mirai.example.jp; mirai.example.com"]]
    )
    import_(data, "account")
    account = Account.objects.get()
    assert account.name_key == "みらい"
    assert sorted(account.domains.values_list("domain", flat=True)) == [
        "mirai.example.com",
        "mirai.example.jp",
    ]


def test_a_contact_is_linked_to_the_only_account_with_its_email_domain(db):
    account = account_save(account=Account(name="つながり"), domains=["tsunagari.example.jp"])
    account_save(account=Account(name="共有A"), domains=["shared.example.jp"])
    account_save(account=Account(name="共有B"), domains=["shared.example.jp"])
    data = csv_bytes(
        [
            ["email", "family_name"],
            ["a@tsunagari.example.jp", "一"],
            ["b@shared.example.jp", "二"],
            ["c@gmail.com", "三"],
        ]
    )
    import_(data)
    linked = dict(Contact.objects.values_list("email", "account_id"))
    assert linked == {
        "a@tsunagari.example.jp": account.pk,
        "b@shared.example.jp": None,
        "c@gmail.com": None,
    }


def test_the_accounts_import_upserts_by_corporate_number_domain_and_name(db):
    import_("contacts_sjis.csv")
    before = Account.objects.count()
    job = import_("accounts_utf8.csv", "account")
    assert (job.created_count, job.updated_count, job.skipped_count) == (1, 4, 3)
    assert Account.objects.count() == before + 1
    sakura = Account.objects.get(corporate_number=SAKURA)
    assert (sakura.industry, sakura.employee_count, sakura.annual_revenue) == (
        "manufacturing",
        3400,
        52_000_000_000,
    )
    assert list(sakura.domains.values_list("domain", flat=True)) == ["sakura-denki.example.jp"]
    assert Account.objects.get(name="みどり農園合同会社").employee_count == 8
    errors = errors_by_row(job)
    assert "12345" in errors[7]
    assert "宇宙開発" in errors[9]


def test_lifecycle_transitions_are_recorded_for_new_contacts_and_stage_changes(db, admin_user):
    contact_save(contact=Contact(email="a@example.jp", lifecycle_stage="lead"))
    data = csv_bytes([["email", "stage"], ["a@example.jp", "mql"], ["b@example.jp", ""]])
    job = upload(data, user=admin_user)
    run(job, mapping={"email": "email", "stage": "lifecycle_stage"})
    changed = LifecycleTransition.objects.filter(rule="import", contact__email="a@example.jp").get()
    assert (changed.from_stage, changed.to_stage, changed.actor) == ("lead", "mql", admin_user)
    assert "test.csv" in changed.reason
    created = LifecycleTransition.objects.get(contact__email="b@example.jp")
    assert (created.from_stage, created.to_stage, created.rule) == ("", "lead", "import")
    assert Contact.objects.get(email="a@example.jp").lifecycle_changed_at is not None


def test_tags_are_added_to_existing_tags(db):
    contact_save(contact=Contact(email="a@example.jp"), tags=["既存"])
    import_(csv_bytes([["email", "タグ"], ["a@example.jp", "展示会、VIP; 既存"]]))
    contact = Contact.objects.get()
    assert sorted(contact.tags.values_list("name", flat=True)) == ["VIP", "展示会", "既存"]


def test_do_not_contact_can_be_set_but_never_cleared_by_an_import(db):
    contact_save(contact=Contact(email="a@example.jp", do_not_contact=True))
    data = csv_bytes([["email", "連絡不可"], ["a@example.jp", "いいえ"], ["b@example.jp", "はい"]])
    import_(data)
    assert dict(Contact.objects.values_list("email", "do_not_contact")) == {
        "a@example.jp": True,
        "b@example.jp": True,
    }


# Consent


def test_an_opt_in_needs_a_consent_basis(db):
    data = csv_bytes(
        [["email", "メール配信許諾"], ["a@example.jp", "opt_in"], ["b@example.jp", "no"]]
    )
    job = import_(data)
    assert "consent basis" in errors_by_row(job)[2]
    assert Contact.objects.get().email == "b@example.jp"
    assert Contact.objects.get().email_consent == "opt_out"


def test_an_opt_in_is_recorded_with_the_basis_and_sets_the_consent_state(db, admin_user):
    data = csv_bytes([["email", "メール配信許諾"], ["a@example.jp", "はい"]])
    job = upload(data, user=admin_user)
    run(job, consent_basis="名刺交換 2024-10 展示会")
    contact = Contact.objects.get()
    assert contact.email_consent == "opt_in"
    record = ConsentRecord.objects.get(contact=contact)
    assert (record.action, record.method, record.basis) == (
        "opt_in",
        "import",
        "名刺交換 2024-10 展示会",
    )
    assert (record.channel, record.topic, record.recorded_by) == ("email", "", admin_user)


def test_an_import_cannot_opt_back_in_someone_who_opted_out(db):
    contact = contact_save(contact=Contact(email="a@example.jp"))
    ConsentRecord.objects.create(
        contact=contact,
        channel="email",
        action="opt_out",
        method="email_link",
        recorded_at=contact.created_at,
    )
    Contact.objects.filter(pk=contact.pk).update(email_consent="opt_out")
    job = import_(csv_bytes([["email", "consent"], ["a@example.jp", "opt-in"]]), consent_basis="x")
    assert "opted out" in errors_by_row(job)[2]
    assert Contact.objects.get().email_consent == "opt_out"


# Failure, resume and the worker


def test_a_crash_mid_import_keeps_committed_batches_and_a_retry_finishes_without_duplicates(
    db, monkeypatch
):
    monkeypatch.setattr(writing, "BATCH_SIZE", 4)
    rows = [["email", "family_name"]] + [[f"p{i}@example.jp", f"名{i}"] for i in range(10)]
    job = upload(csv_bytes(rows))
    imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None)
    write = writing.Run.write
    calls = {"n": 0}

    def failing_write(self, batch):
        calls["n"] += 1
        write(self, batch)
        if calls["n"] == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(writing.Run, "write", failing_write)
    job = imports.import_run(job_id=job.pk)
    assert job.status == ImportJob.Status.FAILED
    assert "disk full" in job.failure
    assert (job.rows_done, job.created_count) == (4, 4)
    assert Contact.objects.count() == 4  # the second batch rolled back whole
    assert LifecycleTransition.objects.count() == 4

    monkeypatch.setattr(writing.Run, "write", write)
    imports.import_retry(job=job, user=None)
    job = imports.import_run(job_id=job.pk)
    assert job.status == ImportJob.Status.DONE
    assert (job.rows_done, job.created_count, job.skipped_count) == (10, 10, 0)
    assert Contact.objects.count() == 10
    assert LifecycleTransition.objects.count() == 10


def test_duplicates_are_still_found_after_a_resume(db, monkeypatch):
    monkeypatch.setattr(writing, "BATCH_SIZE", 2)
    data = csv_bytes(
        [["email"], ["a@example.jp"], ["b@example.jp"], ["c@example.jp"], ["a@example.jp"]]
    )
    job = upload(data)
    imports.import_start(job=job, mapping={"email": "email"}, consent_basis="", user=None)
    ImportJob.objects.filter(pk=job.pk).update(rows_done=2)  # as if the first batch was done
    job = imports.import_run(job_id=job.pk)
    assert errors_by_row(job) == {5: "Duplicate of row 2 (same email address)."}


def test_only_one_of_two_claims_of_the_same_job_wins(db):
    job = upload("contacts_tab.tsv")
    imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None)
    assert imports.import_claim(job_id=job.pk) is True
    assert imports.import_claim(job_id=job.pk) is False
    with pytest.raises(CrmError):
        imports.import_run(job_id=job.pk)


def test_an_uploaded_job_cannot_be_claimed_before_it_is_started(db):
    job = upload("contacts_tab.tsv")
    assert imports.import_claim(job_id=job.pk) is False


def test_a_job_whose_worker_died_is_claimed_again_after_its_lease(db):
    job = upload("contacts_tab.tsv")
    imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None)
    assert imports.import_claim(job_id=job.pk)
    ImportJob.objects.filter(pk=job.pk).update(lease_until="2000-01-01T00:00:00Z")
    assert imports.run_due_imports() == 1
    assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.DONE


def test_the_worker_runs_queued_imports(db):
    job = upload("contacts_tab.tsv")
    assert imports.run_due_imports() == 0
    imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None)
    assert imports.run_due_imports() == 1
    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportJob.Status.DONE, 3)
    assert imports.run_due_imports() == 0


def test_the_worker_yields_after_its_time_slice_and_resumes(db, monkeypatch):
    monkeypatch.setattr(writing, "BATCH_SIZE", 1)
    monkeypatch.setattr(running, "WORKER_SLICE_SECONDS", 0)
    job = upload("contacts_tab.tsv")
    imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None)
    assert imports.run_due_imports() == 1
    job.refresh_from_db()
    assert (job.status, job.rows_done) == (ImportJob.Status.RUNNING, 1)
    while imports.run_due_imports():
        pass
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.created_count) == (ImportJob.Status.DONE, 3, 3)


def test_a_cancelled_import_stops_before_its_next_batch(db):
    job = upload("contacts_tab.tsv")
    imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None)
    assert imports.import_claim(job_id=job.pk)
    imports.import_cancel(job=job, user=None)
    running.process(job.pk, max_seconds=None)
    assert not Contact.objects.exists()
    assert ImportJob.objects.get().status == ImportJob.Status.CANCELLED


def test_a_job_cannot_be_started_twice(db):
    job = upload("contacts_tab.tsv")
    imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None)
    with pytest.raises(CrmError, match="already"):
        imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None)


def test_a_read_only_user_may_not_import(db, reader):
    with pytest.raises(CrmError):
        upload("contacts_tab.tsv", user=reader)


def test_errors_of_a_finished_import_are_matched_back_to_their_rows(db):
    job = import_("contacts_utf8.csv")
    rows = list(imports.import_error_rows(job=job))
    assert [number for number, _cells, _errors in rows] == [4, 5, 6, 7, 9]
    _number, cells, errors = rows[0]
    assert cells[0] == "not-an-email"
    assert "not-an-email" in errors[0]


def test_stored_errors_are_capped_but_the_skipped_count_is_complete(db, monkeypatch):
    monkeypatch.setattr(running, "MAX_STORED_ERRORS", 3)
    rows = [["email"]] + [[f"bad{i}"] for i in range(7)]
    job = import_(csv_bytes(rows))
    assert job.skipped_count == 7
    assert len(job.errors) == 3


def test_the_import_reuses_the_dry_runs_reading_of_the_rows(db, monkeypatch):
    job = upload("contacts_utf8.csv")
    imports.import_preview(job=job, mapping=job.mapping)

    def no_second_reading(self, number, cells):
        raise AssertionError("the rows were read again")

    monkeypatch.setattr(cleaning.Cleaner, "clean", no_second_reading)
    job = run(job)
    assert (job.status, job.created_count, job.skipped_count) == ("done", 6, 5)
    assert set(errors_by_row(job)) == {4, 5, 6, 7, 9}


def test_a_mapping_changed_after_the_dry_run_is_applied(db):
    job = upload("contacts_utf8.csv")
    imports.import_preview(job=job, mapping=job.mapping)
    run(job, mapping={**job.mapping, "Title": ""})
    assert not Contact.objects.exclude(title="").exists()


def test_a_custom_field_changed_after_the_dry_run_is_applied(db):
    job = upload(csv_bytes([["email", "Seats"], ["a@example.jp", "12"]]))
    imports.import_preview(job=job, mapping={"email": "email"})
    CustomField.objects.create(
        object_type="contact", key="seats", label="Seats", field_type=CustomField.Type.NUMBER
    )
    run(job, mapping={"email": "email", "Seats": "custom.seats"})
    assert Contact.objects.get().custom == {"seats": 12}


@pytest.mark.xdist_group("bench-datasets")  # with the other benchmark runs (scripts/test.sh)
def test_the_import_benchmark_reports_its_figures(db, settings, tmp_path):
    from bench import import_ as bench

    settings.DATA_DIR = tmp_path

    result = bench.run(contacts=300, fresh=True, database="")
    assert result["bench"] == "import"
    assert result["n"] == 300
    assert result["created"] == 300
    for key in ("seconds", "baseline_seconds", "ratio", "rows_per_s"):
        assert result[key] > 0
    assert not Contact.objects.exists()  # the benchmark cleans up after itself
