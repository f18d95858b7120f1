"""The journey pages: list, editor with htmx step editing, publish, dry-run, report, CSV, access."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from tests.crm.factories import make_contact
from tests.journeys.conftest import make_journey
from tsunagari.journeys import engine, queries, services
from tsunagari.journeys.models import Enrolment, Journey
from tsunagari.scoring.models import ContactScore

pytestmark = pytest.mark.django_db


@pytest.fixture
def english(marketer_client):
    """Pages follow the browser's language: these tests read English ones."""
    marketer_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


def test_the_list_and_an_empty_state(marketer_client, english):
    response = marketer_client.get(reverse("journeys:index"))
    assert response.status_code == 200 and b"No journeys yet" in response.content
    make_journey({"t": {"type": "tags", "add": ["x"]}}, name="歓迎シナリオ")
    response = marketer_client.get(reverse("journeys:index"))
    assert "歓迎シナリオ" in response.content.decode()


def test_a_reader_cannot_edit(reader_client):
    assert reader_client.get(reverse("journeys:new")).status_code == 403


def test_build_a_journey_with_htmx_and_publish_it(marketer_client, english):
    response = marketer_client.post(
        reverse("journeys:new"),
        {
            "name": "再育成",
            "trigger_type": "lifecycle",
            "to_stage": "nurture",
            "reentry": "always",
            "goal_stage": "sql",
        },
    )
    journey = Journey.objects.get(name="再育成")
    assert response.status_code == 302 and journey.trigger == {
        "type": "lifecycle",
        "to_stage": "nurture",
    }
    detail = marketer_client.get(reverse("journeys:detail", args=[journey.pk]))
    assert b"No steps yet" in detail.content and b"The journey has no steps" in detail.content

    headers = {"HTTP_HX_REQUEST": "true"}
    form = marketer_client.get(reverse("journeys:step_new", args=[journey.pk]), **headers)
    assert b"New step" in form.content
    graph = marketer_client.post(
        reverse("journeys:step_new", args=[journey.pk]),
        {"key": "w", "type": "wait", "mode": "business_days", "wait_days": "3", "at_hour": "10"},
        **headers,
    )
    assert b'id="graph"' in graph.content and b"The wait leads nowhere" in graph.content
    marketer_client.post(
        reverse("journeys:step_new", args=[journey.pk]) + "?after=w",
        {"key": "t", "type": "tags", "add": "再育成中", "after": "w"},
        **headers,
    )
    journey.refresh_from_db()
    assert journey.start == "w" and journey.steps["w"] == {
        "type": "wait",
        "mode": "business_days",
        "days": 3,
        "hour": 10,
        "next": "t",
    }
    bad = marketer_client.post(
        reverse("journeys:step_new", args=[journey.pk]),
        {"key": "bad key!", "type": "tags"},
        **headers,
    )
    assert b"letters, digits" in bad.content
    marketer_client.post(reverse("journeys:action", args=[journey.pk, "publish"]))
    journey.refresh_from_db()
    assert journey.status == Journey.Status.LIVE

    # Editing the live journey makes version 2; removing a step relinks around it.
    response = marketer_client.post(reverse("journeys:action", args=[journey.pk, "edit"]))
    draft = Journey.objects.get(family_id=journey.family_id, version=2)
    assert response["Location"] == reverse("journeys:detail", args=[draft.pk])
    marketer_client.post(reverse("journeys:step_remove", args=[draft.pk, "w"]), **headers)
    draft.refresh_from_db()
    assert draft.start == "t" and list(draft.steps) == ["t"]
    journey.refresh_from_db()
    assert "w" in journey.steps  # the live version is untouched


def test_publish_with_problems_shows_them_and_changes_nothing(marketer_client, english):
    journey = services.journey_create(
        name="壊れた",
        graph={"start": "e", "steps": {"e": {"type": "email", "template_id": 424242}}},
    )
    response = marketer_client.post(
        reverse("journeys:action", args=[journey.pk, "publish"]), follow=True
    )
    assert b"template was deleted" in response.content
    journey.refresh_from_db()
    assert journey.status == Journey.Status.DRAFT


