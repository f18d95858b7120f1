"""What enrols contacts: segment entry/exit, touches (N times in D days), forms, score and grade,
lifecycle changes, a date field with an offset, and by hand or CSV (services.py).

Event triggers hook into the apps that see the events (segments' membership hooks, the
touchpoint stream's consumer); state triggers (score, grade, date) are scanned by the worker's
`journeys.triggers` runner with one query per live journey. Enrolment itself is idempotent
(engine.enrol), so a trigger seen twice enrols once.

Deal lost: there is no sales (deals) app yet; when there is, it adds a trigger type here.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence

from django.conf import settings
from django.db.models import CharField, Count
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.crm.models import LIVE, Contact
from tsunagari.journeys import conditions, engine
from tsunagari.journeys.models import Journey

TYPES = {
    "manual",
    "segment_entry",
    "segment_exit",
    "touchpoint",
    "form_submitted",
    "score",
    "grade",
    "lifecycle",
    "date",
}
_last_scan = 0.0


def problems(trigger: dict) -> list[str]:
    from tsunagari.segments.models import Segment

    kind = (trigger or {}).get("type", "manual")
    if kind not in TYPES:
        return [_("Unknown trigger %(type)s.") % {"type": kind}]
    found = []
    if (
        kind in {"segment_entry", "segment_exit"}
        and not Segment.objects.filter(pk=trigger.get("segment_id")).exists()
    ):
        found.append(_("The trigger's segment does not exist."))
    counts = (int(trigger.get("count", 1) or 0), int(trigger.get("days", 1) or 0))
    if kind == "touchpoint" and min(counts) < 1:
        found.append(_("A touch trigger needs a count and a number of days of 1 or more."))
    if kind == "form_submitted" and not str(trigger.get("form_id", "")).isdigit():
        found.append(_("Choose the form."))
    if kind == "date" and not str(trigger.get("field", "")).startswith("custom."):
        found.append(_("A date trigger reads a custom date field (custom.<key>)."))
    return found


def _live(kind: str | set[str]) -> list[Journey]:
    kinds = {kind} if isinstance(kind, str) else kind
    return [
        j
        for j in Journey.objects.filter(status=Journey.Status.LIVE)
        if (j.trigger or {}).get("type") in kinds
    ]


# --- Event triggers --------------------------------------------------------------------------


def on_membership(segment, entered: list[int], exited: list[int]) -> None:
    """Segments' membership hook (after the membership change commits)."""
    for journey in _live({"segment_entry", "segment_exit"}):
        if int(journey.trigger.get("segment_id", 0)) != segment.pk:
            continue
        ids = entered if journey.trigger["type"] == "segment_entry" else exited
        if ids:
            engine.enrol(journey, ids, source=f"segment:{segment.pk}")


def _touch_matches(trigger: dict, touch) -> bool:
    if touch.contact_id is None or touch.is_bot:
        return False
    if trigger["type"] == "form_submitted":
        return touch.type == "form_submitted" and str(
            (touch.properties or {}).get("form_id")
        ) == str(trigger.get("form_id"))
    if trigger.get("touch_type") and touch.type != trigger["touch_type"]:
        return False
    return not trigger.get("url_contains") or trigger["url_contains"] in (touch.url or "")


def on_touchpoints(batch: Sequence) -> None:
    """The touchpoint consumer: N matching touches within D days enrol the contact.

    Runs in the consumer's transaction, so enrolments commit with the cursor move.
    """
    journeys = _live({"touchpoint", "form_submitted"})
    for journey in journeys:
        trigger = journey.trigger
        ids = {t.contact_id for t in batch if _touch_matches(trigger, t)}
        if not ids:
            continue
        need = int(trigger.get("count", 1) or 1)
        if trigger["type"] == "touchpoint" and need > 1:
            from tsunagari.tracking.models import Touchpoint

            since = timezone.now() - dt.timedelta(days=int(trigger.get("days", 30) or 30))
            cond = {"type": trigger.get("touch_type"), "url_contains": trigger.get("url_contains")}
            ids = set(
                Touchpoint.objects.filter(
                    conditions.touch_q(cond), contact_id__in=ids, occurred_at__gte=since
                )
                .values("contact_id")
                .annotate(n=Count("id"))
                .filter(n__gte=need)
                .values_list("contact_id", flat=True)
            )
        if ids:
            engine.enrol(journey, ids, source=trigger["type"])


