"""/api/v1/deals through real HTTP requests with a token: list, create, read, update, errors."""

from __future__ import annotations

import pytest

from tests.api.test_api import Api
from tests.crm.factories import make_account, make_contact
from tsunagari.api.services import token_create
from tsunagari.crm.models import Contact
from tsunagari.deals import services
from tsunagari.deals.models import Deal
from tsunagari.tracking.models import Touchpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(marketer) -> Api:
    _, text = token_create(user=marketer, name="sfa-sync")
    return Api(text)


def test_create_read_and_list_with_filters(api, account, contact, rep):
    created = api.send(
        "post",
        "/deals",
        {
            "name": "生産管理システム導入",
            "account_id": account.pk,
            "primary_contact_id": contact.pk,
            "owner_id": rep.pk,
            "amount": "1200000",
            "close_date": "2027-03-31",
            "campaign": "dx-seminar",
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["stage"] == "qualification" and body["is_open"] is True
    assert body["amount"] == "1200000.00" and body["currency"] == "JPY"
    assert Contact.objects.get(pk=contact.pk).lifecycle_stage == "opportunity"
    assert Touchpoint.objects.filter(type="deal_created", contact=contact).exists()
    assert api.get(f"/deals/{body['id']}").json()["name"] == "生産管理システム導入"
    services.deal_create(name="other", account=account, stage="won")
    listed = api.get("/deals", status="open").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == body["id"]
    assert listed["count_capped"] is False
    assert api.get("/deals", month="2027-03").json()["count"] == 1
    assert api.get("/deals", owner=rep.pk).json()["count"] == 1
    assert api.get("/deals", limit=1, offset=1).json()["count"] == 2


def test_stage_changes_go_through_the_service(api, account, contact):
    deal = services.deal_create(name="導入", account=account, primary_contact=contact)
    refused = api.send("patch", f"/deals/{deal.pk}", {"stage": "lost"})
    assert refused.status_code == 422
    assert "lost_reason" in refused.json()["fields"]
    assert Deal.objects.get(pk=deal.pk).stage == "qualification"
    lost = api.send(
        "patch",
        f"/deals/{deal.pk}",
        {"stage": "lost", "lost_reason": "price", "note": "値引き不可"},
    )
    assert lost.status_code == 200 and lost.json()["closed_at"]
    assert Contact.objects.get(pk=contact.pk).lifecycle_stage == "nurture"
    assert deal.stage_changes.first().note == "値引き不可"
    won = api.send("patch", f"/deals/{deal.pk}", {"stage": "won", "amount": 900000})
    assert won.json()["stage"] == "won" and won.json()["amount"] == "900000.00"
    assert won.json()["lost_reason"] == ""
    assert Contact.objects.get(pk=contact.pk).lifecycle_stage == "customer"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "amount": -1}, None),  # pydantic: malformed
        ({"name": "x"}, "account"),
        ({"name": "", "account_id": "ACCOUNT"}, "name"),
        ({"name": "x", "account_id": 999999}, "account"),
        ({"name": "x", "account_id": "ACCOUNT", "primary_contact_id": "OTHER"}, "primary_contact"),
        ({"name": "x", "account_id": "ACCOUNT", "stage": "won?"}, "stage"),
        ({"name": "x", "account_id": "ACCOUNT", "stage": "lost"}, "lost_reason"),
    ],
)
def test_bad_input_gets_field_errors_and_changes_nothing(api, account, payload, field):
    other = make_contact("x@other.co.jp", account=make_account("他社"))
    payload = {
        k: account.pk if v == "ACCOUNT" else other.pk if v == "OTHER" else v
        for k, v in payload.items()
    }
    response = api.send("post", "/deals", payload)
    assert response.status_code == 422
    if field:
        assert field in response.json()["fields"]
    assert not Deal.objects.exists()


def test_a_read_only_token_reads_but_cannot_write_and_unknown_deals_are_404(reader, account):
    deal = services.deal_create(name="導入", account=account)
    _, text = token_create(user=reader, name="bi")
    api = Api(text)
    assert api.get("/deals").status_code == 200
    assert api.send("post", "/deals", {"name": "x", "account_id": account.pk}).status_code == 403
    assert api.send("patch", f"/deals/{deal.pk}", {"stage": "won"}).status_code == 403
    assert Deal.objects.get(pk=deal.pk).stage == "qualification"
    assert api.get("/deals/999999").status_code == 404
    assert Api(None).get("/deals").status_code == 401