def test_dry_run_counts_each_known_branch(marketer_client, english):
    for i, score in enumerate([10, 60, 70, 90]):
        c = make_contact(f"d{i}@example.jp")
        ContactScore.objects.create(contact=c, behaviour=score, grade="A" if score > 65 else "C")
    journey = make_journey(
        {
            "b": {
                "type": "branch",
                "conditions": [{"kind": "grade", "op": "eq", "value": "A"}],
                "yes": "y",
                "no": "n",
            },
            "y": {"type": "tags", "add": ["A"]},
            "n": {"type": "tags", "add": ["other"]},
        },
        trigger={"type": "score", "gte": 50},
        publish=False,
    )
    assert services.journey_problems(journey) == []
    assert queries.dry_run(journey) == {"entering": 3, "steps": {"b": 3, "y": 2, "n": 1}}
    response = marketer_client.get(reverse("journeys:dry_run", args=[journey.pk]))
    assert b'id="entering">3<' in response.content
    assert not Enrolment.objects.exists()


def test_report_and_csv_enrolment(marketer_client, english):
    journey = make_journey(
        {"t": {"type": "tags", "add": ["x"]}}, goal=[{"kind": "tag", "value": "never"}]
    )
    make_contact("csv@example.jp")
    upload = SimpleUploadedFile("list.csv", b"email\ncsv@example.jp\nnope@example.jp\n")
    response = marketer_client.post(
        reverse("journeys:enrol_csv", args=[journey.pk]), {"file": upload}, follow=True
    )
    assert b"1 contacts enrolled" in response.content and b"nope@example.jp" in response.content
    engine.run_steps()
    report = marketer_client.get(reverse("journeys:report", args=[journey.pk]))
    assert report.status_code == 200 and b"Completed" in report.content


def test_the_editor_speaks_japanese(marketer_client):
    journey = make_journey({"t": {"type": "tags", "add": ["x"]}}, name="日本語")
    page = marketer_client.get(reverse("journeys:detail", args=[journey.pk])).content.decode()
    assert "ドライラン" in page and "一時停止" in page and "稼働中" in page


def test_exit_conditions_are_rows_of_typed_inputs(marketer_client, english):
    """Exit conditions are built like branch conditions: pick a kind, fill its inputs."""
    url = reverse("journeys:new")
    base = {"name": "営業へ", "trigger_type": "manual", "reentry": "never"}
    # Adding a row and choosing its kind re-render the form (htmx) and save nothing.
    added = marketer_client.post(
        url, {**base, "exit_rows": "1", "exit-0-kind": "tag", "add_exit": "1"}
    )
    assert added.status_code == 200
    assert [f["kind"].value() for f in added.context["form"].exit_forms] == ["tag", ""]
    chosen = marketer_client.post(
        url, {**base, "exit_rows": "1", "exit-0-kind": "score", "refresh": "1"}
    )
    (row,) = chosen.context["form"].exit_forms
    assert [f.name for f in row.visible()] == ["kind", "score", "op", "value"]
    assert not Journey.objects.exists()

    # An incomplete condition is an error next to its input; nothing is saved.
    incomplete = marketer_client.post(
        url, {**base, "exit_rows": "1", "exit-0-kind": "score", "exit-0-op": "gte"}
    )
    assert incomplete.status_code == 200 and not Journey.objects.exists()
    assert "Enter a value." in incomplete.content.decode()

    saved = marketer_client.post(
        url,
        {
            **base,
            "exit_rows": "2",
            "exit-0-kind": "field",
            "exit-0-field": "lifecycle_stage",
            "exit-0-op": "eq",
            "exit-0-value": "sql",
            "exit-1-kind": "tag",
            "exit-1-value": "競合",
        },
    )
    journey = Journey.objects.get(name="営業へ")
    assert saved.status_code == 302
    assert journey.exit_conditions == [
        {"kind": "field", "field": "lifecycle_stage", "op": "eq", "value": "sql"},
        {"kind": "tag", "value": "競合"},
    ]
    # Editing shows them again as rows; an emptied row removes its condition.
    settings_url = reverse("journeys:settings", args=[journey.pk])
    edit = marketer_client.get(settings_url)
    kinds = [f["kind"].value() for f in edit.context["form"].exit_forms]
    assert kinds == ["field", "tag"]
    marketer_client.post(
        settings_url,
        {
            **base,
            "exit_rows": "2",
            "exit-0-kind": "",
            "exit-1-kind": "tag",
            "exit-1-value": "競合",
        },
    )
    journey.refresh_from_db()
    assert journey.exit_conditions == [{"kind": "tag", "value": "競合"}]
