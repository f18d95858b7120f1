"""Template filters shared by every app's pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def join_if_list(value: object) -> object:
    """Multi-choice custom values are lists; show them as one comma-separated string."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


@register.filter
def phone(value: str) -> str:
    """A stored E.164 number in the form people read (national format for Japan)."""
    from tsunagari.crm.validation import format_phone

    return format_phone(value)
