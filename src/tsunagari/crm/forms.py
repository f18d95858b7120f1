"""Create/edit forms for contacts, accounts, custom fields, lifecycle and consent."""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from tsunagari.core.models import User
from tsunagari.core.text import normalize_domain
from tsunagari.crm.choices import (
    ConsentAction,
    ConsentChannel,
    ConsentMethod,
    LifecycleStage,
)
from tsunagari.crm.models import LIVE, Account, Contact, CustomField
from tsunagari.crm.validation import (
    clean_corporate_number_field,
    clean_custom_value,
    clean_email,
    clean_integer,
    clean_phone,
)


def _owner_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True), required=False, label=_("Owner")
    )


class CustomFieldsMixin:
    """Adds one form field per active custom field and validates them with the shared rules."""

    object_type: str

    def add_custom_fields(self, instance_values: dict) -> None:
        self.custom_defs = list(
            CustomField.objects.filter(object_type=self.object_type, is_active=True)
        )
        for definition in self.custom_defs:
            name = f"custom__{definition.key}"
            initial = instance_values.get(definition.key)
            if definition.field_type == CustomField.Type.BOOLEAN:
                field = forms.NullBooleanField(required=False)
            elif definition.field_type == CustomField.Type.CHOICE:
                field = forms.ChoiceField(
                    choices=[("", "—"), *[(c, c) for c in definition.choices]], required=False
                )
            elif definition.field_type == CustomField.Type.MULTI_CHOICE:
                field = forms.MultipleChoiceField(
                    choices=[(c, c) for c in definition.choices],
                    required=False,
                    widget=forms.CheckboxSelectMultiple,
                )
            elif definition.field_type == CustomField.Type.DATE:
                field = forms.CharField(
                    required=False, widget=forms.DateInput(attrs={"type": "date"})
                )
            else:
                field = forms.CharField(required=False, max_length=1000)
            field.label = definition.label
            field.initial = initial
            self.fields[name] = field

    def clean_custom_values(self, current: dict) -> dict:
        values = dict(current)
        for definition in self.custom_defs:
            name = f"custom__{definition.key}"
            try:
                values[definition.key] = clean_custom_value(definition, self.cleaned_data.get(name))
            except ValidationError as exc:
                self.add_error(name, exc)
        return {k: v for k, v in values.items() if v is not None}


class ContactForm(CustomFieldsMixin, forms.ModelForm):
    object_type = CustomField.Object.CONTACT
    owner = _owner_field()
    tags_text = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate tags with commas.")
    )
    account = forms.ModelChoiceField(
        queryset=Account.objects.filter(LIVE), required=False, widget=forms.HiddenInput
    )

    class Meta:
        model = Contact
        fields = [
            "email",
            "family_name",
            "given_name",
            "family_name_kana",
            "given_name_kana",
            "account",
            "department",
            "title",
            "buying_role",
            "phone",
            "owner",
            "lifecycle_stage",
            "bant_budget",
            "bant_need",
            "bant_timing",
            "do_not_contact",
        ]
        widgets = {"bant_need": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].widget = forms.TextInput(attrs={"type": "email"})
        if self.instance.pk:
            # The stage changes through the lifecycle action, which records who and why.
            del self.fields["lifecycle_stage"]
            self.fields["tags_text"].initial = ", ".join(
                self.instance.tags.values_list("name", flat=True)
            )
        else:
            self.fields["lifecycle_stage"].choices = [
                (v, label)
                for v, label in LifecycleStage.choices
                if v in {LifecycleStage.SUBSCRIBER, LifecycleStage.LEAD, LifecycleStage.CUSTOMER}
            ]
        self.add_custom_fields(self.instance.custom or {})

    def clean_email(self) -> str | None:
        email = clean_email(self.cleaned_data.get("email"))
        if not email:
            return None
        clash = Contact.objects.filter(LIVE, email=email).exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError(
                _("Another contact already has this address. Open it and merge instead.")
            )
        return email

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data.get("phone"))

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("email") or cleaned.get("family_name") or cleaned.get("given_name")):
            raise ValidationError(_("Give at least an email address or a name."))
        self.custom_values = self.clean_custom_values(self.instance.custom or {})
        return cleaned

    def tag_names(self) -> list[str]:
        return [t for t in re.split(r"[,、]", self.cleaned_data.get("tags_text", "")) if t.strip()]


