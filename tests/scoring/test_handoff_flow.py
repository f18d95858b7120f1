"""The scenario end to end: page views → points → MQL → assignment with a task → accept → SQL;
reject → nurture. Runs on SQLite and PostgreSQL; the owner's email goes through real SMTP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.conftest import client_for
from tests.crm.factories import make_account, make_contact
from tests.scoring.conftest import consume, make_rule, touch
from tsunagari.core.models import Notification
from tsunagari.core.roles import Role
from tsunagari.crm.models import Contact, LifecycleTransition
from tsunagari.scoring import jobs
from tsunagari.scoring.handoff import HandoffError, handoff_accept, ignored_rate, overdue
from tsunagari.scoring.models import AssignmentRule, FitRule, Handoff, LedgerEntry, MqlSettings
from tsunagari.scoring.queries import explanation
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.vocabulary import Type

pytestmark = pytest.mark.django_db


@pytest.fixture
def reps(make_user):
    return [
        make_user(Role.INSIDE_SALES, username=f"rep{i}", email=f"rep{i}@example.jp") for i in (1, 2)
    ]


@pytest.fixture
def criteria(db):
    settings = MqlSettings.load()
    settings.min_behaviour = 30
    settings.min_grade = "B"
    settings.sla_hours = 24
    settings.save()
    FitRule.objects.create(
        name="IT dept",
        conditions=[{"field": "department", "op": "contains", "value": "情報システム"}],
        grade_effect="A",
    )
    make_rule(name="pricing", url_pattern="/pricing*", points=10, cap_count=3, cap_period="week")
    return settings


def views(contact, n: int) -> None:
    for _ in range(n):
        touch(contact, path="/pricing", url="https://www.example.co.jp/pricing", title="料金")


def test_page_views_make_an_mql_assigned_with_a_task_then_accepted_as_sql(
    criteria, reps, smtp_server, django_capture_on_commit_callbacks
):
    contact = make_contact(email="k.yamada@acme.co.jp", department="情報システム部")
    jobs.run_scheduled(force=True)  # grades contacts: A
    views(contact, 2)
    consume()
    contact.refresh_from_db()
    assert contact.lifecycle_stage == "lead"  # 20 points: not yet

    with django_capture_on_commit_callbacks(execute=True):
        views(contact, 1)
        consume()
    contact.refresh_from_db()
    assert contact.lifecycle_stage == "mql"
    transition = LifecycleTransition.objects.get(contact=contact, to_stage="mql")
    assert transition.rule == "scoring:MQL" and transition.reason == "score"
    assert Touchpoint.objects.filter(contact=contact, type=Type.STAGE_CHANGED).exists()
    handoff = Handoff.objects.get(contact=contact)
    assert handoff.owner == reps[0] and handoff.status == "open"
    assert handoff.due_at - handoff.assigned_at == dt.timedelta(hours=24)
    note = Notification.objects.get(user=reps[0])
    assert f"/scoring/leads/{handoff.pk}/" == note.url
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["rep1@example.jp"]
    assert f"/scoring/leads/{handoff.pk}/" in mail.message.get_content()

    # The explanation on the contact page matches the ledger line by line.
    lines, _ = explanation(contact.pk)
    assert [line.points for line in lines] == [10, 10, 10]
    assert sum(line.live_points for line in lines) == 30

    response = client_for(reps[0]).post(
        f"/scoring/leads/{handoff.pk}/accept/",
        {"bant_budget": "1m_5m", "buying_role": "decision_maker", "bant_need": "SFA刷新"},
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.lifecycle_stage == "sql"
    assert contact.bant_budget == "1m_5m" and contact.buying_role == "decision_maker"
    assert contact.bant_budget_source == "handoff:rep1"
    handoff.refresh_from_db()
    assert handoff.status == "accepted" and handoff.worked_at and handoff.resolved_by == reps[0]
    assert LifecycleTransition.objects.filter(contact=contact, to_stage="sql").count() == 1


def test_a_rejected_lead_goes_back_to_nurture_with_its_score_reset(criteria, reps):
    first = make_contact(email="a@acme.co.jp", department="情報システム部")
    second = make_contact(email="b@acme.co.jp", department="情報システム部")
    jobs.run_scheduled(force=True)
    views(first, 3)
    views(second, 3)
    consume()
    h1, h2 = Handoff.objects.order_by("contact_id")
    assert {h1.owner, h2.owner} == set(reps)  # round robin
    h2_owner = h2.owner
    response = client_for(h2_owner).post(
        f"/scoring/leads/{h2.pk}/reject/",
        {"reason": "bad_timing", "note": "来期予算", "reset_score": "on"},
    )
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.lifecycle_stage == "nurture"
    assert second.score.behaviour == 0
    assert LedgerEntry.objects.filter(contact=second, kind="reset").count() == 3
    h2.refresh_from_db()
    assert h2.status == "rejected" and h2.reason == "bad_timing" and h2.note == "来期予算"
    # Nurtured contacts qualify again only with new points.
    views(second, 2)
    consume()
    second.refresh_from_db()
    assert second.lifecycle_stage == "nurture"


def test_another_rep_cannot_accept_a_lead_that_is_not_theirs(criteria, reps):
    contact = make_contact(email="c@acme.co.jp", department="情報システム部")
    jobs.run_scheduled(force=True)
    views(contact, 3)
    consume()
    handoff = Handoff.objects.get(contact=contact)
    other = reps[1] if handoff.owner == reps[0] else reps[0]
    with pytest.raises(HandoffError):
        handoff_accept(handoff=handoff, actor=other, bant={})
    response = client_for(other).post(f"/scoring/leads/{handoff.pk}/accept/", {})
    assert response.status_code == 404
    assert Contact.objects.get(pk=contact.pk).lifecycle_stage == "mql"


def test_the_account_owner_and_territories_come_before_round_robin(criteria, reps, make_user):
    owner = make_user(Role.FIELD_SALES, username="owner")
    osaka = make_user(Role.INSIDE_SALES, username="osaka")
    AssignmentRule.objects.create(name="関西", prefectures=["27"], user=osaka)
    owned = make_contact(
        email="d@owned.co.jp",
        department="情報システム部",
        account=make_account("オウンド株式会社", owner=owner),
    )
    kansai = make_contact(
        email="e@kansai.co.jp",
        department="情報システム部",
        account=make_account("関西株式会社", prefecture="27"),
    )
    jobs.run_scheduled(force=True)
    views(owned, 3)
    views(kansai, 3)
    consume()
    assert Handoff.objects.get(contact=owned).owner == owner
    assert Handoff.objects.get(contact=kansai).assigned_by.startswith("territory:")
    assert Handoff.objects.get(contact=kansai).owner == osaka


def test_a_demo_request_form_is_a_hand_raise_whatever_the_score(criteria, reps):
    criteria.hand_raise_forms = ["デモ申込"]
    criteria.save()
    contact = make_contact(email="f@acme.co.jp")
    touch(contact, Type.FORM_SUBMITTED, properties={"form_id": 3, "form": "デモ申込"})
    consume()
    contact.refresh_from_db()
    assert contact.lifecycle_stage == "mql"
    assert Handoff.objects.get(contact=contact).criterion == "hand_raise:form"


def test_overdue_follow_ups_and_the_ignored_rate(criteria, reps):
    contact = make_contact(email="g@acme.co.jp", department="情報システム部")
    jobs.run_scheduled(force=True)
    views(contact, 3)
    consume()
    handoff = Handoff.objects.get(contact=contact)
    Handoff.objects.filter(pk=handoff.pk).update(due_at=timezone.now() - dt.timedelta(hours=1))
    assert list(overdue()) == [Handoff.objects.get(pk=handoff.pk)]
    assert ignored_rate(days=30) == {"total": 1, "ignored": 1, "rate": 100.0}
    jobs.run_scheduled(force=True)
    jobs.run_scheduled(force=True)
    reminders = Notification.objects.filter(user=handoff.owner, kind="scoring.overdue")
    assert reminders.count() == 1  # told once


def test_a_contact_gone_cold_returns_to_nurture(criteria, reps):
    contact = make_contact(email="h@acme.co.jp", department="情報システム部")
    jobs.run_scheduled(force=True)
    views(contact, 3)
    consume()
    long_ago = timezone.now() - dt.timedelta(days=120)
    Contact.objects.filter(pk=contact.pk).update(
        last_activity_at=long_ago, lifecycle_changed_at=long_ago
    )
    jobs.run_scheduled(force=True)
    contact.refresh_from_db()
    assert contact.lifecycle_stage == "nurture"
    assert Handoff.objects.get(contact=contact).status == "recycled"
