"""The scoring pages: access, rule validation on save, the queued recompute, the contact panel."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from tests.conftest import client_for
from tests.crm.factories import make_contact
from tests.scoring.conftest import consume, make_rule, touch
from tsunagari.core.roles import Role
from tsunagari.crm.models import CustomField
from tsunagari.scoring import jobs
from tsunagari.scoring.models import BehaviourRule, ContactScore, FitRule, RecomputeJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def english(settings):
    """English pages: the request's language follows LANGUAGE_CODE (the default is ja)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


RULE = {
    "name": "料金ページ",
    "touch_type": "page_view",
    "url_pattern": "/pricing*",
    "url_match": "glob",
    "points": "10",
    "cap_count": "3",
    "cap_period": "week",
    "decay": "",
    "is_active": "on",
    "conditions_text": "",
}


def test_the_scoring_page_lists_rules_and_is_open_to_readers(reader_client, marketer):
    make_rule(name="料金ページ", points=10)
    response = reader_client.get("/scoring/")
    assert response.status_code == 200
    assert "料金ページ" in response.content.decode()
    assert reader_client.get("/scoring/rules/new/").status_code == 403


def test_saving_a_rule_queues_a_recompute_and_never_scores_in_the_request(marketer_client):
    contact = make_contact()
    touch(contact, path="/pricing")
    consume()
    response = marketer_client.post("/scoring/rules/new/", RULE)
    assert response.status_code == 302
    rule = BehaviourRule.objects.get()
    job = RecomputeJob.objects.get()
    assert job.kind == "rule" and job.rule == rule and job.status == "queued"
    assert not ContactScore.objects.filter(contact=contact, behaviour__gt=0).exists()
    assert jobs.run_jobs() == 1
    assert ContactScore.objects.get(contact=contact).behaviour == 10
    assert RecomputeJob.objects.get().status == "done"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url_match": "regex", "url_pattern": "/pricing(["}, "malformed"),
        ({"conditions_text": "properties.form ="}, "value is missing"),
        ({"conditions_text": "nonsense"}, "field operator value"),
        ({"conditions_text": "no_such_field = 1"}, "Unknown touchpoint field"),
        ({"conditions_text": "duration_ms > many"}, "needs a number"),
        ({"points": "0"}, "at least one point"),
        ({"decay": "half_life", "decay_days": ""}, "how many days"),
    ],
)
def test_a_bad_rule_is_rejected_with_a_clear_message(marketer_client, english, change, message):
    response = marketer_client.post("/scoring/rules/new/", {**RULE, **change})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not BehaviourRule.objects.exists() and not RecomputeJob.objects.exists()


def test_a_fit_rule_on_a_deleted_custom_field_is_rejected(marketer_client, english):
    field = CustomField.objects.create(
        object_type="contact", key="seats", label="Seats", field_type="number"
    )
    data = {"name": "big", "grade_effect": "up", "points": "0", "is_active": "on"}
    ok = marketer_client.post(
        "/scoring/fit/new/", {**data, "conditions_text": "custom.seats >= 100"}
    )
    assert ok.status_code == 302
    field.is_active = False
    field.save()
    bad = marketer_client.post(
        "/scoring/fit/new/", {**data, "conditions_text": "custom.seats >= 100"}
    )
    assert "does not exist or was deleted" in bad.content.decode()
    assert FitRule.objects.count() == 1


def test_deactivating_a_rule_removes_its_points_in_the_background(marketer_client):
    contact = make_contact()
    rule = make_rule(name="pricing", points=10)
    touch(contact)
    consume()
    assert ContactScore.objects.get(contact=contact).behaviour == 10
    marketer_client.post(f"/scoring/rules/{rule.pk}/active/")
    jobs.run_jobs()
    assert ContactScore.objects.get(contact=contact).behaviour == 0


def test_the_contact_panel_explains_the_score_line_by_line(reader_client, english):
    contact = make_contact()
    make_rule(name="Pricing page", points=10, decay="expire", decay_days=30)
    for _ in range(3):
        touch(contact, path="/pricing", title="料金")
    consume()
    with CaptureQueriesContext(connection) as queries:
        response = reader_client.get(f"/contacts/{contact.pk}/score/")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("Pricing page") == 3 and "Behaviour: 30" in body
    assert len(queries) <= 9


def test_the_backtest_page_compares_a_candidate_with_the_current_rules(marketer_client, english):
    make_rule(name="pricing", points=10)
    response = marketer_client.get(
        "/scoring/backtest/",
        {
            "days": "30",
            "min_behaviour": "10",
            "rules": [make_rule(name="draft", points=5, is_active=False).pk],
        },
    )
    assert response.status_code == 200
    assert "Candidate" in response.content.decode() and "Current rules" in response.content.decode()


def test_the_lead_queue_and_overdue_list_need_the_right_role(make_user, reader_client):
    rep = make_user(Role.INSIDE_SALES, username="rep")
    assert client_for(rep).get("/scoring/leads/").status_code == 200
    assert client_for(rep).get("/scoring/leads/overdue/").status_code == 403
    assert reader_client.get("/scoring/leads/overdue/").status_code == 403
    manager = make_user(Role.MARKETING, username="manager")
    assert client_for(manager).get("/scoring/leads/overdue/").status_code == 200


def test_the_pages_speak_japanese_by_default(marketer_client):
    body = marketer_client.get("/scoring/").content.decode()
    assert "行動スコアのルール" in body and "お知らせ" in body
