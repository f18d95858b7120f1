import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.crm.factories import make_account, make_contact
from tsunagari.crm import services
from tsunagari.crm.choices import LifecycleStage
from tsunagari.crm.models import Account, Contact, CustomField

pytestmark = pytest.mark.django_db


def _names(response):
    return [c.email for c in response.context["page"].object_list]


def test_the_contact_list_shows_an_empty_state_with_the_way_in(marketer_client):
    page = marketer_client.get("/contacts/").content.decode()
    assert "/imports/" in page and "/contacts/new/" in page


def test_the_contact_list_pages_fifty_at_a_time_newest_first(marketer_client):
    for i in range(55):
        make_contact(f"p{i:02}@example.jp")
    first = marketer_client.get("/contacts/")
    assert len(first.context["page"].object_list) == 50
    assert _names(first)[0] == "p54@example.jp"
    second = marketer_client.get("/contacts/?page=2")
    assert _names(second) == [f"p{i:02}@example.jp" for i in (4, 3, 2, 1, 0)]


def test_the_contact_list_makes_the_same_few_queries_for_any_page_size(marketer_client):
    account = make_account(domains=("example.jp",))
    for i in range(60):
        make_contact(f"p{i}@example.jp", account=account)
    with CaptureQueriesContext(connection) as queries:
        assert marketer_client.get("/contacts/").status_code == 200
    # session, user, capped count, page rows with their account, owners for the filter
    assert len(queries) <= 6, [q["sql"] for q in queries]


def test_search_finds_contacts_by_kana_name_email_and_company(marketer_client):
    account = make_account("株式会社北斗精機")
    make_contact(
        "sato@hokuto.jp", family_name_kana="サトウ", given_name_kana="タロウ", account=account
    )
    make_contact("suzuki@other.jp", family_name="鈴木", family_name_kana="スズキ")
    assert _names(marketer_client.get("/contacts/?q=サトウ")) == ["sato@hokuto.jp"]
    assert _names(marketer_client.get("/contacts/?q=ｻﾄｳ")) == ["sato@hokuto.jp"]
    assert _names(marketer_client.get("/contacts/?q=鈴木")) == ["suzuki@other.jp"]
    assert _names(marketer_client.get("/contacts/?q=SATO@")) == ["sato@hokuto.jp"]
    assert _names(marketer_client.get("/contacts/?q=北斗")) == ["sato@hokuto.jp"]
    assert _names(marketer_client.get("/contacts/?q=㈱北斗")) == ["sato@hokuto.jp"]


def test_filters_combine_and_unknown_values_are_ignored(marketer_client, marketer):
    mql = make_contact("mql@example.jp", owner=marketer)
    services.contact_set_lifecycle(contact=mql, to_stage="mql")
    make_contact("lead@example.jp", owner=marketer)
    assert _names(marketer_client.get(f"/contacts/?stage=mql&owner={marketer.pk}")) == [
        "mql@example.jp"
    ]
    response = marketer_client.get("/contacts/?stage=nonsense&owner=abc&sort=evil")
    assert response.status_code == 200 and len(_names(response)) == 2


