"""The JSON API through real HTTP requests (Django's test client), authenticated by tokens."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from tests.crm.factories import make_account, make_contact
from tsunagari.api import api as api_module
from tsunagari.api.models import ApiToken
from tsunagari.api.services import token_create, token_revoke
from tsunagari.core.ratelimit import RateLimiter
from tsunagari.core.roles import Role
from tsunagari.crm.models import Account, Contact, LifecycleTransition
from tsunagari.tracking.models import Touchpoint


class Api:
    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def send(self, method: str, path: str, body: dict | None = None):
        call = getattr(self.client, method)
        return call(
            f"/api/v1{path}",
            data=json.dumps(body or {}),
            content_type="application/json",
            headers=self.headers,
        )


@pytest.fixture
def api(marketer) -> Api:
    _, text = token_create(user=marketer, name="sync")
    return Api(text)


def test_no_token_a_wrong_token_and_a_revoked_token_are_refused(marketer):
    token, text = token_create(user=marketer, name="sync")
    assert Api(None).get("/contacts").status_code == 401
    assert Api(text[:-2] + "xx").get("/contacts").status_code == 401
    assert Api("tsu_nope_nope").get("/contacts").status_code == 401
    assert Api(text).get("/contacts").status_code == 200
    token_revoke(token=token)
    response = Api(text).get("/contacts")
    assert response.status_code == 401 and "API token" in response.json()["error"]


def test_an_expired_token_and_a_deactivated_user_are_refused(marketer):
    token, text = token_create(user=marketer, name="sync", expires_in_days=30)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert Api(text).get("/contacts").status_code == 401
    _, other = token_create(user=marketer, name="other")
    marketer.is_active = False
    marketer.save()
    assert Api(other).get("/contacts").status_code == 401


def test_only_a_hash_of_the_secret_is_stored(marketer):
    token, text = token_create(user=marketer, name="sync")
    secret = text.rsplit("_", 1)[1]
    assert secret not in token.secret_hash and len(token.secret_hash) == 64
    assert text.startswith(f"tsu_{token.prefix}_")


def test_list_filters_and_pages_like_the_ui(api):
    for i in range(5):
        make_contact(f"p{i}@example.jp", lifecycle_stage="mql" if i < 3 else "lead")
    page = api.get("/contacts", stage="mql", limit=2).json()
    assert page["count"] == 3 and not page["count_capped"]
    assert len(page["items"]) == 2
    rest = api.get("/contacts", stage="mql", limit=2, offset=2).json()["items"]
    emails = {c["email"] for c in page["items"] + rest}
    assert emails == {"p0@example.jp", "p1@example.jp", "p2@example.jp"}
    assert api.get("/contacts", limit=500).status_code == 422


def test_create_validates_with_the_ui_rules_and_records_the_source(api):
    account = make_account("株式会社テスト", domains=["test.co.jp"])
    response = api.send(
        "post",
        "/contacts",
        {"email": " Sato@Test.co.jp ", "family_name": "佐藤", "tags": ["展示会", "VIP"]},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "sato@test.co.jp" and body["account_id"] == account.pk
    assert body["tags"] == ["VIP", "展示会"]
    transition = LifecycleTransition.objects.get(contact_id=body["id"])
    assert transition.rule == "api"


def test_bad_input_gets_field_errors_and_changes_nothing(api):
    make_contact("taken@example.jp")
    before = Contact.objects.count()
    bad = api.send("post", "/contacts", {"email": "not-an-address", "family_name": "x"})
    assert bad.status_code == 422 and "email" in bad.json()["fields"]
    dup = api.send("post", "/contacts", {"email": "taken@example.jp"})
    assert dup.status_code == 422 and "email" in dup.json()["fields"]
    nothing = api.send("post", "/contacts", {})
    assert nothing.status_code == 422
    wrong_type = api.send("post", "/contacts", {"email": ["a"]})
    assert wrong_type.status_code == 422
    assert Contact.objects.count() == before


def test_patch_changes_only_what_it_names(api):
    contact = make_contact("k@example.jp", family_name="木村", department="営業部", tags=["既存"])
    response = api.send("patch", f"/contacts/{contact.pk}", {"title": "部長", "bant_timing": "3m"})
    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert (contact.title, contact.department, contact.family_name) == ("部長", "営業部", "木村")
    assert list(contact.tags.values_list("name", flat=True)) == ["既存"]
    assert contact.bant_timing == "3m" and contact.bant_timing_source.startswith("api:")
    stage = api.send("patch", f"/contacts/{contact.pk}", {"lifecycle_stage": "sql"})
    assert stage.status_code == 422


def test_lifecycle_delete_and_not_found(api):
    contact = make_contact("l@example.jp")
    moved = api.send(
        "post", f"/contacts/{contact.pk}/lifecycle", {"to_stage": "mql", "reason": "x"}
    )
    assert moved.status_code == 200 and moved.json()["lifecycle_stage"] == "mql"
    assert (
        api.send("post", f"/contacts/{contact.pk}/lifecycle", {"to_stage": "x"}).status_code == 422
    )
    assert api.send("delete", f"/contacts/{contact.pk}").status_code == 204
    assert api.get(f"/contacts/{contact.pk}").status_code == 404
    contact.refresh_from_db()
    assert contact.deleted_at is not None  # in the trash, restorable from the UI
    assert api.get("/contacts/999999").status_code == 404


def test_offline_touches_land_on_the_timeline(api):
    contact = make_contact("t@example.jp")
    when = (timezone.now() - dt.timedelta(hours=2)).isoformat()
    made = api.send(
        "post",
        f"/contacts/{contact.pk}/touchpoints",
        {"type": "business_card", "occurred_at": when, "campaign": "Japan IT Week 秋"},
    )
    assert made.status_code == 201, made.content
    assert Touchpoint.objects.get(pk=made.json()["id"]).contact_id == contact.pk
    timeline = api.get(f"/contacts/{contact.pk}/touchpoints").json()
    assert [t["type"] for t in timeline["items"]] == ["business_card"]
    future = (timezone.now() + dt.timedelta(days=2)).isoformat()
    bad = api.send(
        "post", f"/contacts/{contact.pk}/touchpoints", {"type": "call", "occurred_at": future}
    )
    assert bad.status_code == 422
    wrong = api.send(
        "post", f"/contacts/{contact.pk}/touchpoints", {"type": "page_view", "occurred_at": when}
    )
    assert wrong.status_code == 422
    assert Touchpoint.objects.filter(contact=contact).count() == 1


def test_a_read_only_token_reads_but_cannot_write(make_user):
    reader = make_user(Role.READ_ONLY, username="reader2")
    _, text = token_create(user=reader, name="bi")
    api = Api(text)
    assert api.get("/contacts").status_code == 200
    refused = api.send("post", "/contacts", {"email": "x@example.jp"})
    assert refused.status_code == 403
    assert not Contact.objects.filter(email="x@example.jp").exists()


def test_accounts_create_update_and_validation(api):
    created = api.send(
        "post",
        "/accounts",
        {"name": "つながり株式会社", "employee_count": 320, "domains": ["tsunagari.example"]},
    )
    assert created.status_code == 201, created.content
    account_id = created.json()["id"]
    assert created.json()["domains"] == ["tsunagari.example"]
    bad = api.send("patch", f"/accounts/{account_id}", {"corporate_number": "1234567890123"})
    assert bad.status_code == 422 and "corporate_number" in bad.json()["fields"]
    ok = api.send("patch", f"/accounts/{account_id}", {"is_target": True, "abm_tier": 1})
    assert ok.status_code == 200
    account = Account.objects.get(pk=account_id)
    assert account.is_target and account.abm_tier == 1 and account.employee_count == 320
    listed = api.get("/accounts", target=True).json()
    assert [a["id"] for a in listed["items"]] == [account_id]


def test_a_flood_from_one_token_gets_429(api, monkeypatch):
    monkeypatch.setattr(api_module, "limiter", RateLimiter(rate=0.001, burst=3))
    codes = [api.get("/contacts").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


def test_the_interactive_docs_are_for_logged_in_staff_and_use_no_cdn(marketer_client):
    assert Client().get("/api/v1/docs").status_code == 302
    page = marketer_client.get("/api/v1/docs").content.decode()
    assert "cdn." not in page and "swagger-ui-bundle.js" in page
    assert Client().get("/api/v1/openapi.json").status_code == 302
    schema = marketer_client.get("/api/v1/openapi.json").json()
    assert "/api/v1/contacts" in schema["paths"]


def test_the_settings_page_shows_a_new_token_once_and_revokes(marketer_client, marketer):
    response = marketer_client.post("/settings/api-tokens/", {"name": "SFA sync", "expires": "90"})
    text = response.context["shown_once"]
    assert text.startswith("tsu_") and text in response.content.decode()
    again = marketer_client.get("/settings/api-tokens/").content.decode()
    assert text not in again and "SFA sync" in again
    token = ApiToken.objects.get(user=marketer)
    assert Api(text).get("/contacts").status_code == 200
    marketer_client.post(f"/settings/api-tokens/{token.pk}/revoke/")
    assert Api(text).get("/contacts").status_code == 401


def test_nobody_revokes_someone_elses_token(make_user, marketer_client):
    other = make_user(Role.MARKETING, username="other")
    token, text = token_create(user=other, name="theirs")
    assert marketer_client.post(f"/settings/api-tokens/{token.pk}/revoke/").status_code == 403
    assert Api(text).get("/contacts").status_code == 200
