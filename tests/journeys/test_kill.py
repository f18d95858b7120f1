"""kill -9 of a worker subprocess mid-batch, then a restart: every enrolment runs every step
once — no email queued twice, no step skipped — and the real SMTP server receives everything.

The worker is a real process on the test database (SQLite file or PostgreSQL) running the
journey runner and mail's sender together, as `tsunagari worker` does.
"""

from __future__ import annotations

import collections
import os
import signal

import pytest

from tests.journeys.conftest import make_journey, opted_in
from tests.mail.test_kill import SlowSink
from tests.processes import start_worker, wait_until
from tests.smtp import SmtpServer
from tsunagari.journeys import engine
from tsunagari.journeys.models import Enrolment, StepRun
from tsunagari.mail.models import Message, Template
from tsunagari.mail.services import template_save

CONTACTS = 150


JOURNEY_SETTINGS = """
settings.TSUNAGARI_JOURNEY_LEASE_SECONDS = 2
settings.TSUNAGARI_JOURNEY_BATCH = 25
"""


def _start_worker(port: int):
    return start_worker(port, extra_settings=JOURNEY_SETTINGS)


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_repeats_no_email_and_skips_no_step(sender):
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

    server = SmtpServer()
    server.sink = SlowSink()
    server.controller.handler = server.sink
    server.start()
    try:
        worker = _start_worker(server.port)
        try:
            wait_until(lambda: len(server.sink.messages) >= CONTACTS // 3, 120, "a third delivered")
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
        in_flight = Message.objects.filter(status=Message.Status.SENDING).count()
        assert Enrolment.objects.filter(status="active").exists(), "the kill came too late"

        worker = _start_worker(server.port)
        try:
            wait_until(
                lambda: (
                    not Enrolment.objects.filter(status="active").exists()
                    and not Message.objects.exclude(status=Message.Status.SENT).exists()
                ),
                180,
                "every enrolment and email to finish after the restart",
            )
        finally:
            worker.terminate()
            worker.wait(timeout=10)
    finally:
        server.stop()

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
    from tsunagari.scoring.models import ContactScore

    assert set(ContactScore.objects.values_list("behaviour", flat=True)) == {3}
