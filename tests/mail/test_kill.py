"""kill -9 of the worker mid-broadcast, then a restart: everyone gets the email, duplicates stay
within what was in flight at the kill, and the broadcast is not marked done early.

The worker runs as a real subprocess against the test database file (SQLite) or database
(PostgreSQL) and delivers to a real SMTP server that counts what each recipient received.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.mail.conftest import make_segment, opted_in
from tests.smtp import SmtpServer, SmtpSink
from tsunagari.mail import services
from tsunagari.mail.models import Broadcast, Message

RECIPIENTS = 300

WORKER = """
import os, threading, django
os.environ["DJANGO_SETTINGS_MODULE"] = "tsunagari.settings"
django.setup()
from django.conf import settings
settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
settings.EMAIL_HOST = "127.0.0.1"
settings.EMAIL_PORT = int(os.environ["TEST_SMTP_PORT"])
settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
settings.TSUNAGARI_MAIL_LEASE_SECONDS = 2
settings.TSUNAGARI_MAIL_BATCH = 20
from tsunagari.work.worker import run_forever
run_forever(threading.Event(), idle_sleep=0.1)
"""


class SlowSink(SmtpSink):
    """A receiving server that takes a few milliseconds per message, like a real one."""

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(0.004)
        return await super().handle_DATA(server, session, envelope)


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{db['USER']}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def _start_worker(port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_database_url(),
        TSUNAGARI_DATA_DIR=str(settings.DATA_DIR),
        TEST_SMTP_PORT=str(port),
        LOG_LEVEL="WARNING",
    )
    root = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [sys.executable, "-c", WORKER], env=env, cwd=root, stdout=subprocess.DEVNULL
    )


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_loses_nothing_and_repeats_at_most_what_was_in_flight(template):
    contacts = [opted_in(f"r{i:04d}@example.jp", family_name=f"受信{i}") for i in range(RECIPIENTS)]
    broadcast = Broadcast.objects.create(
        name="kill -9", template=template, segment=make_segment("全員", contacts)
    )
    services.broadcast_schedule(broadcast=broadcast)
    server = SmtpServer()
    server.sink = SlowSink()
    server.controller.handler = server.sink
    server.start()
    try:
        worker = _start_worker(server.port)
        try:
            _wait(lambda: len(server.sink.messages) >= RECIPIENTS // 3, 60, "a third delivered")
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
        in_flight = Message.objects.filter(
            broadcast=broadcast, status=Message.Status.SENDING
        ).count()
        assert len(server.sink.messages) < RECIPIENTS, "the kill came too late to test anything"
        assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.SENDING

        worker = _start_worker(server.port)
        try:
            _wait(
                lambda: Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.DONE,
                90,
                "the broadcast to finish after the restart",
            )
        finally:
            worker.terminate()
            worker.wait(timeout=10)
    finally:
        server.stop()

    per_recipient = collections.Counter(m.rcpt_tos[0] for m in server.sink.messages)
    assert set(per_recipient) == {c.email for c in contacts}  # nobody lost
    duplicates = sum(n - 1 for n in per_recipient.values())
    assert duplicates <= in_flight
    statuses = collections.Counter(
        Message.objects.filter(broadcast=broadcast).values_list("status", flat=True)
    )
    assert statuses == {Message.Status.SENT: RECIPIENTS}
