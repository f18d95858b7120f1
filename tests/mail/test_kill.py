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

import pytest

from tests.mail.conftest import make_segment, opted_in
from tests.processes import start_worker, wait_until
from tests.smtp import SmtpServer, SmtpSink
from tsunagari.mail import services
from tsunagari.mail.models import Broadcast, Message

RECIPIENTS = 300


class SlowSink(SmtpSink):
    """A receiving server that takes a few milliseconds per message, like a real one."""

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(0.004)
        return await super().handle_DATA(server, session, envelope)


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
        worker = start_worker(server.port)
        try:
            wait_until(
                lambda: len(server.sink.messages) >= RECIPIENTS // 3, 60, "a third delivered"
            )
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
        in_flight = Message.objects.filter(
            broadcast=broadcast, status=Message.Status.SENDING
        ).count()
        assert len(server.sink.messages) < RECIPIENTS, "the kill came too late to test anything"
        assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.SENDING

        worker = start_worker(server.port)
        try:
            wait_until(
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
