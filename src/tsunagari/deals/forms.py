"""Forms of the deal pages; the rules themselves live in services (one set for UI and API)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from tsunagari.core.models import User
from tsunagari.crm.models import Account, Contact
from tsunagari.deals.models import Deal, LostReason, Stage

CONTACT_CHOICES = 500  # the primary contact is chosen among the account's newest contacts


class DealForm(forms.Form):
    name = forms.CharField(label=_("Deal name"), max_length=200)
    primary_contact = forms.ModelChoiceField(
        label=_("Primary contact"), queryset=Contact.objects.none(), required=False
    )
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=User.objects.filter(is_active=True), required=False
    )
    amount = forms.DecimalField(
        label=_("Amount"), min_value=0, max_digits=15, decimal_places=2, required=False
    )
    stage = forms.ChoiceField(label=_("Stage"), choices=Stage.choices)
    close_date = forms.DateField(
        label=_("Expected close date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    lost_reason = forms.ChoiceField(
        label=_("Lost reason"), choices=[("", "—"), *LostReason.choices], required=False
    )
    lost_note = forms.CharField(label=_("Lost reason (details)"), max_length=500, required=False)
    campaign = forms.CharField(
        label=_("Source campaign"),
        max_length=100,
        required=False,
        help_text=_("Where the deal came from, e.g. the seminar or the trade show."),
    )

    def __init__(self, *args, account: Account, deal: Deal | None = None, **kwargs) -> None:
        if deal is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": deal.name,
                    "primary_contact": deal.primary_contact_id,
                    "owner": deal.owner_id,
                    "amount": deal.amount,
                    "stage": deal.stage,
                    "close_date": deal.close_date,
                    "lost_reason": deal.lost_reason,
                    "lost_note": deal.lost_note,
                    "campaign": deal.campaign,
                },
            )
        super().__init__(*args, **kwargs)
        ids = list(
            Contact.objects.filter(account=account, deleted_at__isnull=True)
            .order_by("-id")
            .values_list("pk", flat=True)[:CONTACT_CHOICES]
        )
        if deal is not None and deal.primary_contact_id:
            ids.append(deal.primary_contact_id)
        self.fields["primary_contact"].queryset = Contact.objects.filter(pk__in=ids).order_by(
            "kana_key", "id"
        )

    def clean_amount(self) -> Decimal:
        return self.cleaned_data.get("amount") or Decimal(0)

    def service_values(self) -> dict:
        data = dict(self.cleaned_data)
        data["lost_note"] = data.get("lost_note") or ""
        return data

    def add_service_error(self, exc: ValidationError) -> None:
        """The service's refusal, under each field the form has (the rest above the form)."""
        for field, messages in exc.message_dict.items():
            self.add_error(field if field in self.fields else None, messages)


class CloseLostForm(forms.Form):
    lost_reason = forms.ChoiceField(label=_("Lost reason"), choices=LostReason.choices)
    lost_note = forms.CharField(label=_("Details"), max_length=500, required=False)


class MoveStageForm(forms.Form):
    to_stage = forms.ChoiceField(label=_("Stage"), choices=Stage.choices)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    lost_reason = forms.ChoiceField(
        label=_("Lost reason"), choices=[("", "—"), *LostReason.choices], required=False
    )
    lost_note = forms.CharField(label=_("Details"), max_length=500, required=False)
