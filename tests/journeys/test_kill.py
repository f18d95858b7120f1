"""kill -9 of a worker subprocess mid-batch, then a restart: every enrolment runs every step
once — no email queued twice, no step skipped — and the real SMTP server receives everything.

Inline executor: the worker is a real process on the test database (SQLite file or PostgreSQL)
running the journey runner and mail's sender together, as `tsunagari worker` does.

Celery executor: `tsunagari worker` dispatches batches over Redis to a real
`celery -A tsunagari worker` process, which is the one killed and restarted.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import uuid

import pytest
from django.conf import settings

from tests.journeys.conftest import make_journey, opted_in
from tests.mail.test_kill import SlowSink
from tests.processes import ROOT, database_url, start_worker, wait_until
from tests.smtp import SmtpServer
from tsunagari.journeys import engine
from tsunagari.journeys.models import Enrolment, StepRun
from tsunagari.mail.models import Message, Template
from tsunagari.mail.services import template_save
from tsunagari.scoring.models import ContactScore

CONTACTS = 150


JOURNEY_SETTINGS = """
settings.TSUNAGARI_JOURNEY_LEASE_SECONDS = 2
settings.TSUNAGARI_JOURNEY_BATCH = 25
"""


def _start_worker(port: int):
    return start_worker(port, extra_settings=JOURNEY_SETTINGS)


def _journey_for_everyone():
    first = template_save(
        template=Template(name="一通目", subject="第1回", html="<p>1</p>{{ footer }}")
    )
    second = template_save(
        template=Template(name="二通目", subject="第2回", html="<p>2</p>{{ footer }}")
    )
    journey = make_journey(
        {
            "tag": {"type": "tags", "add": ["開始"], "next": "one"},
            "one": {"type": "email", "template_id": first.pk, "next": "score"},
            "score": {"type": "score", "points": 3, "next": "two"},
            "two": {"type": "email", "template_id": second.pk, "next": "field"},
            "field": {"type": "update_field", "field": "department", "value": "完了"},
        }
    )
    people = [opted_in(f"k{i:03d}@example.jp", family_name=f"受信{i}") for i in range(CONTACTS)]
    assert engine.enrol(journey, [p.pk for p in people]) == CONTACTS


def _slow_smtp_server() -> SmtpServer:
    server = SmtpServer()
    server.sink = SlowSink()
    server.controller.handler = server.sink
    server.start()
    return server


def _kill_when_a_third_is_delivered(server: SmtpServer, worker: subprocess.Popen) -> int:
    """SIGKILL `worker` mid-way; how many emails were being sent at that moment."""
    try:
        wait_until(lambda: len(server.sink.messages) >= CONTACTS // 3, 120, "a third delivered")
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert Enrolment.objects.filter(status="active").exists(), "the kill came too late"
    return Message.objects.filter(status=Message.Status.SENDING).count()


def _everything_finished() -> bool:
    return (
        not Enrolment.objects.filter(status="active").exists()
        and not Message.objects.exclude(status=Message.Status.SENT).exists()
    )


def _assert_every_step_ran_once(server: SmtpServer, in_flight: int) -> None:
    assert Enrolment.objects.filter(status="completed").count() == CONTACTS
    # No step skipped, none run twice: five done runs per enrolment, one per step.
    per_step = collections.Counter(
        StepRun.objects.filter(status="done").values_list("step_key", flat=True)
    )
    assert per_step == {k: CONTACTS for k in ("tag", "one", "score", "two", "field")}
    assert not StepRun.objects.exclude(status="done").exists()
    # No email queued twice: two messages per contact, one per email step.
    assert Message.objects.count() == 2 * CONTACTS
    received = collections.Counter(
        (m.rcpt_tos[0], m.message["Subject"]) for m in server.sink.messages
    )
    assert len(received) == 2 * CONTACTS  # everyone got both emails
    assert sum(n - 1 for n in received.values()) <= in_flight  # SMTP repeats only mail's in-flight
    # The score step (a ledger write) ran exactly once per contact.
    assert set(ContactScore.objects.values_list("behaviour", flat=True)) == {3}


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_repeats_no_email_and_skips_no_step(sender):
    _journey_for_everyone()
    server = _slow_smtp_server()
    try:
        in_flight = _kill_when_a_third_is_delivered(server, _start_worker(server.port))
        worker = _start_worker(server.port)
        try:
            wait_until(
                _everything_finished, 180, "every enrolment and email to finish after the restart"
            )
        finally:
            worker.terminate()
            worker.wait(timeout=10)
    finally:
        server.stop()
    _assert_every_step_ran_once(server, in_flight)


# The dispatcher (`tsunagari worker` with TSUNAGARI_EXECUTOR=celery). A batch whose Celery worker
# was killed never reports back; the dispatcher forgets it after IN_FLIGHT_TIMEOUT_SECONDS (2
# minutes in production) and dispatches again — shortened here like the leases.
DISPATCHER_SCRIPT = """
import os, threading, django
os.environ["DJANGO_SETTINGS_MODULE"] = "tsunagari.settings"
django.setup()
from tsunagari.work import executors
executors.IN_FLIGHT_TIMEOUT_SECONDS = 3
from tsunagari.work.worker import run_forever
run_forever(threading.Event(), idle_sleep=0.1)
"""


def _celery_env(redis_url: str, smtp_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "TSUNAGARI_DATA_DIR": str(settings.DATA_DIR),
        "TSUNAGARI_EXECUTOR": "celery",
        "CELERY_BROKER_URL": redis_url.rsplit("/", 1)[0] + "/15",
        "TSUNAGARI_CELERY_QUEUE": f"tsunagari-test-{uuid.uuid4().hex[:12]}",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "TSUNAGARI_JOURNEY_LEASE_SECONDS": "2",
        "TSUNAGARI_JOURNEY_BATCH": "25",
        "TSUNAGARI_MAIL_LEASE_SECONDS": "2",
        "TSUNAGARI_MAIL_BATCH": "20",
        "LOG_LEVEL": "WARNING",
    }


def _start_celery_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "tsunagari", "worker", "--pool", "solo"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.django_db(transaction=True)
def test_a_killed_celery_worker_repeats_no_email_and_skips_no_step(sender, redis_url):
    _journey_for_everyone()
    server = _slow_smtp_server()
    env = _celery_env(redis_url, server.port)
    dispatcher = subprocess.Popen(
        [sys.executable, "-c", DISPATCHER_SCRIPT], env=env, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    try:
        celery_worker = _start_celery_worker(env)
        in_flight = _kill_when_a_third_is_delivered(server, celery_worker)
        # The killed worker held claimed rows under a lease: nothing moves until it expires
        # and a worker retakes them.
        celery_worker = _start_celery_worker(env)
        try:
            wait_until(
                _everything_finished, 180, "every enrolment and email to finish after the restart"
            )
        finally:
            _stop(celery_worker)
    finally:
        _stop(dispatcher)
        server.stop()
    _assert_every_step_ran_once(server, in_flight)
