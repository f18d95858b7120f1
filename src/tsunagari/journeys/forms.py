"""Forms of the journey editor: the journey's settings and one step at a time."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.choices import LifecycleStage
from tsunagari.journeys import pickers
from tsunagari.journeys.conditions import CONTACT_FIELDS
from tsunagari.journeys.models import Journey

TRIGGERS = [
    ("manual", _("Manual, API or CSV only")),
    ("segment_entry", _("Enters a segment")),
    ("segment_exit", _("Leaves a segment")),
    ("touchpoint", _("Touch N times within D days")),
    ("form_submitted", _("Form submitted")),
    ("score", _("Behaviour score reaches")),
    ("grade", _("Grade is")),
    ("lifecycle", _("Lifecycle stage changes to")),
    ("date", _("Date field with an offset")),
]
STEP_TYPES = [
    ("email", _("Send email")),
    ("wait", _("Wait")),
    ("branch", _("Condition branch")),
    ("split", _("Random split (A/B)")),
    ("update_field", _("Update a field")),
    ("lifecycle", _("Set lifecycle stage")),
    ("score", _("Add or remove points")),
    ("tags", _("Add or remove tags")),
    ("list", _("Add to or remove from a static list")),
    ("stream", _("Join a nurture stream")),
    ("owner", _("Assign owner")),
    ("task", _("Create a task for the owner")),
    ("notify", _("Notify the owner")),
    ("webhook", _("Call a webhook")),
    ("exit", _("Exit")),
]
WAIT_MODES = [
    ("duration", _("For a duration")),
    ("business_days", _("Business days (Japanese holidays excluded)")),
    ("until", _("Until a date and time")),
]


class JourneyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(label=_("Description"), max_length=500, required=False)
    trigger_type = forms.ChoiceField(label=_("Trigger"), choices=TRIGGERS)
    segment_id = forms.TypedChoiceField(
        label=_("Segment"), required=False, coerce=int, empty_value=None
    )
    touch_type = forms.ChoiceField(label=_("Touch type"), required=False, initial="page_view")
    url_contains = forms.CharField(label=_("URL contains"), required=False)
    count = forms.IntegerField(label=_("Times (N)"), required=False, min_value=1, initial=1)
    days = forms.IntegerField(label=_("Within days (D)"), required=False, min_value=1, initial=14)
    form_id = forms.TypedChoiceField(label=_("Form"), required=False, coerce=int, empty_value=None)
    score_gte = forms.IntegerField(label=_("Score at least"), required=False)
    grades = forms.CharField(label=_("Grades (comma separated)"), required=False)
    to_stage = forms.ChoiceField(
        label=_("Lifecycle stage"), choices=[("", "—"), *LifecycleStage.choices], required=False
    )
    date_field = forms.CharField(label=_("Date field (custom.<key>)"), required=False)
    offset_days = forms.IntegerField(
        label=_("Offset in days (−3: three days before)"), required=False
    )
    goal_stage = forms.ChoiceField(
        label=_("Goal: lifecycle stage reached"),
        choices=[("", "—"), *LifecycleStage.choices],
        required=False,
    )
    reentry = forms.ChoiceField(label=_("Re-entry"), choices=Journey.Reentry.choices)
    reentry_days = forms.IntegerField(label=_("Re-entry after (days)"), required=False, min_value=0)
    exit_rows = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(
        self,
        data=None,
        *,
        initial: dict | None = None,
        journey: Journey | None = None,
        exit_conditions: list[dict] | None = None,
        add_exit: bool = False,
        rerender_url: str = "",
    ) -> None:
        """`exit_conditions`: the journey's, shown as rows of typed inputs (ConditionForm,
        prefix `exit-N`, `exit_rows` of them); a POST with `refresh` or `add_exit` re-renders
        the form (the view passes it as `initial`) without saving."""
        super().__init__(data, initial=initial)
        self.fields["segment_id"].choices = [("", "—"), *pickers.segments()]
        self.fields["form_id"].choices = [("", "—"), *pickers.forms()]
        self.fields["touch_type"].choices = [("", _("Any type")), *pickers.touch_types()]
        self.rerender_url = rerender_url
        # A condition's kind changed: the whole form re-rendered with that kind's inputs.
        rerender = {
            "hx-post": rerender_url,
            "hx-trigger": "change",
            "hx-vals": '{"refresh": "1"}',
            "hx-include": "closest form",
            "hx-target": "closest form",
            "hx-select": "form.journey-form",
            "hx-swap": "outerHTML",
            "hx-sync": "closest form:replace",
        }
        steps = journey.steps if journey is not None else {}
        self.condition_fields = list(CONTACT_FIELD_LABELS.items())
        self.exit_forms = condition_forms(
            data,
            source=data if data is not None else (initial or {}),
            conditions=exit_conditions,
            prefix="exit",
            count_field="exit_rows",
            add=add_exit,
            picks=_condition_picks(steps, rerender),
        )
        self.initial["exit_rows"] = len(self.exit_forms)

    def is_valid(self) -> bool:
        valid = super().is_valid()
        return all([c.is_valid() for c in self.exit_forms]) and valid

    def clean(self) -> dict:
        d = super().clean()
        kind = d.get("trigger_type")
        if kind in {"segment_entry", "segment_exit"} and not d.get("segment_id"):
            self.add_error("segment_id", _("Choose the segment."))
        if kind == "form_submitted" and not d.get("form_id"):
            self.add_error("form_id", _("Choose the form."))
        if kind == "lifecycle" and not d.get("to_stage"):
            self.add_error("to_stage", _("Choose the lifecycle stage."))
        return d

    @classmethod
    def initial_for(cls, journey: Journey) -> dict:
        t = journey.trigger or {}
        goal_stage = next(
            (g.get("value") for g in journey.goal if g.get("field") == "lifecycle_stage"), ""
        )
        return {
            "name": journey.name,
            "description": journey.description,
            "trigger_type": t.get("type", "manual"),
            "segment_id": t.get("segment_id"),
            "touch_type": t.get("touch_type", "page_view"),
            "url_contains": t.get("url_contains", ""),
            "count": t.get("count", 1),
            "days": t.get("days", 14),
            "form_id": t.get("form_id"),
            "score_gte": t.get("gte"),
            "grades": ",".join(t.get("in", [])),
            "to_stage": t.get("to_stage", ""),
            "date_field": t.get("field", ""),
            "offset_days": t.get("offset_days"),
            "goal_stage": goal_stage,
            "reentry": journey.reentry,
            "reentry_days": journey.reentry_days,
        }

    def apply(self, journey: Journey) -> Journey:
        d = self.cleaned_data
        kind = d["trigger_type"]
        trigger: dict = {"type": kind}
        if kind in {"segment_entry", "segment_exit"}:
            trigger["segment_id"] = d["segment_id"]
        elif kind == "touchpoint":
            trigger.update(
                touch_type=d["touch_type"],
                url_contains=d["url_contains"],
                count=d["count"] or 1,
                days=d["days"] or 14,
            )
        elif kind == "form_submitted":
            trigger["form_id"] = d["form_id"]
        elif kind == "score":
            trigger["gte"] = d["score_gte"] or 0
        elif kind == "grade":
            trigger["in"] = [g.strip().upper() for g in d["grades"].split(",") if g.strip()]
        elif kind == "lifecycle":
            trigger["to_stage"] = d["to_stage"]
        elif kind == "date":
            trigger.update(field=d["date_field"], offset_days=d["offset_days"] or 0)
        journey.name, journey.description = d["name"], d["description"]
        journey.trigger = trigger
        journey.goal = (
            [{"kind": "field", "field": "lifecycle_stage", "op": "eq", "value": d["goal_stage"]}]
            if d["goal_stage"]
            else []
        )
        journey.exit_conditions = [c for c in (f.condition() for f in self.exit_forms) if c]
        journey.reentry, journey.reentry_days = d["reentry"], d["reentry_days"] or 0
        return journey


OPS = [
    ("eq", _("is")),
    ("ne", _("is not")),
    ("gt", _("greater than")),
    ("gte", _("at least")),
    ("lt", _("less than")),
    ("lte", _("at most")),
    ("in", _("is one of (comma separated)")),
    ("contains", _("contains")),
    ("set", _("is set")),
    ("unset", _("is empty")),
]
CONDITION_KINDS = [
    ("", _("— (no condition)")),
    ("email", _("Email opened or clicked")),
    ("field", _("Contact field")),
    ("score", _("Score")),
    ("grade", _("Grade")),
    ("segment", _("Segment membership")),
    ("tag", _("Tag")),
    ("touchpoint", _("Touch seen")),
]
CONTACT_FIELD_LABELS = {
    "lifecycle_stage": _("Lifecycle stage"),
    "email_consent": _("Email consent"),
    "title": _("Title"),
    "department": _("Department"),
    "buying_role": _("Buying role"),
    "do_not_contact": _("Do not contact"),
    "owner_id": _("Owner (user id)"),
    "account_id": _("Company (account id)"),
    "email": _("Email address"),
}
# The inputs each condition kind reads (the row shows only these).
CONDITION_FIELDS = {
    "email": ["event", "step", "negate"],
    "field": ["field", "op", "value"],
    "score": ["score", "op", "value"],
    "grade": ["op", "value"],
    "segment": ["segment_id", "negate"],
    "tag": ["value"],
    "touchpoint": ["touch_type", "url_contains", "days", "count"],
}


class ConditionForm(forms.Form):
    """One condition of a branch, as typed inputs (conditions.py documents the kinds)."""

    kind = forms.ChoiceField(label=_("Condition"), choices=CONDITION_KINDS, required=False)
    event = forms.ChoiceField(
        label=_("Event"),
        choices=[("clicked", _("clicked")), ("opened", _("opened"))],
        required=False,
    )
    step = forms.ChoiceField(label=_("Email step"), required=False)
    field = forms.CharField(label=_("Field"), required=False)
    op = forms.ChoiceField(label=_("Operator"), choices=OPS, required=False)
    value = forms.CharField(label=_("Value"), required=False)
    score = forms.ChoiceField(
        label=_("Score"),
        choices=[("behaviour", _("Behaviour score")), ("fit", _("Fit score"))],
        required=False,
    )
    segment_id = forms.TypedChoiceField(
        label=_("Segment"), required=False, coerce=int, empty_value=None
    )
    negate = forms.BooleanField(label=_("Negate (not)"), required=False)
    touch_type = forms.ChoiceField(label=_("Touch type"), required=False)
    url_contains = forms.CharField(label=_("URL contains"), required=False)
    days = forms.IntegerField(label=_("Within days"), required=False, min_value=1)
    count = forms.IntegerField(label=_("At least N times"), required=False, min_value=1)

    def __init__(
        self,
        *args,
        email_steps: list[str],
        segments: list,
        touch_types: list,
        rerender: dict,
        **kw,
    ):
        super().__init__(*args, **kw)
        self.fields["kind"].widget.attrs.update(rerender)
        self.fields["step"].choices = [("", "—"), *((k, k) for k in email_steps)]
        self.fields["segment_id"].choices = [("", "—"), *segments]
        self.fields["touch_type"].choices = [("", _("Any type")), *touch_types]
        self.fields["field"].widget.attrs["list"] = "journey-condition-fields"

    @staticmethod
    def initial_for(cond: dict) -> dict:
        value = cond.get("value", "")
        return {
            **cond,
            "value": ", ".join(map(str, value)) if isinstance(value, list) else value,
            "negate": bool(cond.get("not")),
            "touch_type": cond.get("type", "") if cond.get("kind") == "touchpoint" else "",
        }

    def visible(self) -> list:
        """The bound fields this row shows: the kind, then the inputs of its kind."""
        kind = self["kind"].value() or ""
        return [self["kind"], *(self[name] for name in CONDITION_FIELDS.get(kind, []))]

    def clean(self) -> dict:
        d = super().clean()
        kind = d.get("kind")
        op = d.get("op") or "eq"
        if kind == "email" and not d.get("step"):
            self.add_error("step", _("Choose the email step."))
        if kind == "field":
            name = (d.get("field") or "").strip()
            custom = name.startswith("custom.") and len(name) > len("custom.")
            if name not in CONTACT_FIELDS and not custom:
                self.add_error("field", _("Choose a contact field, or write custom.<key>."))
        needs_value = kind in {"field", "score", "grade", "tag"} and op not in {"set", "unset"}
        if needs_value and not (d.get("value") or "").strip():
            self.add_error("value", _("Enter a value."))
        if kind == "score" and (d.get("value") or "").strip():
            try:
                int((d.get("value") or "").strip())
            except ValueError:
                self.add_error("value", _("Enter a whole number of points."))
        if kind == "grade" and op not in {"eq", "ne", "in"}:
            self.add_error("op", _("A grade is tested with is, is not or is one of."))
        if kind == "segment" and not d.get("segment_id"):
            self.add_error("segment_id", _("Choose the segment."))
        return d

    def condition(self) -> dict | None:
        """The condition as stored in the graph; None for an empty row."""
        d = self.cleaned_data
        kind = d.get("kind")
        if not kind:
            return None
        op, raw = d.get("op") or "eq", (d.get("value") or "").strip()
        value: object = raw
        if op == "in":
            value = [v.strip() for v in raw.split(",") if v.strip()]
        if kind == "email":
            cond = {"kind": "email", "event": d["event"] or "clicked", "step": d["step"]}
            return {**cond, "not": True} if d.get("negate") else cond
        if kind == "field":
            return {"kind": "field", "field": d["field"].strip(), "op": op, "value": value}
        if kind == "score":
            cond = {"kind": "score", "op": op, "value": int(raw or 0)}
            return {**cond, "score": "fit"} if d.get("score") == "fit" else cond
        if kind == "grade":
            value = [v.upper() for v in value] if isinstance(value, list) else raw.upper()
            return {"kind": "grade", "op": op, "value": value}
        if kind == "segment":
            cond = {"kind": "segment", "segment_id": d["segment_id"]}
            return {**cond, "not": True} if d.get("negate") else cond
        if kind == "tag":
            return {"kind": "tag", "value": raw}
        return {
            "kind": "touchpoint",
            "type": d.get("touch_type") or "",
            "url_contains": (d.get("url_contains") or "").strip(),
            "days": d.get("days") or 30,
            "count": d.get("count") or 1,
        }


# The inputs each step type reads, after the key, the type and (where it has one) "next".
TYPE_FIELDS = {
    "email": ["template_id"],
    "wait": [
        "mode",
        "wait_days",
        "wait_hours",
        "wait_minutes",
        "at_hour",
        "until",
        "sending_hours",
    ],
    "branch": ["yes", "no"],
    "split": ["branches"],
    "update_field": ["field", "value"],
    "lifecycle": ["stage"],
    "score": ["points"],
    "tags": ["add", "remove"],
    "list": ["segment_id", "action"],
    "stream": ["stream_id"],
    "owner": ["user_id"],
    "task": ["title"],
    "notify": ["title"],
    "webhook": ["url", "on_failure"],
    "exit": ["goal"],
}
WAIT_FIELDS = {
    "duration": ["mode", "wait_days", "wait_hours", "wait_minutes", "sending_hours"],
    "business_days": ["mode", "wait_days", "at_hour", "sending_hours"],
    "until": ["mode", "until", "sending_hours"],
}
NO_NEXT = {"branch", "split", "exit"}
UPDATABLE_FIELDS = ["title", "department", "buying_role", "do_not_contact"]


def _condition_picks(steps: dict, rerender: dict) -> dict:
    return {
        "email_steps": [k for k, v in steps.items() if v.get("type") == "email"],
        "segments": pickers.segments(),
        "touch_types": pickers.touch_types(),
        "rerender": rerender,
    }


def condition_forms(
    data,
    *,
    source: dict,
    conditions: list[dict] | None,
    prefix: str,
    count_field: str,
    add: bool,
    picks: dict,
) -> list[ConditionForm]:
    """Rows of ConditionForm (prefix `<prefix>-N`): from stored conditions, from what was
    posted (`count_field` rows), or re-rendered while editing; always at least one row."""
    if data is None and conditions is not None:
        rows = [ConditionForm.initial_for(c) for c in conditions]
    else:
        count = _int(source.get(count_field), 0)
        rows = [
            {name: source.get(f"{prefix}-{i}-{name}") for name in ConditionForm.base_fields}
            for i in range(count)
        ]
        if data is None:  # re-rendered while editing: drop the rows emptied out
            rows = [r for r in rows if r.get("kind")]
    if add or not rows:
        rows.append({"kind": ""})
    if data is not None:
        return [ConditionForm(data, prefix=f"{prefix}-{i}", **picks) for i in range(len(rows))]
    return [
        ConditionForm(prefix=f"{prefix}-{i}", initial=row, **picks) for i, row in enumerate(rows)
    ]


class StepForm(forms.Form):
    """One step. Only the inputs of the chosen type are shown and read.

    Things are picked by name (templates, static lists, users, stages, tags); a branch's
    conditions are rows of typed inputs (ConditionForm, prefix `cond-N`), `cond_rows` of them.
    """

    key = forms.CharField(label=_("Step key"), max_length=40)
    type = forms.ChoiceField(label=_("Type"), choices=STEP_TYPES)
    next = forms.CharField(label=_("Next step"), required=False, max_length=40)
    template_id = forms.TypedChoiceField(
        label=_("Email template"), required=False, coerce=int, empty_value=None
    )
    mode = forms.ChoiceField(label=_("Wait"), choices=WAIT_MODES, required=False)
    wait_days = forms.IntegerField(label=_("Days"), required=False, min_value=0)
    wait_hours = forms.IntegerField(label=_("Hours"), required=False, min_value=0)
    wait_minutes = forms.IntegerField(label=_("Minutes"), required=False, min_value=0)
    at_hour = forms.IntegerField(label=_("At hour"), required=False, min_value=0, max_value=23)
    until = forms.CharField(label=_("Until (YYYY-MM-DD HH:MM)"), required=False)
    sending_hours = forms.BooleanField(label=_("Only within sending hours"), required=False)
    yes = forms.CharField(label=_("If yes, go to"), required=False, max_length=40)
    no = forms.CharField(label=_("If no, go to"), required=False, max_length=40)
    branches = forms.CharField(label=_("Paths (percent:step, …)"), required=False)
    field = forms.CharField(label=_("Field"), required=False)
    value = forms.CharField(label=_("Value"), required=False)
    stage = forms.ChoiceField(
        label=_("Lifecycle stage"), choices=[("", "—"), *LifecycleStage.choices], required=False
    )
    points = forms.IntegerField(label=_("Points (±)"), required=False)
    add = forms.CharField(label=_("Tags to add (comma separated)"), required=False)
    remove = forms.CharField(label=_("Tags to remove (comma separated)"), required=False)
    segment_id = forms.TypedChoiceField(
        label=_("Static list"), required=False, coerce=int, empty_value=None
    )
    action = forms.ChoiceField(
        label=_("Action"), choices=[("add", _("Add")), ("remove", _("Remove"))], required=False
    )
    stream_id = forms.TypedChoiceField(
        label=_("Nurture stream"), required=False, coerce=int, empty_value=None
    )
    user_id = forms.TypedChoiceField(label=_("User"), required=False, coerce=int, empty_value=None)
    title = forms.CharField(label=_("Title"), required=False, max_length=200)
    url = forms.URLField(label=_("Webhook URL"), required=False, assume_scheme="https")
    on_failure = forms.ChoiceField(
        label=_("When the step fails"),
        choices=[("stop", _("Stop the enrolment")), ("continue", _("Continue with the next step"))],
        required=False,
    )
    goal = forms.BooleanField(label=_("Counts as the goal"), required=False)
    cond_rows = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(
        self,
        data=None,
        *,
        journey: Journey,
        initial: dict | None = None,
        conditions: list[dict] | None = None,
        add_condition: bool = False,
        rerender_url: str = "",
    ) -> None:
        super().__init__(data, initial=initial)
        self.journey = journey
        # Changing the type, the wait mode or a condition's kind re-renders the panel (htmx)
        # with the inputs of the new choice, keeping what was typed.
        rerender = {
            "hx-get": rerender_url,
            "hx-trigger": "change",
            "hx-target": "#step-panel",
            "hx-swap": "innerHTML",
            # A newer change replaces a re-render still in flight: an older answer arriving
            # last would otherwise undo what was just chosen.
            "hx-sync": "closest form:replace",
            "hx-include": "closest form",
        }
        self.rerender_url = rerender_url
        for name in ("type", "mode"):
            self.fields[name].widget.attrs.update(rerender)
        self.fields["template_id"].choices = [("", "—"), *pickers.templates()]
        self.fields["segment_id"].choices = [("", "—"), *pickers.segments(static_only=True)]
        self.fields["user_id"].choices = [("", "—"), *pickers.users()]
        self.fields["stream_id"].choices = [("", "—"), *pickers.streams()]
        for name in ("next", "yes", "no"):
            self.fields[name].widget.attrs["list"] = "journey-step-keys"
        for name in ("add", "remove"):
            self.fields[name].widget.attrs["list"] = "journey-tags"
        self.fields["field"].widget.attrs["list"] = "journey-update-fields"
        self.tags = pickers.tags()
        self.step_keys = list(journey.steps)
        self.update_fields = UPDATABLE_FIELDS
        self.condition_fields = list(CONTACT_FIELD_LABELS.items())
        self.condition_forms = condition_forms(
            data,
            source=data if data is not None else (initial or {}),
            conditions=conditions,
            prefix="cond",
            count_field="cond_rows",
            add=add_condition,
            picks=_condition_picks(journey.steps, rerender),
        )
        self.initial["cond_rows"] = len(self.condition_forms)

    @property
    def kind(self) -> str:
        return str(self["type"].value() or "email")

    def visible(self) -> list:
        """The bound fields to show: key, type, next (where it applies), then the type's own."""
        names = ["key", "type"]
        if self.kind not in NO_NEXT:
            names.append("next")
        own = TYPE_FIELDS.get(self.kind, [])
        if self.kind == "wait":
            own = WAIT_FIELDS.get(str(self["mode"].value() or "duration"), own)
        return [self[name] for name in (*names, *own)]

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if self.kind == "branch":
            valid = all([c.is_valid() for c in self.condition_forms]) and valid
            if valid and not any(c.condition() for c in self.condition_forms):
                self.add_error(None, _("Add at least one condition."))
                valid = False
        return valid

    def clean_key(self) -> str:
        key = self.cleaned_data["key"].strip()
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", key):
            raise forms.ValidationError(_("Use letters, digits, - and _ only."))
        return key

    def clean_branches(self) -> list:
        out = []
        for part in filter(None, (p.strip() for p in self.cleaned_data["branches"].split(","))):
            percent, _sep, target = part.partition(":")
            if not percent.strip().isdigit() or not target.strip():
                raise forms.ValidationError(_("Write each path as percent:step, e.g. 50:a, 50:b."))
            out.append({"percent": int(percent), "next": target.strip()})
        return out

    def clean(self) -> dict:
        d = super().clean()
        kind = d.get("type")
        required = {
            "email": ("template_id", _("Choose the email template.")),
            "lifecycle": ("stage", _("Choose the lifecycle stage.")),
            "list": ("segment_id", _("Choose the static list.")),
            "stream": ("stream_id", _("Choose the nurture stream.")),
            "owner": ("user_id", _("Choose the user.")),
            "webhook": ("url", _("Enter the webhook URL.")),
        }
        if kind in required and not d.get(required[kind][0]):
            self.add_error(*required[kind])
        if kind == "update_field":
            name = (d.get("field") or "").strip()
            custom = name.startswith("custom.") and len(name) > len("custom.")
            if name not in UPDATABLE_FIELDS and not custom:
                self.add_error("field", _("Choose a field, or write custom.<key>."))
        if kind == "tags" and not (d.get("add") or "").strip() and not (d.get("remove") or ""):
            self.add_error("add", _("Enter tags to add or to remove."))
        return d

    @classmethod
    def initial_for(cls, key: str, step: dict) -> dict:
        initial = {"key": key, **step}
        initial.pop("conditions", None)
        initial.update(
            wait_days=step.get("days"),
            wait_hours=step.get("hours"),
            wait_minutes=step.get("minutes"),
            at_hour=step.get("hour"),
            until=step.get("at", ""),
            branches=", ".join(
                f"{b.get('percent')}:{b.get('next')}" for b in step.get("branches", [])
            ),
            add=", ".join(step.get("add", [])),
            remove=", ".join(step.get("remove", [])),
        )
        if step.get("type") == "score":
            initial["points"] = step.get("points")
        return initial

    def step(self) -> dict:
        d = self.cleaned_data
        kind = d["type"]
        step: dict = {"type": kind}
        if kind not in NO_NEXT and d["next"]:
            step["next"] = d["next"].strip()
        if kind == "email":
            step["template_id"] = d["template_id"]
        elif kind == "wait":
            step["mode"] = d["mode"] or "duration"
            if step["mode"] == "until":
                step["at"] = d["until"].strip().replace(" ", "T")
            else:
                step["days"] = d["wait_days"] or 0
                if step["mode"] == "duration":
                    step.update(hours=d["wait_hours"] or 0, minutes=d["wait_minutes"] or 0)
                elif d["at_hour"] is not None:
                    step["hour"] = d["at_hour"]
            if d["sending_hours"]:
                step["sending_hours"] = True
        elif kind == "branch":
            conds = [c.condition() for c in self.condition_forms]
            step.update(
                conditions=[c for c in conds if c], yes=d["yes"].strip(), no=d["no"].strip()
            )
        elif kind == "split":
            step["branches"] = d["branches"]
        elif kind == "update_field":
            step.update(field=d["field"].strip(), value=d["value"])
        elif kind == "lifecycle":
            step["stage"] = d["stage"]
        elif kind == "score":
            step["points"] = d["points"] or 0
        elif kind == "tags":
            step["add"] = [t.strip() for t in d["add"].split(",") if t.strip()]
            step["remove"] = [t.strip() for t in d["remove"].split(",") if t.strip()]
        elif kind == "list":
            step.update(segment_id=d["segment_id"], action=d["action"] or "add")
        elif kind == "stream":
            step["stream_id"] = d["stream_id"]
        elif kind == "owner":
            step["user_id"] = d["user_id"]
        elif kind in {"task", "notify"}:
            step["title"] = d["title"]
        elif kind == "webhook":
            step.update(url=d["url"], on_failure=d["on_failure"] or "stop")
        elif kind == "exit" and d["goal"]:
            step["goal"] = True
        return step


def _int(raw, default: int) -> int:
    try:
        return max(0, min(int(raw), 20))
    except (TypeError, ValueError):
        return default


class CsvForm(forms.Form):
    file = forms.FileField(label=_("CSV file (an email column)"))


WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


class StreamForm(forms.Form):
    """A nurture stream's name and cadence (every N weeks on a weekday at an hour)."""

    name = forms.CharField(label=_("Name"), max_length=120)
    every_weeks = forms.IntegerField(label=_("Every N weeks"), min_value=1, max_value=52, initial=2)
    weekday = forms.TypedChoiceField(label=_("Weekday"), choices=WEEKDAYS, coerce=int, initial=1)
    hour = forms.IntegerField(label=_("Hour"), min_value=0, max_value=23, initial=10)
    is_active = forms.BooleanField(
        label=_("Active (sends at each slot)"), required=False, initial=True
    )


class StreamItemForm(forms.Form):
    """Content appended to a stream: a template, and the URL that counts as already read."""

    template_id = forms.TypedChoiceField(label=_("Email template"), coerce=int, empty_value=None)
    content_url = forms.CharField(
        label=_("Content URL (a visit counts as read)"), max_length=1000, required=False
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template_id"].choices = [("", "—"), *pickers.templates()]
