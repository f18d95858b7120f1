"""CSV export of the contact and account lists: Excel encodings, formula safety, filters, access."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.crm.factories import make_account, make_contact
from tsunagari.crm import exports, services
from tsunagari.crm.models import CustomField

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def rows_of(response, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(body(response).decode(encoding))))


def by_header(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_anonymous_users_are_sent_to_log_in(client):
    for url in ("/contacts/export.csv", "/accounts/export.csv"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_a_read_only_user_cannot_export(reader_client):
    assert reader_client.get("/contacts/export.csv").status_code == 403
    assert reader_client.get("/accounts/export.csv").status_code == 403


def test_the_utf8_export_starts_with_a_bom_for_excel(marketer_client):
    make_contact("taro@example.jp", family_name="山田", given_name="太郎")
    response = marketer_client.get("/contacts/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')
    data = body(response)
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data  # Excel's line ends
    row = by_header(list(csv.reader(io.StringIO(data.decode("utf-8-sig")))))[0]
    assert (row["Email"], row["Family name"], row["Given name"]) == (
        "taro@example.jp",
        "山田",
        "太郎",
    )


def test_the_cp932_export_decodes_and_replaces_what_cp932_lacks(marketer_client):
    make_contact("a@example.jp", family_name="髙橋", given_name="😀", department="第①営業部")
    response = marketer_client.get("/contacts/export.csv?encoding=cp932")
    assert response["Content-Type"] == "text/csv; charset=Shift_JIS"
    data = body(response)
    assert not data.startswith(b"\xef\xbb\xbf")
    row = by_header(list(csv.reader(io.StringIO(data.decode("cp932")))))[0]
    assert (row["Family name"], row["Given name"], row["Department"]) == ("髙橋", "?", "第①営業部")


def test_formula_cells_are_neutralised(marketer_client):
    make_contact(
        "f@example.jp",
        family_name='=HYPERLINK("http://evil.example/","x")',
        given_name="+1",
        title="-2+3",
        department="@SUM(A1)",
        bant_need="\t=1",
    )
    row = by_header(rows_of(marketer_client.get("/contacts/export.csv")))[0]
    assert row["Family name"] == '\'=HYPERLINK("http://evil.example/","x")'
    assert row["Given name"] == "'+1"
    assert row["Title"] == "'-2+3"
    assert row["Department"] == "'@SUM(A1)"
    assert row["Need"] == "'\t=1"
    assert row["Email"] == "f@example.jp"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+81", "'+81"),
        ("-", "'-"),
        ("@x", "'@x"),
        ("\rA", "'\rA"),
        ("a=b", "a=b"),
    ],
)
def test_neutralise_follows_the_owasp_rule(value, shown):
    assert exports.neutralise(value) == shown


def test_numbers_are_exported_as_numbers(marketer_client):
    make_account("株式会社つながり", employee_count=120, capital=-5)
    row = rows_of(marketer_client.get("/accounts/export.csv"))[1]
    assert "120" in row and "-5" in row


def test_the_contact_export_respects_the_list_filters(marketer_client):
    mql = make_contact("mql@example.jp")
    services.contact_set_lifecycle(contact=mql, to_stage="mql")
    make_contact("lead@example.jp")
    rows = by_header(rows_of(marketer_client.get("/contacts/export.csv?stage=mql")))
    assert [row["Email"] for row in rows] == ["mql@example.jp"]
    rows = by_header(rows_of(marketer_client.get("/contacts/export.csv?q=lead@")))
    assert [row["Email"] for row in rows] == ["lead@example.jp"]


def test_the_account_export_respects_the_list_filters(marketer_client):
    make_account("製造株式会社", industry="manufacturing", domains=("seizo.example.jp",))
    make_account("通信株式会社", industry="it")
    rows = by_header(rows_of(marketer_client.get("/accounts/export.csv?industry=manufacturing")))
    assert [(row["Company name"], row["Web/email domains"]) for row in rows] == [
        ("製造株式会社", "seizo.example.jp")
    ]
    assert rows[0]["Industry"] == "Manufacturing"


def test_custom_fields_are_extra_columns(marketer_client):
    CustomField.objects.create(
        object_type="contact", key="seats", label="Seats", field_type=CustomField.Type.NUMBER
    )
    CustomField.objects.create(
        object_type="contact",
        key="products",
        label="Products",
        field_type=CustomField.Type.MULTI_CHOICE,
        choices=["MA", "SFA"],
    )
    CustomField.objects.create(
        object_type="contact",
        key="old",
        label="Retired",
        field_type=CustomField.Type.TEXT,
        is_active=False,
    )
    make_contact("a@example.jp", custom={"seats": 12, "products": ["MA", "SFA"], "old": "x"})
    rows = rows_of(marketer_client.get("/contacts/export.csv"))
    assert rows[0][-2:] == ["Seats", "Products"]
    assert rows[1][-2:] == ["12", "MA; SFA"]


def test_the_export_shows_company_tags_and_labels(marketer_client):
    account = make_account("株式会社つながり", corporate_number="9010401123456")
    make_contact("a@example.jp", account=account, tags=["VIP", "展示会"], lifecycle_stage="mql")
    row = by_header(rows_of(marketer_client.get("/contacts/export.csv")))[0]
    assert row["Company name"] == "株式会社つながり"
    assert row["Corporate number (法人番号)"] == "9010401123456"
    assert row["Tags"] == "VIP; 展示会"
    assert row["Lifecycle stage"] == "MQL"
    assert row["Email consent"] == "No record"


def test_the_export_makes_the_same_few_queries_for_any_number_of_rows(marketer_client):
    account = make_account(domains=("example.jp",))
    for i in range(30):
        make_contact(f"p{i}@example.jp", account=account, tags=["t"])
    with CaptureQueriesContext(connection) as queries:
        rows = rows_of(marketer_client.get("/contacts/export.csv"))
    assert len(rows) == 31
    # session, user, custom fields, the rows, their tags
    assert len(queries) <= 5, [q["sql"] for q in queries]


def test_an_exported_file_maps_itself_when_imported_again(marketer_client, settings, tmp_path):
    from tsunagari.crm import imports

    settings.UPLOAD_DIR = tmp_path
    make_contact("a@example.jp", family_name="山田", title="部長", phone="+81312345678")
    data = body(marketer_client.get("/contacts/export.csv"))
    job = imports.import_create(
        path_or_bytes=data, file_name="contacts.csv", object_type="contact", user=None
    )
    assert {"email", "family_name", "title", "phone", "lifecycle_stage", "tags"} <= set(
        job.mapping.values()
    )
    preview = imports.import_preview(job=job, mapping=job.mapping)
    assert (preview.would_update, preview.error_count) == (1, 0)
