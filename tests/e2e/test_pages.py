"""Forms, landing pages and dynamic content in a real browser (Debian's Chromium).

A hosted landing page is filled twice by the same visitor and asks different fields the
second time; the contact, the consent record and the visitor's anonymous history exist.
A company site on another origin embeds a form and a content slot: after the first visitor
tells us their industry, the slot shows the manufacturing banner to them and the default to
a second visitor.
"""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from tests.pages.conftest import CONSENT_TEXT
from tsunagari.crm.models import ConsentRecord, Contact
from tsunagari.pages import protection, services
from tsunagari.pages.dynamic import slot_cache
from tsunagari.pages.models import ContentSlot, FormField, SlotVariant
from tsunagari.tracking.models import Touchpoint, TrackedSite, Visitor
from tsunagari.tracking.sites import site_cache

pytestmark = pytest.mark.e2e

DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture(autouse=True)
def _fresh_limits():
    for limiter in (protection.ip_limiter, protection.form_limiter, protection.ip_limiter_slots):
        limiter.reset()


@pytest.fixture
def browser_of(page: Page):
    """A new browser (its own cookies) that says it is desktop Chrome, as visitors' do."""
    contexts = []

    def make() -> Page:
        context = page.context.browser.new_context(user_agent=DESKTOP_CHROME, locale="ja-JP")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def add(form, target, kind="field", consent_text="", **extra):
    return services.field_save(
        field=FormField(form=form, kind=kind, target=target, **extra), consent_text=consent_text
    )


def test_a_landing_page_asks_a_returning_visitor_the_next_questions(app_server, browser_of):
    form = services.form_create(name="DX白書ダウンロード")
    form.max_questions = 2
    form.min_fill_seconds = 1
    form.thank_you_message = "お申し込みありがとうございました。"
    form.save()
    for target in ("company", "family_name", "department", "buying_role", "bant_budget"):
        add(form, target, required=True)
    add(form, "newsletter", kind="consent", consent_text=CONSENT_TEXT)
    page_model = services.page_create(slug="dx", title="製造業DX白書")
    services.block_add(variant=page_model.variants.get(), kind="form")
    services.block_update(variant=page_model.variants.get(), index=1, values={"form_id": form.pk})
    services.page_publish(page=page_model)
    names = {f.target: f.name for f in form.fields.all()}

    visitor = browser_of()
    visitor.goto(f"{app_server}/p/dx/")
    expect(visitor.get_by_role("heading", name="製造業DX白書")).to_be_visible()
    for target in ("email", "company", "family_name"):
        expect(visitor.locator(f"[name={names[target]}]")).to_be_visible()
    expect(visitor.locator(f"[name={names['department']}]")).to_have_count(0)
    visitor.fill(f"[name={names['email']}]", "hanako@yamada-seisakusho.co.jp")
    visitor.fill(f"[name={names['company']}]", "株式会社山田製作所")
    visitor.fill(f"[name={names['family_name']}]", "山田")
    visitor.check(f"[name={names['newsletter']}]")
    visitor.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    visitor.get_by_role("button", name="送信").click()
    expect(visitor.get_by_text("お申し込みありがとうございました。")).to_be_visible()

    visitor.goto(f"{app_server}/p/dx/")  # the same browser comes back
    expect(visitor.locator(f"[name={names['department']}]")).to_be_visible()
    expect(visitor.locator(f"[name={names['buying_role']}]")).to_be_visible()
    expect(visitor.locator(f"[name={names['company']}]")).to_have_count(0)
    expect(visitor.locator(f"[name={names['family_name']}]")).to_have_count(0)
    visitor.fill(f"[name={names['email']}]", "hanako@yamada-seisakusho.co.jp")
    visitor.fill(f"[name={names['department']}]", "生産技術部")
    visitor.select_option(f"[name={names['buying_role']}]", "decision_maker")
    visitor.wait_for_timeout(1100)
    visitor.get_by_role("button", name="送信").click()
    expect(visitor.get_by_text("お申し込みありがとうございました。")).to_be_visible()

    contact = Contact.objects.get(email="hanako@yamada-seisakusho.co.jp")
    assert (contact.family_name, contact.department, contact.buying_role) == (
        "山田",
        "生産技術部",
        "decision_maker",
    )
    assert contact.account.name == "株式会社山田製作所"
    consent = ConsentRecord.objects.get(contact=contact)
    assert (consent.topic, consent.consent_text) == ("newsletter", CONSENT_TEXT)
    # The first page view happened before anyone knew who this was; it is on the contact now.
    browser = Visitor.objects.get()
    assert browser.contact_id == contact.pk
    views = Touchpoint.objects.filter(type="page_view", visitor=browser).order_by("id")
    assert views.count() == 2 and set(views.values_list("contact_id", flat=True)) == {contact.pk}
    identified = Touchpoint.objects.get(type="identified", contact=contact)
    assert identified.properties["attached"] >= 1
    assert Touchpoint.objects.filter(type="form_submitted", contact=contact).count() == 2


