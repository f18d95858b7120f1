"""/api/v1/journeys: enrol contacts in a published journey.

POST /api/v1/journeys/{id}/enrolments {"contact_ids": [1, 2]} → {"entered": 2}
Re-entry rules and the one-active-enrolment rule apply, exactly as for CSV enrolment.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema

from tsunagari.api.api import require
from tsunagari.core.roles import Capability
from tsunagari.journeys import services
from tsunagari.journeys.models import Journey

router = Router(tags=["journeys"])
MAX_CONTACTS = 10_000


class EnrolIn(Schema):
    contact_ids: list[int] = Field(..., min_length=1, max_length=MAX_CONTACTS)


class EnrolOut(Schema):
    entered: int = Field(description="contacts enrolled now (others were in, or may not re-enter)")


@router.post("/{int:journey_id}/enrolments", response=EnrolOut, summary="Enrol contacts")
def enrol(request, journey_id: int, payload: EnrolIn):
    require(request, Capability.MAIL_SEND)
    journey = get_object_or_404(Journey, pk=journey_id)
    try:
        entered = services.enrol_manual(
            journey=journey, contact_ids=payload.contact_ids, actor=request.user
        )
    except services.JourneyError as exc:
        raise ValidationError(exc.messages) from None
    return {"entered": entered}
