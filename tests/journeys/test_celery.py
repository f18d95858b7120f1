"""The issue's scenario on the Celery executor: a real `celery -A tsunagari worker` (Redis) runs
the batches `tsunagari worker --once` dispatches, and delivers to the real SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from tests.journeys.conftest import opted_in, touch
from tests.journeys.scenario import BROWSER, click_paths, scenario_journey, templates
from tests.processes import database_url
from tsunagari.crm.services import contact_set_lifecycle
from tsunagari.journeys.models import Enrolment, StepRun, Task


@pytest.fixture
def celery_env(redis_url, transactional_db, smtp_server):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "TSUNAGARI_DATA_DIR": str(settings.DATA_DIR),
        "TSUNAGARI_EXECUTOR": "celery",
        "CELERY_BROKER_URL": redis_url.rsplit("/", 1)[0] + "/15",
        "TSUNAGARI_CELERY_QUEUE": f"tsunagari-test-{uuid.uuid4().hex[:12]}",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(settings.EMAIL_PORT),
        # Goals are checked on every round, not every 30 s, so the test does not depend on speed.
        "TSUNAGARI_JOURNEY_SCAN_SECONDS": "0",
    }
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "tsunagari", "worker", "--pool", "solo"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield env
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        print(output[-3000:])


def _once(env: dict[str, str]) -> None:
    for _ in range(3):  # a round that found work may have queued more (next steps, emails)
        result = subprocess.run(
            [sys.executable, "-m", "tsunagari.cli", "worker", "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr[-3000:]


def test_the_scenario_on_celery(celery_env, smtp_server, sender, make_user):
    owner = make_user(username="eigyo", email="eigyo@example.co.jp")
    paper, education = templates()
    scenario_journey(paper, education)
    keen = opted_in("keen@example.jp", family_name="熱心", owner=owner)
    quiet = opted_in("quiet@example.jp", family_name="静か", owner=owner)
    for person in (keen, quiet):
        for n in range(3):
            touch(person, url=f"https://www.example.co.jp/case/{n}")
    _once(celery_env)
    keen_mail = smtp_server.to("keen@example.jp")
    assert len(keen_mail) == 1 and len(smtp_server.to("quiet@example.jp")) == 1

    assert Client(HTTP_USER_AGENT=BROWSER).get(click_paths(keen_mail[0])[0]).status_code == 302
    StepRun.objects.filter(step_key="clicked", status="ready").update(due_at=timezone.now())
    _once(celery_env)
    task = Task.objects.get()
    assert task.contact_id == keen.pk and task.owner == owner
    assert len(smtp_server.to("quiet@example.jp")) == 2  # the education email

    contact_set_lifecycle(contact=quiet, to_stage="sql")
    _once(celery_env)
    assert Enrolment.objects.get(contact=quiet).status == Enrolment.Status.GOAL
    assert len(smtp_server.to("keen@example.jp")) == 1  # nothing repeated
