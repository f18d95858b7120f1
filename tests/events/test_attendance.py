"""Check-in by code, the booth kiosk, attendance import, follow-up and the seminar report."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import client_for
from tests.events.conftest import CHROME, register_via_page
from tests.pages.helpers import answers, inputs_of
from tsunagari.crm.models import Contact
from tsunagari.crm.services import contact_set_lifecycle
from tsunagari.events import queries, services
from tsunagari.events.models import EventEmail, Registration, Session
from tsunagari.tracking.models import Touchpoint, Visitor

pytestmark = pytest.mark.django_db


def _running_session(event, capacity=0) -> Session:
    now = timezone.now()
    return services.session_save(
        session=Session(
            event=event,
            starts_at=now - dt.timedelta(hours=1),
            ends_at=now + dt.timedelta(hours=6),
            place="東京ビッグサイト 東4ホール",
            capacity=capacity,
        )
    )


def test_checkin_is_idempotent_and_explains_unknown_and_other_event_codes(event, session):
    register_via_page(Client(), event, session, "a@example.co.jp")
    registration = Registration.objects.get()
    token = services.checkin_token(registration)
    assert services.checkin(event=event, token=token).outcome == "attended"
    assert services.checkin(event=event, token=token).outcome == "duplicate"
    assert Touchpoint.objects.filter(type="seminar_attended").count() == 1
    touch = Touchpoint.objects.get(type="seminar_attended")
    assert touch.properties == {"seminar_id": event.pk, "session_id": session.pk}
    assert services.checkin(event=event, token=str(registration.pk)).outcome == "unknown"
    assert services.checkin(event=event, token=token + "x").outcome == "unknown"
    other = services.event_create(name="別のセミナー", slug="other")
    assert services.checkin(event=other, token=token).outcome == "other_event"


def test_the_checkin_screen_answers_with_htmx(event, session, marketer, english_ui):
    register_via_page(Client(), event, session, "a@example.co.jp")
    token = services.checkin_token(Registration.objects.get())
    client = client_for(marketer)
    url = f"/events/{event.pk}/checkin/"
    assert client.get(url).status_code == 200
    first = client.post(url, {"code": token}, headers={"HX-Request": "true"})
    assert "Checked in: 山田" in first.content.decode()
    assert 'id="checkin-panel"' in first.content.decode()
    again = client.post(url, {"code": token}, headers={"HX-Request": "true"})
    assert "already checked in" in again.content.decode()
    unknown = client.post(url, {"code": "12"}, headers={"HX-Request": "true"})
    assert "Unknown code" in unknown.content.decode()


def test_the_kiosk_captures_visitors_one_after_another_without_identifying_the_tablet(
    event, marketer
):
    session = _running_session(event)
    client = client_for(marketer)
    url = f"/events/{event.pk}/kiosk/?session={session.pk}"
    for email, name in (("a@example.co.jp", "青木"), ("b@example.co.jp", "馬場")):
        page = client.get(url, headers={"User-Agent": CHROME})
        html = page.content.decode()
        assert "a@example.co.jp" not in html  # the form is empty for the next person
        payload = {k: v for k, v in inputs_of(html).items() if k.startswith("_tsg")}
        payload.update(answers(event.form, email=email, family_name=name, company="株式会社X"))
        response = client.post(url, payload, headers={"User-Agent": CHROME})
        assert response.status_code == 302, response.content.decode()[:3000]
        assert "_tsg_vid" not in response.cookies
    assert "_tsg_vid" not in client.cookies
    assert not Visitor.objects.exists()  # the tablet is nobody
    assert not Touchpoint.objects.filter(type="identified").exists()
    regs = Registration.objects.order_by("contact__email")
    assert [(r.contact.email, r.source, r.attended_at is not None) for r in regs] == [
        ("a@example.co.jp", "kiosk", True),
        ("b@example.co.jp", "kiosk", True),
    ]
    assert Touchpoint.objects.filter(type="seminar_attended").count() == 2
    assert not EventEmail.objects.exists()


def test_the_kiosk_never_overwrites_a_known_contact(event, marketer):
    from tsunagari.crm.services import contact_save

    contact_save(contact=Contact(email="a@example.co.jp", family_name="本物"), source="test")
    session = _running_session(event)
    client = client_for(marketer)
    url = f"/events/{event.pk}/kiosk/?session={session.pk}"
    html = client.get(url).content.decode()
    payload = {k: v for k, v in inputs_of(html).items() if k.startswith("_tsg")}
    payload.update(answers(event.form, email="a@example.co.jp", family_name="偽物", company="X"))
    assert client.post(url, payload).status_code == 302
    assert Contact.objects.get(email="a@example.co.jp").family_name == "本物"


def test_attendance_import_is_all_or_nothing_and_registers_walk_ins(event, session):
    from tsunagari.crm.services import contact_save

    for email in ("a@example.co.jp", "walkin@example.co.jp"):
        contact_save(contact=Contact(email=email), source="test")
    register_via_page(Client(), event, session, "a@example.co.jp")
    bad = b"email\na@example.co.jp\nnot-an-address\nstranger@example.co.jp\n"
    marked, errors = services.attendance_import(session=session, data=bad)
    assert marked == 0
    assert len(errors) == 2
    assert "not-an-address" in errors[0] and "stranger@example.co.jp" in errors[1]
    assert not Registration.objects.filter(attended_at__isnull=False).exists()

    good = "メール,email\nx,a@example.co.jp\ny,walkin@example.co.jp\n".encode("cp932")
    marked, errors = services.attendance_import(session=session, data=good)
    assert (marked, errors) == (2, [])
    walkin = Registration.objects.get(contact__email="walkin@example.co.jp")
    assert (walkin.source, walkin.checkin_method) == ("import", "import")
    assert not walkin.emails.exists()
    # The same file again records nothing twice.
    assert services.attendance_import(session=session, data=good) == (0, [])
    assert Touchpoint.objects.filter(type="seminar_attended").count() == 2


def _past_session(event, place="大阪", days_ago=1) -> Session:
    now = timezone.now()
    return services.session_save(
        session=Session(
            event=event,
            starts_at=now - dt.timedelta(days=days_ago, hours=2),
            ends_at=now - dt.timedelta(days=days_ago),
            place=place,
        )
    )


def test_the_report_counts_attendance_mqls_deals_and_won_amount_within_the_window(event):
    from tests.crm.factories import make_account
    from tsunagari.crm.services import contact_save
    from tsunagari.deals.services import deal_create, deal_move_stage

    now = timezone.now()
    past = _past_session(event)
    account = make_account("株式会社大阪精機")
    people = {}
    for email in ("a@x.co.jp", "b@x.co.jp", "c@x.co.jp", "d@x.co.jp"):
        contact = contact_save(contact=Contact(email=email, account=account), source="test")
        people[email] = services.register(
            session=past, contact=contact, emails=False, now=now - dt.timedelta(days=5)
        )
    services.checkin_manual(registration=people["a@x.co.jp"])
    services.checkin_manual(registration=people["b@x.co.jp"])
    services.registration_cancel(registration=people["d@x.co.jp"])
    a, b, c, d = (people[e].contact for e in ("a@x.co.jp", "b@x.co.jp", "c@x.co.jp", "d@x.co.jp"))
    contact_set_lifecycle(contact=a, to_stage="mql")
    # a: two deals, one won; c: one won deal; d cancelled: not counted; b: a lifecycle stage
    # alone is no deal any more.
    first = deal_create(name="A-1", account=account, primary_contact=a, amount=1_000_000)
    deal_create(name="A-2", account=account, primary_contact=a, amount=300_000)
    third = deal_create(name="C-1", account=account, primary_contact=c, amount=2_500_000)
    deal_create(name="D-1", account=account, primary_contact=d, amount=9_000_000, stage="won")
    contact_set_lifecycle(contact=b, to_stage="opportunity")
    deal_create(name="no contact", account=account, amount=7_000_000, stage="won")
    deal_move_stage(deal=first, to_stage="won")
    deal_move_stage(deal=third, to_stage="won")
    total, rows = queries.report(event, days=30)
    assert (total.registered, total.attended, total.no_shows, total.cancelled) == (3, 2, 1, 1)
    assert (total.mqls, total.deals, total.deals_attended) == (1, 2, 1)
    assert (total.deal_count, total.won_deals, total.won_amount) == (3, 2, 3_500_000)
    assert total.attendance_rate == pytest.approx(2 / 3)
    assert total.deal_rate == pytest.approx(2 / 3)
    assert (rows[0].deals, rows[0].deal_count, rows[0].won_amount) == (2, 3, 3_500_000)
    listed = {d.name for d in queries.registrant_deals(event, days=30)}
    assert listed == {"A-1", "A-2", "C-1"}
    # A deal created before the registration, or after the window, is not this seminar's.
    from tsunagari.deals.models import Deal

    Deal.objects.filter(name="C-1").update(created_at=now - dt.timedelta(days=10))
    Deal.objects.filter(name="A-2").update(created_at=now + dt.timedelta(days=40))
    total = queries.report(event, days=30)[0]
    assert (total.deals, total.deal_count, total.won_amount) == (1, 1, 1_000_000)
    assert queries.report(event, days=90)[0].deal_count == 2


def test_a_deal_counts_once_in_the_totals_and_the_report_query_count_is_fixed(
    event, django_assert_max_num_queries
):
    from tests.crm.factories import make_account
    from tsunagari.crm.services import contact_save
    from tsunagari.deals.services import deal_create

    now = timezone.now()
    account = make_account("株式会社京都電機")
    first, second = _past_session(event, "京都", 3), _past_session(event, "神戸", 2)
    contact = contact_save(contact=Contact(email="k@x.co.jp", account=account), source="t")
    for session in (first, second):
        services.register(
            session=session, contact=contact, emails=False, now=now - dt.timedelta(days=5)
        )
    deal_create(name="K", account=account, primary_contact=contact, amount=500, stage="won")
    total, rows = queries.report(event, days=30)
    assert [(r.deals, r.won_amount) for r in rows] == [(1, 500), (1, 500)]
    assert (total.deals, total.deal_count, total.won_amount, total.registered) == (1, 1, 500, 1)
    with django_assert_max_num_queries(5):
        queries.report(event, days=30)
    for n in range(6):
        _past_session(event, f"会場{n}", 4 + n)
    with django_assert_max_num_queries(5):
        queries.report(event, days=30)


def test_followup_enrols_attendees_and_no_shows_in_their_journeys(event):
    from tests.journeys.conftest import make_journey
    from tsunagari.crm.services import contact_save
    from tsunagari.journeys.models import Enrolment

    now = timezone.now()
    past = services.session_save(
        session=Session(
            event=event,
            starts_at=now - dt.timedelta(hours=3),
            ends_at=now - dt.timedelta(hours=1),
            online_url="https://meet.example.co.jp/x",
        )
    )
    a = services.register(
        session=past,
        contact=contact_save(contact=Contact(email="a@x.co.jp"), source="t"),
        emails=False,
    )
    services.register(
        session=past,
        contact=contact_save(contact=Contact(email="b@x.co.jp"), source="t"),
        emails=False,
    )
    services.checkin_manual(registration=a)
    journeys = [
        make_journey({"s": {"type": "tags", "add": [name]}}, name=name)
        for name in ("参加者フォロー", "欠席者フォロー")
    ]
    event.attended_journey, event.noshow_journey = journeys
    event.save()
    assert services.followup_enrol(event=event) == (1, 1)
    assert services.followup_enrol(event=event) == (0, 0)
    enrolled = dict(Enrolment.objects.values_list("contact__email", "journey__name"))
    assert enrolled == {"a@x.co.jp": "参加者フォロー", "b@x.co.jp": "欠席者フォロー"}


def test_a_merge_moves_registrations_and_keeps_one_per_session(event, session):
    from tsunagari.crm.services import contact_merge, contact_save

    keep = contact_save(contact=Contact(email="keep@x.co.jp"), source="t")
    drop = contact_save(contact=Contact(email="drop@x.co.jp"), source="t")
    other = services.session_save(
        session=Session(
            event=event,
            starts_at=session.starts_at + dt.timedelta(days=1),
            ends_at=session.ends_at + dt.timedelta(days=1),
            place="大阪",
        )
    )
    services.register(session=session, contact=keep, emails=False)
    both = services.register(session=session, contact=drop, emails=False)
    services.checkin_manual(registration=both)
    services.register(session=other, contact=drop, emails=False)
    contact_merge(keep=keep, drop=drop)
    rows = sorted(Registration.objects.values_list("session_id", "contact_id", "checkin_method"))
    assert rows == sorted([(session.pk, keep.pk, "manual"), (other.pk, keep.pk, "")])
