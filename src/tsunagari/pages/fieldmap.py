"""What a form field can map to: contact, account, BANT and custom fields, hidden values.

Each target says how to render it (input type, choices), how to clean an answer (the CRM's
own validation rules), whether a contact already answered it (progressive profiling) and
where the answer goes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tsunagari.crm.choices import BantBudget, BantTiming, BuyingRole, Industry, Prefecture
from tsunagari.crm.models import Account, Contact, CustomField
from tsunagari.crm.validation import (
    clean_corporate_number_field,
    clean_custom_value,
    clean_integer,
    clean_phone,
)
from tsunagari.pages.protection import clean_form_email


def _text(limit: int) -> Callable[[str], str]:
    def clean(value: str) -> str:
        text = " ".join(value.split())
        if len(text) > limit:
            raise ValidationError(
                _("This answer is longer than %(limit)s characters.") % {"limit": limit}
            )
        return text

    return clean


def _choice(choices) -> Callable[[str], str]:
    allowed = {str(v) for v, _label in choices}

    def clean(value: str) -> str:
        value = value.strip()
        if value not in allowed:
            raise ValidationError(_("Choose one of the options."))
        return value

    return clean


@dataclass(frozen=True)
class Target:
    key: str
    label: object  # lazy text
    obj: str  # "contact" or "account"
    attr: str  # model attribute
    input: str = "text"  # text, email, tel, number, select, textarea
    clean: Callable[[str], object] = field(default=_text(100))
    choices: tuple = ()
    bant: str = ""  # "budget", "authority", "need", "timing": the *_at/_source columns


TARGETS: dict[str, Target] = {
    t.key: t
    for t in (
        Target("email", gettext_lazy("Email"), "contact", "email", "email", clean_form_email),
        Target(
            "family_name", gettext_lazy("Family name"), "contact", "family_name", clean=_text(60)
        ),
        Target("given_name", gettext_lazy("Given name"), "contact", "given_name", clean=_text(60)),
        Target(
            "family_name_kana",
            gettext_lazy("Family name (kana)"),
            "contact",
            "family_name_kana",
            clean=_text(60),
        ),
        Target(
            "given_name_kana",
            gettext_lazy("Given name (kana)"),
            "contact",
            "given_name_kana",
            clean=_text(60),
        ),
        Target("phone", gettext_lazy("Phone"), "contact", "phone", "tel", clean_phone),
        Target("department", gettext_lazy("Department"), "contact", "department"),
        Target("title", gettext_lazy("Title"), "contact", "title"),
        Target("company", gettext_lazy("Company name"), "account", "name", clean=_text(200)),
        Target(
            "corporate_number",
            gettext_lazy("Corporate number (法人番号)"),
            "account",
            "corporate_number",
            clean=clean_corporate_number_field,
        ),
        Target(
            "industry",
            gettext_lazy("Industry"),
            "account",
            "industry",
            "select",
            _choice(Industry.choices),
            tuple(Industry.choices),
        ),
        Target(
            "employee_count",
            gettext_lazy("Employees"),
            "account",
            "employee_count",
            "number",
            lambda v: clean_integer(v),
        ),
        Target(
            "prefecture",
            gettext_lazy("Prefecture"),
            "account",
            "prefecture",
            "select",
            _choice(Prefecture.choices),
            tuple(Prefecture.choices),
        ),
        Target(
            "bant_budget",
            gettext_lazy("Budget (BANT)"),
            "contact",
            "bant_budget",
            "select",
            _choice(BantBudget.choices),
            tuple(BantBudget.choices),
            bant="budget",
        ),
        Target(
            "buying_role",
            gettext_lazy("Role in the purchase (BANT authority)"),
            "contact",
            "buying_role",
            "select",
            _choice(BuyingRole.choices),
            tuple(BuyingRole.choices),
            bant="authority",
        ),
        Target(
            "bant_need",
            gettext_lazy("Need (BANT)"),
            "contact",
            "bant_need",
            "textarea",
            _text(500),
            bant="need",
        ),
        Target(
            "bant_timing",
            gettext_lazy("Timing (BANT)"),
            "contact",
            "bant_timing",
            "select",
            _choice(BantTiming.choices),
            tuple(BantTiming.choices),
            bant="timing",
        ),
    )
}

# Hidden fields: filled from the page's query string or address, stored with the submission.
HIDDEN_TARGETS: dict[str, object] = {
    "utm_source": gettext_lazy("UTM source"),
    "utm_medium": gettext_lazy("UTM medium"),
    "utm_campaign": gettext_lazy("UTM campaign"),
    "utm_term": gettext_lazy("UTM term"),
    "utm_content": gettext_lazy("UTM content"),
    "campaign": gettext_lazy("Campaign"),
    "page": gettext_lazy("Page URL"),
}

CUSTOM_PREFIX = {"contact.custom.": CustomField.Object.CONTACT, "account.custom.": "account"}


def custom_field_for(target: str) -> CustomField | None:
    for prefix, obj in CUSTOM_PREFIX.items():
        if target.startswith(prefix):
            return CustomField.objects.filter(
                object_type=obj, key=target[len(prefix) :], is_active=True
            ).first()
    return None


def target_choices() -> list[tuple[str, str]]:
    """Every question target for the builder's select: built-in, then active custom fields."""
    options = [(t.key, str(t.label)) for t in TARGETS.values()]
    for cf in CustomField.objects.filter(is_active=True):
        prefix = (
            "contact.custom." if cf.object_type == CustomField.Object.CONTACT else "account.custom."
        )
        options.append((prefix + cf.key, f"{cf.get_object_type_display()}: {cf.label}"))
    return options


def is_known(target: str, contact: Contact | None, account: Account | None) -> bool:
    """Whether the person already told us this (so a progressive form skips it)."""
    if contact is None:
        return False
    if target in TARGETS:
        t = TARGETS[target]
        holder = contact if t.obj == "contact" else account
        return holder is not None and getattr(holder, t.attr) not in (None, "")
    if target.startswith("contact.custom."):
        return contact.custom.get(target[len("contact.custom.") :]) not in (None, "", [])
    if target.startswith("account.custom."):
        return account is not None and account.custom.get(target[len("account.custom.") :]) not in (
            None,
            "",
            [],
        )
    return False


def clean_answer(target: str, raw: str, custom: CustomField | None) -> object:
    """The stored value of one answer; ValidationError with a message for the visitor."""
    if target in TARGETS:
        return TARGETS[target].clean(raw)
    if custom is not None:
        return clean_custom_value(custom, raw)
    raise ValidationError(_("This field is no longer available."))
