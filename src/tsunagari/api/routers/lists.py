"""/api/v1/lists: add contacts to and remove them from a static list (segments of kind static).

POST   /api/v1/lists/{id}/members {"contact_ids": [1, 2]} → {"changed": [1, 2]}
DELETE /api/v1/lists/{id}/members {"contact_ids": [2]}    → {"changed": [2]}
Both are idempotent: adding a member again or removing a non-member changes nothing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from ninja import Field, Router, Schema

from tsunagari.api.api import require
from tsunagari.core.roles import Capability
from tsunagari.segments import services
from tsunagari.segments.models import Segment

router = Router(tags=["lists"])
MAX_CONTACTS = 10_000


class MembersIn(Schema):
    contact_ids: list[int] = Field(..., min_length=1, max_length=MAX_CONTACTS)


class MembersOut(Schema):
    changed: list[int] = Field(description="the contacts that entered (or left) the list now")


def _static_list(list_id: int) -> Segment:
    segment = Segment.objects.filter(pk=list_id, deleted_at__isnull=True).first()
    if segment is None:
        raise Http404
    if segment.kind != Segment.Kind.STATIC:
        raise ValidationError({"list": ["This is a dynamic segment: its filter decides members."]})
    return segment


@router.post("/{int:list_id}/members", response=MembersOut, summary="Add contacts")
def add_members(request, list_id: int, payload: MembersIn):
    require(request, Capability.CRM_EDIT)
    segment = _static_list(list_id)
    return {"changed": services.static_add(segment, payload.contact_ids, source="api")}


@router.delete("/{int:list_id}/members", response=MembersOut, summary="Remove contacts")
def remove_members(request, list_id: int, payload: MembersIn):
    require(request, Capability.CRM_EDIT)
    segment = _static_list(list_id)
    return {"changed": services.static_remove(segment, payload.contact_ids, source="api")}
