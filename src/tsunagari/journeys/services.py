"""Writes: save, publish (versioning), pause, resume, archive, manual and CSV enrolment."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.core.models import User
from tsunagari.crm.models import LIVE, Contact
from tsunagari.journeys import engine, triggers
from tsunagari.journeys import graph as graphs
from tsunagari.journeys.models import Enrolment, Journey, StepRun


class JourneyError(ValueError):
    """A change refused, with the reasons (shown beside the form)."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


def journey_create(*, name: str, actor: User | None = None, **fields) -> Journey:
    with transaction.atomic():
        journey = Journey.objects.create(name=name, created_by=actor, **fields)
        Journey.objects.filter(pk=journey.pk).update(family_id=journey.pk)
        journey.family_id = journey.pk
    return journey


def journey_edit(journey: Journey) -> Journey:
    """The draft to edit: the journey itself when it is a draft, else a new version.

    Editing a live journey never changes what running contacts do until the new version is
    published; the draft copies the graph, trigger, goal and rules of the version it came from.
    """
    if journey.status == Journey.Status.DRAFT:
        return journey
    existing = Journey.objects.filter(
        family_id=journey.family_id, status=Journey.Status.DRAFT
    ).first()
    if existing is not None:
        return existing
    latest = max(
        Journey.objects.filter(family_id=journey.family_id).values_list("version", flat=True)
    )
    return Journey.objects.create(
        name=journey.name,
        description=journey.description,
        family_id=journey.family_id,
        version=latest + 1,
        trigger=journey.trigger,
        graph=journey.graph,
        goal=journey.goal,
        exit_conditions=journey.exit_conditions,
        reentry=journey.reentry,
        reentry_days=journey.reentry_days,
        trigger_cursor=journey.trigger_cursor,
        created_by=journey.created_by,
    )


def journey_problems(journey: Journey) -> list[tuple[str, str]]:
    found = graphs.problems(journey.graph)
    found += [("", m) for m in triggers.problems(journey.trigger)]
    from tsunagari.journeys.conditions import problems as condition_problems

    found += [("", m) for m in condition_problems(journey.goal + journey.exit_conditions)]
    return found


def replacement(old_graph: dict, new_steps: dict, key: str) -> str | None:
    """Where a contact waiting in `key` goes when `key` is not in the new version.

    The documented rule: the first step after `key` in the OLD graph (following `next`, or
    the "no" path of a branch, or a split's first path) that exists in the new version; None
    when there is none (the enrolment then ends as exited, reason "step removed").
    """
    steps, seen = old_graph.get("steps", {}), set()
    while key and key not in seen:
        seen.add(key)
        if key in new_steps:
            return key
        step = steps.get(key, {})
        kind = step.get("type")
        if kind == "branch":
            key = step.get("no") or step.get("yes")
        elif kind == "split":
            key = next((b.get("next") for b in step.get("branches", []) if b.get("next")), None)
        else:
            key = step.get("next")
    return None


def move_waiting(old: Journey, new: Journey, now: dt.datetime | None = None) -> int:
    """Move the old version's active enrolments and waiting runs to the new version.

    Set-based: one UPDATE per step key of the old version. Also run by the worker for runs
    a worker created on the old version while the publish happened.
    """
    now = now or timezone.now()
    moved = 0
    keys = set(old.steps) | set(
        StepRun.objects.filter(journey=old, status=StepRun.Status.READY)
        .values_list("step_key", flat=True)
        .distinct()
    )
    for key in keys:
        target = replacement(old.graph, new.steps, key)
        runs = StepRun.objects.filter(
            journey=old, step_key=key, status__in=[StepRun.Status.READY, StepRun.Status.RUNNING]
        )
        enrolments = Enrolment.objects.filter(
            journey=old, step_key=key, status=Enrolment.Status.ACTIVE
        )
        if target is None:
            ids = list(enrolments.values_list("pk", flat=True)) + list(
                runs.values_list("enrolment_id", flat=True)
            )
            engine.end_enrolments(ids, Enrolment.Status.EXITED, "step removed", now)
            continue
        moved += enrolments.update(journey=new, step_key=target)
        runs.update(journey=new, step_key=target)
    Enrolment.objects.filter(journey=old, status=Enrolment.Status.ACTIVE).update(journey=new)
    return moved


def journey_publish(*, journey: Journey, actor: User | None = None) -> Journey:
    """Validate and make this version live; the live version it replaces retires."""
    found = journey_problems(journey)
    if found:
        raise JourneyError([f"{k}: {m}" if k else m for k, m in found])
    if journey.status not in {Journey.Status.DRAFT, Journey.Status.PAUSED}:
        raise JourneyError([_("Only a draft or a paused journey can be published.")])
    now = timezone.now()
    with transaction.atomic():
        previous = (
            Journey.objects.select_for_update()
            .filter(
                family_id=journey.family_id, status__in=[Journey.Status.LIVE, Journey.Status.PAUSED]
            )
            .exclude(pk=journey.pk)
            .first()
        )
        if previous is not None:
            Journey.objects.filter(pk=previous.pk).update(status=Journey.Status.RETIRED)
        Journey.objects.filter(pk=journey.pk).update(status=Journey.Status.LIVE, published_at=now)
        if previous is None and (journey.trigger or {}).get("type") == "lifecycle":
            # Transitions from before the first publish do not enrol anyone.
            from tsunagari.crm.models import LifecycleTransition

            last = LifecycleTransition.objects.order_by("-pk").values_list("pk", flat=True).first()
            Journey.objects.filter(pk=journey.pk).update(trigger_cursor=last or 0)
        journey.status, journey.published_at = Journey.Status.LIVE, now
        if previous is not None:
            move_waiting(previous, journey, now)
    return journey