# --- Scanned triggers ------------------------------------------------------------------------


def _scan_lifecycle(journey: Journey) -> int:
    from tsunagari.crm.models import LifecycleTransition

    rows = list(
        LifecycleTransition.objects.filter(
            pk__gt=journey.trigger_cursor, to_stage=journey.trigger.get("to_stage")
        )
        .order_by("pk")
        .values_list("pk", "contact_id")[:5000]
    )
    if not rows:
        return 0
    entered = engine.enrol(journey, [c for _p, c in rows], source="lifecycle")
    Journey.objects.filter(pk=journey.pk).update(trigger_cursor=rows[-1][0])
    return entered


def matching_contacts(trigger: dict, now: dt.datetime):
    """Contacts a state trigger (score, grade, date) matches now: a queryset of ids."""
    kind = trigger.get("type")
    if kind == "score":
        cond = {
            "kind": "score",
            "score": trigger.get("score", "behaviour"),
            "op": "gte",
            "value": int(trigger.get("gte", 0)),
        }
        return Contact.objects.filter(LIVE, conditions.contact_q(cond, now))
    if kind == "grade":
        return Contact.objects.filter(LIVE, score__grade__in=trigger.get("in", []))
    if kind == "date":
        key = str(trigger["field"]).split(".", 1)[1]
        today = timezone.localdate(now)
        # Fire on date + offset (e.g. −3: three days before the seminar); a day's grace.
        latest = today - dt.timedelta(days=int(trigger.get("offset_days", 0)))
        earliest = latest - dt.timedelta(days=1)
        return (
            Contact.objects.filter(LIVE)
            .annotate(_d=Cast(KeyTextTransform(key, "custom"), CharField()))
            .filter(_d__gte=earliest.isoformat(), _d__lte=latest.isoformat() + "T99")
        )
    return Contact.objects.none()


def scan(now: dt.datetime | None = None, *, force: bool = False) -> int:
    """The worker's runner: lifecycle changes every round; score, grade and date triggers,
    goals and exits every TSUNAGARI_JOURNEY_SCAN_SECONDS; returns contacts enrolled or ended."""
    global _last_scan
    now = now or timezone.now()
    done = 0
    for journey in _live("lifecycle"):
        done += _scan_lifecycle(journey)
    if not force and time.monotonic() - _last_scan < settings.TSUNAGARI_JOURNEY_SCAN_SECONDS:
        return done
    _last_scan = time.monotonic()
    for journey in _live({"score", "grade", "date"}):
        ids = list(matching_contacts(journey.trigger, now).values_list("pk", flat=True)[:50_000])
        done += engine.enrol(journey, ids, source=journey.trigger["type"], now=now)
    done += engine.sweep_goals(now)
    done += _move_stragglers()
    return done


def _move_stragglers() -> int:
    """Runs created on a version after it was retired (a worker mid-batch at publish time)."""
    from tsunagari.journeys.models import StepRun
    from tsunagari.journeys.services import move_waiting

    moved = 0
    retired = set(
        StepRun.objects.filter(
            status=StepRun.Status.READY, journey__status=Journey.Status.RETIRED
        ).values_list("journey_id", flat=True)[:100]
    )
    for old in Journey.objects.filter(pk__in=retired):
        new = Journey.objects.filter(family_id=old.family_id, status=Journey.Status.LIVE).first()
        if new is not None:
            moved += move_waiting(old, new)
    return moved
