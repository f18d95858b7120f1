"""Mail test data made through the services: sender settings, opted-in contacts, a segment."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.crm.factories import make_contact
from tsunagari.crm.choices import ConsentAction, ConsentChannel, ConsentMethod
from tsunagari.crm.services import consent_record
from tsunagari.mail import public
from tsunagari.mail.models import SenderSettings, Template
from tsunagari.mail.services import template_save
from tsunagari.segments.models import Membership, Segment

BASE = "https://mail.example.co.jp"

HTML = """<html><body>
<p>{{ contact.family_name | default:"ご担当者" }} 様</p>
<p>{{ account.name }} の皆さまへ。新機能のご案内です。</p>
<p><a href="https://www.example.co.jp/features?from=news">詳しくはこちら</a></p>
<p><a href="https://www.example.co.jp/seminar">セミナー</a></p>
<p>{{ owner.signature }}</p>
{{ footer }}
</body></html>"""


@pytest.fixture(autouse=True)
def _fresh_limits():
    public.limiter.reset()
    yield
    public.limiter.reset()


@pytest.fixture
def sender(db) -> SenderSettings:
    sender, _ = SenderSettings.objects.get_or_create(pk=1)
    sender.from_name = "つながり商事 マーケティング"
    sender.from_email = "news@example.co.jp"
    sender.reply_to = "support@example.co.jp"
    sender.postal_address = "〒100-0001 東京都千代田区千代田1-1"
    sender.complaints_contact = "support@example.co.jp / 03-1234-5678"
    sender.public_base_url = BASE
    sender.bounce_domain = "bounce.example.co.jp"
    sender.unsubscribe_mailbox = "unsubscribe@example.co.jp"
    sender.save()
    return sender


def opted_in(email: str, method: str = ConsentMethod.FORM, **fields):
    contact = make_contact(email=email, **fields)
    consent_record(
        contact=contact,
        channel=ConsentChannel.EMAIL,
        action=ConsentAction.OPT_IN,
        method=method,
        basis="名刺交換 2026-10 展示会" if method == ConsentMethod.BUSINESS_CARD else "",
        source="test",
    )
    return contact


def make_segment(name: str, contacts) -> Segment:
    segment = Segment.objects.create(name=name, kind=Segment.Kind.STATIC)
    now = timezone.now()
    Membership.objects.bulk_create(
        [Membership(segment=segment, contact=c, entered_at=now) for c in contacts]
    )
    return segment


@pytest.fixture
def template(sender) -> Template:
    return template_save(
        template=Template(
            name="11月のお知らせ", subject="{{ contact.family_name }}様へ 新機能のご案内", html=HTML
        )
    )
