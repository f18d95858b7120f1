"""Staff pages: list, create, sessions in the tenant time zone, registrants, report, rights."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import client_for
from tests.events.conftest import register_via_page
from tsunagari.events.models import Event, Session

pytestmark = pytest.mark.django_db


def test_the_empty_list_explains_and_a_new_event_gets_its_form(marketer, english_ui):
    client = client_for(marketer)
    assert "No events yet" in client.get("/events/").content.decode()
    response = client.post("/events/new/", {"name": "製造業DXセミナー", "slug": "dx"})
    event = Event.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/events/{event.pk}/"
    targets = list(event.form.fields.values_list("target", flat=True))
    assert targets == ["email", "family_name", "given_name", "company"]
    again = client.post("/events/new/", {"name": "x", "slug": "dx"})
    assert "already used" in again.content.decode()
    detail = client.get(f"/events/{event.pk}/").content.decode()
    assert "No sessions yet" in detail and "/e/dx/" in detail


def test_a_session_is_entered_in_tokyo_time_and_validated(marketer, event, english_ui):
    client = client_for(marketer)
    url = f"/events/{event.pk}/sessions/new/"
    bad = client.post(
        url, {"starts_at": "2027-03-01T14:00", "ends_at": "2027-03-01T13:00", "capacity": 10}
    )
    assert bad.status_code == 200
    html = bad.content.decode()
    assert "must end after it starts" in html and "place or an online URL" in html
    ok = client.post(
        url,
        {
            "starts_at": "2027-03-01T14:00",
            "ends_at": "2027-03-01T16:00",
            "place": "東京",
            "capacity": 10,
        },
    )
    assert ok.status_code == 302
    session = Session.objects.get()
    assert session.starts_at.isoformat() == "2027-03-01T05:00:00+00:00"  # 14:00 JST
    assert "2027-03-01 14:00" in client.get(f"/events/{event.pk}/").content.decode()


def test_registrants_report_and_pages_render_for_readers_but_setup_needs_rights(
    reader, event, session, english_ui
):
    register_via_page(Client(), event, session, "a@example.co.jp")
    client = client_for(reader)
    registrants = client.get(f"/events/{event.pk}/registrants/?status=registered")
    assert "a@example.co.jp" in registrants.content.decode()
    report = client.get(f"/events/{event.pk}/report/?days=30").content.decode()
    assert "Won amount" in report and "¥0" in report
    assert "No deal has been created for a registrant" in report
    assert client.get("/events/new/").status_code == 403
    assert client.get(f"/events/{event.pk}/checkin/").status_code == 403
    assert Client().get("/events/").status_code == 302  # log in first


def test_staff_pages_speak_japanese_by_default(marketer, event, session):
    client = client_for(marketer)
    assert "セミナー" in client.get("/events/").content.decode()
    assert "受付済み" in client.get(f"/events/{event.pk}/checkin/").content.decode()


def test_the_contact_page_panel_lists_the_seminars(reader, event, session, english_ui):
    from tsunagari.crm.models import Contact

    register_via_page(Client(), event, session, "a@example.co.jp")
    contact = Contact.objects.get(email="a@example.co.jp")
    panel = client_for(reader).get(f"/contacts/{contact.pk}/seminars/").content.decode()
    assert "製造業DXセミナー" in panel and "Registered" in panel
    detail = client_for(reader).get(f"/contacts/{contact.pk}/").content.decode()
    assert f"/contacts/{contact.pk}/seminars/" in detail
