"""Staff forms: event settings and sessions (times in the tenant time zone)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tsunagari.events.models import Event, Session
from tsunagari.journeys.models import Journey
from tsunagari.pages.models import Form


class NewEventForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    slug = forms.SlugField(
        label=_("Address (/e/…)"), max_length=100, help_text=_("Letters, digits and hyphens.")
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].lower()
        if Event.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("This address is already used by another event."))
        return slug


class EventForm(forms.ModelForm):
    class Meta:
        model = Event
        fields = ["name", "description", "is_open", "form", "attended_journey", "noshow_journey"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["form"].queryset = Form.objects.filter(is_active=True).order_by("name")
        journeys = Journey.objects.filter(status=Journey.Status.LIVE).order_by("name")
        self.fields["attended_journey"].queryset = journeys
        self.fields["noshow_journey"].queryset = journeys


class SessionForm(forms.ModelForm):
    online_url = forms.URLField(
        label=_("online URL"), required=False, max_length=500, assume_scheme="https"
    )

    class Meta:
        model = Session
        fields = ["title", "starts_at", "ends_at", "place", "online_url", "capacity"]
        widgets = {
            "starts_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
            "ends_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
        }

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", _("A session must end after it starts."))
        if not data.get("place") and not data.get("online_url"):
            self.add_error("place", _("Give a place or an online URL."))
        return data


class AttendanceImportForm(forms.Form):
    session = forms.ModelChoiceField(label=_("Session"), queryset=Session.objects.none())
    file = forms.FileField(label=_("CSV file (column email)"))

    def __init__(self, *args, event: Event, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["session"].queryset = event.sessions.all()
