"""Bad input on the public form endpoints: refused clearly, nothing stored, no email sent."""

from __future__ import annotations

import time

import pytest
from django.core import signing
from django.test import Client

from tests.pages.conftest import CHROME, ORIGIN, add_field
from tsunagari.crm.models import Contact
from tsunagari.pages import protection
from tsunagari.pages.models import FormSubmission, PendingConsent
from tsunagari.pages.submissions import submission_emails_send
from tsunagari.tracking.models import Touchpoint

pytestmark = pytest.mark.django_db


def definition(form, origin=ORIGIN, **params):
    return Client().get(
        f"/f/{form.pk}/render", params, headers={"Origin": origin, "User-Agent": CHROME}
    )


def post(form, data, origin=ORIGIN, accept="application/json", **headers):
    return Client().post(
        f"/f/{form.pk}/submit",
        data,
        headers={"Origin": origin, "User-Agent": CHROME, "Accept": accept, **headers},
    )


def good_answers(form, token, email="hanako@yamada.co.jp"):
    names = {f.target: f.name for f in form.fields.all()}
    return {
        "_tsg_t": token,
        names["email"]: email,
        names["company"]: "山田製作所",
        names["family_name"]: "山田",
    }


def nothing_stored() -> bool:
    return not (
        Contact.objects.exists()
        or FormSubmission.objects.exists()
        or Touchpoint.objects.filter(type="form_submitted").exists()
    )


def test_the_embed_definition_lists_the_fields_and_a_token(site, whitepaper):
    response = definition(whitepaper)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    body = response.json()
    assert [f["target"] for f in body["fields"] if f["kind"] == "field"] == [
        "email",
        "company",
        "family_name",
    ]
    assert body["token"] and body["honeypot"] == protection.HONEYPOT


def test_an_embedded_submission_is_accepted_with_its_token(site, whitepaper):
    token = definition(whitepaper).json()["token"]
    response = post(whitepaper, good_answers(whitepaper, token))
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    contact = Contact.objects.get(email="hanako@yamada.co.jp")
    touch = Touchpoint.objects.get(type="form_submitted")
    assert touch.contact_id == contact.pk and touch.source == ORIGIN
    assert touch.properties["landing_page_id"] is None and touch.properties["variant"] is None


def test_an_unregistered_origin_gets_neither_the_form_nor_a_submission(site, whitepaper):
    assert definition(whitepaper, origin="https://evil.example.com").status_code == 403
    token = definition(whitepaper).json()["token"]
    response = post(whitepaper, good_answers(whitepaper, token), origin="https://evil.example.com")
    assert response.status_code == 403
    assert nothing_stored()


def test_a_replayed_token_is_refused(site, whitepaper):
    token = definition(whitepaper).json()["token"]
    assert post(whitepaper, good_answers(whitepaper, token)).status_code == 200
    again = post(whitepaper, good_answers(whitepaper, token, email="other@yamada.co.jp"))
    assert again.status_code == 400
    assert "already" in again.json()["error"] or "送信済み" in again.json()["error"]
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    "token",
    [
        "forged",
        signing.dumps({"f": 1, "n": "x" * 32, "t": 0, "q": []}, salt="other"),
        "",
    ],
)
def test_a_forged_or_missing_token_is_refused(site, whitepaper, token):
    response = post(whitepaper, good_answers(whitepaper, token))
    assert response.status_code == 400
    assert "error" in response.json()
    assert nothing_stored()


def test_a_token_of_another_form_is_refused(site, whitepaper):
    from tsunagari.pages import services

    other = services.form_create(name="別フォーム")
    token = definition(other).json()["token"]
    assert post(whitepaper, good_answers(whitepaper, token)).status_code == 400
    assert nothing_stored()


def test_an_expired_token_is_refused(site, whitepaper, monkeypatch):
    token = definition(whitepaper).json()["token"]
    later = time.time() + protection.TOKEN_MAX_AGE + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert post(whitepaper, good_answers(whitepaper, token)).status_code == 400
    assert nothing_stored()


def test_a_form_sent_faster_than_a_person_types_is_refused(site, whitepaper):
    whitepaper.min_fill_seconds = 30
    whitepaper.save()
    token = definition(whitepaper).json()["token"]
    response = post(whitepaper, good_answers(whitepaper, token))
    assert response.status_code == 400
    assert nothing_stored()


@pytest.mark.django_db(transaction=True)
def test_the_honeypot_looks_accepted_but_stores_and_sends_nothing(site, whitepaper, smtp_server):
    whitepaper.double_opt_in = True
    whitepaper.notify_emails = "sales@tsunagari.example"
    whitepaper.save()
    token = definition(whitepaper).json()["token"]
    data = {**good_answers(whitepaper, token), protection.HONEYPOT: "http://spam.example"}
    response = post(whitepaper, data)
    assert response.status_code == 200 and response.json()["ok"] is True
    assert nothing_stored()
    assert submission_emails_send() == 0
    time.sleep(0.3)
    assert smtp_server.messages == []


