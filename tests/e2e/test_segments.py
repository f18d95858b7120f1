"""The issue's example segment, built in Chromium with the builder, then kept current.

"Manufacturing companies with ≥ 300 employees, contacts in 情報システム部, who visited a pricing
or case-study page at least 3 times in the last 30 days, opted in to email, not already an SQL."
The live count must match the reference evaluator; after saving, one more pricing visit by a
contact with two moves that contact into the segment through the embedded worker.

Hooks this test relies on: the builder's inputs are named and identified `n-<path>-<name>`
(root group `r`, its children `r_0`, `r_1`…), the add buttons `#add-<kind>-<path>`, the live
count `#preview-count[data-count]`, the segment page's `#member-count`.
"""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.segments.reference import Reference
from tsunagari.core.services import user_create
from tsunagari.crm.models import Account, Contact
from tsunagari.segments.models import Segment
from tsunagari.segments.queries import segment_members
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.services import touchpoints_append

pytestmark = pytest.mark.e2e

USERNAME = "e2e-marketer"
PASSWORD = "e2e correct horse battery"


def visits(contact: Contact, paths: list[str], days_ago: int = 3) -> None:
    when = timezone.now() - dt.timedelta(days=days_ago)
    with transaction.atomic():
        touchpoints_append(
            [Touchpoint(contact=contact, type="page_view", path=p, occurred_at=when) for p in paths]
        )


@pytest.fixture
def people(transactional_db) -> dict[str, Contact]:
    user_create(username=USERNAME, password=PASSWORD, role="marketing")
    factory = Account.objects.create(
        name="東和精機株式会社", name_key="東和精機", industry="manufacturing", employee_count=800
    )
    small = Account.objects.create(
        name="小川製作所", name_key="小川製作所", industry="manufacturing", employee_count=40
    )
    software = Account.objects.create(
        name="青空ソフト", name_key="青空ソフト", industry="it", employee_count=900
    )

    def person(email: str, account: Account, **fields) -> Contact:
        fields.setdefault("department", "情報システム部")
        fields.setdefault("email_consent", "opt_in")
        fields.setdefault("lifecycle_stage", "mql")
        return Contact.objects.create(email=email, family_name="佐藤", account=account, **fields)

    people = {
        "fits": person("fits@towa.example.jp", factory),
        "two_visits": person("two@towa.example.jp", factory),
        "already_sql": person("sql@towa.example.jp", factory, lifecycle_stage="sql"),
        "small_company": person("small@ogawa.example.jp", small),
        "software": person("soft@aozora.example.jp", software),
        "sales_dept": person("sales@towa.example.jp", factory, department="営業部"),
        "opted_out": person("out@towa.example.jp", factory, email_consent="opt_out"),
    }
    three = ["/pricing", "/case-study/towa", "/pricing/enterprise"]
    for key in ("fits", "already_sql", "small_company", "software", "sales_dept", "opted_out"):
        visits(people[key], three)
    visits(people["two_visits"], ["/pricing", "/case-study/kanto", "/blog/dx"])
    visits(people["two_visits"], ["/case-study/old"], days_ago=45)  # outside the window
    return people


def log_in(page: Page) -> None:
    page.goto("/login/")
    page.locator("input[name=username]").fill(USERNAME)
    page.locator("input[name=password]").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("form:has(input[name=password]) [type=submit]").click()


def settled(page: Page) -> None:
    """Wait until the builder has answered the last change (htmx marks requests in flight)."""
    page.wait_for_function("!document.querySelector('.htmx-request')")


def choose(page: Page, selector: str, value: str) -> None:
    settled(page)
    page.locator(selector).select_option(value)
    settled(page)


def type_in(page: Page, selector: str, text: str) -> None:
    settled(page)
    page.locator(selector).fill(text)
    page.locator(selector).press("Tab")  # change event: the builder answers with the value
    settled(page)


def add(page: Page, kind: str, path: str = "r") -> None:
    settled(page)
    page.locator(f"#add-{kind}-{path}").click()
    settled(page)


def field_condition(page: Page, path: str, field: str, op: str, value: str | None) -> None:
    choose(page, f"#n-{path}-field", field)
    choose(page, f"#n-{path}-op", op)
    if value is None:
        return
    if page.locator(f"#n-{path}-value").evaluate("e => e.tagName") == "SELECT":
        choose(page, f"#n-{path}-value", value)
    else:
        type_in(page, f"#n-{path}-value", value)


def test_the_example_segment_is_built_in_the_browser_and_stays_current(page: Page, people):
    log_in(page)
    page.goto("/segments/")
    page.locator('.page-head a[href="/segments/new/"]').click()
    page.locator("#id_name").fill("製造業・情シス・料金ページ3回")

    count = page.locator("#preview-count")
    add(page, "field")
    field_condition(page, "r_0", "account.industry", "eq", "manufacturing")
    add(page, "field")
    field_condition(page, "r_1", "account.employee_count", "gte", "300")
    add(page, "field")
    field_condition(page, "r_2", "contact.department", "contains", "情報システム")
    add(page, "activity")
    choose(page, "#n-r_3-activity", "page_view")
    choose(page, "#n-r_3-count_op", "at_least")
    type_in(page, "#n-r_3-count_value", "3")
    choose(page, "#n-r_3-when", "last_days")
    type_in(page, "#n-r_3-days", "30")
    choose(page, "#n-r_3-where_field", "path")
    choose(page, "#n-r_3-where_op", "contains")
    type_in(page, "#n-r_3-where_value", "/pricing, /case-study")
    add(page, "field")
    # An incomplete condition: a clear message, no count.
    expect(page.locator("#node-r_4 .errors")).to_be_visible()
    expect(count).to_have_attribute("data-count", "")
    field_condition(page, "r_4", "contact.email_consent", "eq", "opt_in")
    add(page, "field")
    field_condition(page, "r_5", "contact.lifecycle_stage", "neq", "sql")

    expect(count).to_have_attribute("data-count", "1")
    expect(page.locator("#preview")).to_contain_text("東和精機株式会社")

    page.locator("button[name=save]").click()
    expect(page).to_have_url(re.compile(r"/segments/\d+/$"))
    segment = Segment.objects.get(name="製造業・情シス・料金ページ3回")
    expected = Reference(timezone.now()).matching_ids(segment.definition)
    assert expected == {people["fits"].pk}
    assert set(segment_members(segment).values_list("pk", flat=True)) == expected
    expect(page.locator("#member-count")).to_have_text("1")

    # One more pricing visit: the worker's stream consumer moves the contact in.
    visits(people["two_visits"], ["/pricing/faq"], days_ago=0)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if segment_members(segment).filter(pk=people["two_visits"].pk).exists():
            break
        time.sleep(0.3)
    members = set(segment_members(segment).values_list("pk", flat=True))
    assert members == {people["fits"].pk, people["two_visits"].pk}
    assert members == Reference(timezone.now()).matching_ids(segment.definition)
    page.reload()
    expect(page.locator("#member-count")).to_have_text("2")
