"""A journey built in Chromium: create it, add steps with htmx, see the problems, publish it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tsunagari.core.services import user_create
from tsunagari.journeys.models import Journey

pytestmark = pytest.mark.e2e

USERNAME = "e2e-journeys"
PASSWORD = "e2e correct horse battery"


def log_in(page: Page) -> None:
    page.goto("/login/")
    page.locator("input[name=username]").fill(USERNAME)
    page.locator("input[name=password]").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("form:has(input[name=password]) [type=submit]").click()


def test_build_and_publish_a_journey_in_the_browser(page: Page, transactional_db):
    user_create(username=USERNAME, password=PASSWORD, role="marketing")
    log_in(page)
    page.goto("/journeys/")
    expect(page.locator(".empty")).to_be_visible()
    page.locator('.page-head a[href="/journeys/new/"]').click()
    page.locator("#id_name").fill("再育成シナリオ")
    page.locator("#id_trigger_type").select_option("lifecycle")
    page.locator("#id_to_stage").select_option("nurture")
    page.locator("#id_goal_stage").select_option("sql")
    with page.expect_navigation():
        page.locator("form.card [type=submit]").click()
    expect(page.locator("#graph .errors")).to_contain_text("ステップがありません")

    page.locator("#graph button", has_text="ステップを追加").click()
    expect(page.locator("#step-panel form")).to_be_visible()
    page.locator("#step-panel #id_key").fill("wait")
    page.locator("#step-panel #id_type").select_option("wait")
    page.locator("#step-panel #id_mode").select_option("business_days")
    page.locator("#step-panel #id_wait_days").fill("3")
    page.locator("#step-panel [type=submit]").click()
    expect(page.locator("#step-wait")).to_be_visible()
    expect(page.locator("#graph .errors")).to_contain_text("待機の後に続くステップがありません")

    expect(page.locator("#step-panel form")).to_have_count(0)  # saved: the panel is emptied
    page.locator("#step-wait button", has_text="後に追加").click()
    expect(page.locator("#step-panel input[name=after]")).to_have_value("wait")
    page.locator("#step-panel #id_key").fill("tag")
    page.locator("#step-panel #id_type").select_option("tags")
    page.locator("#step-panel #id_key").fill("bad key!")
    page.locator("#step-panel [type=submit]").click()
    expect(page.locator("#step-panel p.error")).to_be_visible()
    expect(page.locator("#step-wait")).to_be_visible()  # the graph is untouched
    page.locator("#step-panel #id_key").fill("tag")
    page.locator("#step-panel #id_add").fill("再育成中")
    page.locator("#step-panel [type=submit]").click()
    expect(page.locator("#step-tag")).to_be_visible()
    expect(page.locator("#graph .errors")).to_have_count(0)

    with page.expect_navigation():
        page.locator("form[action$='/publish/'] button").click()
    expect(page.locator(".page-head .badge")).to_have_text("稼働中")
    journey = Journey.objects.get(name="再育成シナリオ")
    assert journey.status == Journey.Status.LIVE
    assert journey.graph == {
        "start": "wait",
        "steps": {
            "wait": {"type": "wait", "mode": "business_days", "days": 3, "next": "tag"},
            "tag": {"type": "tags", "add": ["再育成中"], "remove": []},
        },
    }
