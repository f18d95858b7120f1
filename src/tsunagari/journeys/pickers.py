"""What the journey editor offers to pick from, by name: templates, segments, lists, users, forms,
tags and touch types (reads only; the forms turn them into select elements and datalists)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from tsunagari.crm.models import Tag
from tsunagari.tracking.vocabulary import Type

# Recorded on a contact by the deals app when a deal is lost (docs/journeys.md, "Deal lost"):
# offered here before that app exists so that a touch trigger can target it.
DEAL_LOST = "deal_lost"
TAG_LIMIT = 500


def templates() -> list[tuple[int, str]]:
    from tsunagari.mail.models import Template

    return list(
        Template.objects.filter(deleted_at__isnull=True).order_by("name").values_list("pk", "name")
    )


def segments(*, static_only: bool = False) -> list[tuple[int, str]]:
    from tsunagari.segments.models import Segment

    rows = Segment.objects.filter(deleted_at__isnull=True)
    if static_only:
        rows = rows.filter(kind=Segment.Kind.STATIC)
    return list(rows.order_by("name").values_list("pk", "name"))


def users() -> list[tuple[int, str]]:
    from tsunagari.core.models import User

    return [(u.pk, str(u)) for u in User.objects.filter(is_active=True).order_by("username")]


def streams() -> list[tuple[int, str]]:
    from tsunagari.journeys.models import Stream

    return list(Stream.objects.order_by("name").values_list("pk", "name"))


def forms() -> list[tuple[int, str]]:
    from tsunagari.pages.models import Form

    return list(Form.objects.order_by("name").values_list("pk", "name"))


def tags() -> list[str]:
    """Existing tag names (the first TAG_LIMIT by name) for the tag inputs' suggestions."""
    return list(Tag.objects.order_by("name").values_list("name", flat=True)[:TAG_LIMIT])


def touch_types() -> list[tuple[str, str]]:
    choices = [(str(value), label) for value, label in Type.choices]
    if DEAL_LOST not in {value for value, _label in choices}:
        choices.append((DEAL_LOST, _("Deal lost")))
    return choices