def test_a_flood_from_one_address_is_cut_off(site, whitepaper, monkeypatch):
    from tsunagari.core.ratelimit import RateLimiter

    # The configured burst, without the refill a slow test machine would give in between.
    burst = protection.ip_limiter.burst
    monkeypatch.setattr(protection, "ip_limiter", RateLimiter(rate=1e-6, burst=burst))
    statuses = []
    for i in range(15):
        token = definition(whitepaper).json()["token"]
        statuses.append(
            post(
                whitepaper, good_answers(whitepaper, token, email=f"u{i}@yamada.co.jp")
            ).status_code
        )
    assert statuses[:10] == [200] * 10
    assert set(statuses[10:]) == {429}
    assert Contact.objects.count() == 10


def test_a_five_megabyte_field_is_refused_before_anything_is_read(site, whitepaper):
    token = definition(whitepaper).json()["token"]
    data = good_answers(whitepaper, token)
    data[next(iter(k for k in data if k.startswith("f")))] = "x" * (5 * 1024 * 1024)
    response = post(whitepaper, data)
    assert response.status_code == 413
    assert nothing_stored()


def test_an_answer_over_the_length_limit_is_a_field_error(site, whitepaper):
    token = definition(whitepaper).json()["token"]
    data = good_answers(whitepaper, token)
    name = whitepaper.fields.get(target="family_name").name
    data[name] = "長" * (protection.MAX_ANSWER_CHARS + 1)
    response = post(whitepaper, data)
    assert response.status_code == 400 and name in response.json()["errors"]
    assert nothing_stored()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "email",
    [
        "victim@yamada.co.jp\r\nBcc: everyone@example.com",
        "victim@yamada.co.jp\n",
        "not an address",
        "someone@mailinator.com",
        "someone@mx.yopmail.com",
    ],
)
def test_bad_and_disposable_addresses_are_refused(site, whitepaper, email, smtp_server):
    whitepaper.double_opt_in = True
    whitepaper.save()
    add_field(whitepaper, "", kind="consent", consent_text="メールを受け取る")
    token = definition(whitepaper).json()["token"]
    response = post(whitepaper, good_answers(whitepaper, token, email=email))
    assert response.status_code == 400
    email_field = whitepaper.fields.get(target="email").name
    assert email_field in response.json()["errors"]
    assert nothing_stored() and not PendingConsent.objects.exists()
    assert smtp_server.messages == []


def test_xss_in_answers_is_stored_as_text_and_never_rendered_as_html(
    site, whitepaper, marketer_client
):
    token = definition(whitepaper).json()["token"]
    data = good_answers(whitepaper, token)
    data[whitepaper.fields.get(target="family_name").name] = "<script>alert(1)</script>"
    assert post(whitepaper, data).status_code == 200
    page = marketer_client.get(f"/pages/forms/{whitepaper.pk}/submissions/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_plain_html_post_needs_the_forms_permission(site, whitepaper):
    names = {f.target: f.name for f in whitepaper.fields.all()}
    data = {names["email"]: "a@yamada.co.jp", names["company"]: "c", names["family_name"]: "f"}
    assert post(whitepaper, data, accept="text/html").status_code == 400
    assert nothing_stored()
    whitepaper.accept_plain_post = True
    whitepaper.redirect_url = f"{ORIGIN}/thanks"
    whitepaper.save()
    response = post(whitepaper, data, accept="text/html")
    assert response.status_code == 303 and response["Location"] == f"{ORIGIN}/thanks"
    assert Contact.objects.filter(email="a@yamada.co.jp").exists()


def test_a_plain_html_post_with_errors_gets_a_page_listing_them(site, whitepaper):
    whitepaper.accept_plain_post = True
    whitepaper.save()
    names = {f.target: f.name for f in whitepaper.fields.all()}
    response = post(whitepaper, {names["email"]: "nope"}, accept="text/html")
    assert response.status_code == 400
    assert "Content-Security-Policy" in response
    assert nothing_stored()


def test_a_plain_post_never_redirects_off_site(site, whitepaper):
    whitepaper.accept_plain_post = True
    whitepaper.save()
    names = {f.target: f.name for f in whitepaper.fields.all()}
    data = {
        names["email"]: "a@yamada.co.jp",
        names["company"]: "c",
        names["family_name"]: "f",
        "next": "https://evil.example.com/phish",
    }
    response = post(whitepaper, data, accept="text/html")
    assert response.status_code == 200  # a thank-you page, not a redirect to evil
    assert "evil.example.com" not in response.get("Location", "")


def test_a_hosted_pages_token_is_refused_from_a_site(site, landing, whitepaper):
    from tests.pages.helpers import open_page

    _html, inputs = open_page(Client(), landing.slug)
    response = post(whitepaper, good_answers(whitepaper, inputs["_tsg_t"]))
    assert response.status_code == 400
    assert nothing_stored()
