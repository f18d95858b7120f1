"""Field rules shared by the UI forms, the import and the API: one place says what is valid."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from tsunagari.core.text import clean_corporate_number, is_valid_corporate_number, normalize_email
from tsunagari.crm.models import CustomField

# Addresses from these providers say nothing about the person's company.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.co.jp",
        "yahoo.com",
        "ymail.ne.jp",
        "hotmail.com",
        "hotmail.co.jp",
        "outlook.com",
        "outlook.jp",
        "live.jp",
        "icloud.com",
        "me.com",
        "docomo.ne.jp",
        "ezweb.ne.jp",
        "au.com",
        "softbank.ne.jp",
        "i.softbank.jp",
        "nifty.com",
        "biglobe.ne.jp",
        "ocn.ne.jp",
        "so-net.ne.jp",
        "aol.com",
        "proton.me",
        "protonmail.com",
    }
)


def clean_email(value: str | None) -> str:
    """A normalised address, '' when blank; ValidationError when it is not an address."""
    email = normalize_email(value)
    if not email:
        return ""
    if len(email) > 254:
        raise ValidationError(_("The email address is longer than 254 characters."))
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(
            _("“%(value)s” is not a valid email address.") % {"value": email}
        ) from None
    return email


def clean_corporate_number_field(value: str | None) -> str:
    number = clean_corporate_number(value)
    if not number:
        return ""
    if not is_valid_corporate_number(number):
        raise ValidationError(
            _("“%(value)s” is not a valid corporate number (13 digits with a correct check digit).")
            % {"value": value}
        )
    return number


def clean_phone(value: str | None, region: str = "JP") -> str:
    """E.164 form of a phone number, Japanese numbers without a country code accepted."""
    if not value or not value.strip():
        return ""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(_("“%(value)s” is not a phone number.") % {"value": value}) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(_("“%(value)s” is not a valid phone number.") % {"value": value})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def format_phone(value: str) -> str:
    """How a stored E.164 number is shown: national format for Japan, international otherwise."""
    if not value:
        return ""
    try:
        parsed = phonenumbers.parse(value, "JP")
    except phonenumbers.NumberParseException:
        return value
    if parsed.country_code == 81:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def clean_integer(value: str | int | None, *, minimum: int = 0) -> int | None:
    """Whole numbers as people type them: 1,000 / １０００ / 1000.0 are accepted."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        number = value
    else:
        text = unicodedata.normalize("NFKC", str(value)).replace(",", "").replace("円", "").strip()
        if not text:
            return None
        try:
            decimal = Decimal(text)
        except InvalidOperation:
            raise ValidationError(_("“%(value)s” is not a number.") % {"value": value}) from None
        if decimal != decimal.to_integral_value():
            raise ValidationError(_("“%(value)s” is not a whole number.") % {"value": value})
        number = int(decimal)
    if number < minimum:
        raise ValidationError(
            _("%(value)s is below %(minimum)s.") % {"value": number, "minimum": minimum}
        )
    if number > 9_000_000_000_000_000:
        raise ValidationError(_("%(value)s is too large.") % {"value": number})
    return number


def clean_custom_value(field: CustomField, raw: object) -> object:
    """The stored JSON value of one custom field, or ValidationError with a message for people."""
    if raw is None or raw == "" or raw == []:
        if field.required:
            raise ValidationError(_("%(label)s is required.") % {"label": field.label})
        return None
    kind = field.field_type
    if kind == CustomField.Type.TEXT:
        text = str(raw).strip()
        if len(text) > 1000:
            raise ValidationError(
                _("%(label)s is longer than 1000 characters.") % {"label": field.label}
            )
        return text
    if kind == CustomField.Type.NUMBER:
        text = unicodedata.normalize("NFKC", str(raw)).replace(",", "").strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValidationError(
                _("%(label)s: “%(value)s” is not a number.") % {"label": field.label, "value": raw}
            ) from None
        if not number.is_finite():
            raise ValidationError(_("%(label)s: not a number.") % {"label": field.label})
        # JSON numbers: integers stay integers so that segments compare them exactly.
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == CustomField.Type.DATE:
        if isinstance(raw, dt.date):
            return raw.isoformat()
        text = str(raw).strip().replace("/", "-")
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValidationError(
                _("%(label)s: “%(value)s” is not a date (YYYY-MM-DD).")
                % {"label": field.label, "value": raw}
            ) from None
    if kind == CustomField.Type.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "y", "on", "はい", "○", "有"}:
            return True
        if text in {"0", "false", "no", "n", "off", "いいえ", "×", "無"}:
            return False
        raise ValidationError(
            _("%(label)s: “%(value)s” is not yes or no.") % {"label": field.label, "value": raw}
        )
    allowed = [str(c) for c in field.choices]
    if kind == CustomField.Type.CHOICE:
        text = str(raw).strip()
        if text not in allowed:
            raise ValidationError(
                _("%(label)s: “%(value)s” is not one of the choices.")
                % {"label": field.label, "value": raw}
            )
        return text
    if kind == CustomField.Type.MULTI_CHOICE:
        items = (
            raw if isinstance(raw, list) else [p for p in str(raw).replace("、", ";").split(";")]
        )
        values = [str(item).strip() for item in items if str(item).strip()]
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise ValidationError(
                _("%(label)s: “%(value)s” is not one of the choices.")
                % {"label": field.label, "value": ", ".join(unknown)}
            )
        return values
    raise ValidationError(_("Unknown field type."))
