"""Reads for the journey pages: lists, per-step counts, the report and the dry-run estimate."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Avg, CharField, Count, DurationField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from tsunagari.crm.models import LIVE, Contact
from tsunagari.journeys import conditions, triggers
from tsunagari.journeys import graph as graphs
from tsunagari.journeys.models import Enrolment, Journey, StepRun

PAGE_SIZE = 50


def journeys_list():
    """The newest version of each journey family, newest first."""
    return Journey.objects.exclude(status=Journey.Status.RETIRED).order_by("-updated_at")


def family_counts(family_ids: list[int]) -> dict[int, dict[str, int]]:
    rows = (
        Enrolment.objects.filter(family_id__in=family_ids)
        .values("family_id", "status")
        .annotate(n=Count("id"))
    )
    out: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        out[row["family_id"]][row["status"]] += row["n"]
    return out


def step_counts(journey: Journey) -> dict[str, dict[str, int]]:
    """Per step of the family: entered (runs made), waiting, done, failed, exited, goal."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    runs = (
        StepRun.objects.filter(journey__family_id=journey.family_id)
        .values("step_key", "status")
        .annotate(n=Count("id"))
    )
    for row in runs:
        c = counts[row["step_key"]]
        c["entered"] += row["n"]
        if row["status"] in ("ready", "running"):
            c["waiting"] += row["n"]
        elif row["status"] == "done":
            c["done"] += row["n"]
        elif row["status"] == "failed":
            c["failed"] += row["n"]
        elif row["status"] == "cancelled":
            c["exited"] += row["n"]
    outcomes = (
        StepRun.objects.filter(journey__family_id=journey.family_id, status="done")
        .exclude(outcome__in=["", "done"])
        .values("step_key", "outcome")
        .annotate(n=Count("id"))
    )
    for row in outcomes:
        counts[row["step_key"]][f"outcome:{row['outcome']}"] += row["n"]
    return counts


@dataclass
class Node:
    key: str
    step: dict
    depth: int
    label: str = ""  # "yes", "no", "A 50%"…
    counts: dict = field(default_factory=dict)
    repeat: bool = False  # already shown above (a loop or a join)
    target: str = ""  # the name of what the step uses: its template, list, stream or user


def tree(journey: Journey, counts: dict | None = None) -> list[Node]:
    """The graph as an indented list from the start: branches nest, joins show once."""
    steps, seen, out = journey.steps, set(), []
    counts = counts or {}

    def walk(key: str | None, depth: int, label: str = "") -> None:
        while key and key in steps:
            if key in seen:
                out.append(Node(key, steps[key], depth, label, counts.get(key, {}), repeat=True))
                return
            seen.add(key)
            step = steps[key]
            out.append(Node(key, step, depth, label, counts.get(key, {})))
            label = ""
            kind = step.get("type")
            if kind == "branch":
                walk(step.get("yes"), depth + 1, "yes")
                walk(step.get("no"), depth + 1, "no")
                return
            if kind == "split":
                for i, b in enumerate(step.get("branches", [])):
                    walk(b.get("next"), depth + 1, f"{chr(65 + i)} {b.get('percent', 0)}%")
                return
            if kind == "exit":
                return
            key = step.get("next")

    walk(journey.start, 0)
    for key, step in steps.items():  # unreachable steps last, so they can be fixed
        if key not in seen:
            out.append(Node(key, step, 0, "unreachable", counts.get(key, {})))
    _name_targets(out)
    return out


def _name_targets(nodes: list[Node]) -> None:
    """Fill each node's `target` with a name instead of an id (one query per kind of thing)."""
    from tsunagari.core.models import User
    from tsunagari.journeys.models import Stream
    from tsunagari.mail.models import Template
    from tsunagari.segments.models import Segment

    wanted = {"email": ("template_id", Template), "list": ("segment_id", Segment)}
    wanted |= {"stream": ("stream_id", Stream), "owner": ("user_id", User)}
    for kind, (attr, model) in wanted.items():
        mine = [n for n in nodes if n.step.get("type") == kind and n.step.get(attr)]
        if not mine:
            continue
        found = model.objects.in_bulk([n.step[attr] for n in mine if str(n.step[attr]).isdigit()])
        for n in mine:
            row = found.get(int(n.step[attr])) if str(n.step[attr]).isdigit() else None
            n.target = str(row) if row is not None else f"#{n.step[attr]}"


def _email_keys(journey: Journey, step_key: str):
    return (
        Enrolment.objects.filter(family_id=journey.family_id)
        .annotate(
            k=Concat(
                Value("journey:"),
                Cast("id", CharField()),
                Value(f":{step_key}"),
                output_field=CharField(),
            )
        )
        .values("k")
    )


