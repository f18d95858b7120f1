"""A broadcast end to end: queued per recipient, checked at send time, delivered to a real SMTP
server, and what arrives parsed: personalisation, footer, headers, one-click unsubscribe."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from tests.crm.factories import make_contact
from tests.mail.conftest import BASE, make_segment, opted_in
from tsunagari.crm.choices import ConsentAction, ConsentChannel, ConsentMethod, ConsentState
from tsunagari.crm.models import Contact
from tsunagari.crm.services import consent_record
from tsunagari.mail import services
from tsunagari.mail.engagement import suppress
from tsunagari.mail.models import Broadcast, Message, Suppression
from tsunagari.mail.sending import send_batch
from tsunagari.tracking.models import Touchpoint


def run_all() -> None:
    for _ in range(20):
        advanced = services.broadcasts_advance()
        sent = send_batch()
        if not advanced and not sent:
            return


def _broadcast(template, segment, **fields) -> Broadcast:
    broadcast = Broadcast.objects.create(
        name="11月ニュースレター", template=template, segment=segment, **fields
    )
    return broadcast


def _html(received) -> str:
    return received.message.get_body(("html",)).get_content()


def _text(received) -> str:
    return received.message.get_body(("plain",)).get_content()


@pytest.mark.django_db(transaction=True)
def test_a_broadcast_reaches_exactly_the_contacts_it_may_email(smtp_server, template):
    satou = opted_in("satou@example.jp", family_name="佐藤")
    card = opted_in("card@example.jp", method=ConsentMethod.BUSINESS_CARD, family_name="")
    out = opted_in("out@example.jp")
    consent_record(
        contact=out,
        channel=ConsentChannel.EMAIL,
        action=ConsentAction.OPT_OUT,
        method=ConsentMethod.FORM,
    )
    unknown = make_contact(email="unknown@example.jp")
    dnc = opted_in("dnc@example.jp", do_not_contact=True)
    bounced = opted_in("bounced@example.jp")
    suppress(email="Bounced@example.jp", reason=Suppression.Reason.HARD_BOUNCE)
    excluded = opted_in("excluded@example.jp")
    no_address = make_contact(email=None)
    everyone = [satou, card, out, unknown, dnc, bounced, excluded, no_address]
    broadcast = _broadcast(template, make_segment("全員", everyone))
    broadcast.exclusions.add(make_segment("除外", [excluded]))

    services.broadcast_schedule(broadcast=broadcast)
    run_all()

    received = smtp_server.messages
    assert sorted(r.rcpt_tos[0] for r in received) == ["card@example.jp", "satou@example.jp"]
    statuses = dict(
        Message.objects.filter(broadcast=broadcast).values_list("contact__email", "skip_reason")
    )
    assert statuses == {
        "satou@example.jp": "",
        "card@example.jp": "",
        "out@example.jp": "opted_out",
        "unknown@example.jp": "no_consent",
        "dnc@example.jp": "do_not_contact",
        "bounced@example.jp": "suppressed",
        None: "no_address",
    }
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DONE
    sent = Touchpoint.objects.filter(type="email_sent")
    assert sent.count() == 2
    props = sent.get(contact=satou).properties
    assert props["broadcast_id"] == broadcast.pk and props["machine"] is False
    assert props["template_id"] == template.pk


@pytest.mark.django_db(transaction=True)
def test_what_arrives_is_personalised_compliant_and_unsubscribes_in_one_click(
    smtp_server, template, sender
):
    satou = opted_in("satou@example.jp", family_name="佐藤")
    nameless = opted_in("nameless@example.jp", family_name="")
    broadcast = _broadcast(template, make_segment("全員", [satou, nameless]))
    services.broadcast_schedule(broadcast=broadcast)
    run_all()

    (mail,) = smtp_server.to("satou@example.jp")
    msg = mail.message
    assert msg["Subject"] == "佐藤様へ 新機能のご案内"
    assert "つながり商事 マーケティング" in str(msg["From"]) and "news@example.co.jp" in str(
        msg["From"]
    )
    assert mail.mail_from.startswith("bounces+m") and mail.mail_from.endswith(
        "@bounce.example.co.jp"
    )
    assert msg["Message-ID"].endswith("@example.co.jp>")
    assert msg["Feedback-ID"] == f"{broadcast.pk}:{template.pk}:marketing:tsunagari"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = [v.strip().strip("<>") for v in msg["List-Unsubscribe"].split(",")]
    assert https.startswith(BASE + "/m/u/")
    assert mailto.startswith("mailto:unsubscribe+m") and mailto.endswith("?subject=unsubscribe")
    html, text = _html(mail), _text(mail)
    assert "佐藤 様" in html and "佐藤 様" in text
    for required in (
        "つながり商事 マーケティング",
        "東京都千代田区千代田1-1",
        "03-1234-5678",
        https,
    ):
        assert required in text
        assert required.replace("&", "&amp;") in html
    assert "https://www.example.co.jp/features" not in html  # links go through the tracker
    assert BASE + "/m/c/" in html and BASE + "/m/o/" in html
    (other,) = smtp_server.to("nameless@example.jp")
    assert "ご担当者 様" in _html(other)

    client = Client(enforce_csrf_checks=True)
    path = urlsplit(https).path
    page = client.get(path)
    assert page.status_code == 200
    assert Contact.objects.get(pk=satou.pk).email_consent == ConsentState.OPT_IN  # GET did nothing
    response = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    satou.refresh_from_db()
    assert satou.email_consent == ConsentState.OPT_OUT
    record = satou.consents.first()
    assert record.method == ConsentMethod.EMAIL_LINK and record.action == ConsentAction.OPT_OUT
    assert Touchpoint.objects.filter(contact=satou, type="email_unsubscribed").count() == 1
    assert client.post(path, {"List-Unsubscribe": "One-Click"}).status_code == 404  # replayed

    # Honoured at once: the next broadcast skips the contact at send time.
    again = _broadcast(template, make_segment("再送", [satou]))
    services.broadcast_schedule(broadcast=again)
    run_all()
    assert Message.objects.get(broadcast=again).skip_reason == "opted_out"
    assert len(smtp_server.to("satou@example.jp")) == 1


@pytest.mark.django_db(transaction=True)
def test_consent_is_checked_when_sending_not_only_when_queueing(smtp_server, template):
    satou = opted_in("satou@example.jp")
    broadcast = _broadcast(template, make_segment("全員", [satou]))
    services.broadcast_schedule(broadcast=broadcast)
    services.broadcasts_advance()  # queued while still opted in
    consent_record(
        contact=satou,
        channel=ConsentChannel.EMAIL,
        action=ConsentAction.OPT_OUT,
        method=ConsentMethod.VERBAL,
        basis="電話で停止の依頼",
    )
    run_all()
    assert smtp_server.messages == []
    assert Message.objects.get(broadcast=broadcast).skip_reason == "opted_out"


@pytest.mark.django_db(transaction=True)
def test_a_4xx_reply_defers_with_backoff_and_a_5xx_fails_and_suppresses(smtp_server, template):
    satou = opted_in("satou@example.jp")
    broadcast = _broadcast(template, make_segment("全員", [satou]))
    services.broadcast_schedule(broadcast=broadcast)
    services.broadcasts_advance()
    smtp_server.reply = "451 4.3.0 Try again later"
    send_batch()
    message = Message.objects.get(broadcast=broadcast)
    assert message.status == Message.Status.DEFERRED and "451" in message.last_error
    assert message.due_at > timezone.now() + dt.timedelta(seconds=30)
    services.broadcasts_advance()
    assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.SENDING

    Message.objects.filter(pk=message.pk).update(due_at=timezone.now())
    smtp_server.reply = "550 5.1.1 User unknown"
    send_batch()
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED, message.last_error
    assert Suppression.objects.get(email="satou@example.jp").reason == "hard_bounce"
    services.broadcasts_advance()
    assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.DONE


@pytest.mark.django_db(transaction=True)
def test_a_header_injection_in_contact_data_is_refused_and_recorded(smtp_server, sender):
    from tsunagari.mail.models import Template
    from tsunagari.mail.services import template_save

    template = template_save(
        template=Template(
            name="t", subject="{{ contact.family_name }}様", html="<p>x</p>{{ footer }}"
        )
    )
    evil = opted_in("evil@example.jp", family_name="佐藤")
    Contact.objects.filter(pk=evil.pk).update(family_name="佐藤\r\nBcc: victim@example.jp")
    broadcast = _broadcast(template, make_segment("全員", [evil]))
    services.broadcast_schedule(broadcast=broadcast)
    run_all()
    assert smtp_server.messages == []
    message = Message.objects.get(broadcast=broadcast)
    assert message.status == Message.Status.SKIPPED and message.skip_reason == "invalid_header"


@pytest.mark.django_db(transaction=True)
def test_the_same_journey_email_queued_twice_is_sent_once(smtp_server, template):
    satou = opted_in("satou@example.jp")
    first = services.message_queue(contact=satou, template=template, idempotency_key="j1:s2:c1")
    second = services.message_queue(contact=satou, template=template, idempotency_key="j1:s2:c1")
    assert first.pk == second.pk
    run_all()
    assert len(smtp_server.to("satou@example.jp")) == 1


@pytest.mark.django_db(transaction=True)
def test_a_batch_over_several_connections_reaches_everyone_once(smtp_server, template, settings):
    settings.TSUNAGARI_MAIL_CONNECTIONS = 4
    contacts = [opted_in(f"p{i}@example.jp", family_name=f"佐藤{i}") for i in range(40)]
    broadcast = _broadcast(template, make_segment("全員", contacts))
    services.broadcast_schedule(broadcast=broadcast)
    services.broadcasts_advance()
    assert send_batch() == 40  # one batch, split over the connections

    received = sorted(r.rcpt_tos[0] for r in smtp_server.messages)
    assert received == sorted(c.email for c in contacts)
    for mail in smtp_server.messages:  # each message personalised for its own recipient
        i = mail.rcpt_tos[0][1:].split("@")[0]
        assert mail.message["Subject"] == f"佐藤{i}様へ 新機能のご案内"
    assert set(Message.objects.filter(broadcast=broadcast).values_list("status", flat=True)) == {
        "sent"
    }

    # A refusal on every connection: each message deferred, none lost or marked sent.
    smtp_server.reply = "451 4.3.0 Try again later"
    more = [opted_in(f"q{i}@example.jp") for i in range(40)]
    second = _broadcast(template, make_segment("次", more))
    services.broadcast_schedule(broadcast=second)
    services.broadcasts_advance()
    assert send_batch() == 40
    statuses = Message.objects.filter(broadcast=second).values_list("status", flat=True)
    assert set(statuses) == {"deferred"}
