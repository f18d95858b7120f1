import json
import time

import pytest
from django.test import Client

from tests.crm.factories import make_account, make_contact
from tests.tracking.conftest import ORIGIN, UID
from tests.tracking.test_collect import page_view, send
from tsunagari.crm import services as crm_services
from tsunagari.crm.models import Contact
from tsunagari.tracking.collect import identify_signature
from tsunagari.tracking.models import Touchpoint, Visitor

pytestmark = pytest.mark.django_db(transaction=True)
OTHER = "fedcba9876543210fedcba9876543210"


def identify(site, email, uid=UID, ts=None, sig=None):
    ts = int(time.time()) if ts is None else ts
    sig = identify_signature(site.identify_secret, email, ts) if sig is None else sig
    return Client().post(
        "/t/identify",
        json.dumps({"v": uid, "e": email, "ts": ts, "sig": sig}),
        content_type="text/plain",
        headers={"Origin": ORIGIN},
    )


def test_a_signed_identify_attaches_the_anonymous_history_to_the_contact(site):
    account = make_account(domains=("example.co.jp",))
    contact = make_contact("hanako@example.co.jp")
    send(page_view())
    send(page_view(u=f"{ORIGIN}/case-studies"))
    assert identify(site, "hanako@example.co.jp").status_code == 204
    touches = Touchpoint.objects.filter(contact=contact)
    assert set(touches.values_list("type", flat=True)) == {"page_view", "identified"}
    assert touches.filter(type="page_view").count() == 2
    assert set(touches.values_list("account_id", flat=True)) == {account.pk}
    contact.refresh_from_db()
    assert contact.last_activity_at is not None


def test_later_visits_of_an_identified_visitor_land_on_the_contact(site):
    contact = make_contact("hanako@example.co.jp")
    send(page_view())
    identify(site, "hanako@example.co.jp")
    send(page_view(u=f"{ORIGIN}/pricing"))
    assert Touchpoint.objects.filter(contact=contact, type="page_view").count() == 2


def test_a_bare_email_without_a_valid_signature_identifies_nobody(site):
    make_contact("victim@example.co.jp")
    send(page_view())
    assert identify(site, "victim@example.co.jp", sig="0" * 64).status_code == 403
    assert (
        identify(site, "victim@example.co.jp", ts=int(time.time()) - 3 * 86400).status_code == 403
    )
    assert not Touchpoint.objects.filter(contact__isnull=False).exists()
    assert Visitor.objects.get(uid=UID).contact is None


def test_a_signature_from_another_sites_secret_is_refused(site):
    send(page_view())
    forged = identify_signature("not-the-secret", "a@example.co.jp", int(time.time()))
    assert identify(site, "a@example.co.jp", sig=forged).status_code == 403


def test_two_devices_of_one_person_both_attach(site):
    contact = make_contact("hanako@example.co.jp")
    send(page_view())
    send(page_view(v=OTHER))
    identify(site, "hanako@example.co.jp")
    identify(site, "hanako@example.co.jp", uid=OTHER)
    assert Touchpoint.objects.filter(contact=contact, type="page_view").count() == 2
    assert set(contact.visitors.values_list("uid", flat=True)) == {UID, OTHER}


def test_identify_creates_the_contact_when_the_email_is_new(site):
    send(page_view())
    identify(site, "New.Person@Example.co.jp")
    contact = Contact.objects.get(email="new.person@example.co.jp")
    assert contact.touchpoints.filter(type="page_view").exists()


def test_a_form_submission_identifies_the_visitor_and_records_consent(site):
    send(page_view())
    response = Client().post(
        "/t/form",
        {
            "email": "taro@example.co.jp",
            "family_name": "佐藤",
            "_tsg_vid": UID,
            "consent": "1",
            "consent_text": "ニュースレターを受け取ります",
            "form": "whitepaper",
        },
        headers={"Origin": ORIGIN, "Referer": f"{ORIGIN}/whitepaper"},
    )
    assert response.status_code == 200
    contact = Contact.objects.get(email="taro@example.co.jp")
    assert set(contact.touchpoints.values_list("type", flat=True)) == {
        "page_view",
        "form_submitted",
        "identified",
    }
    assert contact.email_consent == "opt_in"
    assert contact.consents.get().consent_text == "ニュースレターを受け取ります"


def test_a_form_with_the_honeypot_filled_changes_nothing(site):
    Client().post(
        "/t/form",
        {"email": "bot@example.co.jp", "website": "http://spam"},
        headers={"Origin": ORIGIN},
    )
    assert not Contact.objects.exists()


def test_a_form_from_an_unregistered_origin_changes_nothing(site):
    response = Client().post(
        "/t/form", {"email": "x@example.co.jp"}, headers={"Origin": "https://evil.test"}
    )
    assert response.status_code == 403
    assert not Contact.objects.exists()


def test_merging_contacts_keeps_every_touchpoint(site):
    keep = make_contact("keep@example.co.jp")
    drop = make_contact("drop@example.co.jp")
    send(page_view())
    identify(site, "drop@example.co.jp")
    crm_services.contact_merge(keep=keep, drop=drop)
    assert Touchpoint.objects.filter(contact=keep, type="page_view").count() == 1
    assert not Touchpoint.objects.filter(contact=drop).exists()
    assert Visitor.objects.get(uid=UID).contact == keep


def test_merging_accounts_gives_one_timeline_with_visitors_and_ip_ranges(site):
    from tsunagari.tracking.models import IpRange
    from tsunagari.tracking.sites import account_for_ip, range_keys

    keep, drop = make_account(name="山田製作所"), make_account(name="ヤマダ製作所")
    start, end = range_keys("198.51.100.0/24")
    IpRange.objects.create(account=drop, cidr="198.51.100.0/24", start=start, end=end)
    assert account_for_ip("198.51.100.7") == drop.pk  # this process has loaded the ranges
    Client().post(  # an anonymous visit from the company's network, counted on `drop`
        "/t/collect",
        json.dumps(page_view()),
        content_type="text/plain",
        headers={"Origin": ORIGIN, "User-Agent": "Mozilla/5.0 Chrome/126.0"},
        REMOTE_ADDR="198.51.100.7",
    )
    assert Touchpoint.objects.get(type="page_view").account_id == drop.pk

    crm_services.account_merge(keep=keep, drop=drop)

    assert Touchpoint.objects.get(type="page_view").account_id == keep.pk
    assert Visitor.objects.get(uid=UID).account_id == keep.pk
    assert IpRange.objects.get().account_id == keep.pk
    assert account_for_ip("198.51.100.7") == keep.pk  # not the retired account from memory


def test_a_plain_html_form_returns_to_the_page_on_the_same_site(site):
    response = Client().post(
        "/t/form",
        {"email": "a@example.co.jp", "next": f"{ORIGIN}/thanks"},
        headers={"Origin": ORIGIN, "Accept": "text/html"},
    )
    assert response.status_code == 303 and response["Location"] == f"{ORIGIN}/thanks"


def test_the_form_never_redirects_to_another_site(site):
    response = Client().post(
        "/t/form",
        {"email": "a@example.co.jp", "next": "https://evil.example.com/phish"},
        headers={"Origin": ORIGIN, "Accept": "text/html", "Referer": "https://evil.example.com/"},
    )
    assert response["Location"] == f"{ORIGIN}/"
