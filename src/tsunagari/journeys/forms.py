"""Forms of the journey editor: the journey's settings and one step at a time."""

from __future__ import annotations

import json
import re

from django import forms
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.choices import LifecycleStage
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


def _json_list(raw: str, what: str) -> list:
    if not raw.strip():
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            _("%(what)s is not valid JSON: %(error)s") % {"what": what, "error": exc.msg}
        ) from None
    if not isinstance(value, list):
        raise forms.ValidationError(_("%(what)s must be a JSON list.") % {"what": what})
    return value


class JourneyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(label=_("Description"), max_length=500, required=False)
    trigger_type = forms.ChoiceField(label=_("Trigger"), choices=TRIGGERS)
    segment_id = forms.IntegerField(label=_("Segment id"), required=False)
    touch_type = forms.CharField(label=_("Touch type"), required=False, initial="page_view")
    url_contains = forms.CharField(label=_("URL contains"), required=False)
    count = forms.IntegerField(label=_("Times (N)"), required=False, min_value=1, initial=1)
    days = forms.IntegerField(label=_("Within days (D)"), required=False, min_value=1, initial=14)
    form_id = forms.IntegerField(label=_("Form id"), required=False)
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
    exit_conditions = forms.CharField(
        label=_("Exit conditions (JSON, advanced)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    reentry = forms.ChoiceField(label=_("Re-entry"), choices=Journey.Reentry.choices)
    reentry_days = forms.IntegerField(label=_("Re-entry after (days)"), required=False, min_value=0)

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
            "exit_conditions": json.dumps(journey.exit_conditions, ensure_ascii=False)
            if journey.exit_conditions
            else "",
            "reentry": journey.reentry,
            "reentry_days": journey.reentry_days,
        }

    def clean_exit_conditions(self) -> list:
        return _json_list(self.cleaned_data["exit_conditions"], _("Exit conditions"))

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
        journey.exit_conditions = d["exit_conditions"]
        journey.reentry, journey.reentry_days = d["reentry"], d["reentry_days"] or 0
        return journey


class StepForm(forms.Form):
    """One step. Only the fields of the chosen type are read; the rest are ignored."""

    key = forms.CharField(label=_("Step key"), max_length=40)
    type = forms.ChoiceField(label=_("Type"), choices=STEP_TYPES)
    next = forms.CharField(label=_("Next step"), required=False, max_length=40)
    template_id = forms.IntegerField(label=_("Email template id"), required=False)
    mode = forms.ChoiceField(label=_("Wait"), choices=WAIT_MODES, required=False)
    wait_days = forms.IntegerField(label=_("Days"), required=False, min_value=0)
    wait_hours = forms.IntegerField(label=_("Hours"), required=False, min_value=0)
    wait_minutes = forms.IntegerField(label=_("Minutes"), required=False, min_value=0)
    at_hour = forms.IntegerField(label=_("At hour"), required=False, min_value=0, max_value=23)
    until = forms.CharField(label=_("Until (YYYY-MM-DD HH:MM)"), required=False)
    sending_hours = forms.BooleanField(label=_("Only within sending hours"), required=False)
    conditions = forms.CharField(
        label=_("Conditions (JSON)"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
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
    segment_id = forms.IntegerField(label=_("Static list id"), required=False)
    action = forms.ChoiceField(
        label=_("Action"), choices=[("add", _("Add")), ("remove", _("Remove"))], required=False
    )
    user_id = forms.IntegerField(label=_("User id"), required=False)
    title = forms.CharField(label=_("Title"), required=False, max_length=200)
    url = forms.URLField(label=_("Webhook URL"), required=False, assume_scheme="https")
    on_failure = forms.ChoiceField(
        label=_("When the step fails"),
        choices=[("stop", _("Stop the enrolment")), ("continue", _("Continue with the next step"))],
        required=False,
    )
    goal = forms.BooleanField(label=_("Counts as the goal"), required=False)

    def clean_key(self) -> str:
        key = self.cleaned_data["key"].strip()
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", key):
            raise forms.ValidationError(_("Use letters, digits, - and _ only."))
        return key

    def clean_conditions(self) -> list:
        return _json_list(self.cleaned_data["conditions"], _("Conditions"))

    def clean_branches(self) -> list:
        out = []
        for part in filter(None, (p.strip() for p in self.cleaned_data["branches"].split(","))):
            percent, _sep, target = part.partition(":")
            if not percent.strip().isdigit() or not target.strip():
                raise forms.ValidationError(_("Write each path as percent:step, e.g. 50:a, 50:b."))
            out.append({"percent": int(percent), "next": target.strip()})
        return out

    @classmethod
    def initial_for(cls, key: str, step: dict) -> dict:
        initial = {"key": key, **step}
        initial.update(
            wait_days=step.get("days"),
            wait_hours=step.get("hours"),
            wait_minutes=step.get("minutes"),
            at_hour=step.get("hour"),
            until=step.get("at", ""),
            conditions=json.dumps(step.get("conditions", []), ensure_ascii=False)
            if step.get("conditions")
            else "",
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
        if kind not in {"branch", "split", "exit"} and d["next"]:
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
            step.update(conditions=d["conditions"], yes=d["yes"].strip(), no=d["no"].strip())
        elif kind == "split":
            step["branches"] = d["branches"]
        elif kind == "update_field":
            step.update(field=d["field"], value=d["value"])
        elif kind == "lifecycle":
            step["stage"] = d["stage"]
        elif kind == "score":
            step["points"] = d["points"] or 0
        elif kind == "tags":
            step["add"] = [t.strip() for t in d["add"].split(",") if t.strip()]
            step["remove"] = [t.strip() for t in d["remove"].split(",") if t.strip()]
        elif kind == "list":
            step.update(segment_id=d["segment_id"], action=d["action"] or "add")
        elif kind == "owner":
            step["user_id"] = d["user_id"]
        elif kind in {"task", "notify"}:
            step["title"] = d["title"]
        elif kind == "webhook":
            step.update(url=d["url"], on_failure=d["on_failure"] or "stop")
        elif kind == "exit" and d["goal"]:
            step["goal"] = True
        return step


class CsvForm(forms.Form):
    file = forms.FileField(label=_("CSV file (an email column)"))
