"""Email in a real browser: write a template, preview it as a contact, schedule a broadcast that
the embedded worker delivers to a real SMTP server, then unsubscribe from the received email.

Hooks the test relies on: the template editor's fields by name (name, subject, html), the
preview select[name=contact] that loads #preview with htmx, the broadcast form's fields by
name (name, template, segment), the schedule form's button in form[action$="/schedule/"], and
the broadcast's status badge .badge.status-<status>.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_smoke import PASSWORD, log_in
from tests.mail.conftest import HTML, make_segment, opted_in
from tsunagari.core.services import user_create
from tsunagari.crm.models import Contact
from tsunagari.mail.models import SenderSettings

pytestmark = pytest.mark.e2e


@pytest.fixture
def marketer(transactional_db):
    # update_or_create: the live server's worker may already have made the settings row
    # (sender_settings() creates it on first use) since the last test's flush.
    SenderSettings.objects.update_or_create(
        pk=1,
        defaults={
            "from_name": "つながり商事",
            "from_email": "news@example.co.jp",
            "postal_address": "東京都千代田区千代田1-1",
            "complaints_contact": "support@example.co.jp",
            "public_base_url": "https://mail.example.co.jp",
        },
    )
    return user_create(username="e2e-admin", password=PASSWORD, role="marketing")


def test_a_newsletter_from_editor_to_inbox_to_unsubscribe(page: Page, marketer, smtp_server):
    contact = opted_in("satou@example.jp", family_name="佐藤")
    make_segment("展示会 2026 来場者", [contact])
    log_in(page)

    page.goto("/mail/templates/new/")
    page.locator("[name=name]").fill("11月のお知らせ")
    page.locator("[name=subject]").fill("{{ contact.family_name }}様へ 新機能のご案内")
    page.locator("[name=html]").fill(HTML)
    page.locator("form:has([name=html]) button[type=submit]").click()
    expect(page.locator("#preview .preview-subject")).to_have_text("佐藤様へ 新機能のご案内")

    page.goto("/mail/broadcasts/new/")
    page.locator("[name=name]").fill("11月号")
    page.locator("[name=template]").select_option(label="11月のお知らせ")
    page.locator("[name=segment]").select_option(label="展示会 2026 来場者")
    page.locator("form:has([name=segment]) button[type=submit]").click()
    page.locator('form[action$="/schedule/"] button[type=submit]').click()
    expect(
        page.locator(".badge.status-scheduled, .badge.status-sending, .badge.status-done").first
    ).to_be_visible()
    for _ in range(30):  # the embedded worker sends within a few seconds
        if page.locator(".badge.status-done").count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(page.locator(".badge.status-done").first).to_be_visible()

    (mail,) = smtp_server.wait_for(1)
    unsubscribe = mail.message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    page.goto(urlsplit(unsubscribe).path)
    assert Contact.objects.get(pk=contact.pk).email_consent == "opt_in"  # the page alone: nothing
    page.locator("form button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("配信を停止しました。")
    assert Contact.objects.get(pk=contact.pk).email_consent == "opt_out"
