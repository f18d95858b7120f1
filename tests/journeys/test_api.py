"""Enrolment by API: the router's endpoint, with the same rules as every other enrolment."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from ninja.testing import TestClient

from tests.crm.factories import make_contact
from tests.journeys.conftest import make_journey
from tsunagari.journeys import services
from tsunagari.journeys.api import router
from tsunagari.journeys.models import Enrolment

pytestmark = pytest.mark.django_db


def test_enrol_by_api_once(marketer, reader):
    journey = make_journey({"t": {"type": "tags", "add": ["api"]}})
    a, b = make_contact("a@example.jp"), make_contact("b@example.jp")
    client = TestClient(router)
    body = {"contact_ids": [a.pk, b.pk, a.pk]}
    response = client.post(f"/{journey.pk}/enrolments", json=body, user=marketer)
    assert response.status_code == 200 and response.json() == {"entered": 2}
    assert client.post(f"/{journey.pk}/enrolments", json=body, user=marketer).json() == {
        "entered": 0
    }
    assert Enrolment.objects.count() == 2
    with pytest.raises(PermissionDenied):
        client.post(f"/{journey.pk}/enrolments", json=body, user=reader)
    draft = services.journey_create(name="下書き")
    with pytest.raises(ValidationError):
        client.post(f"/{draft.pk}/enrolments", json=body, user=marketer)
