"""A slow, obvious evaluator of segment definitions in Python, to check the SQL compiler against.

It loads every row into memory and applies the language's meaning as docs/segments.md states
it, sharing no code with the compiler: a condition on a missing value is false, NOT is plain
negation, a contact without a score row has behaviour 0, fit 0 and grade "", text matching by
contains/starts with ignores ASCII case, dates are whole days in the configured time zone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from tsunagari.core.models import Team
from tsunagari.crm.models import Account, Contact, LifecycleTransition
from tsunagari.scoring.models import ContactScore
from tsunagari.segments.models import Membership, Segment
from tsunagari.tracking.models import Touchpoint

NUMBER_PROPERTIES = {"broadcast_id", "message_id", "template_id", "form_id", "seminar_id"}


def _fold(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


class Reference:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.contacts = list(Contact.objects.filter(deleted_at__isnull=True))
        self.accounts = {a.pk: a for a in Account.objects.all()}
        self.tags: dict[int, set[str]] = defaultdict(set)
        for contact_id, name in Contact.tags.through.objects.values_list("contact_id", "tag__name"):
            self.tags[contact_id].add(name)
        self.teams: dict[int, set[int]] = defaultdict(set)
        for team_id, user_id in Team.members.through.objects.values_list("team_id", "user_id"):
            self.teams[user_id].add(team_id)
        self.scores = {s.contact_id: s for s in ContactScore.objects.all()}
        self.touches: dict[int, list[Touchpoint]] = defaultdict(list)
        for tp in Touchpoint.objects.filter(contact__isnull=False):
            self.touches[tp.contact_id].append(tp)
        self.transitions: dict[int, list[LifecycleTransition]] = defaultdict(list)
        for t in LifecycleTransition.objects.all():
            self.transitions[t.contact_id].append(t)
        self.segments = {s.pk: s for s in Segment.objects.filter(deleted_at__isnull=True)}
        self.static_members: dict[int, set[int]] = defaultdict(set)
        for segment_id, contact_id in Membership.objects.filter(exited_at__isnull=True).values_list(
            "segment_id", "contact_id"
        ):
            self.static_members[segment_id].add(contact_id)

    def matching_ids(self, definition: dict) -> set[int]:
        return {c.pk for c in self.contacts if self.holds(definition, c)}

    # -- the tree --------------------------------------------------------------------------
    def holds(self, node: dict, c: Contact) -> bool:
        if not node:
            return True
        if "and" in node:
            return all(self.holds(child, c) for child in node["and"])
        if "or" in node:
            return any(self.holds(child, c) for child in node["or"])
        if "not" in node:
            return not self.holds(node["not"], c)
        if "field" in node:
            return self.field(node, c)
        if "activity" in node:
            return self.activity(node, c)
        if "became" in node:
            return any(
                t.to_stage == node["became"] and self.in_window(t.occurred_at, node.get("when"))
                for t in self.transitions[c.pk]
            )
        segment = self.segments.get(node["in_segment"])
        if segment is None:
            return False
        if segment.kind == Segment.Kind.STATIC:
            return c.pk in self.static_members[segment.pk]
        return self.holds(segment.definition, c)

    def midnight(self, day: str, plus: int = 0) -> dt.datetime:
        date = dt.date.fromisoformat(day[:10]) + dt.timedelta(days=plus)
        return dt.datetime.combine(date, dt.time(), tzinfo=self.tz)

    def in_window(self, when_: dt.datetime, when: dict | None) -> bool:
        if not when:
            return True
        if "last_days" in when:
            return when_ >= self.now - dt.timedelta(days=when["last_days"])
        if "since" in when:
            return when_ >= self.midnight(when["since"])
        return self.midnight(when["from"]) <= when_ < self.midnight(when["to"], 1)

    # -- behaviour -------------------------------------------------------------------------
    def activity(self, node: dict, c: Contact) -> bool:
        n = 0
        for tp in self.touches[c.pk]:
            if tp.type != node["activity"] or not self.in_window(tp.occurred_at, node.get("when")):
                continue
            machine = (tp.properties or {}).get("machine") is True
            if node["activity"] in ("email_opened", "email_clicked") and machine:
                continue
            if all(self.touch_filter(tp, w) for w in node.get("where", [])):
                n += 1
        count = node.get("count", {"op": "at_least", "value": 1})
        return {
            "at_least": n >= count["value"],
            "at_most": n <= count["value"],
            "exactly": n == count["value"],
        }[count["op"]]

    def touch_filter(self, tp: Touchpoint, w: dict) -> bool:
        values = w["value"] if isinstance(w["value"], list) else [w["value"]]
        name = w["field"]
        if name in NUMBER_PROPERTIES:
            actual = (tp.properties or {}).get(name)
            return (
                isinstance(actual, int)
                and not isinstance(actual, bool)
                and any(actual == v for v in values)
            )
        actual = (tp.properties or {}).get(name) if name == "form" else getattr(tp, name)
        if not isinstance(actual, str):
            return False
        return any(self.text_op(w["op"], actual, v) for v in values)

    @staticmethod
    def text_op(op: str, actual: str, value: str) -> bool:
        if op == "eq":
            return actual == value
        if op == "contains":
            return _fold(value) in _fold(actual)
        return _fold(actual).startswith(_fold(value))

    # -- profile fields --------------------------------------------------------------------
    def value_of(self, key: str, c: Contact) -> Any:
        account = self.accounts.get(c.account_id) if c.account_id else None
        if key.startswith("contact.custom."):
            return (c.custom or {}).get(key.rsplit(".", 1)[1])
        if key.startswith("account.custom."):
            return None if account is None else (account.custom or {}).get(key.rsplit(".", 1)[1])
        if key == "contact.tags":
            return self.tags[c.pk]
        if key == "contact.team":
            return self.teams[c.owner_id] if c.owner_id else set()
        if key.startswith("score."):
            score = self.scores.get(c.pk)
            column = key.split(".")[1]
            if score is None:
                return "" if column == "grade" else 0
            return getattr(score, column)
        scope, column = key.split(".", 1)
        if column == "owner":
            column = "owner_id"
        if scope == "contact":
            return getattr(c, column)
        return None if account is None else getattr(account, column)

    def field(self, node: dict, c: Contact) -> bool:
        key, op, value = node["field"], node["op"], node.get("value")
        actual = self.value_of(key, c)
        if key == "contact.tags":
            return self.tag_op(op, actual, value)
        if key == "contact.team":
            return self.team_op(op, actual, value)
        if isinstance(actual, list):  # a multiple-choice custom field
            return self.multi_op(op, actual, value)
        return self.scalar_op(op, actual, value)

    @staticmethod
    def tag_op(op: str, actual: set[str], value: list[str]) -> bool:
        if op == "has_any":
            return bool(actual & set(value))
        if op == "has_all":
            return set(value) <= actual
        return not actual & set(value)

    @staticmethod
    def team_op(op: str, teams: set[int], value: Any) -> bool:
        if op == "is_empty":
            return not teams
        if op == "is_not_empty":
            return bool(teams)
        wanted = {int(v) for v in (value if isinstance(value, list) else [value])}
        hit = bool(teams & wanted)
        return hit if op in ("eq", "in") else not hit

    @staticmethod
    def multi_op(op: str, actual: list, value: Any) -> bool:
        if op == "has_any":
            return any(v in actual for v in value)
        if op == "has_none":
            return not any(v in actual for v in value)
        if op == "is_empty":
            return not actual
        return bool(actual)

    def scalar_op(self, op: str, actual: Any, value: Any) -> bool:
        negations = {"neq": "eq", "not_in": "in", "not_contains": "contains"}
        if op in negations:
            return not self.scalar_op(negations[op], actual, value)
        if op == "has_none":
            return True  # an unset multiple-choice field has none of them
        if op == "is_empty":
            return actual is None or actual == ""
        if op == "is_not_empty":
            return not (actual is None or actual == "")
        if actual is None:
            return False
        if op == "is_true":
            return actual is True
        if op == "is_false":
            return actual is False
        if op == "has_any":
            return False
        if isinstance(actual, dt.datetime):
            return self.datetime_op(op, actual, value)
        if op in ("in_last_days", "more_than_days_ago", "before", "after") or (
            op == "between" and isinstance(value[0], str)
        ):
            return self.date_text_op(op, actual, value)
        if op == "eq":
            return self.equal(actual, value)
        if op == "in":
            return any(self.equal(actual, v) for v in value)
        if op in ("contains", "starts_with"):
            values = value if isinstance(value, list) else [value]
            return any(self.text_op(op, str(actual), v) for v in values)
        if op == "between":
            return value[0] <= actual <= value[1]
        return {
            "gt": actual > value,
            "gte": actual >= value,
            "lt": actual < value,
            "lte": actual <= value,
        }[op]

    @staticmethod
    def equal(actual: Any, value: Any) -> bool:
        if isinstance(actual, bool) or isinstance(value, bool):
            return actual is value
        if isinstance(actual, int | float) and not isinstance(value, str):
            return float(actual) == float(value)
        return str(actual) == str(value)

    def datetime_op(self, op: str, actual: dt.datetime, value: Any) -> bool:
        if op == "before":
            return actual < self.midnight(value)
        if op == "after":
            return actual >= self.midnight(value)
        if op == "between":
            return self.midnight(value[0]) <= actual < self.midnight(value[1], 1)
        cutoff = self.now - dt.timedelta(days=value)
        return actual >= cutoff if op == "in_last_days" else actual < cutoff

    def date_text_op(self, op: str, actual: str, value: Any) -> bool:
        if op == "before":
            return actual < value
        if op == "after":
            return actual >= value
        if op == "between":
            return value[0] <= actual <= value[1]
        today = self.now.astimezone(self.tz).date()
        cutoff = (today - dt.timedelta(days=value)).isoformat()
        return actual >= cutoff if op == "in_last_days" else actual < cutoff
