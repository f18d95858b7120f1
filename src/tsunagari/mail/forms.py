"""Forms for the mail pages: template editor, broadcast, topic, suppression, sender settings."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.validation import clean_email
from tsunagari.mail.models import Broadcast, SenderSettings, Template, Topic
from tsunagari.segments.models import Segment


class TemplateForm(forms.ModelForm):
    class Meta:
        model = Template
        fields = ["name", "kind", "topic", "subject", "preheader", "html", "text"]
        widgets = {
            "html": forms.Textarea(attrs={"rows": 18, "class": "mono", "spellcheck": "false"}),
            "text": forms.Textarea(attrs={"rows": 8, "class": "mono"}),
        }


class BroadcastForm(forms.ModelForm):
    class Meta:
        model = Broadcast
        fields = [
            "name",
            "template",
            "segment",
            "exclusions",
            "subject_b",
            "ab_sample_percent",
            "ab_wait_minutes",
            "rate_per_minute",
        ]
        widgets = {"exclusions": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        live = Segment.objects.filter(deleted_at__isnull=True)
        self.fields["segment"].queryset = live
        self.fields["exclusions"].queryset = live
        self.fields["template"].queryset = Template.objects.filter(deleted_at__isnull=True)

    def clean(self):
        data = super().clean()
        segment = data.get("segment")
        if segment and segment in (data.get("exclusions") or []):
            self.add_error("exclusions", _("The audience cannot also be excluded."))
        percent = data.get("ab_sample_percent")
        if percent is not None and not 1 <= percent <= 100:
            self.add_error("ab_sample_percent", _("Between 1 and 100."))
        return data


class ScheduleForm(forms.Form):
    send_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        help_text=_("In the tenant time zone. Empty: send now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )


class TopicForm(forms.ModelForm):
    class Meta:
        model = Topic
        fields = ["key", "name", "description", "is_active"]


class SuppressionForm(forms.Form):
    email = forms.CharField(label=_("Email"), max_length=254)
    detail = forms.CharField(label=_("Note"), max_length=500, required=False)

    def clean_email(self) -> str:
        try:
            address = clean_email(self.cleaned_data["email"])
        except forms.ValidationError:
            address = ""
        if not address:
            raise forms.ValidationError(_("Enter a valid email address."))
        return address


class TestSendForm(forms.Form):
    to = forms.EmailField(label=_("Send to"))
    contact = forms.IntegerField(label=_("Personalise as contact (ID)"), required=False)


class SenderSettingsForm(forms.ModelForm):
    public_base_url = forms.URLField(
        label=_("public base URL"),
        required=False,
        assume_scheme="https",
        help_text=_("Where recipients reach the unsubscribe, click and open links."),
    )

    class Meta:
        model = SenderSettings
        fields = [
            "from_name",
            "from_email",
            "reply_to",
            "postal_address",
            "complaints_contact",
            "public_base_url",
            "bounce_domain",
            "unsubscribe_mailbox",
            "frequency_cap",
            "frequency_days",
            "soft_bounce_limit",
            "utm_enabled",
            "utm_source",
            "utm_medium",
            "dkim_domain",
            "dkim_selector",
            "dkim_private_key",
        ]
        widgets = {"dkim_private_key": forms.Textarea(attrs={"rows": 4, "class": "mono"})}

    def clean(self):
        data = super().clean()
        for name in ("from_name", "postal_address", "complaints_contact", "bounce_domain"):
            if any(ch in (data.get(name) or "") for ch in "\r\n\x00"):
                self.add_error(name, _("Line breaks are not allowed here."))
        return data

    def clean_dkim_private_key(self) -> str:
        key = self.cleaned_data["dkim_private_key"].strip()
        if key and "PRIVATE KEY" not in key:
            raise forms.ValidationError(_("Paste the PEM private key (BEGIN … PRIVATE KEY)."))
        return key
