"""Double opt-in over real SMTP, owner notifications, and gated downloads with signed links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.pages.conftest import CONSENT_TEXT
from tests.pages.helpers import answers, open_page, submit_page
from tests.pages.test_protection import definition, good_answers, post
from tsunagari.crm.models import ConsentRecord, Contact
from tsunagari.pages import protection
from tsunagari.pages.models import ContentAsset, FormSubmission, SubmissionEmail
from tsunagari.pages.submissions import submission_emails_send
from tsunagari.tracking.models import Touchpoint

pytestmark = pytest.mark.django_db(transaction=True)  # the worker sends what was committed


def _confirm_link(message) -> str:
    body = message.message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://testserver(/f/confirm/\S+)", body).group(1)


def test_double_opt_in_consent_counts_only_after_the_confirmation(landing, whitepaper, smtp_server):
    whitepaper.double_opt_in = True
    whitepaper.save()
    client = Client()
    _html, inputs = open_page(client, landing.slug)
    response = submit_page(
        client,
        landing.slug,
        inputs,
        answers(
            whitepaper, email="hanako@yamada.co.jp", company="c", family_name="f", newsletter="1"
        ),
    )
    assert "確認" in response.content.decode() or "confirm" in response.content.decode()
    contact = Contact.objects.get(email="hanako@yamada.co.jp")
    assert not ConsentRecord.objects.exists()
    assert FormSubmission.objects.get().status == "awaiting"

    assert submission_emails_send() == 1
    (message,) = smtp_server.wait_for(1)
    assert message.rcpt_tos == ["hanako@yamada.co.jp"]
    link = _confirm_link(message)
    # Opening the link (as a mail scanner would) changes nothing; the button does.
    assert Client().get(link).status_code == 200
    assert not ConsentRecord.objects.exists()
    assert Client().post(link).status_code == 200
    record = ConsentRecord.objects.get(contact=contact)
    assert (record.topic, record.method, record.consent_text) == (
        "newsletter",
        "email_link",
        CONSENT_TEXT,
    )
    assert FormSubmission.objects.get().status == "confirmed"
    Client().post(link)  # a second click records nothing more
    assert ConsentRecord.objects.count() == 1


def test_a_forged_confirmation_link_confirms_nothing(whitepaper):
    response = Client().post("/f/confirm/forged-token")
    assert response.status_code == 400
    assert not ConsentRecord.objects.exists()


def test_one_address_gets_at_most_a_few_confirmation_emails(site, whitepaper, smtp_server):
    whitepaper.double_opt_in = True
    whitepaper.save()
    from tests.pages.conftest import add_field

    add_field(whitepaper, "", kind="consent", consent_text="メールを受け取る")
    consent_name = whitepaper.fields.get(kind="consent", target="").name
    for _ in range(5):
        token = definition(whitepaper).json()["token"]
        data = {**good_answers(whitepaper, token, email="victim@yamada.co.jp"), consent_name: "1"}
        assert post(whitepaper, data).status_code == 200
    assert submission_emails_send() == 5
    smtp_server.wait_for(3)
    import time

    time.sleep(0.5)
    assert len(smtp_server.to("victim@yamada.co.jp")) == 3
    statuses = sorted(SubmissionEmail.objects.values_list("status", flat=True))
    assert statuses == ["sent", "sent", "sent", "skipped", "skipped"]
    assert protection.confirm_limiter.allow("victim@yamada.co.jp") is False


def test_owners_are_notified_of_each_submission(site, whitepaper, smtp_server):
    whitepaper.notify_emails = "sales@tsunagari.example, boss@tsunagari.example"
    whitepaper.save()
    token = definition(whitepaper).json()["token"]
    assert post(whitepaper, good_answers(whitepaper, token)).status_code == 200
    assert smtp_server.messages == []  # the request did not wait for SMTP: the worker sends
    assert submission_emails_send() == 1
    (message,) = smtp_server.wait_for(1)
    assert SubmissionEmail.objects.get().status == "sent"
    assert sorted(message.rcpt_tos) == ["boss@tsunagari.example", "sales@tsunagari.example"]
    assert "ホワイトペーパー" in message.message["Subject"]
    body = message.message.get_body(preferencelist=("plain",)).get_content()
    assert "hanako@yamada.co.jp" in body and "山田製作所" in body


def test_a_gated_asset_gives_a_signed_link_that_records_the_download(site, whitepaper):
    asset = ContentAsset.objects.create(
        key="dx-whitepaper",
        name="DX白書",
        kind=ContentAsset.Kind.TRIGGER,
        url_pattern="https://www.example.co.jp/files/dx.pdf",
    )
    whitepaper.asset = asset
    whitepaper.save()
    token = definition(whitepaper).json()["token"]
    body = post(whitepaper, good_answers(whitepaper, token)).json()
    assert body["download_url"].startswith("http://testserver/a/")
    form_touch = Touchpoint.objects.get(type="form_submitted")
    assert form_touch.content_asset == "dx-whitepaper"

    response = Client().get(body["download_url"].replace("http://testserver", ""))
    assert response.status_code == 302
    assert response["Location"] == "https://www.example.co.jp/files/dx.pdf"
    download = Touchpoint.objects.get(type="download")
    assert download.content_asset == "dx-whitepaper"
    assert download.contact == Contact.objects.get(email="hanako@yamada.co.jp")


def test_a_forged_download_link_is_not_found(whitepaper):
    assert Client().get("/a/forged").status_code == 404
    assert not Touchpoint.objects.exists()


def test_an_unreachable_smtp_server_neither_fails_the_submission_nor_loses_the_email(
    site, whitepaper, smtp_server, settings
):
    whitepaper.notify_emails = "sales@tsunagari.example"
    whitepaper.save()
    token = definition(whitepaper).json()["token"]
    port = settings.EMAIL_PORT
    settings.EMAIL_PORT = 9  # nothing listens on the discard port
    assert post(whitepaper, good_answers(whitepaper, token)).status_code == 200
    assert submission_emails_send() == 1
    email = SubmissionEmail.objects.get()
    assert (email.status, email.attempts) == ("queued", 1) and email.last_error
    assert submission_emails_send() == 0  # it waits two minutes before the next attempt
    SubmissionEmail.objects.update(due_at=email.due_at - timedelta(minutes=3))
    settings.EMAIL_PORT = port
    assert submission_emails_send() == 1
    (message,) = smtp_server.wait_for(1)
    assert message.rcpt_tos == ["sales@tsunagari.example"]
    assert SubmissionEmail.objects.get().status == "sent"


def test_an_email_whose_worker_died_is_sent_once_its_lease_expires(site, whitepaper, smtp_server):
    whitepaper.notify_emails = "sales@tsunagari.example"
    whitepaper.save()
    token = definition(whitepaper).json()["token"]
    assert post(whitepaper, good_answers(whitepaper, token)).status_code == 200
    now = timezone.now()
    SubmissionEmail.objects.update(status="sending", lease_until=now + timedelta(minutes=1))
    assert submission_emails_send() == 0  # another worker holds it
    SubmissionEmail.objects.update(lease_until=now - timedelta(seconds=1))
    assert submission_emails_send() == 1
    assert len(smtp_server.wait_for(1)) == 1
