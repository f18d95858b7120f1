"""Deal pages: pipeline with filters and totals, create/edit, close won/lost, panels, rights."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import client_for
from tests.crm.factories import make_account
from tsunagari.crm.models import Contact
from tsunagari.deals import services
from tsunagari.deals.models import Deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def english_ui(settings, english):
    settings.LANGUAGE_CODE = "en"


def test_the_empty_pipeline_explains_what_a_deal_is(reader, english_ui):
    html = client_for(reader).get("/deals/").content.decode()
    assert "No deals yet" in html and "New deal" not in html  # readers cannot create
    assert 'href="/deals/"' in html  # the navigation leads here


def test_the_pipeline_filters_totals_and_pages_in_constant_queries(
    account, contact, rep, marketer, english_ui
):
    services.deal_create(name="A", account=account, primary_contact=contact, amount=100, owner=rep)
    services.deal_create(
        name="B", account=account, amount=250, stage="won", close_date=dt.date(2026, 3, 31)
    )
    services.deal_create(
        name="C", account=account, amount=70, stage="lost", lost_reason="price", owner=rep
    )
    client = client_for(marketer)
    html = client.get("/deals/").content.decode()
    assert all(name in html for name in ("A", "B", "C"))
    assert 'data-stage="won">1<br><small>¥250</small>' in html
    assert "¥100" in client.get("/deals/?status=open").content.decode()
    open_only = client.get("/deals/?status=open").content.decode()
    assert ">B</a>" not in open_only and ">A</a>" in open_only
    mine = client.get(f"/deals/?owner={rep.pk}").content.decode()
    assert ">A</a>" in mine and ">C</a>" in mine and ">B</a>" not in mine
    won = Deal.objects.get(name="B")
    month = won.close_date.strftime("%Y-%m")
    by_month = client.get(f"/deals/?month={month}").content.decode()
    assert ">B</a>" in by_month and ">A</a>" not in by_month
    assert "No deal matches" in client.get("/deals/?stage=quote").content.decode()
    # htmx gets the results alone; a bad filter value is ignored, not an error.
    partial = client.get("/deals/?stage=nope&month=2026-13", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    with CaptureQueriesContext(connection) as few:
        client.get("/deals/")
    for n in range(30):
        services.deal_create(name=f"X{n}", account=account, primary_contact=contact, owner=rep)
    with CaptureQueriesContext(connection) as many:
        client.get("/deals/?page=2")
    assert len(many) == len(few)


def test_a_deal_is_created_from_the_contact_panel_and_validated(
    account, contact, marketer, english_ui
):
    client = client_for(marketer)
    panel = client.get(f"/contacts/{contact.pk}/deals/").content.decode()
    assert "No deal yet" in panel
    assert f"/deals/new/?account={account.pk}&amp;contact={contact.pk}" in panel
    url = f"/deals/new/?account={account.pk}&contact={contact.pk}"
    form = client.get(url).content.decode()
    assert "株式会社山田製作所" in form and f'value="{contact.pk}" selected' in form
    bad = client.post(url, {"name": "導入", "amount": "-3", "stage": "lost"})
    assert bad.status_code == 200 and not Deal.objects.exists()
    bad = client.post(
        url, {"name": "導入", "amount": "10", "stage": "lost", "primary_contact": contact.pk}
    )
    assert "Say why the deal was lost" in bad.content.decode() and not Deal.objects.exists()
    ok = client.post(
        url,
        {"name": "導入", "amount": "1200000", "stage": "proposal", "primary_contact": contact.pk},
    )
    deal = Deal.objects.get()
    assert ok.status_code == 302 and ok["Location"] == f"/deals/{deal.pk}/"
    assert deal.created_by == marketer and deal.stage == "proposal"
    assert Contact.objects.get(pk=contact.pk).lifecycle_stage == "opportunity"
    panel = client.get(f"/contacts/{contact.pk}/deals/").content.decode()
    assert "導入" in panel and "¥1,200,000" in panel
    account_panel = client.get(f"/accounts/{account.pk}/deals/").content.decode()
    assert "導入" in account_panel and "¥1,200,000" in account_panel
    # The contact page loads the panel.
    assert (
        f"/contacts/{contact.pk}/deals/" in client.get(f"/contacts/{contact.pk}/").content.decode()
    )
    assert (
        f"/accounts/{account.pk}/deals/" in client.get(f"/accounts/{account.pk}/").content.decode()
    )


def test_a_new_deal_from_the_pipeline_starts_by_finding_the_account(account, marketer, english_ui):
    client = client_for(marketer)
    assert "Account of the deal" in client.get("/deals/new/").content.decode()
    found = client.get("/deals/new/", {"q": "山田"}).content.decode()
    assert f"/deals/new/?account={account.pk}" in found
    assert client.get("/deals/new/?account=999999").status_code == 404


def test_close_won_close_lost_with_a_reason_reopen_and_history(
    account, contact, marketer, english_ui
):
    client = client_for(marketer)
    deal = services.deal_create(name="導入", account=account, primary_contact=contact, amount=5)
    url = f"/deals/{deal.pk}/stage/"
    refused = client.post(url, {"to_stage": "lost"}, follow=True).content.decode()
    assert "Say why the deal was lost" in refused
    assert Deal.objects.get(pk=deal.pk).stage == "qualification"
    client.post(url, {"to_stage": "lost", "lost_reason": "competitor", "lost_note": "他社"})
    deal.refresh_from_db()
    assert deal.stage == "lost" and deal.closed_at is not None
    assert Contact.objects.get(pk=contact.pk).lifecycle_stage == "nurture"
    detail = client.get(f"/deals/{deal.pk}/").content.decode()
    assert "Reopen the deal" in detail and "Chose a competitor: 他社" in detail
    client.post(url, {"to_stage": "negotiation", "note": "再提案"})
    client.post(url, {"to_stage": "won"})
    deal.refresh_from_db()
    assert deal.stage == "won" and Contact.objects.get(pk=contact.pk).lifecycle_stage == "customer"
    history = client.get(f"/deals/{deal.pk}/").content.decode()
    assert "再提案" in history and history.count("<tr>") >= 5


def test_edit_saves_fields_and_refuses_bad_values(account, contact, marketer, english_ui):
    client = client_for(marketer)
    deal = services.deal_create(name="導入", account=account, primary_contact=contact)
    url = f"/deals/{deal.pk}/edit/"
    assert 'value="導入"' in client.get(url).content.decode()
    bad = client.post(url, {"name": "", "amount": "5", "stage": "qualification"})
    assert bad.status_code == 200 and Deal.objects.get(pk=deal.pk).name == "導入"
    client.post(
        url, {"name": "導入（全社）", "amount": "9000000", "stage": "quote", "campaign": "展示会"}
    )
    deal.refresh_from_db()
    assert (deal.name, deal.stage, deal.campaign) == ("導入（全社）", "quote", "展示会")


def test_readers_see_but_cannot_change_and_strangers_log_in(account, contact, reader):
    deal = services.deal_create(name="導入", account=account, primary_contact=contact)
    client = client_for(reader)
    assert client.get(f"/deals/{deal.pk}/").status_code == 200
    assert client.get("/deals/new/").status_code == 403
    assert client.get(f"/deals/{deal.pk}/edit/").status_code == 403
    assert client.post(f"/deals/{deal.pk}/stage/", {"to_stage": "won"}).status_code == 403
    assert Deal.objects.get(pk=deal.pk).stage == "qualification"
    assert Client().get("/deals/").status_code == 302
    assert client.get("/deals/999999/").status_code == 404


def test_pages_speak_japanese_by_default(account, contact, marketer):
    deal = services.deal_create(name="導入", account=account, primary_contact=contact)
    client = client_for(marketer)
    assert "商談" in client.get("/deals/").content.decode()
    detail = client.get(f"/deals/{deal.pk}/").content.decode()
    assert "失注" in detail and "受注" in detail


def test_a_contact_without_an_account_is_told_how_to_start_a_deal(marketer, english_ui):
    from tests.crm.factories import make_contact

    loner = make_contact("solo@gmail.com")
    make_account("無関係株式会社")
    panel = client_for(marketer).get(f"/contacts/{loner.pk}/deals/").content.decode()
    assert "Link the contact to an account" in panel


def test_amounts_are_shown_in_the_tenant_currency(settings):
    from decimal import Decimal

    from tsunagari.deals.templatetags.deals_tags import money

    assert money(Decimal("1200000.00")) == "¥1,200,000"
    settings.TSUNAGARI_CURRENCY = "USD"
    assert money(Decimal("1200.5")) == "USD 1,200.50"
    assert money(None) == "—"
