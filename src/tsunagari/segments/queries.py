"""Reading segments: who is in one now (what mail and journeys call)."""

from __future__ import annotations

from django.db.models import QuerySet

from tsunagari.crm.models import Contact
from tsunagari.segments.models import Membership, Segment


def segment_members(segment: Segment) -> QuerySet[Contact]:
    """The live contacts currently in `segment` (materialised membership, static or dynamic)."""
    current = Membership.objects.filter(segment=segment, exited_at__isnull=True)
    return Contact.objects.filter(deleted_at__isnull=True, pk__in=current.values("contact_id"))
