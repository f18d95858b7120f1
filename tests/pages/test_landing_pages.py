"""Hosted landing pages: publishing, preview, sanitised blocks, CSP, A/B variants, page views."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.pages.conftest import CHROME
from tests.pages.helpers import answers, open_page, submit_page
from tsunagari.pages import services
from tsunagari.pages.blocks import clean_blocks
from tsunagari.pages.models import LandingPage, PageVariant
from tsunagari.pages.public import pick_variant
from tsunagari.tracking.models import Touchpoint

pytestmark = pytest.mark.django_db


def test_a_published_page_is_served_with_a_strict_csp(landing):
    response = Client().get(f"/p/{landing.slug}/", headers={"User-Agent": CHROME})
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # no script may run at all
    assert '<meta name="viewport"' in response.content.decode()
    assert "製造業の<strong>DX</strong>事例集" in response.content.decode()


def test_a_draft_page_is_not_public_and_preview_needs_a_login(whitepaper, marketer_client):
    page = services.page_create(slug="draft", title="下書き")
    assert Client().get("/p/draft/").status_code == 404
    assert Client().get(f"/pages/landing/{page.pk}/preview/").status_code == 302
    preview = marketer_client.get(f"/pages/landing/{page.pk}/preview/?variant=A")
    assert preview.status_code == 200 and "下書き" in preview.content.decode()
    assert not Touchpoint.objects.exists()  # previews are not page views


def test_a_page_view_is_a_touchpoint_with_the_page_and_variant(landing):
    Client().get(f"/p/{landing.slug}/?utm_source=newsletter", headers={"User-Agent": CHROME})
    touch = Touchpoint.objects.get()
    assert (touch.type, touch.path, touch.utm_source) == (
        "page_view",
        "/p/dx-whitepaper/",
        "newsletter",
    )
    assert touch.properties == {"landing_page_id": landing.pk, "variant": "A"}
    assert PageVariant.objects.get(page=landing).views == 1


def test_crawlers_are_neither_recorded_nor_counted(landing):
    Client().get(f"/p/{landing.slug}/", headers={"User-Agent": "Googlebot/2.1"})
    assert not Touchpoint.objects.exists()
    assert PageVariant.objects.get(page=landing).views == 0


@pytest.mark.parametrize(
    ("block", "forbidden"),
    [
        ({"type": "text", "html": "<p>hi<script>alert(1)</script></p>"}, "<script"),
        ({"type": "text", "html": '<img src=x onerror="alert(1)">'}, "onerror"),
        ({"type": "text", "html": '<a href="javascript:alert(1)">x</a>'}, "javascript:"),
        ({"type": "columns", "left": "<iframe src=//evil></iframe>", "right": ""}, "<iframe"),
        ({"type": "cta", "label": "go", "url": "javascript:alert(1)"}, "javascript:"),
        ({"type": "image", "src": "data:text/html,<script>", "alt": "x"}, "data:text/html"),
        ({"type": "heading", "text": "<script>alert(1)</script>", "level": 1}, "<script>"),
    ],
)
def test_xss_in_any_block_is_removed(whitepaper, block, forbidden):
    page = services.page_create(slug="xss", title="XSS")
    variant = page.variants.get()
    services.blocks_save(variant=variant, blocks=[block])
    services.page_publish(page=page)
    html = Client().get("/p/xss/", headers={"User-Agent": CHROME}).content.decode()
    assert forbidden not in html


def test_blocks_tampered_with_in_the_database_are_cleaned_again_when_rendered(whitepaper):
    page = services.page_create(slug="raw", title="Raw")
    services.page_publish(page=page)
    PageVariant.objects.filter(page=page).update(
        published_blocks=[{"type": "text", "html": "<script>alert(1)</script><p>ok</p>"}]
    )
    html = Client().get("/p/raw/", headers={"User-Agent": CHROME}).content.decode()
    assert "<script>alert" not in html and "<p>ok</p>" in html


def test_unknown_block_types_are_refused():
    with pytest.raises(ValueError):
        clean_blocks([{"type": "script", "src": "x"}])


def test_editing_a_draft_changes_nothing_public_until_published(landing):
    variant = landing.variants.get()
    services.block_add(variant=variant, kind="cta")
    services.block_update(
        variant=variant, index=3, values={"label": "今すぐ相談", "url": "/p/contact/"}
    )
    assert "今すぐ相談" not in Client().get(f"/p/{landing.slug}/").content.decode()
    services.page_publish(page=landing)
    assert "今すぐ相談" in Client().get(f"/p/{landing.slug}/").content.decode()


def test_variants_split_traffic_and_each_visitor_keeps_theirs(landing):
    services.variant_add(page=landing)
    variants = list(landing.variants.order_by("key"))
    uids = [f"{i:032x}" for i in range(400)]
    chosen = [pick_variant(variants, uid).key for uid in uids]
    assert 150 < chosen.count("A") < 250  # an even split, roughly
    assert [pick_variant(variants, uid).key for uid in uids] == chosen  # sticky


def test_conversion_rates_per_variant(landing, whitepaper):
    b = services.variant_add(page=landing)
    services.block_update(variant=b, index=0, values={"text": "B案の見出し"})
    services.page_publish(page=landing)
    for i in range(6):
        client = Client()
        _html, inputs = open_page(client, landing.slug)
        if i % 2 == 0:
            submit_page(
                client,
                landing.slug,
                inputs,
                answers(whitepaper, email=f"u{i}@yamada.co.jp", company="c", family_name="f"),
            )
    stats = {v.key: (v.views, v.conversions) for v in PageVariant.objects.filter(page=landing)}
    assert sum(v for v, _c in stats.values()) == 6
    assert sum(c for _v, c in stats.values()) == 3
    touches = Touchpoint.objects.filter(type="form_submitted")
    assert {t.properties["variant"] for t in touches} <= {"A", "B"}


def test_a_thank_you_redirect_goes_only_to_this_server_or_a_registered_site(site, whitepaper):
    from tsunagari.pages.services import PagesError, form_validate

    for bad in ("https://evil.example.com/", "//evil.example.com/", "javascript:alert(1)"):
        whitepaper.redirect_url = bad
        with pytest.raises(PagesError):
            form_validate(whitepaper)
    for good in ("/p/thanks/", "https://www.example.co.jp/thanks"):
        whitepaper.redirect_url = good
        form_validate(whitepaper)


def test_a_hosted_form_redirects_to_its_thank_you_page(landing, whitepaper):
    whitepaper.redirect_url = "/p/thanks/"
    whitepaper.save()
    client = Client()
    _html, inputs = open_page(client, landing.slug)
    response = submit_page(
        client,
        landing.slug,
        inputs,
        answers(whitepaper, email="a@yamada.co.jp", company="c", family_name="f"),
    )
    assert response.status_code == 303 and response["Location"] == "/p/thanks/"


def test_a_post_naming_a_form_not_on_the_page_is_refused(landing):
    from tsunagari.pages.services import form_create

    other = form_create(name="他のフォーム")
    response = Client().post(f"/p/{landing.slug}/", {"_tsg_form": other.pk})
    assert response.status_code == 400
    assert LandingPage.objects.count() == 1
