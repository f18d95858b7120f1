"""Running the UI's forms on API input: one set of validation rules for both."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.forms import Form, ModelForm
from django.forms.models import model_to_dict


def form_data(form_class: type[ModelForm], instance, changes: dict[str, Any]) -> dict[str, Any]:
    """What the form would be posted with: the instance's current values, then `changes`."""
    current = model_to_dict(instance, fields=form_class._meta.fields)  # a new one's defaults
    data: dict[str, Any] = {k: "" if v is None else v for k, v in current.items()}
    for key, value in (instance.custom or {}).items():
        data[f"custom__{key}"] = value
    data.update(changes)
    return data


def valid(form: Form) -> Form:
    """The form if valid; else a ValidationError naming each field's problems (→ 422)."""
    if not form.is_valid():
        raise ValidationError({field: list(errors) for field, errors in form.errors.items()})
    return form


def custom_changes(custom: dict[str, Any] | None) -> dict[str, Any]:
    return {f"custom__{key}": value for key, value in (custom or {}).items()}
