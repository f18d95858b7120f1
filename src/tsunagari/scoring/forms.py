"""Forms of the scoring pages: rules with their conditions, MQL criteria, territories, hand-off."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tsunagari.core.models import User
from tsunagari.core.roles import Role
from tsunagari.crm.choices import BantBudget, BantTiming, BuyingRole, Industry, Prefecture
from tsunagari.scoring.conditions import Condition, ConditionError, check_regex, parse_lines
from tsunagari.scoring.models import (
    AssignmentRule,
    BehaviourRule,
    Decay,
    FitRule,
    Handoff,
    MqlSettings,
)
from tsunagari.tracking.models import CustomTouchpointType
from tsunagari.tracking.vocabulary import Type

CONDITIONS_HELP = _(
    "One per line: field operator value. Operators: = != contains startswith like (wildcards) "
    "~ (regular expression) > >= < <= in (comma-separated) exists."
)


def touch_type_choices() -> list[tuple[str, str]]:
    custom = [(t.key, t.label) for t in CustomTouchpointType.objects.order_by("label")]
    return [("", _("Any type")), *Type.choices, *custom]


class BehaviourRuleForm(forms.ModelForm):
    conditions_text = forms.CharField(
        label=_("Conditions"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "properties.form = 資料請求"}),
        help_text=CONDITIONS_HELP,
    )

    class Meta:
        model = BehaviourRule
        fields = [
            "name",
            "description",
            "touch_type",
            "url_pattern",
            "url_match",
            "content_asset",
            "points",
            "cap_count",
            "cap_period",
            "decay",
            "decay_days",
            "effective_from",
            "effective_until",
            "is_active",
        ]
        widgets = {
            "effective_from": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "effective_until": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }
        help_texts = {
            "url_pattern": _("Starting with / it matches the path (/pricing*), else the full URL."),
            "points": _("Negative points lower the score (e.g. -20 for the careers page)."),
            "cap_count": _("Count a touch at most this many times per contact and period."),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["touch_type"] = forms.ChoiceField(
            label=_("Touchpoint type"), choices=touch_type_choices(), required=False
        )
        if self.instance.pk:
            self.initial["conditions_text"] = "\n".join(
                Condition(c["field"], c["op"], c["value"]).as_line()
                for c in self.instance.conditions
            )

    def clean_url_pattern(self) -> str:
        pattern = self.cleaned_data["url_pattern"].strip()
        if pattern and self.data.get(self.add_prefix("url_match")) == BehaviourRule.UrlMatch.REGEX:
            try:
                check_regex(pattern)
            except ConditionError as exc:
                raise forms.ValidationError(str(exc)) from None
        return pattern

    def clean_conditions_text(self) -> list[dict]:
        try:
            parsed = parse_lines(self.cleaned_data["conditions_text"], target="touch")
        except ConditionError as exc:
            raise forms.ValidationError(str(exc)) from None
        return [c.as_dict() for c in parsed]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("points") == 0:
            self.add_error("points", _("A rule gives or takes at least one point."))
        if data.get("decay") and not data.get("decay_days"):
            self.add_error("decay_days", _("Say after how many days."))
        if not data.get("decay"):
            data["decay_days"] = None
        start, end = data.get("effective_from"), data.get("effective_until")
        if start and end and end <= start:
            self.add_error("effective_until", _("The end must come after the start."))
        return data

    def save(self, commit: bool = True) -> BehaviourRule:
        self.instance.conditions = self.cleaned_data["conditions_text"]
        return super().save(commit)


class FitRuleForm(forms.ModelForm):
    conditions_text = forms.CharField(
        label=_("Conditions"),
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "department contains 情報システム"}),
        help_text=_(
            "Fields: title, department, buying_role, email, account.industry, "
            "account.employee_count, account.annual_revenue, account.prefecture, "
            "account.is_target, account.abm_tier, custom.KEY, account.custom.KEY. "
        )
        + CONDITIONS_HELP,
    )

    class Meta:
        model = FitRule
        fields = ["name", "grade_effect", "points", "is_active"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["conditions_text"] = "\n".join(
                Condition(c["field"], c["op"], c["value"]).as_line()
                for c in self.instance.conditions
            )

    def clean_conditions_text(self) -> list[dict]:
        try:
            parsed = parse_lines(self.cleaned_data["conditions_text"], target="contact")
        except ConditionError as exc:
            raise forms.ValidationError(str(exc)) from None
        if not parsed:
            raise forms.ValidationError(_("Write at least one condition."))
        return [c.as_dict() for c in parsed]

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("grade_effect") and not data.get("points"):
            self.add_error("points", _("Set a grade, fit points, or both."))
        return data

    def save(self, commit: bool = True) -> FitRule:
        self.instance.conditions = self.cleaned_data["conditions_text"]
        return super().save(commit)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("、", ",").split(",") if part.strip()]


class MqlSettingsForm(forms.ModelForm):
    hand_raise_forms_text = forms.CharField(
        label=_("Hand-raise forms"),
        required=False,
        help_text=_("Form names or ids, comma-separated (e.g. デモ申込, 12)."),
    )
    hand_raise_types_list = forms.MultipleChoiceField(
        label=_("Hand-raise touch types"), required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = MqlSettings
        fields = [
            "score_enabled",
            "min_behaviour",
            "min_grade",
            "bant_enabled",
            "sla_hours",
            "team",
            "reset_on_reject",
            "cold_days",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["hand_raise_types_list"].choices = touch_type_choices()[1:]
        self.initial["hand_raise_forms_text"] = ", ".join(map(str, self.instance.hand_raise_forms))
        self.initial["hand_raise_types_list"] = self.instance.hand_raise_types
        self.fields["team"].queryset = self.fields["team"].queryset.order_by("name")

    def clean_sla_hours(self) -> int:
        hours = self.cleaned_data["sla_hours"]
        if hours < 1:
            raise forms.ValidationError(_("At least one hour."))
        return hours

    def save(self, commit: bool = True) -> MqlSettings:
        self.instance.hand_raise_forms = _split(self.cleaned_data["hand_raise_forms_text"])
        self.instance.hand_raise_types = list(self.cleaned_data["hand_raise_types_list"])
        return super().save(commit)


class AssignmentRuleForm(forms.ModelForm):
    prefectures = forms.MultipleChoiceField(
        label=_("Prefectures"), choices=Prefecture.choices, required=False
    )
    industries = forms.MultipleChoiceField(
        label=_("Industries"), choices=Industry.choices, required=False
    )

    class Meta:
        model = AssignmentRule
        fields = ["name", "position", "prefectures", "industries", "user", "team", "is_active"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = User.objects.filter(
            is_active=True, role__in=[Role.INSIDE_SALES, Role.FIELD_SALES, Role.ADMIN]
        )

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("prefectures") and not data.get("industries"):
            raise forms.ValidationError(_("Choose at least one prefecture or industry."))
        if bool(data.get("user")) == bool(data.get("team")):
            raise forms.ValidationError(_("Assign to a user or to a team (one of them)."))
        return data


class AcceptForm(forms.Form):
    bant_budget = forms.ChoiceField(
        label=_("Budget"), choices=[("", "—"), *BantBudget.choices], required=False
    )
    buying_role = forms.ChoiceField(
        label=_("Authority (buying role)"), choices=[("", "—"), *BuyingRole.choices], required=False
    )
    bant_need = forms.CharField(label=_("Need"), max_length=500, required=False)
    bant_timing = forms.ChoiceField(
        label=_("Timing"), choices=[("", "—"), *BantTiming.choices], required=False
    )


class RejectForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), choices=Handoff.Reason.choices)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    reset_score = forms.BooleanField(label=_("Reset the behaviour score to 0"), required=False)


class BacktestForm(forms.Form):
    days = forms.IntegerField(
        label=_("Replay the last N days"), min_value=1, max_value=730, initial=90
    )
    min_behaviour = forms.IntegerField(label=_("MQL threshold (behaviour score)"), initial=100)
    min_grade = forms.ChoiceField(
        label=_("Grade at least"), choices=MqlSettings.MinGrade.choices, required=False
    )
    rules = forms.ModelMultipleChoiceField(
        label=_("Candidate rule set"),
        queryset=BehaviourRule.objects.all(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Inactive rules can be tried here before they go live."),
    )


DECAY_CHOICES = Decay.choices