SITE_PAGE = """<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>製品</title>
<script async src="{app}/t.js" data-consent="always"></script>
<script async src="{app}/p/embed.js"></script></head>
<body><div id="hero" data-tsunagari-slot="hero">…</div>
<div id="lead" data-tsunagari-form="{form}"></div></body></html>"""


@pytest.fixture
def company_site(app_server):
    state = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = SITE_PAGE.format(app=app_server, form=state["form"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    TrackedSite.objects.create(name="コーポレートサイト", origin=origin)
    site_cache.reload()
    try:
        yield origin, state
    finally:
        server.shutdown()
        site_cache.reload()


def test_dynamic_content_shows_each_visitor_their_variant(company_site, browser_of):
    origin, state = company_site
    form = services.form_create(name="お問い合わせ")
    form.min_fill_seconds = 0
    form.max_questions = 0
    form.thank_you_message = "送信しました"
    form.save()
    add(form, "company", required=True)
    add(form, "industry", required=True)
    state["form"] = form.pk
    slot = ContentSlot.objects.create(key="hero", name="トップ", default_html="<p>ようこそ</p>")
    SlotVariant.objects.create(
        slot=slot, key="maker", html="<p>製造業の方へ</p>", rules={"industry": ["manufacturing"]}
    )
    slot_cache.reload()
    names = {f.target: f.name for f in form.fields.all()}

    first = browser_of()
    first.goto(f"{origin}/")
    expect(first.locator("#hero")).to_have_attribute("data-variant", "default")
    expect(first.locator("#hero")).to_have_text("ようこそ")
    first.fill(f"[name={names['email']}]", "kenji@maker.co.jp")
    first.fill(f"[name={names['company']}]", "株式会社メーカー")
    first.select_option(f"[name={names['industry']}]", "manufacturing")
    first.get_by_role("button").click()
    expect(first.get_by_text("送信しました")).to_be_visible()
    first.reload()
    expect(first.locator("#hero")).to_have_attribute("data-variant", "maker")
    expect(first.locator("#hero")).to_have_text("製造業の方へ")

    second = browser_of()
    second.goto(f"{origin}/")
    expect(second.locator("#hero")).to_have_attribute("data-variant", "default")

    contact = Contact.objects.get(email="kenji@maker.co.jp")
    assert contact.account.industry == "manufacturing"
    wait_for(lambda: Touchpoint.objects.filter(properties__event="dynamic_content").count() == 3)
    decisions = Touchpoint.objects.filter(properties__event="dynamic_content").order_by("id")
    assert [d.properties["variant"] for d in decisions] == ["default", "maker", "default"]
    assert decisions[1].contact_id == contact.pk


def test_a_marketer_builds_a_form_and_a_landing_page_in_the_browser(page: Page, app_server):
    from tests.e2e.test_smoke import PASSWORD, USERNAME, log_in
    from tsunagari.core.services import user_create

    user_create(username=USERNAME, password=PASSWORD, role="marketing")
    log_in(page)
    page.goto("/pages/")
    expect(page.get_by_text("フォームはまだありません")).to_be_visible()
    page.fill("input[name=name]", "展示会フォロー")
    page.get_by_role("button", name="新しいフォーム").click()
    expect(page.get_by_role("heading", name=re.compile("展示会フォロー"))).to_be_visible()

    add = page.locator("#field-form")
    add.locator("select[name=kind]").select_option("field")
    add.locator("input[name=target]").fill("company")
    add.locator("input[name=label]").fill("貴社名")
    add.get_by_role("button", name="項目を追加").click()
    expect(page.locator("#fields")).to_contain_text("貴社名")  # swapped in by htmx
    add.locator("select[name=kind]").select_option("consent")
    add.get_by_role("button", name="項目を追加").click()  # no consent text: refused in place
    expect(add.locator(".errors")).to_be_visible()
    add.locator("input[name=target]").fill("newsletter")
    add.locator("textarea[name=consent_text]").fill("メールマガジンを受け取る")
    add.get_by_role("button", name="項目を追加").click()
    expect(page.locator("#fields")).to_contain_text("メールマガジンを受け取る")

    page.goto("/pages/landing/new/")
    page.fill("input[name=title]", "展示会御礼")
    page.fill("input[name=slug]", "expo-thanks")
    page.get_by_role("button", name="作成").click()
    blocks = page.locator("#blocks")
    blocks.locator("select[name=kind]").select_option("form")
    blocks.get_by_role("button", name="ブロックを追加").click()
    expect(blocks.locator("select[name=form_id]")).to_be_visible()
    blocks.locator("select[name=form_id]").select_option(label="展示会フォロー")
    blocks.get_by_role("button", name="ブロックを保存").nth(1).click()
    expect(blocks.locator("select[name=form_id] option[selected]")).to_have_text("展示会フォロー")
    page.get_by_role("button", name="公開", exact=True).click()
    expect(page.get_by_text("公開しました")).to_be_visible()

    page.goto("/p/expo-thanks/")
    expect(page.get_by_role("heading", name="展示会御礼")).to_be_visible()
    expect(page.get_by_label("貴社名")).to_be_visible()
    expect(page.get_by_text("メールマガジンを受け取る")).to_be_visible()
