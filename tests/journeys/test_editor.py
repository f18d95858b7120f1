"""The editor's pickers and condition editor: things are chosen by name, conditions are typed
inputs, and bad input is shown next to its field (Japanese and English) and changes nothing."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import translation

from tests.journeys.conftest import make_journey, make_segment
from tsunagari.crm.models import Tag
from tsunagari.journeys.models import Journey
from tsunagari.mail.models import Template
from tsunagari.mail.services import template_save
from tsunagari.pages.models import Form
from tsunagari.segments.models import Segment

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def english(marketer_client):
    marketer_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


def _draft(steps: dict | None = None) -> Journey:
    return make_journey(steps or {"t": {"type": "tags", "add": ["x"]}}, publish=False)


def _options(html: str, name: str) -> dict[str, str]:
    """value → label of the <select name=...> in html."""
    select = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {name}"
    return dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1)))


def _field_error(html: str, name: str) -> str:
    """The error text shown inside the field block of input `name` ('' if none)."""
    block = re.search(
        rf'<div class="field has-error" data-field="{re.escape(name)}">(.*?)</div>', html, re.S
    )
    return " ".join(re.findall(r'<p class="error">([^<]*)</p>', block.group(1))) if block else ""


def test_steps_pick_templates_static_lists_and_users_by_name(marketer_client, english, make_user):
    template_save(
        template=Template(name="ホワイトペーパー", subject="s", html="<p>x</p>{{ footer }}")
    )
    gone = template_save(
        template=Template(name="削除済み", subject="s", html="<p>x</p>{{ footer }}")
    )
    Template.objects.filter(pk=gone.pk).update(deleted_at="2026-01-01T00:00:00Z")
    static = make_segment("展示会リスト", [])
    Segment.objects.create(name="動的セグメント", kind=Segment.Kind.DYNAMIC)
    make_user(username="tanaka", display_name="田中 営業")
    journey = _draft()
    url = reverse("journeys:step_new", args=[journey.pk])

    email = marketer_client.get(url, {"type": "email", "key": "paper"}, **HX).content.decode()
    assert "ホワイトペーパー" in _options(email, "template_id").values()
    assert "削除済み" not in email
    assert 'value="paper"' in email  # what was typed is kept on re-render
    assert 'name="wait_days"' not in email  # only the email step's inputs

    lists = marketer_client.get(url, {"type": "list"}, **HX).content.decode()
    assert _options(lists, "segment_id") == {"": "—", str(static.pk): "展示会リスト"}
    owners = marketer_client.get(url, {"type": "owner"}, **HX).content.decode()
    assert "田中 営業" in _options(owners, "user_id").values()
    stages = marketer_client.get(url, {"type": "lifecycle"}, **HX).content.decode()
    assert "sql" in _options(stages, "stage")
    Tag.objects.create(name="展示会2026")
    tags = marketer_client.get(url, {"type": "tags"}, **HX).content.decode()
    assert 'list="journey-tags"' in tags and '<option value="展示会2026">' in tags

    template = Template.objects.get(name="ホワイトペーパー")
    marketer_client.post(url, {"key": "paper", "type": "email", "template_id": template.pk}, **HX)
    journey.refresh_from_db()
    assert journey.steps["paper"] == {"type": "email", "template_id": template.pk}


def test_a_missing_choice_is_shown_next_to_its_field_and_saves_nothing(marketer_client, english):
    journey = _draft()
    url = reverse("journeys:step_new", args=[journey.pk])
    response = marketer_client.post(url, {"key": "paper", "type": "email"}, **HX)
    html = response.content.decode()
    assert response["HX-Retarget"] == "#step-panel"
    assert _field_error(html, "template_id") == "Choose the email template."
    owner = marketer_client.post(url, {"key": "o", "type": "owner", "user_id": "999999"}, **HX)
    assert "Select a valid choice" in _field_error(owner.content.decode(), "user_id")
    journey.refresh_from_db()
    assert list(journey.steps) == ["t"]

    marketer_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"
    with translation.override("ja"):
        html = marketer_client.post(url, {"key": "l", "type": "list"}, **HX).content.decode()
    assert _field_error(html, "segment_id") == "静的リストを選んでください。"


def test_branch_conditions_are_built_with_typed_inputs(marketer_client, english):
    segment = make_segment("重点企業", [])
    journey = _draft(
        {
            "paper": {"type": "email", "template_id": 1, "next": "t"},
            "t": {"type": "tags", "add": ["x"]},
        }
    )
    url = reverse("journeys:step_new", args=[journey.pk])

    # Choosing "branch" shows one empty condition row; choosing a kind shows its inputs.
    branch = marketer_client.get(url, {"type": "branch", "key": "b"}, **HX).content.decode()
    assert 'name="cond-0-kind"' in branch and 'name="cond-0-op"' not in branch
    score = marketer_client.get(
        url, {"type": "branch", "key": "b", "cond_rows": "1", "cond-0-kind": "score"}, **HX
    ).content.decode()
    assert {"cond-0-score", "cond-0-op", "cond-0-value"} <= set(
        re.findall(r'name="([^"]+)"', score)
    )
    assert _options(score, "cond-0-op")["gte"] == "at least"
    # "Add a condition" keeps the first row and adds an empty one.
    two = marketer_client.get(
        url,
        {"type": "branch", "cond_rows": "1", "cond-0-kind": "email", "add_condition": "1"},
        **HX,
    ).content.decode()
    assert 'name="cond-1-kind"' in two
    assert _options(two, "cond-0-step") == {"": "—", "paper": "paper"}  # email steps only

    data = {
        "key": "b",
        "type": "branch",
        "yes": "t",
        "no": "t",
        "cond_rows": "4",
        "cond-0-kind": "email",
        "cond-0-event": "clicked",
        "cond-0-step": "paper",
        "cond-1-kind": "score",
        "cond-1-score": "fit",
        "cond-1-op": "gte",
        "cond-1-value": "30",
        "cond-2-kind": "segment",
        "cond-2-segment_id": str(segment.pk),
        "cond-3-kind": "grade",
        "cond-3-op": "in",
        "cond-3-value": "a, b",
    }
    bad = marketer_client.post(url, {**data, "cond-1-value": "三十"}, **HX).content.decode()
    assert _field_error(bad, "cond-1-value") == "Enter a whole number of points."
    journey.refresh_from_db()
    assert "b" not in journey.steps  # nothing saved

    marketer_client.post(url, data, **HX)
    journey.refresh_from_db()
    assert journey.steps["b"] == {
        "type": "branch",
        "yes": "t",
        "no": "t",
        "conditions": [
            {"kind": "email", "event": "clicked", "step": "paper"},
            {"kind": "score", "op": "gte", "value": 30, "score": "fit"},
            {"kind": "segment", "segment_id": segment.pk},
            {"kind": "grade", "op": "in", "value": ["A", "B"]},
        ],
    }
    # Editing shows the saved conditions in their inputs.
    edit = marketer_client.get(reverse("journeys:step_edit", args=[journey.pk, "b"]), **HX)
    html = edit.content.decode()
    assert re.search(r'name="cond-1-value"[^>]*value="30"', html)
    assert re.search(r'name="cond-3-value"[^>]*value="A, B"', html)
    assert re.search(rf'<option value="{segment.pk}" selected>', html)


def test_a_branch_without_conditions_is_refused(marketer_client, english):
    journey = _draft()
    url = reverse("journeys:step_new", args=[journey.pk])
    html = marketer_client.post(
        url, {"key": "b", "type": "branch", "cond_rows": "1", "cond-0-kind": ""}, **HX
    ).content.decode()
    assert "Add at least one condition." in html
    field = marketer_client.post(
        url,
        {"key": "b", "type": "branch", "cond_rows": "1", "cond-0-kind": "field"},
        **HX,
    ).content.decode()
    assert "custom.&lt;key&gt;" in _field_error(field, "cond-0-field")
    journey.refresh_from_db()
    assert "b" not in journey.steps


def test_the_trigger_picks_segments_forms_and_touch_types(marketer_client, english):
    segment = make_segment("展示会来場者", [])
    form = Form.objects.create(name="資料請求フォーム")
    page = marketer_client.get(reverse("journeys:new")).content.decode()
    assert _options(page, "segment_id")[str(segment.pk)] == "展示会来場者"
    assert _options(page, "form_id")[str(form.pk)] == "資料請求フォーム"
    assert _options(page, "touch_type")["deal_lost"] == "Deal lost"

    missing = marketer_client.post(
        reverse("journeys:new"), {"name": "x", "trigger_type": "segment_entry", "reentry": "never"}
    )
    assert _field_error(missing.content.decode(), "segment_id") == "Choose the segment."
    assert not Journey.objects.exists()

    marketer_client.post(
        reverse("journeys:new"),
        {
            "name": "失注の再育成",
            "trigger_type": "touchpoint",
            "touch_type": "deal_lost",
            "count": "1",
            "days": "1",
            "reentry": "always",
        },
    )
    journey = Journey.objects.get()
    assert journey.trigger["touch_type"] == "deal_lost" and journey.trigger["count"] == 1
