"""Broadcasts: scheduling rules, the per-minute rate, pause/resume/cancel, the A/B subject
test, the frequency cap and subscription topics chosen in the preference centre."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from tests.mail.conftest import make_segment, opted_in
from tsunagari.mail import services, tokens
from tsunagari.mail.compose import ComplianceError
from tsunagari.mail.models import Broadcast, Message, SenderSettings, Template, Topic
from tsunagari.mail.sending import send_batch, send_batches
from tsunagari.mail.services import template_save


def _broadcast(template, contacts, **fields) -> Broadcast:
    return Broadcast.objects.create(
        name="b", template=template, segment=make_segment("s", contacts), **fields
    )


def _drain() -> None:
    for _ in range(50):
        if not (services.broadcasts_advance() + send_batch()):
            return


@pytest.mark.django_db
def test_scheduling_needs_complete_sender_settings(template, english):
    SenderSettings.objects.filter(pk=1).update(postal_address="")
    broadcast = _broadcast(template, [opted_in("a@example.jp")])
    with pytest.raises(ComplianceError) as error:
        services.broadcast_schedule(broadcast=broadcast)
    assert "postal address" in " ".join(error.value.problems)
    assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.DRAFT


@pytest.mark.django_db(transaction=True)
def test_a_later_broadcast_waits_for_its_time(smtp_server, template):
    broadcast = _broadcast(template, [opted_in("a@example.jp")])
    later = timezone.now() + dt.timedelta(hours=2)
    services.broadcast_schedule(broadcast=broadcast, at=later)
    _drain()
    assert smtp_server.messages == [] and not Message.objects.exists()
    services.broadcasts_advance(now=later + dt.timedelta(seconds=1))
    _drain()
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_caps_sends_per_minute(smtp_server, template):
    contacts = [opted_in(f"r{i}@example.jp") for i in range(5)]
    broadcast = _broadcast(template, contacts, rate_per_minute=3)
    services.broadcast_schedule(broadcast=broadcast)
    _drain()
    assert len(smtp_server.messages) == 3
    assert Message.objects.filter(status=Message.Status.QUEUED).count() == 2
    Message.objects.filter(status=Message.Status.SENT).update(
        sent_at=timezone.now() - dt.timedelta(minutes=2)
    )
    _drain()
    assert len(smtp_server.messages) == 5
    assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.DONE


@pytest.mark.django_db(transaction=True)
def test_pause_resume_and_cancel(smtp_server, template):
    contacts = [opted_in(f"p{i}@example.jp") for i in range(4)]
    broadcast = _broadcast(template, contacts, rate_per_minute=2)
    services.broadcast_schedule(broadcast=broadcast)
    _drain()
    services.broadcast_pause(broadcast=broadcast)
    Message.objects.filter(status=Message.Status.SENT).update(
        sent_at=timezone.now() - dt.timedelta(minutes=2)
    )
    _drain()
    assert len(smtp_server.messages) == 2  # paused: nothing more
    services.broadcast_resume(broadcast=broadcast)
    services.broadcast_cancel(broadcast=broadcast)
    _drain()
    assert len(smtp_server.messages) == 2
    skipped = Message.objects.filter(status=Message.Status.SKIPPED, skip_reason="cancelled")
    assert skipped.count() == 2
    assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.CANCELLED
    with pytest.raises(services.MailError):
        services.broadcast_resume(broadcast=broadcast)


@pytest.mark.django_db(transaction=True)
def test_an_ab_test_sends_the_winning_subject_to_the_rest(smtp_server, template):
    contacts = [opted_in(f"ab{i:02d}@example.jp", family_name="佐藤") for i in range(20)]
    broadcast = _broadcast(
        template, contacts, subject_b="【B案】{{ contact.family_name }}様へ", ab_sample_percent=40
    )
    services.broadcast_schedule(broadcast=broadcast)
    _drain()
    assert len(smtp_server.messages) == 8  # the 40 % sample; the rest is held
    held = Message.objects.filter(broadcast=broadcast, status=Message.Status.HELD)
    assert held.count() == 12
    subjects = {m.message["Subject"] for m in smtp_server.messages}
    assert subjects == {"佐藤様へ 新機能のご案内", "【B案】佐藤様へ"}
    Message.objects.filter(broadcast=broadcast, variant="b").update(opened_at=timezone.now())
    assert Broadcast.objects.get(pk=broadcast.pk).status == Broadcast.Status.SENDING
    services.broadcasts_advance(now=timezone.now() + dt.timedelta(minutes=241))
    _drain()
    broadcast.refresh_from_db()
    assert broadcast.ab_winner == "b" and broadcast.status == Broadcast.Status.DONE
    rest = [m for m in smtp_server.messages[8:]]
    assert len(rest) == 12 and {m.message["Subject"] for m in rest} == {"【B案】佐藤様へ"}


@pytest.mark.django_db(transaction=True)
def test_the_frequency_cap_skips_contacts_emailed_enough_this_week(smtp_server, template, sender):
    sender.frequency_cap = 2
    sender.save()
    contact = opted_in("busy@example.jp")
    for _n in range(3):
        broadcast = _broadcast(template, [contact])
        services.broadcast_schedule(broadcast=broadcast)
        _drain()
    assert len(smtp_server.messages) == 2
    assert Message.objects.filter(skip_reason="frequency_cap").count() == 1


@pytest.mark.django_db(transaction=True)
def test_pipelined_batches_send_everyone_once_and_count_the_batch_in_flight(
    smtp_server, template, sender
):
    contacts = [opted_in(f"p{i}@example.jp") for i in range(25)]
    services.broadcast_schedule(broadcast=_broadcast(template, contacts))
    services.broadcasts_advance()
    # Batches of 10: each is claimed and rendered while the one before is being delivered.
    assert send_batches(limit=10, max_batches=10) == 25
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == sorted(c.email for c in contacts)

    # p0 has had one email; the cap is two. Two more broadcasts to p0, one message per batch:
    # the second batch is checked while the first is still in flight (not yet recorded as
    # sent), and must count it.
    sender.frequency_cap = 2
    sender.save()
    for _n in range(2):
        services.broadcast_schedule(broadcast=_broadcast(template, contacts[:1]))
    services.broadcasts_advance()
    assert send_batches(limit=1, max_batches=10) == 2
    assert len(smtp_server.to("p0@example.jp")) == 2
    assert Message.objects.filter(skip_reason="frequency_cap").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_topic_turned_off_in_the_preference_centre_is_honoured(smtp_server, sender):
    seminars = Topic.objects.create(key="seminar", name="セミナーのご案内")
    Topic.objects.create(key="newsletter", name="ニュースレター")
    template = template_save(
        template=Template(
            name="seminar", subject="セミナー", html="<p>x</p>{{ footer }}", topic=seminars
        )
    )
    contact = opted_in("pref@example.jp")
    client = Client()
    path = f"/m/p/{tokens.preferences_token(contact.pk)}/"
    page = client.get(path)
    assert page.status_code == 200 and "セミナーのご案内" in page.content.decode()
    response = client.post(path, {"topic": ["newsletter"]})
    assert response.status_code == 200
    broadcast = _broadcast(template, [contact])
    services.broadcast_schedule(broadcast=broadcast)
    _drain()
    assert smtp_server.messages == []
    assert Message.objects.get(broadcast=broadcast).skip_reason == "topic_opt_out"
    client.post(path, {"topic": ["newsletter", "seminar"], "everything_off": "1"})
    contact.refresh_from_db()
    assert contact.email_consent == "opt_out"
