"""Static lists and journey enrolment through /api/v1, over HTTP with tokens."""

from __future__ import annotations

import pytest

from tests.api.test_api import Api
from tests.crm.factories import make_contact
from tests.journeys.conftest import make_journey
from tsunagari.api.services import token_create
from tsunagari.core.roles import Role
from tsunagari.journeys import services as journey_services
from tsunagari.journeys.models import Enrolment
from tsunagari.segments.models import Membership, Segment
from tsunagari.segments.queries import segment_members


@pytest.fixture
def api(marketer) -> Api:
    return Api(token_create(user=marketer, name="sync")[1])


def test_contacts_join_and_leave_a_static_list_idempotently(api):
    listed = Segment.objects.create(name="展示会リスト", kind=Segment.Kind.STATIC)
    a, b = make_contact("a@example.jp"), make_contact("b@example.jp")
    added = api.send("post", f"/lists/{listed.pk}/members", {"contact_ids": [a.pk, b.pk, a.pk]})
    assert added.status_code == 200 and sorted(added.json()["changed"]) == [a.pk, b.pk]
    again = api.send("post", f"/lists/{listed.pk}/members", {"contact_ids": [a.pk]})
    assert again.json()["changed"] == []
    removed = api.send("delete", f"/lists/{listed.pk}/members", {"contact_ids": [b.pk, 999999]})
    assert removed.json()["changed"] == [b.pk]
    assert list(segment_members(listed)) == [a]
    assert Membership.objects.filter(segment=listed).count() == 2  # b's stay is kept, ended


def test_a_dynamic_segment_or_a_missing_list_is_refused(api):
    dynamic = Segment.objects.create(name="動的", kind=Segment.Kind.DYNAMIC)
    contact = make_contact("c@example.jp")
    refused = api.send("post", f"/lists/{dynamic.pk}/members", {"contact_ids": [contact.pk]})
    assert refused.status_code == 422 and "dynamic" in str(refused.json()["fields"])
    assert api.send("post", "/lists/999999/members", {"contact_ids": [1]}).status_code == 404
    assert api.send("post", f"/lists/{dynamic.pk}/members", {"contact_ids": []}).status_code == 422
    assert not Membership.objects.exists()


def test_enrol_by_api_once_with_the_journey_rules(api, make_user):
    journey = make_journey({"t": {"type": "tags", "add": ["api"]}})
    a, b = make_contact("a@example.jp"), make_contact("b@example.jp")
    body = {"contact_ids": [a.pk, b.pk, a.pk]}
    first = api.send("post", f"/journeys/{journey.pk}/enrolments", body)
    assert first.status_code == 200 and first.json() == {"entered": 2}
    assert api.send("post", f"/journeys/{journey.pk}/enrolments", body).json() == {"entered": 0}
    assert Enrolment.objects.count() == 2
    reader = make_user(Role.READ_ONLY, username="reader3")
    reading = Api(token_create(user=reader, name="bi")[1])
    assert reading.send("post", f"/journeys/{journey.pk}/enrolments", body).status_code == 403
    draft = journey_services.journey_create(name="下書き")
    assert api.send("post", f"/journeys/{draft.pk}/enrolments", body).status_code == 422
    assert Enrolment.objects.count() == 2