def journey_pause(*, journey: Journey) -> Journey:
    """Stop running steps; waits keep counting, due steps run on resume. Triggers stop."""
    if journey.status != Journey.Status.LIVE:
        raise JourneyError([_("Only a live journey can be paused.")])
    Journey.objects.filter(pk=journey.pk).update(status=Journey.Status.PAUSED)
    journey.status = Journey.Status.PAUSED
    return journey


def journey_resume(*, journey: Journey) -> Journey:
    if journey.status != Journey.Status.PAUSED:
        raise JourneyError([_("Only a paused journey can be resumed.")])
    Journey.objects.filter(pk=journey.pk).update(status=Journey.Status.LIVE)
    journey.status = Journey.Status.LIVE
    return journey


def journey_archive(*, journey: Journey) -> Journey:
    """Stop for good: every active enrolment ends as exited."""
    with transaction.atomic():
        ids = list(
            Enrolment.objects.filter(
                family_id=journey.family_id, status=Enrolment.Status.ACTIVE
            ).values_list("pk", flat=True)
        )
        engine.end_enrolments(ids, Enrolment.Status.EXITED, "journey archived")
        Journey.objects.filter(
            family_id=journey.family_id, status__in=[Journey.Status.LIVE, Journey.Status.PAUSED]
        ).update(status=Journey.Status.ARCHIVED)
    journey.refresh_from_db()
    return journey


def live_version(journey: Journey) -> Journey | None:
    return Journey.objects.filter(family_id=journey.family_id, status=Journey.Status.LIVE).first()


def enrol_manual(*, journey: Journey, contact_ids, actor: User | None = None) -> int:
    live = live_version(journey)
    if live is None:
        raise JourneyError([_("Publish the journey before enrolling contacts.")])
    return engine.enrol(live, contact_ids, source=f"manual:{actor.pk if actor else ''}")


def enrol_csv(*, journey: Journey, data: bytes, actor: User | None = None) -> tuple[int, list[str]]:
    """Enrol the contacts whose email addresses a CSV lists (first column or `email`).

    Returns (entered, addresses not found). A file that does not decode changes nothing.
    """
    live = live_version(journey)
    if live is None:
        raise JourneyError([_("Publish the journey before enrolling contacts.")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp932")
        except UnicodeDecodeError:
            raise JourneyError([_("The file is neither UTF-8 nor Shift_JIS.")]) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise JourneyError([_("The file is empty.")])
    header = [c.strip().lower() for c in rows[0]]
    column = header.index("email") if "email" in header else 0
    body = rows[1:] if "email" in header or "@" not in rows[0][0] else rows
    emails = {r[column].strip().lower() for r in body if len(r) > column and r[column].strip()}
    found: dict[str, int] = {}
    listed = sorted(emails)
    for start in range(0, len(listed), 2000):
        for pk, email in Contact.objects.filter(
            LIVE, email__in=listed[start : start + 2000]
        ).values_list("pk", "email"):
            found[email.lower()] = pk
    entered = engine.enrol(live, found.values(), source="csv")
    return entered, sorted(emails - set(found))


def _draft(journey: Journey) -> Journey:
    if journey.status != Journey.Status.DRAFT:
        raise JourneyError([_("Only a draft can be edited; edit creates a new version.")])
    return journey


def _relink(steps: dict, old: str, new: str | None) -> None:
    """Point every link to `old` at `new` (None: remove the link)."""
    for step in steps.values():
        for name in ("next", "yes", "no"):
            if step.get(name) == old:
                if new:
                    step[name] = new
                else:
                    step.pop(name, None)
        for branch in step.get("branches", []):
            if branch.get("next") == old:
                branch["next"] = new or ""


def step_save(*, journey: Journey, old_key: str, key: str, step: dict, after: str = "") -> Journey:
    """Add or change a step of a draft. A new step `after` another is inserted after it."""
    _draft(journey)
    graph = {"start": journey.start, "steps": dict(journey.steps)}
    steps = graph["steps"]
    if key != old_key and key in steps:
        raise JourneyError([_("A step with this key already exists.")])
    if old_key and old_key in steps:
        del steps[old_key]
        if key != old_key:
            _relink(steps, old_key, key)
            if graph["start"] == old_key:
                graph["start"] = key
    elif after and after in steps:
        before = steps[after]
        if before.get("type") not in {"branch", "split", "exit"}:
            if (
                before.get("next")
                and "next" not in step
                and step.get("type") not in {"branch", "split", "exit"}
            ):
                step["next"] = before["next"]
            before["next"] = key
    steps[key] = step
    if not graph["start"]:
        graph["start"] = key
    journey.graph = graph
    journey.save(update_fields=["graph", "updated_at"])
    return journey


def step_remove(*, journey: Journey, key: str) -> Journey:
    """Remove a step of a draft; links to it go to the step that followed it."""
    _draft(journey)
    steps = dict(journey.steps)
    removed = steps.pop(key, None)
    if removed is None:
        return journey
    follower = removed.get("next") if removed.get("type") not in {"branch", "split"} else None
    _relink(steps, key, follower)
    start = journey.start
    if start == key:
        start = follower or next(iter(steps), "")
    journey.graph = {"start": start, "steps": steps}
    journey.save(update_fields=["graph", "updated_at"])
    return journey
