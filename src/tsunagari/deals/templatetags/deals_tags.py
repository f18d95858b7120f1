"""`money`: an amount in the tenant currency, as people read it (¥1,200,000 or USD 1,200.50)."""

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
