"""Fixtures of the events tests: an event with its registration form and two sessions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from tests.pages.helpers import answers, inputs_of
from tsunagari.events import services
from tsunagari.events.models import Event, Session
from tsunagari.pages import protection

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


@pytest.fixture(autouse=True)
def _fresh_limits():
    for limiter in (protection.ip_limiter, protection.form_limiter, protection.confirm_limiter):
        limiter.reset()
    yield


@pytest.fixture
def event(db) -> Event:
    event = services.event_create(name="製造業DXセミナー", slug="dx-seminar")
    event.form.min_fill_seconds = 0
    event.form.save()
    return event


@pytest.fixture
def session(event) -> Session:
    start = timezone.now() + dt.timedelta(days=3)
    return services.session_save(
        session=Session(
            event=event,
            title="東京会場",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=2),
            place="東京都千代田区丸の内1-1 会議室A",
            capacity=2,
        )
    )


def register_via_page(
    client: Client, event: Event, session: Session, email: str, name: str = "山田"
):
    """Open the registration page for a session and submit it as a browser would."""
    page = client.get(f"/e/{event.slug}/?session={session.pk}", headers={"User-Agent": CHROME})
    assert page.status_code == 200, page.status_code
    inputs = inputs_of(page.content.decode())
    payload = {
        k: v for k, v in inputs.items() if k.startswith("_tsg") or k == "csrfmiddlewaretoken"
    }
    payload.update(answers(event.form, email=email, family_name=name, company="株式会社山田製作所"))
    return client.post(
        f"/e/{event.slug}/?session={session.pk}", payload, headers={"User-Agent": CHROME}
    )


@pytest.fixture
def english_ui(settings, english):
    """Pages in English: requests follow LANGUAGE_CODE when the browser states no language."""
    settings.LANGUAGE_CODE = "en"
