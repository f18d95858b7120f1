"""A seminar in a real browser (Debian's Chromium): the marketer creates the event and a
session, a visitor registers on the public page, the confirmation arrives at a real SMTP server
through the embedded worker, the code from it checks the visitor in at the door, sales open a
deal from the contact page and win it, and the seminar report counts the deal and its amount.

Hooks the test relies on: the event forms' fields by name (name, slug, starts_at, ends_at,
place, capacity), the check-in input name=code and #checkin-result li.success, the deals
panel's link to /deals/new/, the deal form (name, amount), #deal-stage[data-stage] and the
close-won button (name=close value=won), and the report's #stat-* values and #deal-contacts.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.e2e.test_smoke import PASSWORD, log_in
from tsunagari.core.services import user_create
from tsunagari.crm.models import Contact
from tsunagari.events.models import Event, Registration
from tsunagari.pages import protection

pytestmark = pytest.mark.e2e

DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)


@pytest.fixture(autouse=True)
def _fresh_limits():
    for limiter in (protection.ip_limiter, protection.form_limiter):
        limiter.reset()


@pytest.fixture
def marketer(transactional_db):
    return user_create(username="e2e-admin", password=PASSWORD, role="marketing")


def test_registration_checkin_deal_in_the_seminar_report(page: Page, marketer, smtp_server):
    log_in(page)
    page.goto("/events/new/")
    page.locator("[name=name]").fill("製造業DXセミナー 2027")
    page.locator("[name=slug]").fill("dx-2027")
    page.locator("form.form [type=submit]").click()
    expect(page.locator("h1")).to_contain_text("製造業DXセミナー 2027")
    event = Event.objects.get(slug="dx-2027")
    event.form.min_fill_seconds = 0  # the test types faster than a person
    event.form.save()

    day = (timezone.localtime() + dt.timedelta(days=7)).date().isoformat()
    page.goto(f"/events/{event.pk}/sessions/new/")
    page.locator("[name=starts_at]").fill(f"{day}T14:00")
    page.locator("[name=ends_at]").fill(f"{day}T16:00")
    page.locator("[name=place]").fill("東京都千代田区丸の内1-1 会議室A")
    page.locator("[name=capacity]").fill("30")
    page.locator("form.form [type=submit]").click()
    expect(page.locator("table.list")).to_contain_text(f"{day} 14:00")

    # A visitor registers on the public page, in a browser of their own.
    visitor = page.context.browser.new_context(user_agent=DESKTOP_CHROME, locale="ja-JP")
    visitor.set_default_timeout(15_000)
    public = visitor.new_page()
    public.goto(page.url.split("/events/")[0] + "/e/dx-2027/")
    form = public.locator("#register form")
    fields = {f.target: f.name for f in event.form.fields.all()}
    form.locator(f"[name={fields['email']}]").fill("suzuki@example.co.jp")
    form.locator(f"[name={fields['family_name']}]").fill("鈴木")
    form.locator(f"[name={fields['company']}]").fill("株式会社鈴木精機")
    form.locator("[type=submit]").click()
    expect(public.locator("#registered")).to_be_visible()
    visitor.close()
    contact = Contact.objects.get(email="suzuki@example.co.jp")
    assert Registration.objects.get().contact == contact

    # The embedded worker sends the confirmation with the QR code and its code in text.
    smtp_server.wait_for(1, timeout=30)
    message = smtp_server.messages[0].message
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()
    assert any(p.get_content_type() == "image/png" for p in message.walk())
    code = re.search(r"^\s*([\w-]+:[\w-]+:[\w-]+)\s*$", text, re.M).group(1)

    # At the door: the scanner types the code and presses Enter.
    page.goto(f"/events/{event.pk}/checkin/")
    page.locator("[name=code]").fill(code)
    page.locator("[name=code]").press("Enter")
    expect(page.locator("#checkin-result li.success")).to_contain_text("鈴木")
    page.locator("[name=code]").fill(code)
    page.locator("[name=code]").press("Enter")
    expect(page.locator("#checkin-result li.warning")).to_be_visible()

    # Sales open a deal for the attendee from the contact page's deals panel, then win it.
    page.goto(f"/events/{event.pk}/registrants/")
    page.locator(f'a[href="/contacts/{contact.pk}/"]').click()
    page.locator('a[href^="/deals/new/?account="]').click()
    page.locator("[name=name]").fill("生産管理DX導入")
    page.locator("[name=amount]").fill("1200000")
    page.locator("form.form [type=submit]").click()
    expect(page.locator("#deal-stage")).to_have_attribute("data-stage", "qualification")
    page.locator("button[name=close][value=won]").click()
    expect(page.locator("#deal-stage")).to_have_attribute("data-stage", "won")
    assert Contact.objects.get(pk=contact.pk).lifecycle_stage == "customer"

    page.goto(f"/events/{event.pk}/report/")
    expect(page.locator("#stat-registered")).to_have_text("1")
    expect(page.locator("#stat-attended")).to_have_text("1")
    expect(page.locator("#stat-attendance-rate")).to_have_text("100%")
    expect(page.locator("#stat-deals")).to_have_text("1")
    expect(page.locator("#stat-deal-rate")).to_have_text("100%")
    expect(page.locator("#stat-won-amount")).to_have_text("¥1,200,000")
    expect(page.locator("#deal-contacts")).to_contain_text("suzuki@example.co.jp")
