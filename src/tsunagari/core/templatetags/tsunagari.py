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


@register.filter
def get_item(mapping: dict, key: str) -> object:
    return mapping.get(key)


@register.filter
def seconds(milliseconds: int | None) -> str:
    """Time on page: 75000 → '1:15'."""
    if not milliseconds:
        return ""
    total = int(milliseconds) // 1000
    return f"{total // 60}:{total % 60:02d}"
