"""Conditions a branch, a goal or an exit tests, evaluated for many enrolments in a few queries.

A condition is a dict; a list of them means all must hold:
  {"kind": "field", "field": "lifecycle_stage", "op": "eq", "value": "sql"}
  {"kind": "field", "field": "custom.industry_detail", "op": "contains", "value": "製造"}
  {"kind": "score", "op": "gte", "value": 50}          (behaviour score; "fit" with "score": "fit")
  {"kind": "grade", "op": "in", "value": ["A", "B"]}
  {"kind": "segment", "segment_id": 3}                 (a current member; "not": true negates)
  {"kind": "tag", "value": "展示会2026"}
  {"kind": "email", "event": "clicked", "step": "s1"}  (human opens/clicks of this journey's
                                                        email step; machine opens never count)
  {"kind": "touchpoint", "type": "page_view", "url_contains": "/case/", "days": 14, "count": 1}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db.models import Count, Q
from django.utils import timezone

from tsunagari.crm.models import LIVE, Contact

OPS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "set", "unset"}
CONTACT_FIELDS = {
    "lifecycle_stage",
    "email_consent",
    "title",
    "department",
    "buying_role",
    "do_not_contact",
    "owner_id",
    "account_id",
    "email",
}
KINDS = {"field", "score", "grade", "segment", "tag", "email", "touchpoint"}


class ConditionError(ValueError):
    pass


def problems(conditions: Sequence[dict], steps: dict | None = None) -> list[str]:
    """What is wrong with these conditions, in words (empty when they can run)."""
    from tsunagari.segments.models import Segment

    found: list[str] = []
    for cond in conditions:
        kind = cond.get("kind")
        if kind not in KINDS:
            found.append(f"unknown condition kind {kind!r}")
            continue
        if kind == "field":
            name = str(cond.get("field", ""))
            if name not in CONTACT_FIELDS and not name.startswith("custom."):
                found.append(f"unknown field {name!r}")
        if kind in {"field", "score", "grade"} and cond.get("op", "eq") not in OPS:
            found.append(f"unknown operator {cond.get('op')!r}")
        if kind == "segment":
            segment = Segment.objects.filter(pk=cond.get("segment_id")).first()
            if segment is None or getattr(segment, "deleted_at", None):
                found.append(f"segment {cond.get('segment_id')} does not exist")
        if kind == "email":
            if cond.get("event") not in {"opened", "clicked"}:
                found.append("an email condition tests opened or clicked")
            if steps is not None and (steps.get(cond.get("step"), {}).get("type") != "email"):
                found.append(
                    f"the email condition refers to {cond.get('step')!r}, not an email step"
                )
    return found


def _lookup(q_field: str, op: str, value) -> Q:
    if op == "set":
        return ~Q(**{f"{q_field}__isnull": True}) & ~Q(**{q_field: ""})
    if op == "unset":
        return Q(**{f"{q_field}__isnull": True}) | Q(**{q_field: ""})
    suffix = {
        "eq": "",
        "gt": "__gt",
        "gte": "__gte",
        "lt": "__lt",
        "lte": "__lte",
        "in": "__in",
        "contains": "__contains",
    }
    if op == "ne":
        return ~Q(**{q_field: value})
    return Q(**{f"{q_field}{suffix[op]}": value})


def contact_q(cond: dict, now: dt.datetime) -> Q:
    """The condition as a filter on Contact (every kind except "email")."""
    kind = cond.get("kind")
    op = cond.get("op", "eq")
    value = cond.get("value")
    if kind == "field":
        name = str(cond["field"])
        path = "custom__" + name.split(".", 1)[1] if name.startswith("custom.") else name
        return _lookup(path, op, value)
    if kind == "score":
        column = "score__fit" if cond.get("score") == "fit" else "score__behaviour"
        q = _lookup(column, op, int(value))
        # No score row means 0.
        if _holds(0, op, int(value)):
            q |= Q(score__isnull=True)
        return q
    if kind == "grade":
        return _lookup("score__grade", op, value)
    if kind == "segment":
        from tsunagari.segments.models import Membership

        members = Membership.objects.filter(
            segment_id=cond.get("segment_id"), exited_at__isnull=True
        ).values("contact_id")
        q = Q(pk__in=members)
        return ~q if cond.get("not") else q
    if kind == "tag":
        return Q(tags__name=value)
    if kind == "touchpoint":
        from tsunagari.tracking.models import Touchpoint

        touches = Touchpoint.objects.filter(
            touch_q(cond), occurred_at__gte=now - dt.timedelta(days=int(cond.get("days", 30)))
        )
        need = int(cond.get("count", 1) or 1)
        ids = (
            touches.values("contact_id")
            .annotate(n=Count("id"))
            .filter(n__gte=need)
            .values("contact_id")
        )
        return Q(pk__in=ids)
    raise ConditionError(f"{kind!r} is not a contact condition")


def touch_q(cond: dict) -> Q:
    """The touchpoint part of a trigger or condition: type, URL fragment, form id."""
    q = Q(contact__isnull=False, is_bot=False)
    if cond.get("type"):
        q &= Q(type=cond["type"])
    if cond.get("url_contains"):
        q &= Q(url__contains=cond["url_contains"])
    if cond.get("form_id") not in (None, ""):
        q &= Q(properties__form_id=int(cond["form_id"]))
    return q


def _holds(left, op: str, right) -> bool:
    return {
        "eq": left == right,
        "ne": left != right,
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }.get(op, False)


def matching(
    conditions: Sequence[dict], pairs: Iterable[tuple[int, int]], now: dt.datetime | None = None
) -> set[int]:
    """The enrolment ids, among (enrolment_id, contact_id) pairs, for which all conditions hold.

    One query per condition whatever the number of enrolments.
    """
    from tsunagari.mail.models import Message

    now = now or timezone.now()
    pairs = list(pairs)
    alive = {e for e, _c in pairs}
    if not conditions:
        return alive
    for cond in conditions:
        if not alive:
            break
        current = [(e, c) for e, c in pairs if e in alive]
        if cond.get("kind") == "email":
            keys = {f"journey:{e}:{cond.get('step')}": e for e, _c in current}
            column = "clicked_at" if cond.get("event") == "clicked" else "opened_at"
            hit = Message.objects.filter(
                idempotency_key__in=list(keys), **{f"{column}__isnull": False}
            ).values_list("idempotency_key", flat=True)
            ok = {keys[k] for k in hit}
            if cond.get("not"):
                ok = {e for e, _c in current} - ok
        else:
            contact_ids = {c for _e, c in current}
            q = contact_q(cond, now)
            passed = set(
                Contact.objects.filter(LIVE, q, pk__in=contact_ids).values_list("pk", flat=True)
            )
            ok = {e for e, c in current if c in passed}
        alive &= ok
    return alive
