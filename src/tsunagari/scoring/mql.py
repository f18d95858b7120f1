"""MQL criteria: which contacts qualify, and making them MQLs (transition, touch, hand-off).

Criteria (MqlSettings, any one is enough): behaviour score ≥ X with grade ≥ Y; BANT complete;
a hand-raise (a demo-request form, a touch type such as a meeting request). Only contacts in a
stage before MQL (subscriber, lead, nurture) qualify; the rest are already with sales or out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db.models import Q
from django.utils import timezone

from tsunagari.crm.choices import LifecycleStage
from tsunagari.crm.models import Contact
from tsunagari.crm.services import contact_set_lifecycle
from tsunagari.scoring.models import Handoff, MqlSettings
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.services import touchpoints_append
from tsunagari.tracking.vocabulary import Type

ELIGIBLE = (LifecycleStage.SUBSCRIBER, LifecycleStage.LEAD, LifecycleStage.NURTURE)
GRADES_AT_LEAST = {"A": ["A"], "B": ["A", "B"], "C": ["A", "B", "C"], "D": ["A", "B", "C", "D"]}
CRITERION_SCORE = "score"
CRITERION_BANT = "bant"
CRITERION_HAND_RAISE = "hand_raise"
# How many contacts one pass qualifies: the rest follow in the next pass of the worker.
QUALIFY_BATCH = 500


def score_q(settings: MqlSettings) -> Q:
    """The score criterion on Contact (behaviour ≥ X, grade ≥ Y), or a Q matching nothing."""
    if not settings.score_enabled:
        return Q(pk__in=[])
    q = Q(score__behaviour__gte=settings.min_behaviour)
    if settings.min_grade:
        q &= Q(score__grade__in=GRADES_AT_LEAST[settings.min_grade])
    return q


BANT_COMPLETE = ~Q(bant_budget="") & ~Q(buying_role="") & ~Q(bant_need="") & ~Q(bant_timing="")


def qualifying(
    *, contact_ids: Iterable[int] | None = None, settings: MqlSettings | None = None
) -> dict[int, str]:
    """Eligible contacts meeting the score or BANT criterion: {contact id: criterion}."""
    settings = settings or MqlSettings.load()
    base = Contact.objects.filter(deleted_at__isnull=True, lifecycle_stage__in=ELIGIBLE)
    if contact_ids is not None:
        base = base.filter(pk__in=list(contact_ids))
    found: dict[int, str] = {}
    if settings.score_enabled:
        ids = base.filter(score_q(settings)).order_by("pk").values_list("pk", flat=True)
        found.update({pk: CRITERION_SCORE for pk in ids[: QUALIFY_BATCH * 4]})
    if settings.bant_enabled:
        ids = base.filter(BANT_COMPLETE).order_by("pk").values_list("pk", flat=True)
        for pk in ids[: QUALIFY_BATCH * 4]:
            found.setdefault(pk, CRITERION_BANT)
    return found


def hand_raises(batch: Sequence, settings: MqlSettings | None = None) -> dict[int, str]:
    """Contacts of this batch that raised a hand (a listed form or touch type)."""
    settings = settings or MqlSettings.load()
    forms = {str(f) for f in settings.hand_raise_forms}
    types = set(settings.hand_raise_types)
    if not forms and not types:
        return {}
    found: dict[int, str] = {}
    for touch in batch:
        if not touch.contact_id or touch.is_bot:
            continue
        props = touch.properties or {}
        if touch.type in types:
            found.setdefault(touch.contact_id, f"{CRITERION_HAND_RAISE}:{touch.type}")
        elif touch.type == Type.FORM_SUBMITTED and forms & {
            str(props.get("form", "")),
            str(props.get("form_id", "")),
        }:
            found.setdefault(touch.contact_id, f"{CRITERION_HAND_RAISE}:form")
    return found


def qualify(criteria: dict[int, str], *, now: dt.datetime | None = None) -> list[Handoff]:
    """Make these contacts MQLs (those still eligible) and hand each to sales.

    Runs in the caller's transaction: the transition, the touch, the hand-off and the
    in-app notification commit together; the email follows the commit.
    """
    from tsunagari.scoring.handoff import handoff_open

    now = now or timezone.now()
    handoffs = []
    ids = sorted(criteria)[:QUALIFY_BATCH]
    contacts = Contact.objects.filter(
        pk__in=ids, deleted_at__isnull=True, lifecycle_stage__in=ELIGIBLE
    ).select_related("account")
    for contact in contacts:
        criterion = criteria[contact.pk]
        before = contact.lifecycle_stage
        transition = contact_set_lifecycle(
            contact=contact, to_stage=LifecycleStage.MQL, rule="scoring:MQL", reason=criterion
        )
        if transition is None:
            continue
        touchpoints_append(
            [
                Touchpoint(
                    contact=contact,
                    type=Type.STAGE_CHANGED,
                    occurred_at=now,
                    source="scoring",
                    title="MQL",
                    properties={"from": before, "to": LifecycleStage.MQL, "criterion": criterion},
                )
            ]
        )
        handoffs.append(handoff_open(contact=contact, criterion=criterion, now=now))
    return handoffs
