"""The issue's scenario end to end on the inline executor, with the real SMTP server:
tracked page views → trigger → email received → click → branch → task; SQL → exit."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from tests.journeys.conftest import opted_in, touch
from tests.journeys.scenario import BROWSER, click_paths, scenario_journey, templates
from tsunagari.crm.services import contact_set_lifecycle
from tsunagari.journeys.models import Enrolment, StepRun, Task
from tsunagari.work.executors import run_until_idle


def settle() -> None:
    """Worker rounds until two in a row find nothing (a kind that failed once is retried)."""
    idle = 0
    for _ in range(40):
        idle = idle + 1 if not run_until_idle() else 0
        if idle == 2:
            return
    raise AssertionError("the worker never settled")


@pytest.mark.django_db(transaction=True)
def test_case_study_views_to_a_task_and_sql_exit(smtp_server, sender, make_user):
    owner = make_user(username="eigyo", email="eigyo@example.co.jp")
    paper, education = templates()
    journey = scenario_journey(paper, education)
    keen = opted_in("keen@example.jp", family_name="熱心", owner=owner)
    quiet = opted_in("quiet@example.jp", family_name="静か", owner=owner)
    for person in (keen, quiet):
        for n in range(3):
            touch(person, url=f"https://www.example.co.jp/case/{n}")
    settle()

    assert set(Enrolment.objects.values_list("contact_id", flat=True)) == {keen.pk, quiet.pk}
    keen_mail = smtp_server.to("keen@example.jp")
    assert len(keen_mail) == 1 and "ホワイトペーパー" in keen_mail[0].message["Subject"]
    assert len(smtp_server.to("quiet@example.jp")) == 1

    # keen clicks the link in the email they received; quiet does not.
    response = Client(HTTP_USER_AGENT=BROWSER).get(click_paths(keen_mail[0])[0])
    assert response.status_code == 302

    # Three business days later (compressed): the branch runs.
    StepRun.objects.filter(step_key="clicked", status="ready").update(due_at=timezone.now())
    settle()
    task = Task.objects.get()
    assert task.contact_id == keen.pk and task.owner == owner and task.title == "電話でフォロー"
    assert len(smtp_server.to("eigyo@example.co.jp")) == 1  # the owner was notified
    assert Enrolment.objects.get(contact=keen).status == Enrolment.Status.COMPLETED
    quiet_mail = smtp_server.to("quiet@example.jp")
    assert [m.message["Subject"] for m in quiet_mail][1].endswith("製造業DXの進め方 第2回")
    assert Enrolment.objects.get(contact=quiet).step_key == "end"  # waiting 14 days for it

    # quiet becomes an SQL while waiting: the journey ends for them there and then.
    contact_set_lifecycle(contact=quiet, to_stage="sql")
    from tsunagari.journeys import triggers

    triggers.scan(force=True)
    enrolment = Enrolment.objects.get(contact=quiet)
    assert enrolment.status == Enrolment.Status.GOAL
    assert StepRun.objects.get(enrolment=enrolment, step_key="end").status == "cancelled"
    settle()
    assert len(smtp_server.to("quiet@example.jp")) == 2  # nothing more was sent
    assert journey.pk == enrolment.journey_id
