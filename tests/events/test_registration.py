"""Registration through the public page: contact, touches, seats, waitlist, cancellation."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.events.conftest import CHROME, register_via_page
from tsunagari.crm.models import Contact
from tsunagari.events import services
from tsunagari.events.models import EventEmail, Registration
from tsunagari.pages.models import FormSubmission
from tsunagari.tracking.models import Touchpoint

pytestmark = pytest.mark.django_db


def test_registering_creates_contact_seat_touches_and_emails(event, session):
    client = Client()
    response = register_via_page(client, event, session, "Taro@Example.co.jp")
    assert response.status_code == 200, response.content.decode()[:2000]
    contact = Contact.objects.get(email="taro@example.co.jp")
    assert contact.family_name == "山田"
    registration = Registration.objects.get()
    assert (registration.contact, registration.status) == (contact, "registered")
    touch = Touchpoint.objects.get(contact=contact, type="seminar_registered")
    assert touch.properties == {"seminar_id": event.pk, "session_id": session.pk}
    assert touch.channel == "event"
    # pages handled the form: a submission, the form touch, and the browser identified.
    assert FormSubmission.objects.get().form_id == event.form_id
    assert Touchpoint.objects.filter(contact=contact, type="form_submitted").exists()
    assert Touchpoint.objects.filter(contact=contact, type="identified").exists()
    kinds = set(EventEmail.objects.values_list("kind", flat=True))
    assert kinds == {"confirmation", "reminder_day", "reminder_hour"}
    day = EventEmail.objects.get(kind="reminder_day")
    assert day.due_at == session.starts_at - services.REMINDERS[0][1]
    assert "確認メール" in response.content.decode() or "confirmation" in response.content.decode()


def test_registering_twice_keeps_one_seat_and_queues_nothing_more(event, session):
    register_via_page(Client(), event, session, "taro@example.co.jp")
    register_via_page(Client(), event, session, "taro@example.co.jp")
    assert Registration.objects.count() == 1
    assert EventEmail.objects.count() == 3


def test_a_full_session_waitlists_and_a_cancellation_promotes_the_first_in_line(event, session):
    for email in ("a@example.co.jp", "b@example.co.jp", "c@example.co.jp", "d@example.co.jp"):
        register_via_page(Client(), event, session, email)
    statuses = dict(Registration.objects.values_list("contact__email", "status"))
    assert statuses == {
        "a@example.co.jp": "registered",
        "b@example.co.jp": "registered",
        "c@example.co.jp": "waitlisted",
        "d@example.co.jp": "waitlisted",
    }
    first = Registration.objects.get(contact__email="a@example.co.jp")
    link = f"/e/cancel/{services.cancel_token(first)}/"
    client = Client()
    assert client.get(link).status_code == 200  # opening the link changes nothing
    assert Registration.objects.get(pk=first.pk).status == "registered"
    assert client.post(link).status_code == 302
    assert client.post(link).status_code == 302  # twice: nothing more
    statuses = dict(Registration.objects.values_list("contact__email", "status"))
    assert statuses["a@example.co.jp"] == "cancelled"
    assert statuses["c@example.co.jp"] == "registered"  # first in line
    assert statuses["d@example.co.jp"] == "waitlisted"
    promoted = Registration.objects.get(contact__email="c@example.co.jp")
    assert set(promoted.emails.values_list("kind", flat=True)) == {
        "waitlisted",
        "promoted",
        "reminder_day",
        "reminder_hour",
    }
    # The cancelled registrant's reminders will not go out.
    assert set(first.emails.filter(status="skipped").values_list("kind", flat=True)) == {
        "reminder_day",
        "reminder_hour",
        "confirmation",
    }


def test_a_forged_cancellation_link_is_a_404(event, session):
    register_via_page(Client(), event, session, "a@example.co.jp")
    registration = Registration.objects.get()
    token = services.cancel_token(registration)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert Client().post(f"/e/cancel/{forged}/").status_code == 404
    # A check-in token is not a cancellation token.
    assert Client().post(f"/e/cancel/{services.checkin_token(registration)}/").status_code == 404
    assert Registration.objects.get().status == "registered"


def test_the_honeypot_registers_nobody(event, session):
    client = Client()
    page = client.get(f"/e/{event.slug}/?session={session.pk}", headers={"User-Agent": CHROME})
    from tests.pages.helpers import answers, inputs_of

    payload = {k: v for k, v in inputs_of(page.content.decode()).items() if k.startswith("_tsg")}
    payload.update(answers(event.form, email="bot@example.co.jp", family_name="x", company="y"))
    payload["website_url"] = "http://spam.example"
    response = client.post(f"/e/{event.slug}/?session={session.pk}", payload)
    assert response.status_code == 200
    assert not Contact.objects.exists()
    assert not Registration.objects.exists()
    assert not EventEmail.objects.exists()


def test_a_replayed_token_and_a_missing_session_change_nothing(event, session):
    from tests.pages.helpers import answers, inputs_of

    client = Client()
    url = f"/e/{event.slug}/?session={session.pk}"
    page = client.get(url, headers={"User-Agent": CHROME})
    payload = {k: v for k, v in inputs_of(page.content.decode()).items() if k.startswith("_tsg")}
    payload.update(answers(event.form, email="a@example.co.jp", family_name="x", company="y"))
    assert client.post(url, payload).status_code == 200
    payload.update(answers(event.form, email="b@example.co.jp"))
    assert client.post(url, payload).status_code == 400  # the same token again
    response = client.post(f"/e/{event.slug}/?session=999999", payload)
    assert response.status_code == 400
    assert list(Registration.objects.values_list("contact__email", flat=True)) == [
        "a@example.co.jp"
    ]
    assert not Contact.objects.filter(email="b@example.co.jp").exists()


def test_a_closed_event_refuses_registrations(event, session):
    client = Client()
    page = client.get(f"/e/{event.slug}/?session={session.pk}", headers={"User-Agent": CHROME})
    from tests.pages.helpers import answers, inputs_of

    payload = {k: v for k, v in inputs_of(page.content.decode()).items() if k.startswith("_tsg")}
    payload.update(answers(event.form, email="late@example.co.jp", family_name="x", company="y"))
    event.is_open = False
    event.save()
    response = client.post(f"/e/{event.slug}/?session={session.pk}", payload)
    assert response.status_code == 400
    assert not Contact.objects.filter(email="late@example.co.jp").exists()


def test_registration_page_has_csp_and_an_empty_state(event):
    response = Client().get(f"/e/{event.slug}/")
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert Client().get("/e/no-such-event/").status_code == 404
