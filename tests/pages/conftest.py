"""Fixtures of the pages tests: a registered site, fresh rate limits, a progressive form."""

from __future__ import annotations

import pytest

from tsunagari.pages import protection, services
from tsunagari.pages.dynamic import slot_cache
from tsunagari.pages.models import Form, FormField, LandingPage
from tsunagari.tracking.models import TrackedSite
from tsunagari.tracking.sites import site_cache

ORIGIN = "https://www.example.co.jp"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
CONSENT_TEXT = "株式会社つながりからのお知らせメールを受け取ることに同意します。"


@pytest.fixture(autouse=True)
def _fresh_limits():
    for limiter in (
        protection.ip_limiter,
        protection.form_limiter,
        protection.confirm_limiter,
        protection.ip_limiter_slots,
    ):
        limiter.reset()
    slot_cache._loaded_at = 0.0  # reload on next use
    yield


@pytest.fixture
def site(db):
    site = TrackedSite.objects.create(name="コーポレートサイト", origin=ORIGIN)
    site_cache.reload()
    yield site
    site_cache.reload()


def add_field(form: Form, target: str, kind: str = "field", consent_text: str = "", **extra):
    return services.field_save(
        field=FormField(form=form, kind=kind, target=target, **extra), consent_text=consent_text
    )


@pytest.fixture
def whitepaper(db) -> Form:
    """Email always; then company and name; then department and role; then budget and timing."""
    form = services.form_create(name="ホワイトペーパー")
    form.max_questions = 2
    form.min_fill_seconds = 0
    form.thank_you_message = "ありがとうございました。"
    form.save()
    for target in (
        "company",
        "family_name",
        "department",
        "buying_role",
        "bant_budget",
        "bant_timing",
    ):
        add_field(form, target, required=True)
    add_field(form, "utm_campaign", kind="hidden")
    add_field(form, "newsletter", kind="consent", consent_text=CONSENT_TEXT)
    return form


def field_named(form: Form, target: str) -> FormField:
    return form.fields.get(target=target)


@pytest.fixture
def landing(whitepaper) -> LandingPage:
    page = services.page_create(slug="dx-whitepaper", title="DX白書 2026")
    variant = page.variants.get()
    services.blocks_save(
        variant=variant,
        blocks=[
            {"type": "heading", "text": "DX白書 2026", "level": 1},
            {"type": "text", "html": "<p>製造業の<strong>DX</strong>事例集</p>"},
            {"type": "form", "form_id": whitepaper.pk},
        ],
    )
    services.page_publish(page=page)
    return page
