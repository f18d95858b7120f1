"""Bounces and complaints from realistic samples (tests/data/mail): DSNs (RFC 3464) and ARF
reports (RFC 5965) read from a maildir, an ESP webhook through anymail; each acted on once."""

from __future__ import annotations

import base64
import json
import mailbox
from pathlib import Path

import pytest
from django.test import Client

from tests.mail.conftest import make_segment, opted_in
from tsunagari.crm.choices import ConsentState
from tsunagari.mail import services, tokens
from tsunagari.mail.bounces import ingest_maildir, parse_report
from tsunagari.mail.models import Broadcast, DeliveryEvent, Message, Suppression
from tsunagari.mail.sending import send_batch
from tsunagari.tracking.models import Touchpoint

DATA = Path(__file__).resolve().parents[1] / "data" / "mail"


def sent_message(template, email: str) -> Message:
    contact = opted_in(email)
    broadcast = Broadcast.objects.create(
        name="b", template=template, segment=make_segment(email, [contact])
    )
    services.broadcast_schedule(broadcast=broadcast)
    services.broadcasts_advance()
    send_batch()
    message = Message.objects.get(broadcast=broadcast)
    assert message.status == Message.Status.SENT
    return message


def sample(name: str, message: Message, recipient: str | None = None) -> bytes:
    text = (DATA / name).read_text()
    tag = tokens.return_path_tag(message.pk)
    text = (
        text.replace("{MESSAGE_ID}-{TAG}", tag.removeprefix("m"))
        .replace("{RECIPIENT}", recipient or message.to_email)
        .replace("{HEADER_MESSAGE_ID}", message.header_message_id)
    )
    return text.encode()


def deliver_to_maildir(tmp_path: Path, *raw: bytes) -> str:
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    for item in raw:
        box.add(mailbox.MaildirMessage(item))
    return str(tmp_path / "bounces")


@pytest.mark.django_db(transaction=True)
def test_a_hard_bounce_suppresses_the_address_once(smtp_server, template, tmp_path):
    message = sent_message(template, "gone@example.jp")
    raw = sample("dsn_hard_5.1.1.eml", message)
    path = deliver_to_maildir(tmp_path, raw, raw)  # the same report delivered twice

    assert ingest_maildir(path) == 2
    assert ingest_maildir(path) == 0  # filed as seen

    row = Suppression.objects.get(email="gone@example.jp")
    assert row.active and row.reason == Suppression.Reason.HARD_BOUNCE
    event = DeliveryEvent.objects.get()
    assert event.status == "5.1.1" and event.message_id == message.pk
    message.refresh_from_db()
    assert message.bounced_at is not None
    bounce = Touchpoint.objects.get(type="email_bounced")
    assert (
        bounce.properties["message_id"] == message.pk and bounce.properties["kind"] == "hard_bounce"
    )


@pytest.mark.django_db(transaction=True)
def test_soft_bounces_suppress_only_after_the_limit_in_a_row(smtp_server, template, sender):
    message = sent_message(template, "full@example.jp")
    for n in range(1, sender.soft_bounce_limit + 1):
        raw = sample("dsn_mailbox_full_gmail.eml", message).replace(
            b"GMR@mx.google.com", f"GMR{n}@mx.google.com".encode()
        )
        (event,) = parse_report(raw)
        assert event.kind == "soft_bounce" and event.status == "5.2.2"
        assert event.message_id == message.pk  # matched by the enclosed Message-ID
        from tsunagari.mail.bounces import apply_event

        apply_event(event, source="maildir")
        active = Suppression.objects.filter(email="full@example.jp", active=True).exists()
        assert active == (n == sender.soft_bounce_limit)


@pytest.mark.django_db(transaction=True)
def test_a_delayed_notice_is_soft_and_matched_by_the_return_path(smtp_server, template):
    message = sent_message(template, "slow@example.jp")
    (event,) = parse_report(sample("dsn_delayed_exchange.eml", message))
    assert (event.kind, event.status, event.message_id) == ("soft_bounce", "4.4.7", message.pk)


@pytest.mark.django_db(transaction=True)
def test_an_arf_complaint_suppresses_and_is_reported(smtp_server, template, tmp_path):
    message = sent_message(template, "angry@example.jp")
    path = deliver_to_maildir(tmp_path, sample("arf_complaint_yahoo.eml", message))
    ingest_maildir(path)
    assert Suppression.objects.get(email="angry@example.jp").reason == "complaint"
    message.refresh_from_db()
    assert message.complained_at is not None


def test_malformed_reports_never_crash_the_parser():
    assert parse_report((DATA / "malformed_report.eml").read_bytes()) == []
    assert parse_report(b"\x00\xff\xfe not an email at all") == []
    assert parse_report(b"") == []


@pytest.mark.django_db(transaction=True)
def test_a_forged_return_path_names_no_message(smtp_server, template):
    message = sent_message(template, "x@example.jp")
    raw = sample("dsn_delayed_exchange.eml", message).replace(
        tokens.return_path_tag(message.pk).encode(), f"m{message.pk}-0000000000000000".encode()
    )
    (event,) = parse_report(raw)
    assert event.message_id is None


@pytest.mark.django_db(transaction=True)
def test_a_mail_to_the_unsubscribe_address_unsubscribes(smtp_server, template, tmp_path):
    message = sent_message(template, "mailto@example.jp")
    tag = tokens.return_path_tag(message.pk)
    raw = (
        f"From: mailto@example.jp\r\nTo: unsubscribe+{tag}@example.co.jp\r\n"
        "Subject: unsubscribe\r\nMessage-ID: <u1@example.jp>\r\n\r\n\r\n"
    ).encode()
    ingest_maildir(deliver_to_maildir(tmp_path, raw))
    message.contact.refresh_from_db()
    assert message.contact.email_consent == ConsentState.OPT_OUT


@pytest.mark.django_db(transaction=True)
def test_an_esp_bounce_webhook_through_anymail_is_deduplicated(smtp_server, template, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    message = sent_message(template, "esp@example.jp")
    Message.objects.filter(pk=message.pk).update(
        esp_message_id="883953f4-6105-42a2-a16a-77a8eac79483"
    )
    payload = {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": "esp@example.jp",
        "BouncedAt": "2026-11-26T01:02:03Z",
        "Inactive": True,
    }
    auth = "Basic " + base64.b64encode(b"hook:s3cret").decode()
    client = Client()
    for _ in range(2):  # ESPs retry webhooks
        response = client.post(
            "/m/esp/postmark/tracking/",
            json.dumps(payload),
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
        )
        assert response.status_code == 200
    assert DeliveryEvent.objects.count() == 1
    assert Suppression.objects.get(email="esp@example.jp").reason == "hard_bounce"
    assert client.post(
        "/m/esp/postmark/tracking/", "{}", content_type="application/json"
    ).status_code in (400, 401, 403)