def test_htmx_filter_requests_get_only_the_table(marketer_client):
    make_contact()
    response = marketer_client.get("/contacts/?q=佐藤", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<table" in body and "<html" not in body


def test_script_in_a_name_is_shown_as_text(marketer_client):
    contact = make_contact("x@example.jp", family_name="<script>alert(1)</script>")
    for url in ("/contacts/", f"/contacts/{contact.pk}/"):
        body = marketer_client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_creating_a_contact_validates_on_the_server(marketer_client):
    response = marketer_client.post(
        "/contacts/new/", {"email": "not-an-email", "phone": "12", "lifecycle_stage": "lead"}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "email" in errors and "phone" in errors
    assert not Contact.objects.exists()


def test_creating_a_contact_normalises_and_links_it(marketer_client):
    account = make_account(domains=("hokuto.co.jp",))
    response = marketer_client.post(
        "/contacts/new/",
        {
            "email": " Hanako@HOKUTO.co.jp ",
            "family_name": "山田",
            "given_name": "花子",
            "family_name_kana": "ヤマダ",
            "given_name_kana": "ハナコ",
            "phone": "03-1234-5678",
            "lifecycle_stage": "lead",
            "tags_text": "展示会, 2026秋",
            "bant_timing": "3m",
        },
    )
    assert response.status_code == 302
    contact = Contact.objects.get()
    assert contact.email == "hanako@hokuto.co.jp"
    assert contact.phone == "+81312345678"
    assert contact.account == account
    assert sorted(contact.tags.values_list("name", flat=True)) == ["2026秋", "展示会"]
    assert contact.bant_timing_at is not None and contact.bant_timing_source == "staff:marketer"


def test_a_duplicate_email_is_refused_with_a_pointer_to_merge(marketer_client):
    make_contact("dup@example.jp")
    response = marketer_client.post(
        "/contacts/new/", {"email": "DUP@example.jp", "lifecycle_stage": "lead"}
    )
    assert response.status_code == 200
    assert "統合" in str(response.context["form"].errors["email"])  # "merge", in Japanese
    assert Contact.objects.count() == 1


def test_an_invalid_corporate_number_is_refused(marketer_client):
    response = marketer_client.post(
        "/accounts/new/",
        {
            "name": "テスト",
            "corporate_number": "1234567890123",
            "lifecycle": "prospect",
            "abm_tier": 0,
        },
    )
    assert response.status_code == 200
    assert "corporate_number" in response.context["form"].errors
    assert not Account.objects.exists()


def test_an_account_is_created_with_its_domains_and_numbers(marketer_client):
    response = marketer_client.post(
        "/accounts/new/",
        {
            "name": "株式会社つながり",
            "corporate_number": "7000012050002",
            "lifecycle": "prospect",
            "abm_tier": 1,
            "is_target": "on",
            "employee_count": "１,２００",
            "domains_text": "https://www.tsunagari.co.jp/\ntsunagari.jp",
            "prefecture": "13",
        },
    )
    assert response.status_code == 302
    account = Account.objects.get()
    assert account.name_key == "つながり" and account.employee_count == 1200
    assert set(account.domains.values_list("domain", flat=True)) == {
        "tsunagari.co.jp",
        "tsunagari.jp",
    }


def test_custom_fields_are_validated_by_type(marketer_client):
    CustomField.objects.create(
        object_type="contact", key="renewal", label="更新月", field_type="date"
    )
    CustomField.objects.create(
        object_type="contact",
        key="product",
        label="利用製品",
        field_type="choice",
        choices=["A", "B"],
    )
    bad = marketer_client.post(
        "/contacts/new/",
        {
            "email": "c@example.jp",
            "lifecycle_stage": "lead",
            "custom__renewal": "someday",
            "custom__product": "Z",
        },
    )
    assert bad.status_code == 200
    assert {"custom__renewal", "custom__product"} <= set(bad.context["form"].errors)
    good = marketer_client.post(
        "/contacts/new/",
        {
            "email": "c@example.jp",
            "lifecycle_stage": "lead",
            "custom__renewal": "2027/04/01",
            "custom__product": "B",
        },
    )
    assert good.status_code == 302
    assert Contact.objects.get().custom == {"renewal": "2027-04-01", "product": "B"}


def test_defining_a_choice_field_without_choices_is_refused(marketer_client):
    response = marketer_client.post(
        "/settings/fields/new/",
        {
            "object_type": "contact",
            "label": "製品",
            "key": "product",
            "field_type": "choice",
            "position": 0,
            "is_active": "on",
            "choices_text": "",
        },
    )
    assert response.status_code == 200
    assert not CustomField.objects.exists()


def test_the_lifecycle_form_records_the_reason(marketer_client):
    contact = make_contact()
    marketer_client.post(
        f"/contacts/{contact.pk}/lifecycle/", {"to_stage": "sql", "reason": "BANT確認済み"}
    )
    assert contact.transitions.first().reason == "BANT確認済み"


def test_a_verbal_opt_in_without_a_basis_is_refused(marketer_client):
    contact = make_contact()
    marketer_client.post(
        f"/contacts/{contact.pk}/consent/",
        {"channel": "email", "action": "opt_in", "method": "verbal", "basis": ""},
    )
    assert not contact.consents.exists()


def test_merging_from_the_page_folds_the_duplicate_in(marketer_client):
    keep = make_contact("keep@example.jp")
    drop = make_contact("drop@example.jp")
    compare = marketer_client.get(f"/contacts/{keep.pk}/merge/?other={drop.pk}")
    assert "drop@example.jp" in compare.content.decode()
    response = marketer_client.post(f"/contacts/{keep.pk}/merge/", {"other": drop.pk})
    assert response.status_code == 302
    assert marketer_client.get(f"/contacts/{drop.pk}/").status_code == 404


def test_a_deleted_contact_can_be_restored_from_the_trash(marketer_client):
    contact = make_contact()
    marketer_client.post(f"/contacts/{contact.pk}/delete/")
    assert marketer_client.get(f"/contacts/{contact.pk}/").status_code == 404
    assert contact.email in marketer_client.get("/contacts/trash/").content.decode()
    marketer_client.post(f"/contacts/{contact.pk}/restore/")
    assert marketer_client.get(f"/contacts/{contact.pk}/").status_code == 200


def test_account_search_for_the_contact_form_offers_matching_companies(marketer_client):
    make_account("株式会社北斗精機")
    make_account("南海物産株式会社")
    body = marketer_client.get("/accounts/search/?account_query=北斗").content.decode()
    assert "北斗精機" in body and "南海" not in body


def test_account_list_filters_by_target_and_searches_by_corporate_number(marketer_client):
    make_account("つながり", corporate_number="7000012050002", is_target=True)
    make_account("ほか")
    assert [a.name for a in marketer_client.get("/accounts/?target=1").context["page"]] == [
        "つながり"
    ]
    found = marketer_client.get("/accounts/?q=7000012050002").context["page"]
    assert [a.name for a in found] == ["つながり"]


def test_the_account_page_lists_its_people(marketer_client):
    account = make_account(domains=("hokuto.jp",))
    make_contact("a@hokuto.jp")
    body = marketer_client.get(f"/accounts/{account.pk}/").content.decode()
    assert "a@hokuto.jp" in body or "佐藤" in body


def test_unknown_pages_are_404(marketer_client):
    assert marketer_client.get("/contacts/999999/").status_code == 404
    assert marketer_client.get("/accounts/999999/").status_code == 404
    assert marketer_client.get("/areas/nothing/").status_code == 404


def test_every_area_in_the_navigation_opens(marketer_client):
    from django.urls import reverse

    from tsunagari.core.navigation import AREAS

    body = marketer_client.get("/").content.decode()
    for area in AREAS:
        url = reverse(
            area.url_name, kwargs={"area": area.key} if area.url_name == "core:area" else {}
        )
        assert f'href="{url}"' in body, area.key
        assert marketer_client.get(url).status_code == 200, area.key


def test_kana_search_accepts_hiragana_for_katakana_readings(marketer_client):
    make_contact("sato@example.jp", family_name_kana="サトウ")
    assert _names(marketer_client.get("/contacts/?q=さとう")) == ["sato@example.jp"]


def test_a_percent_sign_in_a_search_is_a_character_not_a_wildcard(marketer_client):
    make_contact("sato@example.jp", family_name="佐藤")
    assert _names(marketer_client.get("/contacts/?q=%25")) == []
    assert _names(marketer_client.get("/contacts/?q=_")) == []


def test_merging_accounts_from_the_page_moves_the_people(marketer_client):
    keep = make_account("つながり")
    drop = make_account("株式会社つながり販売", domains=("hanbai.jp",))
    person = make_contact("p@hanbai.jp")
    found = marketer_client.get(f"/accounts/{keep.pk}/merge/?q=つながり販売").context["candidates"]
    assert [a.pk for a in found] == [drop.pk]
    response = marketer_client.post(f"/accounts/{keep.pk}/merge/", {"other": drop.pk})
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.account_id == keep.pk
    assert marketer_client.get(f"/accounts/{drop.pk}/").status_code == 404


def test_the_dashboard_counts_live_contacts_by_stage(marketer_client):
    make_contact("a@example.jp", lifecycle_stage=LifecycleStage.MQL)
    make_contact("b@example.jp", lifecycle_stage=LifecycleStage.MQL)
    make_contact("c@example.jp", lifecycle_stage=LifecycleStage.SQL)
    gone = make_contact("d@example.jp", lifecycle_stage=LifecycleStage.MQL)
    services.contact_delete(contact=gone)
    response = marketer_client.get("/")
    stats = response.context["stats"]
    assert (stats["contacts"], stats["mql"], stats["sql"]) == (3, 2, 1)
    funnel = {row["stage"]: row["count"] for row in stats["funnel"]}
    assert funnel["mql"] == 2 and funnel["sql"] == 1 and funnel["customer"] == 0
    assert '<table class="funnel">' in response.content.decode()


def test_an_empty_database_shows_how_to_start_instead_of_a_funnel(marketer_client):
    body = marketer_client.get("/").content.decode()
    assert 'class="empty card"' in body and '<table class="funnel">' not in body
