"""Registration emails through a real SMTP server: QR code, reminders, once only, suppression."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from tests.events.conftest import register_via_page
from tsunagari.events import emails, services
from tsunagari.events.models import EventEmail, Registration
from tsunagari.mail.models import Suppression

pytestmark = pytest.mark.django_db


def _parts(message):
    return {part.get_content_type(): part for part in message.walk()}


def test_the_confirmation_carries_a_qr_code_of_the_signed_checkin_token(
    smtp_server, event, session
):
    register_via_page(Client(), event, session, "taro@example.co.jp")
    registration = Registration.objects.get()
    assert emails.send_due() == 1  # reminders are not due yet
    smtp_server.wait_for(1)
    message = smtp_server.messages[0].message
    assert smtp_server.messages[0].rcpt_tos == ["taro@example.co.jp"]
    assert "製造業DXセミナー" in message["Subject"]
    parts = _parts(message)
    html = parts["text/html"].get_content()
    text = parts["text/plain"].get_content()
    assert 'src="cid:checkin-qr"' in html
    image = parts["image/png"]
    assert image["Content-ID"] == "<checkin-qr>"
    # The codes are the ones signed when the email was built (a re-signed code carries another
    # timestamp): read them from the email.
    cancel = re.search(r"/e/cancel/([^/\s]+)/", text).group(1)
    [token] = [t for t in re.findall(r"eyJ[\w:-]+", text) if t != cancel]
    assert token != str(registration.pk)  # the code, never a bare id
    # The picture is exactly the QR code of that token.
    assert image.get_content() == emails.qr_png(token)
    assert session.place in text
    assert services.cancel_read(cancel) == registration
    # The code from the email checks the registrant in.
    assert services.checkin(event=event, token=token).outcome == "attended"

    # Sent once: a second run sends nothing more.
    assert emails.send_due() == 0
    assert EventEmail.objects.get(kind="confirmation").status == "sent"
    assert len(smtp_server.messages) == 1


def test_reminders_go_out_when_due_and_not_after_a_cancellation(smtp_server, event, session):
    register_via_page(Client(), event, session, "a@example.co.jp")
    register_via_page(Client(), event, session, "b@example.co.jp")
    emails.send_due()
    smtp_server.wait_for(2)
    b = Registration.objects.get(contact__email="b@example.co.jp")
    services.registration_cancel(registration=b)
    day_before = session.starts_at - dt.timedelta(days=1) + dt.timedelta(minutes=1)
    assert emails.send_due(now=day_before) == 1
    smtp_server.wait_for(3)
    reminder = smtp_server.messages[2]
    assert reminder.rcpt_tos == ["a@example.co.jp"]
    assert "明日" in reminder.message["Subject"] or "tomorrow" in reminder.message["Subject"]
    assert b.emails.get(kind="reminder_day").status == "skipped"
    hour_before = session.starts_at - dt.timedelta(minutes=59)
    assert emails.send_due(now=hour_before) == 1
    smtp_server.wait_for(4)
    assert len(smtp_server.messages) == 4


def test_a_suppressed_address_gets_nothing_and_a_refusing_server_retries(
    smtp_server, event, session
):
    Suppression.objects.create(email="a@example.co.jp", reason="hard_bounce")
    register_via_page(Client(), event, session, "a@example.co.jp")
    register_via_page(Client(), event, session, "b@example.co.jp")
    smtp_server.reply = "451 try again later"
    emails.send_due()
    assert (
        EventEmail.objects.get(
            registration__contact__email="a@example.co.jp", kind="confirmation"
        ).skip_reason
        == "suppressed"
    )
    deferred = EventEmail.objects.get(
        registration__contact__email="b@example.co.jp", kind="confirmation"
    )
    assert (deferred.status, deferred.attempts) == ("queued", 1)
    smtp_server.reply = "250 OK"
    assert emails.send_due(now=timezone.now() + dt.timedelta(minutes=5)) == 1
    smtp_server.wait_for(1)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["b@example.co.jp"]]


def test_a_lease_that_ran_out_is_claimed_again_and_sent_once(smtp_server, event, session):
    register_via_page(Client(), event, session, "a@example.co.jp")
    now = timezone.now()
    claimed = emails.claim(now)  # a worker took it and died before sending
    assert len(claimed) == 1
    assert emails.claim(now) == []  # nobody else takes it while the lease runs
    assert emails.send_due(now=now + emails.LEASE + dt.timedelta(seconds=1)) == 1
    smtp_server.wait_for(1)
    assert emails.send_due(now=now + 2 * emails.LEASE) == 0
    assert len(smtp_server.messages) == 1


def test_the_waitlist_notice_has_no_code_and_the_promotion_does(smtp_server, event, session):
    for email in ("a@example.co.jp", "b@example.co.jp", "c@example.co.jp"):
        register_via_page(Client(), event, session, email)
    emails.send_due()
    smtp_server.wait_for(3)
    waitlisted = smtp_server.to("c@example.co.jp")[0].message
    assert "image/png" not in _parts(waitlisted)
    services.registration_cancel(
        registration=Registration.objects.get(contact__email="a@example.co.jp")
    )
    emails.send_due()
    smtp_server.wait_for(4)
    promoted = smtp_server.to("c@example.co.jp")[1].message
    assert "image/png" in _parts(promoted)
