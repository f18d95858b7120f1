"""How a form is presented: the fields to ask as plain data, for templates and the embed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.utils.translation import gettext as _

from tsunagari.crm.models import Contact
from tsunagari.pages import protection
from tsunagari.pages.fieldmap import HIDDEN_TARGETS, TARGETS, custom_field_for
from tsunagari.pages.models import Form, FormField
from tsunagari.pages.queries import fields_to_ask
from tsunagari.tracking.collect import origin_of
from tsunagari.tracking.sites import site_cache


@dataclass
class ShownField:
    name: str
    kind: str  # field, hidden, consent
    label: str
    input: str  # text, email, tel, number, select, textarea, checkbox, hidden
    required: bool
    choices: list[list[str]]
    value: str = ""
    target: str = ""


def _shown(field: FormField) -> ShownField:
    if field.kind == FormField.Kind.HIDDEN:
        return ShownField(
            field.name, field.kind, "", "hidden", False, [], field.default, field.target
        )
    if field.kind == FormField.Kind.CONSENT:
        text = field.current_consent()
        label = text.text if text else field.label
        return ShownField(field.name, field.kind, label, "checkbox", field.required, [])
    target = TARGETS.get(field.target)
    label = field.label or (str(target.label) if target else field.target)
    choices = [[str(c), str(c)] for c in field.choices]
    kind = "select" if choices else (target.input if target else "text")
    if target and not choices:
        choices = [[str(v), str(lbl)] for v, lbl in target.choices]
    if target is None and not choices:
        custom = custom_field_for(field.target)
        if custom is not None and custom.choices:
            choices = [[str(c), str(c)] for c in custom.choices]
            kind = "select"
    return ShownField(
        field.name, field.kind, label, kind, field.required, choices, "", field.target
    )


@dataclass
class Presented:
    fields: list[ShownField]
    token: str


def present(
    form: Form,
    *,
    contact: Contact | None,
    origin: str,
    visitor: str = "",
    landing_page: int | None = None,
    variant: str = "",
    hidden_values: dict[str, str] | None = None,
) -> Presented:
    """The fields this visitor is asked now and a token that remembers exactly those."""
    asked = fields_to_ask(form, contact)
    shown = [_shown(f) for f in asked]
    for item in shown:
        if item.kind == FormField.Kind.HIDDEN and hidden_values and hidden_values.get(item.target):
            item.value = hidden_values[item.target][:500]
    token = protection.token_issue(
        form_id=form.pk,
        origin=origin,
        asked=[f.pk for f in asked],
        visitor=visitor,
        landing_page=landing_page,
        variant=variant,
    )
    return Presented(shown, token)


def as_json(form: Form, presented: Presented) -> dict:
    return {
        "id": form.pk,
        "title": form.title,
        "submit": form.submit_label,
        "token": presented.token,
        "fields": [asdict(f) for f in presented.fields],
        "honeypot": protection.HONEYPOT,
        # The embed's own words, in the visitor's language (Accept-Language).
        "texts": {
            "submit": _("Submit"),
            "download": _("Download"),
            "network": _("The form could not be sent. Please try again."),
            "confirm": _(
                "Thank you. We have sent you an email: please confirm your address with the "
                "link in it."
            ),
        },
    }


def redirect_allowed(url: str) -> bool:
    """Thank-you redirects go to this server's own paths or a registered site, nowhere else."""
    if not url:
        return False
    if url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return True
    origin = origin_of(url)
    return bool(origin) and site_cache.get(origin) is not None


HIDDEN_KEYS = tuple(HIDDEN_TARGETS)
