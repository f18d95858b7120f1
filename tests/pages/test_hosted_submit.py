"""A landing-page form end to end on the server: contact, account, consent, touchpoints,
identification, and progressive profiling between two visits of the same browser."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.crm.factories import make_account
from tests.pages.conftest import CONSENT_TEXT, add_field, field_named
from tests.pages.helpers import answers, asked_targets, open_page, submit_page
from tsunagari.crm.models import Account, ConsentRecord, Contact
from tsunagari.pages import services
from tsunagari.pages.models import FormSubmission, PageVariant
from tsunagari.tracking.models import Touchpoint, Visitor

pytestmark = pytest.mark.django_db


def test_a_first_visit_asks_email_and_the_first_unknown_fields(landing, whitepaper):
    html, _inputs = open_page(Client(), landing.slug)
    assert asked_targets(html, whitepaper) == ["email", "company", "family_name"]
    assert CONSENT_TEXT in html


def test_a_submission_creates_contact_account_consent_touch_and_merges_history(landing, whitepaper):
    client = Client()
    _html, inputs = open_page(client, landing.slug, "?utm_campaign=fall-dx")
    visitor = Visitor.objects.get()
    assert Touchpoint.objects.get(type="page_view").visitor_id == visitor.pk
    data = answers(
        whitepaper,
        email="Hanako@Example.co.jp",
        company="株式会社山田製作所",
        family_name="山田",
        newsletter="1",
    )
    response = submit_page(client, landing.slug, inputs, data)
    assert response.status_code == 200
    assert "ありがとうございました。" in response.content.decode()

    contact = Contact.objects.get(email="hanako@example.co.jp")
    assert contact.family_name == "山田"
    assert contact.account.name == "株式会社山田製作所"
    assert list(contact.account.domains.values_list("domain", flat=True)) == ["example.co.jp"]
    consent = ConsentRecord.objects.get(contact=contact)
    assert (consent.topic, consent.action, consent.method) == ("newsletter", "opt_in", "form")
    assert consent.consent_text == CONSENT_TEXT
    submission = FormSubmission.objects.get()
    assert submission.consents == [
        {"topic": "newsletter", "version": 1, "text": CONSENT_TEXT, "checked": True}
    ]
    assert submission.hidden["utm_campaign"] == "fall-dx"
    # The anonymous page view now belongs to the contact; the form touch carries its facts.
    touches = Touchpoint.objects.filter(contact=contact)
    assert set(touches.values_list("type", flat=True)) == {
        "page_view",
        "form_submitted",
        "identified",
    }
    form_touch = touches.get(type="form_submitted")
    assert form_touch.properties == {
        "form_id": whitepaper.pk,
        "form": "ホワイトペーパー",
        "landing_page_id": landing.pk,
        "variant": "A",
    }
    assert form_touch.utm_campaign == "fall-dx" and form_touch.campaign == "fall-dx"
    assert Visitor.objects.get().contact_id == contact.pk
    assert PageVariant.objects.get(page=landing).conversions == 1


def test_the_same_visitor_is_asked_the_next_fields_the_second_time(landing, whitepaper):
    client = Client()
    _html, inputs = open_page(client, landing.slug)
    data = answers(whitepaper, email="taro@yamada.co.jp", company="山田製作所", family_name="山田")
    submit_page(client, landing.slug, inputs, data)

    html, inputs = open_page(client, landing.slug)
    assert asked_targets(html, whitepaper) == ["email", "department", "buying_role"]
    data = answers(
        whitepaper, email="taro@yamada.co.jp", department="生産技術部", buying_role="decision_maker"
    )
    submit_page(client, landing.slug, inputs, data)

    html, _inputs = open_page(client, landing.slug)
    assert asked_targets(html, whitepaper) == ["email", "bant_budget", "bant_timing"]
    contact = Contact.objects.get(email="taro@yamada.co.jp")
    assert (contact.department, contact.buying_role) == ("生産技術部", "decision_maker")
    assert contact.bant_authority_source == "form:ホワイトペーパー"
    assert contact.bant_authority_at is not None
    assert contact.bant_known == 1


def test_a_new_browser_is_asked_everything_again(landing, whitepaper):
    first = Client()
    _html, inputs = open_page(first, landing.slug)
    submit_page(
        first,
        landing.slug,
        inputs,
        answers(whitepaper, email="taro@yamada.co.jp", company="山田製作所", family_name="山田"),
    )
    html, _inputs = open_page(Client(), landing.slug)
    assert asked_targets(html, whitepaper) == ["email", "company", "family_name"]


def test_required_fields_and_bad_values_are_reported_and_nothing_is_stored(landing, whitepaper):
    client = Client()
    _html, inputs = open_page(client, landing.slug)
    response = submit_page(client, landing.slug, inputs, answers(whitepaper, email="not-an-email"))
    assert response.status_code == 400
    body = response.content.decode()
    assert "has-error" in body
    assert not Contact.objects.exists()
    assert not FormSubmission.objects.exists()
    assert not Touchpoint.objects.filter(type="form_submitted").exists()


def test_the_account_is_found_by_corporate_number_first(whitepaper, landing):
    add_field(whitepaper, "corporate_number")
    whitepaper.max_questions = 0
    whitepaper.save()
    account = make_account("株式会社ヤマダ", corporate_number="5010401089998")
    client = Client()
    _html, inputs = open_page(client, landing.slug)
    data = answers(
        whitepaper,
        email="a@gmail.com",
        company="山田（株）",
        family_name="山田",
        department="x",
        buying_role="user",
        bant_budget="none",
        bant_timing="3m",
        corporate_number="5-0104-0108-9998",
    )
    assert submit_page(client, landing.slug, inputs, data).status_code == 200
    assert Contact.objects.get(email="a@gmail.com").account_id == account.pk
    assert Account.objects.count() == 1


def test_an_invalid_corporate_number_is_refused(whitepaper, landing):
    add_field(whitepaper, "corporate_number", progressive=False)
    client = Client()
    _html, inputs = open_page(client, landing.slug)
    data = answers(
        whitepaper,
        email="a@example.jp",
        company="x",
        family_name="y",
        corporate_number="5010401089999",
    )
    response = submit_page(client, landing.slug, inputs, data)
    assert response.status_code == 400
    assert "法人番号" in response.content.decode() or "corporate" in response.content.decode()
    assert not Contact.objects.exists()


def test_an_address_typed_in_another_browser_fills_gaps_but_never_rewrites(landing, whitepaper):
    owner = Client()
    _html, inputs = open_page(owner, landing.slug)
    submit_page(
        owner,
        landing.slug,
        inputs,
        answers(whitepaper, email="taro@yamada.co.jp", company="山田製作所", family_name="山田"),
    )
    stranger = Client()
    _html, inputs = open_page(stranger, landing.slug)
    submit_page(
        stranger,
        landing.slug,
        inputs,
        answers(whitepaper, email="taro@yamada.co.jp", company="偽物商事", family_name="偽名"),
    )
    contact = Contact.objects.get(email="taro@yamada.co.jp")
    assert contact.family_name == "山田"
    assert contact.account.name == "山田製作所"
    # The same person in their own browser may correct their name.
    _html, inputs = open_page(owner, landing.slug)
    field = field_named(whitepaper, "family_name")
    field.progressive = False
    field.save()
    _html, inputs = open_page(owner, landing.slug)
    submit_page(
        owner,
        landing.slug,
        inputs,
        answers(
            whitepaper,
            email="taro@yamada.co.jp",
            family_name="山田（旧姓 佐藤）",
            department="d",
            buying_role="user",
        ),
    )
    contact.refresh_from_db()
    assert contact.family_name == "山田（旧姓 佐藤）"


def test_a_changed_consent_text_is_a_new_version_and_old_submissions_keep_theirs(
    landing, whitepaper
):
    client = Client()
    _html, inputs = open_page(client, landing.slug)
    submit_page(
        client,
        landing.slug,
        inputs,
        answers(whitepaper, email="a@yamada.co.jp", company="c", family_name="f", newsletter="1"),
    )
    consent_field = field_named(whitepaper, "newsletter")
    services.field_save(field=consent_field, consent_text="新しい同意文")
    _html, inputs = open_page(Client(), landing.slug)
    client2 = Client()
    _html, inputs = open_page(client2, landing.slug)
    submit_page(
        client2,
        landing.slug,
        inputs,
        answers(whitepaper, email="b@yamada.co.jp", company="c", family_name="f", newsletter="1"),
    )
    first, second = FormSubmission.objects.order_by("id")
    assert first.consents[0]["version"] == 1 and first.consents[0]["text"] == CONSENT_TEXT
    assert second.consents[0]["version"] == 2 and second.consents[0]["text"] == "新しい同意文"
    texts = set(ConsentRecord.objects.values_list("consent_text", flat=True))
    assert texts == {CONSENT_TEXT, "新しい同意文"}


def test_an_unticked_consent_box_records_nothing(landing, whitepaper):
    client = Client()
    _html, inputs = open_page(client, landing.slug)
    submit_page(
        client,
        landing.slug,
        inputs,
        answers(whitepaper, email="a@yamada.co.jp", company="c", family_name="f"),
    )
    assert not ConsentRecord.objects.exists()
    assert Contact.objects.get().email_consent == "unknown"


def test_hosted_forms_need_the_csrf_token(landing, whitepaper):
    client = Client(enforce_csrf_checks=True)
    _html, inputs = open_page(client, landing.slug)
    inputs.pop("csrfmiddlewaretoken")
    response = submit_page(
        client,
        landing.slug,
        inputs,
        answers(whitepaper, email="a@yamada.co.jp", company="c", family_name="f"),
    )
    assert response.status_code == 403
    assert not Contact.objects.exists()


def test_custom_fields_and_bant_need_are_validated_and_stored(landing, whitepaper):
    from tsunagari.crm.models import CustomField

    CustomField.objects.create(
        object_type="contact",
        key="interest",
        label="関心",
        field_type="choice",
        choices=["IoT", "AI"],
    )
    CustomField.objects.create(
        object_type="account", key="plants", label="工場数", field_type="number"
    )
    for target in ("contact.custom.interest", "account.custom.plants", "bant_need"):
        add_field(whitepaper, target, progressive=False)
    client = Client()
    html, inputs = open_page(client, landing.slug)
    assert '<option value="IoT">' in html  # the custom field's choices become a select
    bad = answers(
        whitepaper,
        email="a@yamada.co.jp",
        company="山田製作所",
        family_name="山田",
        **{"contact.custom.interest": "量子", "account.custom.plants": "三"},
    )
    response = submit_page(client, landing.slug, inputs, bad)
    assert response.status_code == 400 and not Contact.objects.exists()
    _html, inputs = open_page(client, landing.slug)
    good = answers(
        whitepaper,
        email="a@yamada.co.jp",
        company="山田製作所",
        family_name="山田",
        bant_need="生産ラインの見える化\n夏までに",
        **{"contact.custom.interest": "IoT", "account.custom.plants": "３"},
    )
    assert submit_page(client, landing.slug, inputs, good).status_code == 200
    contact = Contact.objects.get()
    assert contact.custom == {"interest": "IoT"}
    assert contact.account.custom == {"plants": 3}
    assert contact.bant_need == "生産ラインの見える化 夏までに"
    assert contact.bant_need_source == "form:ホワイトペーパー"
