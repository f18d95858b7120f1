"""Staff pages: the builders, lists with their empty states, access by role, htmx partials."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.crm.factories import make_contact
from tsunagari.crm.models import LifecycleTransition
from tsunagari.pages import services
from tsunagari.pages.models import (
    ConsentText,
    ContentAsset,
    ContentSlot,
    Form,
    FormField,
    FormSubmission,
    LandingPage,
    SlotVariant,
)
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.services import touchpoints_append

pytestmark = pytest.mark.django_db


@pytest.fixture
def english_ui(settings, english):
    """Pages in English: requests follow LANGUAGE_CODE when the browser states no language."""
    settings.LANGUAGE_CODE = "en"


def test_the_home_shows_empty_states_in_japanese(marketer_client):
    body = marketer_client.get("/pages/").content.decode()
    assert "フォームはまだありません" in body
    assert "ランディングページはまだありません" in body


def test_the_home_lists_forms_and_pages(marketer_client, landing):
    body = marketer_client.get("/pages/").content.decode()
    assert "ホワイトペーパー" in body and "/p/dx-whitepaper/" in body


def test_anonymous_users_are_sent_to_log_in():
    assert Client().get("/pages/").status_code == 302


def test_read_only_users_see_but_cannot_build(reader_client, whitepaper):
    assert reader_client.get("/pages/").status_code == 200
    assert reader_client.get(f"/pages/forms/{whitepaper.pk}/submissions/").status_code == 200
    assert reader_client.get(f"/pages/forms/{whitepaper.pk}/").status_code == 403
    assert reader_client.post("/pages/forms/new/", {"name": "x"}).status_code == 403
    assert reader_client.post("/pages/landing/new/", {"title": "x", "slug": "x"}).status_code == 403
    assert Form.objects.count() == 1


def test_a_new_form_starts_with_its_email_field(marketer_client):
    response = marketer_client.post("/pages/forms/new/", {"name": "資料請求"})
    form = Form.objects.get(name="資料請求")
    assert response.status_code == 302 and response["Location"] == f"/pages/forms/{form.pk}/"
    assert list(form.fields.values_list("target", "required", "progressive")) == [
        ("email", True, False)
    ]
    assert marketer_client.get(f"/pages/forms/{form.pk}/").status_code == 200


def test_adding_fields_with_htmx_returns_the_field_list(marketer_client, whitepaper):
    url = f"/pages/forms/{whitepaper.pk}/fields/new/"
    response = marketer_client.post(
        url,
        {"kind": "field", "target": "bant_need", "label": "ご検討の背景", "progressive": "on"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "ご検討の背景" in response.content.decode()
    assert whitepaper.fields.filter(target="bant_need").exists()


def test_a_field_with_an_unknown_target_is_refused(marketer_client, whitepaper):
    before = whitepaper.fields.count()
    response = marketer_client.post(
        f"/pages/forms/{whitepaper.pk}/fields/new/", {"kind": "field", "target": "password"}
    )
    assert response.status_code == 400
    assert whitepaper.fields.count() == before


def test_editing_a_consent_text_adds_a_version(marketer_client, whitepaper):
    field = whitepaper.fields.get(kind="consent")
    url = f"/pages/forms/{whitepaper.pk}/fields/{field.pk}/"
    marketer_client.post(url, {"kind": "consent", "target": "newsletter", "consent_text": "新文言"})
    assert list(ConsentText.objects.filter(field=field).values_list("version", "text")) == [
        (1, ConsentText.objects.get(field=field, version=1).text),
        (2, "新文言"),
    ]


def test_fields_move_and_the_email_field_stays(marketer_client, whitepaper):
    company = whitepaper.fields.get(target="company")
    email = whitepaper.fields.get(target="email")
    marketer_client.post(f"/pages/forms/{whitepaper.pk}/fields/{company.pk}/move/", {"dir": "up"})
    assert list(whitepaper.fields.values_list("target", flat=True))[:2] == ["company", "email"]
    marketer_client.post(f"/pages/forms/{whitepaper.pk}/fields/{email.pk}/delete/")
    assert FormField.objects.filter(pk=email.pk).exists()


def test_a_redirect_to_another_domain_cannot_be_saved(marketer_client, whitepaper):
    response = marketer_client.post(
        f"/pages/forms/{whitepaper.pk}/",
        {
            "name": "x",
            "redirect_url": "https://evil.example.com/",
            "max_questions": 2,
            "min_fill_seconds": 3,
            "is_active": "on",
        },
    )
    assert response.status_code == 200  # the page again, with the error
    whitepaper.refresh_from_db()
    assert whitepaper.redirect_url == "" and whitepaper.name == "ホワイトペーパー"


def test_the_submissions_list_pages_in_a_fixed_number_of_queries(marketer_client, whitepaper):
    contact = make_contact("a@yamada.co.jp")
    now = timezone.now()
    FormSubmission.objects.bulk_create(
        FormSubmission(form=whitepaper, contact=contact, data={"会社": "山田"}, created_at=now)
        for _ in range(60)
    )
    url = f"/pages/forms/{whitepaper.pk}/submissions/"
    with CaptureQueriesContext(connection) as first:
        response = marketer_client.get(url)
    assert response.status_code == 200 and "?page=2" in response.content.decode()
    FormSubmission.objects.bulk_create(
        FormSubmission(form=whitepaper, contact=contact, created_at=now) for _ in range(20)
    )
    with CaptureQueriesContext(connection) as second:
        marketer_client.get(url)
    assert len(second) == len(first)


def test_building_a_page_with_blocks_and_publishing_it(marketer_client, whitepaper):
    response = marketer_client.post("/pages/landing/new/", {"title": "セミナー", "slug": "seminar"})
    page = LandingPage.objects.get(slug="seminar")
    assert response["Location"] == f"/pages/landing/{page.pk}/"
    blocks = f"/pages/landing/{page.pk}/variants/A/blocks/"
    hx = {"HX-Request": "true"}
    marketer_client.post(blocks, {"action": "add", "kind": "text"}, headers=hx)
    marketer_client.post(
        blocks, {"action": "save", "index": 1, "html": "<p>詳しく</p>"}, headers=hx
    )
    marketer_client.post(blocks, {"action": "add", "kind": "form"}, headers=hx)
    response = marketer_client.post(
        blocks, {"action": "save", "index": 2, "form_id": whitepaper.pk}, headers=hx
    )
    assert response.status_code == 200 and "詳しく" in response.content.decode()
    marketer_client.post(blocks, {"action": "up", "index": 2}, headers=hx)
    assert [b["type"] for b in page.variants.get().blocks] == ["heading", "form", "text"]
    assert Client().get("/p/seminar/").status_code == 404
    marketer_client.post(f"/pages/landing/{page.pk}/variants/", {"action": "publish"})
    public = Client().get("/p/seminar/").content.decode()
    assert "詳しく" in public and "_tsg_t" in public
    marketer_client.post(f"/pages/landing/{page.pk}/variants/", {"action": "add"})
    assert list(page.variants.values_list("key", flat=True)) == ["A", "B"]
    assert marketer_client.get(f"/pages/landing/{page.pk}/?variant=B").status_code == 200


def test_a_taken_or_reserved_address_is_refused(marketer_client, landing):
    response = marketer_client.post("/pages/landing/new/", {"title": "x", "slug": "dx-whitepaper"})
    assert response.status_code == 200
    response = marketer_client.post("/pages/landing/new/", {"title": "x", "slug": "embed"})
    assert LandingPage.objects.count() == 1


def test_assets_are_catalogued_and_reported_per_type(marketer_client):
    response = marketer_client.post(
        "/pages/assets/new/",
        {
            "name": "導入事例: 山田製作所",
            "key": "case-yamada",
            "kind": "education",
            "theme": "製造DX",
            "keywords": "IoT, 工場",
            "url_pattern": "https://www.example.co.jp/cases/yamada*",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    asset = ContentAsset.objects.get(key="case-yamada")
    contact = make_contact("t@yamada.co.jp")
    from django.db import transaction

    with transaction.atomic():
        touchpoints_append(
            [
                Touchpoint(
                    contact=contact,
                    type="page_view",
                    occurred_at=timezone.now(),
                    url="https://www.example.co.jp/cases/yamada/1",
                    path="/cases/yamada/1",
                ),
                Touchpoint(
                    contact=contact,
                    type="page_view",
                    occurred_at=timezone.now(),
                    url="https://www.example.co.jp/pricing",
                    path="/pricing",
                ),
            ]
        )
    LifecycleTransition.objects.create(
        contact=contact,
        from_stage="lead",
        to_stage="mql",
        occurred_at=timezone.now() + timezone.timedelta(seconds=1),
    )
    from tsunagari.pages.queries import asset_report

    rows, totals = asset_report(days=30)
    (row,) = rows
    assert (row.asset, row.visits, row.leads, row.mqls, row.deals) == (asset, 1, 1, 1, 0)
    assert totals["education"].visits == 1 and totals["attraction"].visits == 0
    body = marketer_client.get("/pages/assets/").content.decode()
    assert "導入事例: 山田製作所" in body


def test_an_asset_needs_a_url_or_a_file(marketer_client):
    response = marketer_client.post(
        "/pages/assets/new/", {"name": "x", "key": "x", "kind": "trigger", "is_active": "on"}
    )
    assert response.status_code == 200
    assert not ContentAsset.objects.exists()


def test_slots_and_variants_with_rules_are_built_in_the_ui(marketer_client):
    marketer_client.post(
        "/pages/slots/new/",
        {"key": "hero", "name": "バナー", "default_html": "<p>既定</p>", "is_active": "on"},
    )
    slot = ContentSlot.objects.get(key="hero")
    response = marketer_client.post(
        f"/pages/slots/{slot.pk}/variants/new/",
        {
            "key": "maker",
            "html": "<p>製造業</p>",
            "industry": ["manufacturing"],
            "min_behaviour": "30",
            "abm_tiers": ["1"],
        },
    )
    assert response.status_code == 302
    variant = SlotVariant.objects.get(slot=slot)
    assert variant.rules == {"industry": ["manufacturing"], "abm_tiers": [1], "min_behaviour": 30}
    assert "maker" in marketer_client.get("/pages/slots/").content.decode()
    marketer_client.post(f"/pages/slots/{slot.pk}/variants/{variant.pk}/", {"delete": "1"})
    assert not SlotVariant.objects.exists()


def test_the_empty_asset_and_slot_pages_explain_themselves(marketer_client, english_ui):
    assert "No content assets yet" in marketer_client.get("/pages/assets/").content.decode()
    assert "No content slots yet" in marketer_client.get("/pages/slots/").content.decode()


def test_services_refuse_removing_the_email_field(whitepaper):
    with pytest.raises(services.PagesError):
        services.field_delete(field=whitepaper.fields.get(target="email"))


def test_the_contact_page_panel_lists_the_persons_submissions(marketer_client, whitepaper):
    contact = make_contact("a@yamada.co.jp")
    FormSubmission.objects.create(
        form=whitepaper,
        contact=contact,
        consents=[{"topic": "newsletter", "version": 2, "text": "x", "checked": True}],
        created_at=timezone.now(),
    )
    detail = marketer_client.get(f"/contacts/{contact.pk}/").content.decode()
    assert f"/contacts/{contact.pk}/submissions/" in detail
    panel = marketer_client.get(f"/contacts/{contact.pk}/submissions/").content.decode()
    assert "ホワイトペーパー" in panel and "newsletter v2" in panel


def test_merging_contacts_moves_their_submissions(whitepaper):
    from tsunagari.crm.services import contact_merge

    keep, drop = make_contact("a@yamada.co.jp"), make_contact("b@yamada.co.jp")
    FormSubmission.objects.create(form=whitepaper, contact=drop, created_at=timezone.now())
    contact_merge(keep=keep, drop=drop)
    assert FormSubmission.objects.get().contact_id == keep.pk


def test_the_worker_forgets_nonces_of_expired_tokens_only(db):
    from tsunagari.pages.models import UsedFormToken
    from tsunagari.work.registry import runners

    now = timezone.now()
    UsedFormToken.objects.create(nonce="old", used_at=now - timezone.timedelta(days=2))
    UsedFormToken.objects.create(nonce="new", used_at=now)
    assert runners()["pages.used_tokens"]() == 1
    assert list(UsedFormToken.objects.values_list("nonce", flat=True)) == ["new"]


def test_all_landing_pages_are_listed_page_by_page(marketer_client, whitepaper):
    for i in range(55):
        services.page_create(slug=f"lp-{i}", title=f"LP {i}")
    home = marketer_client.get("/pages/").content.decode()
    assert "/pages/landing/" in home and "LP 54" in home and "LP 20" not in home
    first = marketer_client.get("/pages/landing/").content.decode()
    assert "LP 54" in first and "?page=2" in first
    assert "LP 0<" in marketer_client.get("/pages/landing/?page=2").content.decode()


def test_every_builder_page_renders(marketer_client, landing, whitepaper, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    slot = ContentSlot.objects.create(key="hero", name="バナー")
    variant = SlotVariant.objects.create(slot=slot, key="a", html="<p>a</p>")
    asset = ContentAsset.objects.create(
        key="k", name="資料", kind="trigger", url_pattern="https://x.jp/"
    )
    field = whitepaper.fields.get(kind="consent")
    for url in (
        f"/pages/forms/{whitepaper.pk}/fields/{field.pk}/",
        f"/pages/forms/{whitepaper.pk}/fields/new/",
        "/pages/landing/new/",
        f"/pages/landing/{landing.pk}/",
        f"/pages/landing/{landing.pk}/preview/?variant=A",
        "/pages/assets/new/",
        f"/pages/assets/{asset.pk}/",
        "/pages/slots/new/",
        f"/pages/slots/{slot.pk}/",
        f"/pages/slots/{slot.pk}/variants/new/",
        f"/pages/slots/{slot.pk}/variants/{variant.pk}/",
    ):
        assert marketer_client.get(url).status_code == 200, url


def test_an_uploaded_asset_file_is_served_by_its_signed_link(marketer_client, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tsunagari.pages.submissions import download_link

    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("dx.pdf", b"%PDF-1.4 hello", content_type="application/pdf")
    response = marketer_client.post(
        "/pages/assets/new/",
        {"name": "DX白書", "key": "dx", "kind": "trigger", "file": upload, "is_active": "on"},
    )
    assert response.status_code == 302
    asset = ContentAsset.objects.get(key="dx")
    contact = make_contact("a@yamada.co.jp")
    link = download_link("", asset.pk, contact.pk)
    response = Client().get(link)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 hello"
    assert "attachment" in response["Content-Disposition"]
    assert Touchpoint.objects.get(type="download").contact_id == contact.pk


def test_a_refused_field_added_with_htmx_shows_its_error_in_place(marketer_client, whitepaper):
    response = marketer_client.post(
        f"/pages/forms/{whitepaper.pk}/fields/new/",
        {"kind": "consent", "target": "newsletter", "consent_text": ""},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and response["HX-Retarget"] == "#field-form"
    assert "errors" in response.content.decode()
