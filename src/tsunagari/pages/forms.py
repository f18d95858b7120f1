"""Staff-side Django forms of the builders."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.choices import AbmTier, Industry, LifecycleStage
from tsunagari.pages.fieldmap import HIDDEN_TARGETS, target_choices
from tsunagari.pages.models import (
    ContentAsset,
    ContentSlot,
    Form,
    FormField,
    LandingPage,
    SlotVariant,
)
from tsunagari.segments.models import Segment


class FormSettingsForm(forms.ModelForm):
    class Meta:
        model = Form
        fields = [
            "name",
            "title",
            "submit_label",
            "thank_you_message",
            "redirect_url",
            "asset",
            "notify_emails",
            "double_opt_in",
            "max_questions",
            "min_fill_seconds",
            "accept_plain_post",
            "is_active",
        ]
        widgets = {"thank_you_message": forms.Textarea(attrs={"rows": 3})}

    def clean_notify_emails(self) -> str:
        value = self.cleaned_data["notify_emails"]
        validator = forms.EmailField()
        for address in [a.strip() for a in value.split(",") if a.strip()]:
            validator.clean(address)
        return value


class NewFormForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)


class FieldForm(forms.ModelForm):
    consent_text = forms.CharField(
        label=_("Consent text (shown next to the checkbox, stored with each submission)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    choices_text = forms.CharField(
        label=_("Choices (one per line, optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    class Meta:
        model = FormField
        fields = ["kind", "target", "label", "required", "progressive", "default"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].help_text = _(
            "Question: the contact/account/BANT/custom field. Hidden: utm_source, utm_medium, "
            "utm_campaign, utm_term, utm_content, campaign or page. Consent: the topic "
            "(empty: all email)."
        )
        self.fields["target"].required = False
        self.fields["target"].widget = forms.TextInput(attrs={"list": "targets"})
        if self.instance.pk:
            self.fields["choices_text"].initial = "\n".join(str(c) for c in self.instance.choices)
            current = self.instance.current_consent()
            self.fields["consent_text"].initial = current.text if current else ""

    def clean(self):
        data = super().clean()
        data["choices"] = [
            line.strip() for line in data.get("choices_text", "").splitlines() if line.strip()
        ]
        return data

    def save(self, commit: bool = True) -> FormField:
        self.instance.choices = self.cleaned_data["choices"]
        self.instance.target = self.cleaned_data.get("target") or ""
        return super().save(commit=commit)

    @staticmethod
    def target_options() -> list[tuple[str, str]]:
        return target_choices() + [(k, str(v)) for k, v in HIDDEN_TARGETS.items()]


class NewPageForm(forms.ModelForm):
    class Meta:
        model = LandingPage
        fields = ["title", "slug"]


class PageSettingsForm(forms.ModelForm):
    class Meta:
        model = LandingPage
        fields = ["title", "slug", "description", "asset"]


class AssetForm(forms.ModelForm):
    class Meta:
        model = ContentAsset
        fields = ["name", "key", "kind", "theme", "keywords", "url_pattern", "file", "is_active"]

    def clean(self):
        data = super().clean()
        if not data.get("url_pattern") and not data.get("file") and not self.instance.file:
            raise forms.ValidationError(_("Give a URL pattern or upload a file."))
        pattern = data.get("url_pattern", "")
        if pattern and not pattern.startswith(("http://", "https://")):
            self.add_error("url_pattern", _("Start the pattern with https:// (the page address)."))
        return data


class SlotForm(forms.ModelForm):
    class Meta:
        model = ContentSlot
        fields = ["key", "name", "default_html", "is_active"]
        widgets = {"default_html": forms.Textarea(attrs={"rows": 4})}


class SlotVariantForm(forms.ModelForm):
    segments = forms.ModelMultipleChoiceField(
        label=_("In any of these segments"),
        queryset=Segment.objects.filter(deleted_at__isnull=True),
        required=False,
    )
    lifecycle = forms.MultipleChoiceField(
        label=_("Lifecycle stage"), choices=LifecycleStage.choices, required=False
    )
    industry = forms.MultipleChoiceField(
        label=_("Industry"), choices=Industry.choices, required=False
    )
    abm_tiers = forms.TypedMultipleChoiceField(
        label=_("ABM tier"),
        choices=[c for c in AbmTier.choices if c[0]],
        coerce=int,
        required=False,
    )
    target_account = forms.BooleanField(label=_("Target accounts only"), required=False)
    min_behaviour = forms.IntegerField(label=_("Behaviour score at least"), required=False)
    grades = forms.MultipleChoiceField(
        label=_("Grade"), choices=[(g, g) for g in "ABCD"], required=False
    )

    RULES = (
        "segments",
        "lifecycle",
        "industry",
        "abm_tiers",
        "target_account",
        "min_behaviour",
        "grades",
    )

    class Meta:
        model = SlotVariant
        fields = ["key", "html"]
        widgets = {"html": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        rules = self.instance.rules or {}
        for name in self.RULES:
            if name in rules:
                self.fields[name].initial = rules[name]

    def rules(self) -> dict:
        data = self.cleaned_data
        rules: dict = {}
        if data.get("segments"):
            rules["segments"] = [s.pk for s in data["segments"]]
        for name in ("lifecycle", "industry", "abm_tiers", "grades"):
            if data.get(name):
                rules[name] = list(data[name])
        if data.get("target_account"):
            rules["target_account"] = True
        if data.get("min_behaviour") is not None:
            rules["min_behaviour"] = data["min_behaviour"]
        return rules