class AccountForm(CustomFieldsMixin, forms.ModelForm):
    object_type = CustomField.Object.ACCOUNT
    owner = _owner_field()
    domains_text = forms.CharField(
        label=_("Web domains"),
        required=False,
        help_text=_("One per line or comma-separated, e.g. example.co.jp"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    employee_count = forms.CharField(label=_("Employees"), required=False)
    annual_revenue = forms.CharField(label=_("Annual revenue (yen)"), required=False)
    capital = forms.CharField(label=_("Capital (yen)"), required=False)

    class Meta:
        model = Account
        fields = [
            "name",
            "name_kana",
            "corporate_number",
            "industry",
            "employee_count",
            "annual_revenue",
            "capital",
            "prefecture",
            "address",
            "phone",
            "owner",
            "lifecycle",
            "abm_tier",
            "is_target",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["domains_text"].initial = "\n".join(
                self.instance.domains.values_list("domain", flat=True)
            )
        self.add_custom_fields(self.instance.custom or {})

    def clean_corporate_number(self) -> str | None:
        number = clean_corporate_number_field(self.cleaned_data.get("corporate_number"))
        if not number:
            return None
        clash = Account.objects.filter(corporate_number=number).exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError(_("Another account already has this corporate number."))
        return number

    def clean_employee_count(self):
        return clean_integer(self.cleaned_data.get("employee_count"))

    def clean_annual_revenue(self):
        return clean_integer(self.cleaned_data.get("annual_revenue"))

    def clean_capital(self):
        return clean_integer(self.cleaned_data.get("capital"))

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data.get("phone"))

    def clean_domains_text(self) -> list[str]:
        raw = [d for d in re.split(r"[\s,、]+", self.cleaned_data.get("domains_text", "")) if d]
        domains = []
        for item in raw:
            domain = normalize_domain(item)
            if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain or ""):
                raise ValidationError(_("“%(value)s” is not a web domain.") % {"value": item})
            domains.append(domain)
        return domains

    def clean(self):
        cleaned = super().clean()
        self.custom_values = self.clean_custom_values(self.instance.custom or {})
        return cleaned


class LifecycleForm(forms.Form):
    to_stage = forms.ChoiceField(label=_("New stage"), choices=LifecycleStage.choices)
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Channel"), choices=ConsentChannel.choices, initial=ConsentChannel.EMAIL
    )
    action = forms.ChoiceField(label=_("Consent"), choices=ConsentAction.choices)
    method = forms.ChoiceField(label=_("How it was given"), choices=ConsentMethod.choices)
    basis = forms.CharField(label=_("Basis / note"), max_length=300, required=False)
    consent_text = forms.CharField(
        label=_("Words the person agreed to"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("action") == ConsentAction.OPT_IN
            and cleaned.get("method") in {ConsentMethod.IMPORT, ConsentMethod.VERBAL}
            and not cleaned.get("basis")
        ):
            raise ValidationError(
                _("An opt-in given verbally or by import needs its basis written down.")
            )
        return cleaned


class CustomFieldForm(forms.ModelForm):
    choices_text = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One choice per line (for choice and multiple-choice fields)."),
    )

    class Meta:
        model = CustomField
        fields = ["object_type", "label", "key", "field_type", "required", "position", "is_active"]
        help_texts = {
            "key": _("Letters, digits, - and _; used in imports, exports and segments."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # Stored values are keyed by it and typed by it: both are fixed once created.
            for name in ("object_type", "key", "field_type"):
                self.fields[name].disabled = True
            self.fields["choices_text"].initial = "\n".join(self.instance.choices)

    def clean(self):
        cleaned = super().clean()
        choices = [
            line.strip() for line in cleaned.get("choices_text", "").splitlines() if line.strip()
        ]
        kind = cleaned.get("field_type") or self.instance.field_type
        if kind in {CustomField.Type.CHOICE, CustomField.Type.MULTI_CHOICE} and not choices:
            self.add_error("choices_text", _("Give at least one choice."))
        if len(set(choices)) != len(choices):
            self.add_error("choices_text", _("Each choice may appear only once."))
        self.instance.choices = choices
        return cleaned
