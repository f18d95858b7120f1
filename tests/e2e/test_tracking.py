"""The website snippet in a real browser: a customer's page on another origin, tracked.

A page is served on its own loopback port (another origin, as a company site would be), with
the snippet tag pointing at the app. Visiting it records page views; submitting its form
(a minimal web-to-lead form posting to /t/form) turns the visitor into a contact with the
anonymous history attached.
"""

from __future__ import annotations

import html
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page

from tests.processes import free_port, start_collector, stop_collector
from tsunagari.crm.models import Contact
from tsunagari.tracking.models import Touchpoint, TrackedSite
from tsunagari.tracking.sites import site_cache

pytestmark = pytest.mark.e2e

PAGE = """<!doctype html><html lang="ja"><head><meta charset="utf-8">
<title>{title}</title>
<script async src="{app}/t.js" data-consent="always"{collect}></script></head>
<body><h1>{title}</h1>
<a id="next" href="/pricing">料金</a>
<form id="lead" method="post" action="{app}/t/form">
  <input name="email" type="email"><input name="family_name">
  <input type="hidden" name="_tsg_vid">
  <input type="text" name="website" style="display:none">
  <label><input type="checkbox" name="consent" value="1" checked> ニュースレターを受け取る</label>
  <input type="hidden" name="consent_text" value="ニュースレターを受け取る">
  <input type="hidden" name="next" value="{site}/thanks">
  <button type="submit">資料請求</button>
</form></body></html>"""


@pytest.fixture
def customer_site(app_server):
    """A company website on its own origin, serving pages that carry the snippet."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            title = "料金プラン" if self.path.startswith("/pricing") else "製品トップ"
            # ?collector=URL: the snippet sends its hits to a collect server there.
            collector = parse_qs(urlsplit(self.path).query).get("collector", [""])[0]
            collect = f' data-collect="{html.escape(collector)}"' if collector else ""
            body = PAGE.format(title=title, app=app_server, site=origin, collect=collect).encode()
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
        yield origin
    finally:
        server.shutdown()
        site_cache.reload()


# Headless Chromium says "HeadlessChrome", which the bot filter rightly drops; a visitor's
# browser says Chrome.
DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)


@pytest.fixture
def visitor(page: Page):
    """A browser context whose every request, beacons included, carries a desktop Chrome UA."""
    context = page.context.browser.new_context(user_agent=DESKTOP_CHROME, locale="ja-JP")
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_the_snippet_records_visits_and_a_form_turns_them_into_a_contact(
    visitor: Page, customer_site: str
):
    page = visitor
    page.goto(f"{customer_site}/")
    wait_for(lambda: Touchpoint.objects.filter(type="page_view").count() == 1)
    # Time on page goes out by sendBeacon when the page is hidden or left. (Fired by hand:
    # Playwright's user-agent override misses beacons sent while a page unloads.)
    page.wait_for_timeout(300)
    page.evaluate("window.dispatchEvent(new Event('pagehide'))")
    wait_for(lambda: Touchpoint.objects.filter(type="page_leave").exists())
    assert Touchpoint.objects.get(type="page_leave").duration_ms >= 300
    page.click("#next")
    page.wait_for_url(f"{customer_site}/pricing")
    wait_for(lambda: Touchpoint.objects.filter(type="page_view").count() == 2)
    views = Touchpoint.objects.filter(type="page_view")
    assert set(views.values_list("path", flat=True)) == {"/", "/pricing"}
    assert views.filter(contact__isnull=True).count() == 2  # still anonymous
    assert len(set(views.values_list("visitor_id", flat=True))) == 1  # one browser

    page.fill("input[name=email]", "hanako@example.co.jp")
    page.fill("input[name=family_name]", "山田")
    page.click("button[type=submit]")
    page.wait_for_url(f"{customer_site}/thanks")  # back on the company's own site
    wait_for(lambda: Contact.objects.filter(email="hanako@example.co.jp").exists())

    contact = Contact.objects.get(email="hanako@example.co.jp")
    # The anonymous history is attached (and the thank-you page's view lands on it directly).
    wait_for(lambda: contact.touchpoints.filter(type="page_view").count() >= 2)
    paths = set(contact.touchpoints.filter(type="page_view").values_list("path", flat=True))
    assert {"/", "/pricing"} <= paths
    types = set(contact.touchpoints.values_list("type", flat=True))
    assert {"page_view", "form_submitted", "identified"} <= types
    assert contact.email_consent == "opt_in"


def test_the_snippet_sends_to_a_collect_server_when_told_to(visitor: Page, customer_site: str):
    # `tsunagari collect` on its own port, as a busy site deploys it (docs/scaling.md): page
    # views and time on page go there; the web app's own /t/collect takes nothing.
    port = free_port()
    collector = start_collector(port)
    sent_to: list[str] = []
    try:
        page = visitor
        page.on("request", lambda request: sent_to.append(request.url))
        page.goto(f"{customer_site}/?collector=http://127.0.0.1:{port}")
        wait_for(lambda: Touchpoint.objects.filter(type="page_view").count() == 1)
        page.wait_for_timeout(300)
        page.evaluate("window.dispatchEvent(new Event('pagehide'))")
        wait_for(lambda: Touchpoint.objects.filter(type="page_leave").exists())
    finally:
        stop_collector(collector)
    hits = [url for url in sent_to if url.endswith("/t/collect")]
    assert hits and all(url == f"http://127.0.0.1:{port}/t/collect" for url in hits)
    view = Touchpoint.objects.get(type="page_view")
    assert view.path == "/" and view.title == "製品トップ" and view.visitor is not None
    assert Touchpoint.objects.get(type="page_leave").duration_ms >= 300


def test_an_unregistered_site_records_nothing(visitor: Page, customer_site: str):
    page = visitor
    TrackedSite.objects.all().delete()
    site_cache.reload()
    page.goto(f"{customer_site}/")
    time.sleep(1.5)
    assert not Touchpoint.objects.exists()


def test_a_headless_browser_is_treated_as_a_bot(page: Page, customer_site: str):
    page.goto(f"{customer_site}/")
    time.sleep(1.5)
    assert not Touchpoint.objects.exists()