def report(journey: Journey) -> dict:
    """Enrolled, completed, goal conversion, time to goal; per email step sent, opened, clicked."""
    from tsunagari.mail.models import Message

    family = Enrolment.objects.filter(family_id=journey.family_id)
    by_status = dict(family.values_list("status").annotate(n=Count("id")))
    enrolled = sum(by_status.values())
    goal = by_status.get(Enrolment.Status.GOAL, 0)
    to_goal = family.filter(status=Enrolment.Status.GOAL).aggregate(
        t=Avg(ExpressionWrapper(F("ended_at") - F("entered_at"), output_field=DurationField()))
    )["t"]
    emails = []
    for key, step in journey.steps.items():
        if step.get("type") != "email":
            continue
        messages = Message.objects.filter(idempotency_key__in=_email_keys(journey, key))
        stats = messages.aggregate(
            queued=Count("id"),
            sent=Count("id", filter=Q(status="sent")),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        )
        emails.append({"key": key, **stats})
    return {
        "enrolled": enrolled,
        "active": by_status.get(Enrolment.Status.ACTIVE, 0),
        "completed": by_status.get(Enrolment.Status.COMPLETED, 0),
        "goal": goal,
        "exited": by_status.get(Enrolment.Status.EXITED, 0),
        "failed": by_status.get(Enrolment.Status.FAILED, 0),
        "conversion": (goal / enrolled * 100) if enrolled else 0.0,
        "time_to_goal": to_goal,
        "emails": emails,
    }


# --- Dry run ---------------------------------------------------------------------------------


def entering(journey: Journey, now: dt.datetime) -> Q | None:
    """Contacts who would enter if the journey were published now (None: not knowable)."""
    trigger = journey.trigger or {}
    kind = trigger.get("type", "manual")
    if kind in {"score", "grade", "date"}:
        return Q(pk__in=triggers.matching_contacts(trigger, now).values("pk"))
    if kind == "segment_entry":
        return conditions.contact_q(
            {"kind": "segment", "segment_id": trigger.get("segment_id")}, now
        )
    if kind == "lifecycle":
        return Q(lifecycle_stage=trigger.get("to_stage"))
    if kind in {"touchpoint", "form_submitted"}:
        cond = {
            "kind": "touchpoint",
            "type": trigger.get("touch_type")
            or ("form_submitted" if kind == "form_submitted" else None),
            "url_contains": trigger.get("url_contains"),
            "form_id": trigger.get("form_id"),
            "days": trigger.get("days", 14 if kind == "touchpoint" else 30),
            "count": trigger.get("count", 1),
        }
        return conditions.contact_q(cond, now)
    return None


def dry_run(journey: Journey, now: dt.datetime | None = None) -> dict:
    """How many would enter now and go down each path whose condition is known today.

    Sends and writes nothing. Conditions on future behaviour (email opened or clicked) cannot
    be known: their paths are marked "unknown" and the whole count continues on both.
    """
    now = now or timezone.now()
    start_q = entering(journey, now)
    if start_q is None:
        return {"entering": None, "steps": {}}
    base = Contact.objects.filter(LIVE)
    if journey.reentry == Journey.Reentry.NEVER:
        base = base.exclude(
            pk__in=Enrolment.objects.filter(family_id=journey.family_id).values("contact_id")
        )
    total = base.filter(start_q).count()
    steps, estimate = journey.steps, {}

    def walk(key: str | None, q: Q, count: int | None, depth: int = 0) -> None:
        if not key or key not in steps or depth > 60 or key in estimate:
            return
        estimate[key] = count
        step = steps[key]
        kind = step.get("type")
        if kind == "branch":
            conds = step.get("conditions", [])
            if count is None or any(c.get("kind") == "email" for c in conds):
                walk(step.get("yes"), q, None, depth + 1)
                walk(step.get("no"), q, None, depth + 1)
                return
            yes_q = Q()
            for cond in conds:
                yes_q &= conditions.contact_q(cond, now)
            yes = base.filter(q).filter(yes_q).distinct().count()
            walk(step.get("yes"), q & yes_q, yes, depth + 1)
            walk(step.get("no"), q & ~yes_q, count - yes, depth + 1)
        elif kind == "split":
            for b in step.get("branches", []):
                share = None if count is None else round(count * int(b.get("percent", 0)) / 100)
                walk(b.get("next"), q, share, depth + 1)
        elif kind != "exit":
            walk(step.get("next"), q, count, depth + 1)

    walk(journey.start, start_q, total)
    return {"entering": total, "steps": estimate}


def problems_by_step(journey: Journey) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for key, message in graphs.problems(journey.graph):
        out[key].append(message)
    return dict(out)
