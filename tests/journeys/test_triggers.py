"""Triggers: N touches in D days, forms, segment entry and exit, lifecycle, score, date, CSV."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.crm.factories import make_contact
from tests.journeys.conftest import make_journey, touch
from tsunagari.crm.services import contact_save, contact_set_lifecycle
from tsunagari.journeys import services, triggers
from tsunagari.journeys.models import Enrolment
from tsunagari.scoring.models import ContactScore
from tsunagari.segments import services as segments
from tsunagari.segments.models import Segment
from tsunagari.tracking.consumers import consume_batch

pytestmark = pytest.mark.django_db(transaction=True)

STEPS = {"w": {"type": "wait", "days": 1, "next": "t"}, "t": {"type": "tags", "add": ["x"]}}


def consume() -> None:
    while consume_batch("journeys", triggers.on_touchpoints):
        pass


def enrolled(journey) -> set[int]:
    return set(
        Enrolment.objects.filter(family_id=journey.family_id).values_list("contact_id", flat=True)
    )


def test_three_case_study_views_in_fourteen_days(db):
    journey = make_journey(
        STEPS,
        trigger={
            "type": "touchpoint",
            "touch_type": "page_view",
            "url_contains": "/case/",
            "count": 3,
            "days": 14,
        },
    )
    keen, old, other = (make_contact(f"{n}@example.jp") for n in ("keen", "old", "other"))
    for _ in range(3):
        touch(keen, url="https://www.example.co.jp/case/toyota")
    touch(old, url="https://www.example.co.jp/case/a", at=timezone.now() - dt.timedelta(days=20))
    touch(old, url="https://www.example.co.jp/case/b")
    touch(old, url="https://www.example.co.jp/case/c")
    for _ in range(3):
        touch(other, url="https://www.example.co.jp/pricing")
    consume()
    assert enrolled(journey) == {keen.pk}
    touch(keen, url="https://www.example.co.jp/case/again")
    consume()
    assert Enrolment.objects.count() == 1  # one active enrolment


def test_a_lost_deal_enrols_through_the_touch_trigger(db):
    """The deals app records a `deal_lost` touch on the contact; a touch trigger on that type
    (N = 1) is the "deal lost" trigger (re-nurturing lost deals)."""
    journey = make_journey(
        STEPS, trigger={"type": "touchpoint", "touch_type": "deal_lost", "count": 1, "days": 1}
    )
    lost, won = make_contact("lost@example.jp"), make_contact("won@example.jp")
    touch(lost, "deal_lost", properties={"deal_id": 12, "reason": "価格"})
    touch(won, "deal_won", properties={"deal_id": 13})
    touch(won, "page_view", url="https://www.example.co.jp/deal_lost")
    consume()
    assert enrolled(journey) == {lost.pk}
    run = Enrolment.objects.get(contact=lost)
    assert run.source == "touchpoint" and run.status == Enrolment.Status.ACTIVE


def test_a_form_submission_enrols(db):
    journey = make_journey(STEPS, trigger={"type": "form_submitted", "form_id": 7})
    a, b = make_contact("a@example.jp"), make_contact("b@example.jp")
    touch(a, "form_submitted", properties={"form_id": 7})
    touch(b, "form_submitted", properties={"form_id": 8})
    consume()
    assert enrolled(journey) == {a.pk}


def test_segment_entry_and_exit(db):
    segment = Segment.objects.create(name="展示会", kind=Segment.Kind.STATIC)
    entry = make_journey(
        STEPS, name="in", trigger={"type": "segment_entry", "segment_id": segment.pk}
    )
    leave = make_journey(
        STEPS, name="out", trigger={"type": "segment_exit", "segment_id": segment.pk}
    )
    a, b = make_contact("a@example.jp"), make_contact("b@example.jp")
    segments.static_add(segment, [a.pk, b.pk])
    assert enrolled(entry) == {a.pk, b.pk} and enrolled(leave) == set()
    segments.static_remove(segment, [b.pk])
    assert enrolled(leave) == {b.pk}


def test_lifecycle_change_enrols_once_per_transition(db):
    before = make_contact("before@example.jp")
    contact_set_lifecycle(contact=before, to_stage="nurture")  # before the journey: ignored
    journey = make_journey(STEPS, trigger={"type": "lifecycle", "to_stage": "nurture"})
    triggers.scan(force=True)
    recycled = make_contact("recycled@example.jp")
    contact_set_lifecycle(contact=recycled, to_stage="nurture")
    triggers.scan(force=True)
    triggers.scan(force=True)
    assert enrolled(journey) == {recycled.pk}


def test_score_and_grade_crossing(db):
    hot, cold = make_contact("hot@example.jp"), make_contact("cold@example.jp")
    ContactScore.objects.create(contact=hot, behaviour=80, grade="A")
    ContactScore.objects.create(contact=cold, behaviour=10, grade="C")
    by_score = make_journey(STEPS, name="s", trigger={"type": "score", "gte": 50})
    by_grade = make_journey(STEPS, name="g", trigger={"type": "grade", "in": ["A", "B"]})
    triggers.scan(force=True)
    assert enrolled(by_score) == {hot.pk} and enrolled(by_grade) == {hot.pk}
    ContactScore.objects.filter(contact=cold).update(behaviour=55)
    triggers.scan(force=True)
    assert enrolled(by_score) == {hot.pk, cold.pk}


def test_three_days_before_the_seminar(db):
    today = timezone.localdate()
    soon = make_contact("soon@example.jp")
    soon.custom = {"seminar_date": (today + dt.timedelta(days=3)).isoformat()}
    contact_save(contact=soon)
    later = make_contact("later@example.jp")
    later.custom = {"seminar_date": (today + dt.timedelta(days=10)).isoformat()}
    contact_save(contact=later)
    journey = make_journey(
        STEPS, trigger={"type": "date", "field": "custom.seminar_date", "offset_days": -3}
    )
    triggers.scan(force=True)
    assert enrolled(journey) == {soon.pk}


def test_csv_enrolment_reports_unknown_addresses(db):
    journey = make_journey(STEPS)
    a = make_contact("a@example.jp")
    entered, missing = services.enrol_csv(
        journey=journey,
        data="email,name\r\na@example.jp,青木\r\nnobody@example.jp,誰\r\n".encode("cp932"),
    )
    assert entered == 1 and missing == ["nobody@example.jp"] and enrolled(journey) == {a.pk}
    with pytest.raises(services.JourneyError):
        services.enrol_csv(journey=journey, data=b"")
