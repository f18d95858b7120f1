"""/api/v1/journeys: enrol contacts by API (the lead mounts this router in api/api.py).

POST /api/v1/journeys/{id}/enrolments {"contact_ids": [1, 2]} → {"entered": 2}
Re-entry rules and the one-active-enrolment rule apply, exactly as for CSV enrolment.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema

from tsunagari.core.roles import Capability
from tsunagari.journeys import services
from tsunagari.journeys.models import Journey

router = Router(tags=["journeys"])
MAX_CONTACTS = 10_000


class EnrolIn(Schema):
    contact_ids: list[int] = Field(..., min_length=1, max_length=MAX_CONTACTS)


class EnrolOut(Schema):
    entered: int


@router.post("/{journey_id}/enrolments", response=EnrolOut)
def enrol(request, journey_id: int, payload: EnrolIn):
    if not request.user.can(Capability.MAIL_SEND):
        raise PermissionDenied("your role may not enrol contacts in journeys")
    journey = get_object_or_404(Journey, pk=journey_id)
    try:
        entered = services.enrol_manual(
            journey=journey, contact_ids=payload.contact_ids, actor=request.user
        )
    except services.JourneyError as exc:
        raise ValidationError(exc.messages) from None
    return {"entered": entered}
