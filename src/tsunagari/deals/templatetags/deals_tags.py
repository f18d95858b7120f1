"""Deal display helpers: `money` (¥1,200,000 or USD 1,200.50) and the stage badge colour."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()
SYMBOLS = {"JPY": "¥"}


@register.filter
def money(value: Decimal | int | None) -> str:
    if value is None:
        return "—"
    currency = settings.TSUNAGARI_CURRENCY
    amount = Decimal(value)
    whole = amount == amount.to_integral_value()
    text = intcomma(int(amount)) if whole else intcomma(f"{amount:.2f}")
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{currency} {text}"


@register.filter
def stage_class(stage: str) -> str:
    """The badge colour of a deal stage, borrowed from the lifecycle stages it leads to."""
    return {"won": "stage-customer", "lost": "stage-disqualified"}.get(stage, "stage-opportunity")
