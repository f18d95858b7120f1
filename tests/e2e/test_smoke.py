"""Smoke tests in a real browser: log in, switch language, import a CSV and see the contacts.

What these tests assume of the UI (stable hooks, not wording):
- /login/: input[name=username], input[name=password], a submit button in that form.
- every page after log-in: <html lang="ja|en">, a nav link a[href="/contacts/"], and in the top
  bar (header) a <select name="language"> that switches language when changed.
- /imports/: a form containing input[type=file] (and the object type, contacts by default) and
  a submit button; it leads to the import's page /imports/<pk>/ with a button named like
  "Start"/"開始" or button[value=start]; while the import runs that page shows
  #import-progress and reloads itself when the import is over; on /imports/ the import's row
  (tr with a link to /imports/<pk>/) has an element .status with the class status-<status>.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tsunagari.core.services import user_create

pytestmark = pytest.mark.e2e

USERNAME = "e2e-admin"
PASSWORD = "e2e correct horse battery"
CONTACTS_CSV = Path(__file__).resolve().parents[1] / "data" / "contacts_utf8.csv"
START_BUTTON = re.compile(r"Start|開始")


@pytest.fixture
def admin(transactional_db):
    return user_create(username=USERNAME, password=PASSWORD, role="admin")


def log_in(page: Page, username: str = USERNAME, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        page.locator("form:has(input[name=password]) [type=submit]").click()


def contacts_link(page: Page):
    return page.locator('nav a[href="/contacts/"]')


def test_log_in_and_see_the_dashboard(page: Page, app_server, admin):
    log_in(page, password="not the password")
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(contacts_link(page)).to_have_count(0)

    log_in(page)
    expect(page).to_have_url(f"{app_server}/")
    expect(contacts_link(page)).to_be_visible()
    expect(page.locator("header")).to_contain_text(USERNAME)


def test_switch_the_language_to_english(page: Page, admin):
    log_in(page)
    # LANGUAGE: Japanese by default (the browser asks for ja-JP), labels from the ja catalogue.
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(contacts_link(page)).to_have_text("コンタクト")

    page.locator("header select[name=language]").select_option("en")

    # LANGUAGE: the English label is shown and the Japanese one is gone, on this page and the next.
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(contacts_link(page)).to_have_text("Contacts")
    expect(page.locator("body")).not_to_contain_text("コンタクト")
    contacts_link(page).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("nav")).not_to_contain_text("コンタクト")


def _family_names(path: Path) -> list[str]:
    """The family names (or, failing that, full names) in the CSV the test imports."""
    assert path.is_file(), f"{path} is missing: the import smoke test needs it"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, f"{path} has no data rows"
    headers = [h.strip() for h in rows[0]]
    preferred = ("姓", "family_name", "family name", "last_name", "last name", "surname")
    fallback = ("氏名", "名前", "name", "full_name", "full name")
    for candidates in (preferred, fallback):
        for header in rows[0]:
            if header.strip().lower() in candidates:
                return [row[header].strip() for row in rows if (row[header] or "").strip()]
    raise AssertionError(f"no name column among {headers} in {path}")


def test_import_a_csv_and_find_the_contacts(page: Page, admin):
    names = _family_names(CONTACTS_CSV)
    log_in(page)

    page.goto("/imports/")
    upload_form = page.locator("form:has(input[type=file])")
    upload_form.locator("input[type=file]").set_input_files(str(CONTACTS_CSV))
    with page.expect_navigation():
        upload_form.locator("[type=submit]").first.click()

    # The mapping page: the columns were recognised, the import can start.
    expect(page).to_have_url(re.compile(r"/imports/\d+/$"))
    job_path = re.search(r"/imports/\d+/$", page.url).group(0)
    start = page.get_by_role("button", name=START_BUTTON).or_(page.locator("button[value=start]"))
    with page.expect_navigation():
        start.first.click()

    # While it runs the page polls its progress (htmx) and reloads itself when finished, so
    # once #import-progress is gone the import is over.
    expect(page.locator("#import-progress")).to_have_count(0, timeout=90_000)
    page.goto("/imports/")
    status = page.locator(f'tr:has(a[href="{job_path}"]) .status')
    expect(status).to_have_class(re.compile(r"\bstatus-done\b"))

    page.goto("/contacts/")
    listed = page.locator("main").inner_text()
    found = [name for name in names if name in listed]
    assert found, f"none of the imported names {names[:5]}… is listed on /contacts/"
