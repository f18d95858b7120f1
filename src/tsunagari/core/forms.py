"""Forms for staff users and teams."""

from __future__ import annotations

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _

from tsunagari.core.models import Team, User


class UserCreateForm(forms.ModelForm):
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)

    class Meta:
        model = User
        fields = ["username", "display_name", "email", "role"]

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            candidate = User(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
            try:
                validate_password(password, candidate)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class UserEditForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["display_name", "email", "role", "is_active"]


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "kind", "members"]
        widgets = {"members": forms.CheckboxSelectMultiple}
