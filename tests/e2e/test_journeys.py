"""A journey built in Chromium: create it, add steps with htmx (the panel re-renders with the
inputs of the chosen type), build a branch's conditions with typed inputs, see the problems,
publish it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tsunagari.core.services import user_create
from tsunagari.journeys import services
from tsunagari.journeys.models import Journey
from tsunagari.mail.models import Template
from tsunagari.mail.services import template_save

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
    expect(page.locator("#step-panel #id_mode")).to_be_visible()  # the wait's own inputs
    expect(page.locator("#step-panel #id_key")).to_have_value("wait")  # kept on re-render
    page.locator("#step-panel #id_mode").select_option("business_days")
    expect(page.locator("#step-panel #id_at_hour")).to_be_visible()
    expect(page.locator("#step-panel #id_wait_minutes")).to_have_count(0)
    page.locator("#step-panel #id_wait_days").fill("3")
    page.locator("#step-panel [type=submit]").click()
    expect(page.locator("#step-wait")).to_be_visible()
    expect(page.locator("#graph .errors")).to_contain_text("待機の後に続くステップがありません")

    expect(page.locator("#step-panel form")).to_have_count(0)  # saved: the panel is emptied
    page.locator("#step-wait button", has_text="後に追加").click()
    expect(page.locator("#step-panel input[name=after]")).to_have_value("wait")
    page.locator("#step-panel #id_key").fill("tag")
    page.locator("#step-panel #id_type").select_option("tags")
    expect(page.locator("#step-panel #id_add")).to_be_visible()
    page.locator("#step-panel #id_key").fill("bad key!")
    page.locator("#step-panel [type=submit]").click()
    expect(page.locator("#step-panel [data-field=key] p.error")).to_be_visible()
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


def test_a_branch_is_built_from_pickers_and_condition_rows(page: Page, transactional_db):
    user_create(username=USERNAME, password=PASSWORD, role="marketing")
    paper = template_save(
        template=Template(name="ホワイトペーパー", subject="資料", html="<p>x</p>{{ footer }}")
    )
    journey = services.journey_create(
        name="分岐シナリオ",
        graph={
            "start": "paper",
            "steps": {
                "paper": {"type": "email", "template_id": paper.pk, "next": "t"},
                "t": {"type": "tags", "add": ["育成"]},
            },
        },
    )
    log_in(page)
    page.goto(f"/journeys/{journey.pk}/")
    expect(page.locator("#step-paper")).to_contain_text("ホワイトペーパー")  # named, not #id

    page.locator("#step-paper button", has_text="後に追加").click()
    page.locator("#step-panel #id_key").fill("b")
    page.locator("#step-panel #id_type").select_option("branch")
    kind = page.locator("#step-panel select[name='cond-0-kind']")
    expect(kind).to_be_visible(timeout=15_000)
    page.wait_for_load_state("networkidle")  # the re-render for the type has settled
    kind.select_option("email")
    # The panel is re-rendered by htmx; on a loaded CI machine that can take a few seconds.
    expect(page.locator("#step-panel select[name='cond-0-step'] option")).to_have_text(
        ["—", "paper"], timeout=15_000
    )
    page.locator("#step-panel select[name='cond-0-step']").select_option("paper")
    page.locator("#step-panel button.add-condition").click()
    second = page.locator("#step-panel select[name='cond-1-kind']")
    expect(second).to_be_visible()
    expect(page.locator("#step-panel select[name='cond-0-step']")).to_have_value("paper")
    second.select_option("score")
    page.locator("#step-panel select[name='cond-1-op']").select_option("gte")
    page.locator("#step-panel input[name='cond-1-value']").fill("三十")
    page.locator("#step-panel #id_yes").fill("t")
    page.locator("#step-panel #id_no").fill("t")
    page.locator("#step-panel [type=submit]").click()
    expect(page.locator("#step-panel [data-field='cond-1-value'] p.error")).to_contain_text("整数")
    page.locator("#step-panel input[name='cond-1-value']").fill("30")
    page.locator("#step-panel [type=submit]").click()
    expect(page.locator("#step-b")).to_be_visible()
    journey.refresh_from_db()
    assert journey.steps["b"] == {
        "type": "branch",
        "yes": "t",
        "no": "t",
        "conditions": [
            {"kind": "email", "event": "clicked", "step": "paper"},
            {"kind": "score", "op": "gte", "value": 30},
        ],
    }
    assert journey.steps["paper"]["next"] == "b"
