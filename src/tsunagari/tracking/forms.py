"""Forms for tracked sites, offline touches, IP ranges and custom touchpoint types."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tsunagari.tracking.collect import origin_of
from tsunagari.tracking.models import CustomTouchpointType, IpRange, TrackedSite
from tsunagari.tracking.queries import type_choices
from tsunagari.tracking.sites import range_keys
from tsunagari.tracking.vocabulary import OFFLINE_TYPES, TYPE_CHANNEL, Type


class TrackedSiteForm(forms.ModelForm):
    class Meta:
        model = TrackedSite
        fields = ["name", "origin", "consent_mode", "honour_dnt", "record_bots", "is_active"]
        help_texts = {
            "origin": _(
                "Scheme and host exactly as in the address bar, e.g. https://www.example.co.jp"
            )
        }

    def clean_origin(self) -> str:
        raw = self.cleaned_data["origin"].strip().rstrip("/")
        origin = origin_of(raw.lower() + "/")
        if not origin or origin != raw.lower():
            raise forms.ValidationError(
                _("Give only the scheme and host, like https://www.example.co.jp (no path).")
            )
        return origin


class OfflineTouchForm(forms.Form):
    type = forms.ChoiceField(label=_("What happened"))
    occurred_at = forms.DateTimeField(
        label=_("When"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    title = forms.CharField(label=_("Subject / event name"), max_length=300, required=False)
    campaign = forms.CharField(label=_("Campaign"), max_length=100, required=False)
    note = forms.CharField(
        label=_("Note"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        offline = [(t.value, t.label) for t in Type if t in OFFLINE_TYPES]
        custom = [c for c in type_choices() if c[0] not in TYPE_CHANNEL]
        self.fields["type"].choices = offline + custom
        self.fields["occurred_at"].initial = timezone.localtime().strftime("%Y-%m-%dT%H:%M")


class IpRangeForm(forms.ModelForm):
    class Meta:
        model = IpRange
        fields = ["account", "cidr"]
        widgets = {"account": forms.NumberInput}
        help_texts = {"cidr": _("e.g. 203.0.113.0/24 or 2001:db8::/48")}

    def clean_cidr(self) -> str:
        cidr = self.cleaned_data["cidr"].strip()
        try:
            self.instance.start, self.instance.end = range_keys(cidr)
        except ValueError:
            raise forms.ValidationError(
                _("“%(value)s” is not an IP range.") % {"value": cidr}
            ) from None
        return cidr


class CustomTypeForm(forms.ModelForm):
    class Meta:
        model = CustomTouchpointType
        fields = ["key", "label", "channel"]

    def clean_key(self) -> str:
        key = self.cleaned_data["key"]
        if key in TYPE_CHANNEL:
            raise forms.ValidationError(_("This key is a built-in type."))
        return key
