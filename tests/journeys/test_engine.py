"""The engine: enrolment rules, set-based advancing, idempotent steps, goals, versions, failures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.crm.factories import make_contact
from tests.journeys.conftest import make_journey, opted_in, run_all
from tsunagari.crm.models import Contact
from tsunagari.crm.services import contact_set_lifecycle
from tsunagari.journeys import engine, services
from tsunagari.journeys.models import Enrolment, Journey, StepRun, Task
from tsunagari.mail.models import Message

pytestmark = pytest.mark.django_db

FIVE = {
    "s1": {"type": "tags", "add": ["nurture"], "next": "s2"},
    "s2": {"type": "wait", "mode": "duration", "minutes": 0, "next": "s3"},
    "s3": {"type": "update_field", "field": "department", "value": "営業部", "next": "s4"},
    "s4": {"type": "score", "points": 5, "next": "s5"},
    "s5": {"type": "lifecycle", "stage": "lead"},
}


def contacts(n: int, prefix: str = "c") -> list[Contact]:
    return [make_contact(f"{prefix}{i}@example.jp", family_name=f"名{i}") for i in range(n)]


def test_five_steps_run_to_completion_for_everyone(db):
    people = contacts(30)
    journey = make_journey(FIVE)
    assert services.enrol_manual(journey=journey, contact_ids=[c.pk for c in people]) == 30
    assert run_all() == 150
    assert Enrolment.objects.filter(status=Enrolment.Status.COMPLETED).count() == 30
    assert StepRun.objects.filter(status=StepRun.Status.DONE).count() == 150
    assert set(Contact.objects.values_list("department", flat=True)) == {"営業部"}
    assert Contact.objects.filter(tags__name="nurture").count() == 30
    assert set(Contact.objects.values_list("score__behaviour", flat=True)) == {5}
    assert set(Contact.objects.values_list("lifecycle_stage", flat=True)) == {"lead"}


def test_a_group_costs_the_same_queries_for_10_or_40_contacts(db):
    """Set-based: the number of statements does not grow with the contacts of a group."""
    steps = {
        "a": {"type": "tags", "add": ["x"], "next": "b"},
        "b": {"type": "wait", "mode": "duration", "minutes": 0, "next": "c"},
        "c": {"type": "update_field", "field": "title", "value": "部長"},
    }

    def cost(n: int) -> int:
        people = contacts(n, prefix=f"q{n}-")
        journey = make_journey(steps, name=f"q{n}")
        engine.enrol(journey, [c.pk for c in people])
        with CaptureQueriesContext(connection) as queries:
            run_all()
        assert Enrolment.objects.filter(journey=journey, status="completed").count() == n
        return len(queries)

    cost(3)  # first use creates the settings row and the tag
    assert cost(40) == cost(10)


def test_one_active_enrolment_and_the_reentry_rules(db):
    person = make_contact("once@example.jp")
    never = make_journey({"s": {"type": "tags", "add": ["a"]}}, name="never")
    assert engine.enrol(never, [person.pk]) == 1
    assert engine.enrol(never, [person.pk]) == 0  # already active
    run_all()
    assert engine.enrol(never, [person.pk]) == 0  # never again

    always = make_journey(
        {"w": {"type": "wait", "days": 1, "next": "s"}, "s": {"type": "tags", "add": ["b"]}},
        name="always",
        reentry=Journey.Reentry.ALWAYS,
    )
    assert engine.enrol(always, [person.pk, person.pk]) == 1
    assert engine.enrol(always, [person.pk]) == 0  # one active enrolment at a time
    Enrolment.objects.filter(journey=always).update(status="completed", ended_at=timezone.now())
    assert engine.enrol(always, [person.pk]) == 1

    later = make_journey(
        {"s": {"type": "tags", "add": ["c"]}},
        name="after",
        reentry=Journey.Reentry.AFTER_DAYS,
        reentry_days=30,
    )
    engine.enrol(later, [person.pk])
    run_all()
    assert engine.enrol(later, [person.pk]) == 0
    Enrolment.objects.filter(journey=later).update(ended_at=timezone.now() - dt.timedelta(days=31))
    assert engine.enrol(later, [person.pk]) == 1


def test_an_email_step_retried_queues_one_message(template):
    person = opted_in("mail@example.jp")
    journey = make_journey({"e": {"type": "email", "template_id": template.pk}})
    engine.enrol(journey, [person.pk])
    run = StepRun.objects.get()
    assert run_all() == 1
    # The worker died after the commit was lost? Replay the very same run: still one message.
    StepRun.objects.filter(pk=run.pk).update(status="ready", claim="")
    Enrolment.objects.update(status="active")
    run_all()
    assert Message.objects.count() == 1
    assert Message.objects.get().idempotency_key == f"journey:{run.enrolment_id}:e"


def test_a_crash_inside_a_group_rolls_back_its_writes_and_the_retry_runs_once(db, monkeypatch):
    people = contacts(5)
    journey = make_journey(
        {"t": {"type": "tags", "add": ["once"], "next": "s"}, "s": {"type": "score", "points": 7}}
    )
    engine.enrol(journey, [c.pk for c in people])
    engine.run_steps()  # tags (the score step is queued by it, due now)
    original = engine.HANDLERS["score"]

    def crash(*args):
        original(*args)  # writes the ledger rows…
        raise RuntimeError("worker died")  # …and dies before the commit

    monkeypatch.setitem(engine.HANDLERS, "score", crash)
    engine.run_steps()
    assert set(Contact.objects.values_list("score__behaviour", flat=True)) == {None}
    assert StepRun.objects.filter(step_key="s", status="ready").count() == 5  # retried later
    monkeypatch.setitem(engine.HANDLERS, "score", original)
    StepRun.objects.filter(step_key="s").update(due_at=timezone.now())
    run_all()
    assert set(Contact.objects.values_list("score__behaviour", flat=True)) == {7}


def test_a_lost_lease_is_retaken_and_the_first_worker_cannot_commit(db):
    people = contacts(3)
    journey = make_journey({"t": {"type": "tags", "add": ["x"]}})
    engine.enrol(journey, [c.pk for c in people])
    token, runs = engine.claim_batch()
    assert len(runs) == 3 and engine.claim_batch()[1] == []  # claimed: nobody else gets them
    StepRun.objects.update(lease_until=timezone.now() - dt.timedelta(seconds=1))  # worker died
    token2, again = engine.claim_batch()
    assert len(again) == 3 and token2 != token
    engine._run_group(journey, "t", runs, token, timezone.now())  # the first worker wakes up
    assert StepRun.objects.filter(status="done").count() == 0
    assert Enrolment.objects.filter(status="active").count() == 3


def test_a_deleted_template_fails_the_step_visibly(template):
    person = opted_in("gone@example.jp")
    journey = make_journey({"e": {"type": "email", "template_id": template.pk}})
    type(template).objects.filter(pk=template.pk).update(deleted_at=timezone.now())
    engine.enrol(journey, [person.pk])
    run_all()
    run = StepRun.objects.get()
    assert run.status == "failed" and "deleted" in run.last_error
    assert Enrolment.objects.get().status == Enrolment.Status.FAILED
    assert Message.objects.count() == 0


def test_goal_ends_waiting_enrolments_and_is_checked_before_each_step(db):
    a, b = contacts(2)
    journey = make_journey(
        {
            "w": {"type": "wait", "mode": "duration", "days": 3, "next": "t"},
            "t": {"type": "tags", "add": ["late"]},
        },
        goal=[{"kind": "field", "field": "lifecycle_stage", "op": "eq", "value": "sql"}],
    )
    engine.enrol(journey, [a.pk, b.pk])
    run_all()
    contact_set_lifecycle(contact=a, to_stage="sql")
    engine.sweep_goals()
    assert Enrolment.objects.get(contact=a).status == Enrolment.Status.GOAL
    assert StepRun.objects.get(contact=a, step_key="t").status == "cancelled"
    # b becomes SQL just before its due step: the step does not run.
    contact_set_lifecycle(contact=b, to_stage="sql")
    StepRun.objects.filter(contact=b, step_key="t").update(due_at=timezone.now())
    run_all()
    assert Enrolment.objects.get(contact=b).status == Enrolment.Status.GOAL
    assert not Contact.objects.filter(tags__name="late").exists()


def test_branch_on_a_human_click_and_a_task_for_the_owner(template, make_user):
    owner = make_user(username="owner", email="owner@example.co.jp")
    clicker = opted_in("click@example.jp", owner=owner)
    silent = opted_in("quiet@example.jp", owner=owner)
    journey = make_journey(
        {
            "e": {"type": "email", "template_id": template.pk, "next": "b"},
            "b": {
                "type": "branch",
                "conditions": [{"kind": "email", "event": "clicked", "step": "e"}],
                "yes": "task",
                "no": "tag",
            },
            "task": {"type": "task", "title": "電話でフォロー", "due_days": 1},
            "tag": {"type": "tags", "add": ["未反応"]},
        }
    )
    engine.enrol(journey, [clicker.pk, silent.pk])
    engine.run_steps()  # the email step only
    Message.objects.filter(contact=clicker).update(clicked_at=timezone.now())
    Message.objects.filter(contact=silent).update(machine_opened_at=timezone.now())
    run_all()
    task = Task.objects.get()
    assert task.contact == clicker and task.owner == owner
    assert list(Contact.objects.filter(tags__name="未反応")) == [silent]
    outcomes = dict(StepRun.objects.filter(step_key="b").values_list("contact_id", "outcome"))
    assert outcomes == {clicker.pk: "yes", silent.pk: "no"}


def test_random_split_is_stable_and_near_its_percentages(db):
    people = contacts(200)
    journey = make_journey(
        {
            "r": {
                "type": "split",
                "branches": [{"percent": 30, "next": "a"}, {"percent": 70, "next": "b"}],
            },
            "a": {"type": "tags", "add": ["A"]},
            "b": {"type": "tags", "add": ["B"]},
        }
    )
    engine.enrol(journey, [c.pk for c in people])
    run_all()
    a = Contact.objects.filter(tags__name="A").count()
    assert Contact.objects.filter(tags__name="B").count() == 200 - a
    assert 35 <= a <= 85
    for e in Enrolment.objects.all()[:20]:
        expected = (
            "a" if engine.split_branch(e.pk, "r", journey.steps["r"]["branches"]) == 0 else "b"
        )
        assert StepRun.objects.get(enrolment=e, step_key="r").outcome == expected


def test_publishing_a_new_version_moves_waiting_contacts_by_the_documented_rule(db):
    people = contacts(4)
    v1 = make_journey(
        {
            "w1": {"type": "wait", "days": 2, "next": "old"},
            "old": {"type": "wait", "days": 2, "next": "end"},
            "end": {"type": "tags", "add": ["v"]},
        }
    )
    engine.enrol(v1, [c.pk for c in people[:2]])
    run_all()  # these two now wait in "old"…
    engine.enrol(v1, [c.pk for c in people[2:]])  # …and these two in "w1"
    assert set(Enrolment.objects.values_list("step_key", flat=True)) == {"old", "w1"}
    draft = services.journey_edit(v1)
    assert draft.pk != v1.pk and draft.version == 2 and draft.status == "draft"
    draft.graph = {
        "start": "w1",
        "steps": {
            "w1": {"type": "wait", "days": 2, "next": "end"},
            "end": {"type": "tags", "add": ["v"]},
        },
    }
    draft.save()
    services.journey_publish(journey=draft)
    v1.refresh_from_db()
    assert v1.status == Journey.Status.RETIRED
    assert Enrolment.objects.filter(journey=draft, status="active").count() == 4
    assert set(
        Enrolment.objects.filter(contact__in=people[:2]).values_list("step_key", flat=True)
    ) == {"end"}
    assert StepRun.objects.filter(journey=v1, status__in=["ready", "running"]).count() == 0
    StepRun.objects.filter(status="ready").update(due_at=timezone.now())
    run_all()  # the moved two reach the end; the two in w1 wait again in the new w1
    assert set(Contact.objects.filter(tags__name="v")) == set(people[:2])
    StepRun.objects.filter(status="ready").update(due_at=timezone.now())
    run_all()
    assert Contact.objects.filter(tags__name="v").count() == 4


def test_publish_refuses_a_bad_graph_with_reasons(template):
    journey = services.journey_create(
        name="bad",
        graph={
            "start": "a",
            "steps": {
                "a": {"type": "tags", "add": ["x"], "next": "b"},
                "b": {"type": "tags", "add": ["y"], "next": "a"},
                "lonely": {"type": "email", "template_id": 999999},
                "w": {"type": "wait", "days": 1},
            },
        },
    )
    with pytest.raises(services.JourneyError) as refused:
        services.journey_publish(journey=journey)
    text = " ".join(refused.value.messages)
    assert "loop" in text or "ループ" in text
    keys = {k for k, _m in services.journey_problems(journey)}
    assert {"a", "lonely", "w"} <= keys
    journey.refresh_from_db()
    assert journey.status == Journey.Status.DRAFT


def test_pause_stops_steps_and_resume_runs_them(db):
    people = contacts(2)
    journey = make_journey({"t": {"type": "tags", "add": ["p"]}})
    engine.enrol(journey, [c.pk for c in people])
    services.journey_pause(journey=journey)
    assert run_all() == 0
    services.journey_resume(journey=journey)
    assert run_all() == 2


@pytest.mark.postgres
def test_a_bulk_enrolment_refreshes_the_planner_statistics_on_postgresql(db, monkeypatch):
    """Without statistics the claim reads every due run instead of walking the due index."""
    monkeypatch.setattr(engine, "ANALYZE_AFTER", 4)
    journey = make_journey(FIVE)

    def reltuples() -> float:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = 'journeys_steprun'::regclass"
            )
            return cursor.fetchone()[0]

    engine.enrol(journey, [c.pk for c in contacts(3, "few")])
    assert reltuples() != 3  # below the threshold: no ANALYZE
    engine.enrol(journey, [c.pk for c in contacts(4, "many")])
    assert reltuples() == 7
