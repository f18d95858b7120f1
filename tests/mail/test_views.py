"""The staff pages: access per role, the template editor (errors, preview, test send),
broadcasts from creation to report, suppression list and sender settings."""

from __future__ import annotations

import pytest

from tests.mail.conftest import HTML, make_segment, opted_in
from tsunagari.mail import services
from tsunagari.mail.models import Broadcast, SenderSettings, Suppression, Template
from tsunagari.mail.sending import send_batch


@pytest.fixture(autouse=True)
def _english_pages(request):
    """Pages follow the browser's language: these tests read English ones."""
    for name in ("client", "marketer_client", "reader_client", "admin_client_"):
        if name in request.fixturenames:
            request.getfixturevalue(name).defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.mark.django_db
def test_access_by_role(client, marketer_client, reader_client, admin_client_):
    assert client.get("/mail/").status_code == 302
    assert reader_client.get("/mail/").status_code == 403
    assert marketer_client.get("/mail/").status_code == 200
    assert marketer_client.get("/mail/settings/").status_code == 403
    assert admin_client_.get("/mail/settings/").status_code == 200
    assert marketer_client.get("/mail/suppressions/").status_code == 403


@pytest.mark.django_db
def test_an_empty_mail_home_says_what_to_do(marketer_client):
    page = marketer_client.get("/mail/").content.decode()
    assert "No templates yet" in page and "Sender settings are missing" in page


@pytest.mark.django_db
def test_the_editor_refuses_a_template_without_the_footer_and_saves_a_good_one(
    marketer_client, sender
):
    data = {"name": "n", "kind": "marketing", "subject": "s", "html": "<p>hello</p>", "text": ""}
    page = marketer_client.post("/mail/templates/new/", data).content.decode()
    assert "needs {{ footer }}" in page and not Template.objects.exists()
    data["html"] = HTML
    response = marketer_client.post("/mail/templates/new/", data)
    template = Template.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/mail/templates/{template.pk}/"


@pytest.mark.django_db(transaction=True)
def test_preview_as_a_contact_and_a_test_send(marketer_client, template, smtp_server):
    contact = opted_in("satou@example.jp", family_name="佐藤")
    Template.objects.filter(pk=template.pk).update(subject="{{ contact.nickname }}様")
    preview = marketer_client.get(
        f"/mail/templates/{template.pk}/preview/?contact={contact.pk}", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "佐藤 様" in preview and "unknown variable contact.nickname" in preview
    assert 'sandbox=""' in preview
    marketer_client.post(
        f"/mail/templates/{template.pk}/test/", {"to": "me@example.co.jp", "contact": contact.pk}
    )
    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == ["me@example.co.jp"] and mail.message["Subject"].startswith("[TEST]")


@pytest.mark.django_db(transaction=True)
def test_a_broadcast_from_the_pages_to_its_report(marketer_client, template, smtp_server):
    contacts = [opted_in("a@example.jp"), opted_in("b@example.jp")]
    segment = make_segment("展示会 2026", contacts)
    response = marketer_client.post(
        "/mail/broadcasts/new/",
        {
            "name": "11月号",
            "template": template.pk,
            "segment": segment.pk,
            "ab_sample_percent": 20,
            "ab_wait_minutes": 240,
            "rate_per_minute": 600,
        },
    )
    broadcast = Broadcast.objects.get()
    assert response.status_code == 302
    detail = marketer_client.get(f"/mail/broadcasts/{broadcast.pk}/").content.decode()
    assert "2 contacts in the audience now" in detail
    marketer_client.post(f"/mail/broadcasts/{broadcast.pk}/schedule/", {"send_at": ""})
    services.broadcasts_advance()
    send_batch()
    services.broadcasts_advance()
    assert len(smtp_server.messages) == 2
    report = marketer_client.get(f"/mail/broadcasts/{broadcast.pk}/").content.decode()
    assert "Done" in report and "Delivered" in report
    listing = marketer_client.get("/mail/broadcasts/").content.decode()
    assert "11月号" in listing
    assert marketer_client.post(f"/mail/broadcasts/{broadcast.pk}/explode/").status_code == 404


@pytest.mark.django_db
def test_suppression_list_and_sender_settings_for_admins(admin_client_):
    admin_client_.post("/mail/suppressions/", {"email": "No@Example.jp", "detail": "依頼"})
    assert Suppression.objects.get().email == "no@example.jp"
    assert "no@example.jp" in admin_client_.get("/mail/suppressions/").content.decode()
    admin_client_.post("/mail/suppressions/", {"lift": "no@example.jp"})
    assert not Suppression.objects.filter(active=True).exists()
    page = admin_client_.post("/mail/settings/", {"from_name": "x", "dkim_private_key": "nope"})
    assert "PEM" in page.content.decode()
    admin_client_.post(
        "/mail/settings/",
        {
            "from_name": "つながり",
            "from_email": "news@example.co.jp",
            "postal_address": "東京都",
            "complaints_contact": "support@example.co.jp",
            "public_base_url": "https://mail.example.co.jp",
            "frequency_cap": 4,
            "frequency_days": 7,
            "soft_bounce_limit": 3,
            "utm_source": "tsunagari",
            "utm_medium": "email",
        },
    )
    assert SenderSettings.objects.get().from_name == "つながり"


@pytest.mark.django_db
def test_the_pages_speak_japanese_by_default(marketer):
    from tests.conftest import client_for

    client = client_for(marketer)
    page = client.get("/mail/").content.decode()
    assert "テンプレートはまだありません" in page and "一斉配信" in page


@pytest.mark.django_db(transaction=True)
def test_the_contact_page_panel_lists_the_contacts_emails(reader_client, template, smtp_server):
    contact = opted_in("a@example.jp")
    broadcast = Broadcast.objects.create(
        name="b", template=template, segment=make_segment("s", [contact])
    )
    services.broadcast_schedule(broadcast=broadcast)
    services.broadcasts_advance()
    send_batch()
    panel = reader_client.get(f"/mail/contacts/{contact.pk}/panel/").content.decode()
    assert "新機能のご案内" in panel and "Sent" in panel
    assert reader_client.get("/mail/contacts/999999/panel/").status_code == 404


@pytest.mark.django_db
def test_a_line_break_in_the_sender_name_is_refused(admin_client_):
    page = admin_client_.post("/mail/settings/", {"from_name": "つながり\r\nBcc: x@example.jp"})
    assert "Line breaks are not allowed" in page.content.decode()
    assert not SenderSettings.objects.filter(from_name__contains="Bcc").exists()
