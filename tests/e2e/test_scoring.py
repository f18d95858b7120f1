"""Scoring in a real browser: a marketer writes a rule, a visitor browses the pricing page and
asks for material, the worker scores and hands the MQL to a rep, who accepts it as an SQL."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_smoke import log_in
from tests.e2e.test_tracking import DESKTOP_CHROME, customer_site, wait_for  # noqa: F401
from tsunagari.core.services import user_create
from tsunagari.crm.models import Contact
from tsunagari.scoring.models import BehaviourRule, Handoff, MqlSettings

pytestmark = pytest.mark.e2e

PASSWORD = "e2e correct horse battery"


@pytest.fixture
def people(transactional_db):
    return (
        user_create(username="mkt", password=PASSWORD, role="marketing"),
        user_create(username="rep", password=PASSWORD, role="inside_sales", email="rep@ex.jp"),
    )


def test_tracked_page_views_become_an_mql_that_a_rep_accepts_as_an_sql(
    page: Page,
    customer_site: str,  # noqa: F811
    people,
):
    MqlSettings.objects.update_or_create(pk=1, defaults={"min_behaviour": 30})
    log_in(page, "mkt", PASSWORD)
    page.goto("/scoring/rules/new/")
    page.fill("input[name=name]", "料金ページ")
    page.select_option("select[name=touch_type]", "page_view")
    page.fill("input[name=url_pattern]", "/pricing*")
    page.fill("input[name=points]", "10")
    page.fill("input[name=cap_count]", "5")
    with page.expect_navigation():
        page.locator("form.form [type=submit]").click()
    expect(page.locator("main")).to_contain_text("料金ページ")
    assert BehaviourRule.objects.get().url_pattern == "/pricing*"

    visitor = page.context.browser.new_context(user_agent=DESKTOP_CHROME, locale="ja-JP")
    browse = visitor.new_page()
    for _ in range(3):
        browse.goto(f"{customer_site}/pricing")
    browse.fill("input[name=email]", "hanako@example.co.jp")
    browse.fill("input[name=family_name]", "山田")
    browse.click("button[type=submit]")
    browse.wait_for_url(f"{customer_site}/thanks")
    visitor.close()

    wait_for(lambda: Handoff.objects.filter(contact__email="hanako@example.co.jp").exists(), 30)
    contact = Contact.objects.get(email="hanako@example.co.jp")
    assert contact.lifecycle_stage == "mql" and contact.score.behaviour >= 30

    page.context.clear_cookies()
    log_in(page, "rep", PASSWORD)
    page.goto("/scoring/leads/")
    with page.expect_navigation():
        page.get_by_role("link", name="山田").click()
    with page.expect_navigation():
        page.locator("form[action$='/accept/'] [type=submit]").click()
    expect(page.locator(".messages")).to_contain_text("SQL")
    contact.refresh_from_db()
    assert contact.lifecycle_stage == "sql"

    page.goto(f"/contacts/{contact.pk}/")
    expect(page.locator(".score-panel")).to_contain_text("料金ページ")
