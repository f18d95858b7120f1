"""Rule conditions: parsed from the one-per-line form people write, validated, turned into Q.

A condition is `field op value`, e.g. `properties.form = 資料請求`, `utm_campaign contains spring`,
`account.employee_count >= 1000`. The same Q serves live scoring, recomputes and back-tests,
so they cannot disagree about what matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _


class ConditionError(ValueError):
    """A condition that cannot be used, with a message for the person who wrote it."""


# op → (lookup, needs a value). `in` takes a comma-separated list.
OPERATORS: dict[str, str] = {
    "=": "exact",
    "!=": "exact",
    "contains": "contains",
    "startswith": "startswith",
    "like": "regex",  # glob, translated to an anchored regular expression
    "~": "regex",
    ">": "gt",
    ">=": "gte",
    "<": "lt",
    "<=": "lte",
    "in": "in",
    "exists": "isnull",
}
NUMERIC_OPS = {">", ">=", "<", "<="}

TOUCH_FIELDS = {
    "url": "url",
    "path": "path",
    "title": "title",
    "content_asset": "content_asset",
    "campaign": "campaign",
    "channel": "channel",
    "source": "source",
    "referrer": "referrer",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "utm_term": "utm_term",
    "utm_content": "utm_content",
    "duration_ms": "duration_ms",
}
TOUCH_NUMERIC = {"duration_ms"}

# Fit conditions read the contact and its account.
CONTACT_FIELDS = {
    "title": "title",
    "department": "department",
    "buying_role": "buying_role",
    "email": "email",
    "lifecycle_stage": "lifecycle_stage",
    "account.name": "account__name",
    "account.industry": "account__industry",
    "account.employee_count": "account__employee_count",
    "account.annual_revenue": "account__annual_revenue",
    "account.capital": "account__capital",
    "account.prefecture": "account__prefecture",
    "account.is_target": "account__is_target",
    "account.abm_tier": "account__abm_tier",
}
CONTACT_NUMERIC = {
    "account.employee_count",
    "account.annual_revenue",
    "account.capital",
    "account.abm_tier",
}
CONTACT_BOOLEAN = {"account.is_target"}

_LINE = re.compile(r"^\s*(\S+)\s+(=|!=|>=|<=|>|<|~|contains|startswith|like|in|exists)\s*(.*)$")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any

    def as_dict(self) -> dict:
        return {"field": self.field, "op": self.op, "value": self.value}

    def as_line(self) -> str:
        value = ", ".join(map(str, self.value)) if isinstance(self.value, list) else self.value
        return f"{self.field} {self.op} {value}".rstrip()


def glob_to_regex(pattern: str) -> str:
    """`/pricing*` → `^/pricing.*$`: * is any run of characters, ? one character."""
    out = []
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    return "^" + "".join(out) + "$"


def check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConditionError(
            _("The regular expression %(pattern)s is malformed: %(error)s")
            % {"pattern": pattern, "error": exc}
        ) from None
    return pattern


def _coerce(field: str, op: str, raw: Any, numeric: bool, boolean: bool) -> Any:
    if op == "exists":
        return True
    if op == "in":
        items = raw if isinstance(raw, list) else [v.strip() for v in str(raw).split(",")]
        items = [i for i in items if str(i) != ""]
        if not items:
            raise ConditionError(
                _("%(field)s in …: give a comma-separated list.") % {"field": field}
            )
        return [_coerce(field, "=", i, numeric, boolean) for i in items]
    if isinstance(raw, str):
        raw = raw.strip()
        if raw == "":
            raise ConditionError(
                _("%(field)s %(op)s: a value is missing.") % {"field": field, "op": op}
            )
    if boolean:
        text = str(raw).lower()
        if text in {"true", "yes", "1", "はい"}:
            return True
        if text in {"false", "no", "0", "いいえ"}:
            return False
        raise ConditionError(_("%(field)s takes true or false.") % {"field": field})
    if numeric or op in NUMERIC_OPS:
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ConditionError(
                _("%(field)s %(op)s needs a number, not %(value)s.")
                % {"field": field, "op": op, "value": raw}
            ) from None
        return int(number) if number.is_integer() else number
    if op == "~":
        return check_regex(str(raw))
    if op == "like":
        return str(raw)
    return raw if isinstance(raw, (int, float, bool)) else str(raw)


def _custom_keys(object_type: str) -> set[str]:
    from tsunagari.crm.models import CustomField

    return set(
        CustomField.objects.filter(object_type=object_type, is_active=True).values_list(
            "key", flat=True
        )
    )


def validate(items: list[dict], *, target: str) -> list[Condition]:
    """Check conditions for `target` "touch" or "contact"; ConditionError names the first fault."""
    conditions = []
    for item in items:
        field, op, raw = item.get("field", ""), item.get("op", ""), item.get("value", "")
        if op not in OPERATORS:
            raise ConditionError(_("Unknown operator %(op)s.") % {"op": op})
        numeric = boolean = False
        if target == "touch":
            if field.startswith("properties."):
                if not re.fullmatch(r"properties\.[A-Za-z0-9_\-]{1,60}", field):
                    raise ConditionError(_("Malformed property name %(field)s.") % {"field": field})
            elif field in TOUCH_FIELDS:
                numeric = field in TOUCH_NUMERIC
            else:
                raise ConditionError(_("Unknown touchpoint field %(field)s.") % {"field": field})
        else:
            if field.startswith("custom.") or field.startswith("account.custom."):
                obj = "account" if field.startswith("account.") else "contact"
                key = field.rsplit(".", 1)[1]
                if key not in _custom_keys(obj):
                    raise ConditionError(
                        _("The custom field %(field)s does not exist or was deleted.")
                        % {"field": field}
                    )
            elif field in CONTACT_FIELDS:
                numeric, boolean = field in CONTACT_NUMERIC, field in CONTACT_BOOLEAN
            else:
                raise ConditionError(_("Unknown contact field %(field)s.") % {"field": field})
        conditions.append(Condition(field, op, _coerce(field, op, raw, numeric, boolean)))
    return conditions


def parse_lines(text: str, *, target: str) -> list[Condition]:
    """`field op value` per line (blank lines and lines starting with # are skipped)."""
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ConditionError(
                _("Line %(n)s: write “field operator value”, e.g. “path like /pricing*”.")
                % {"n": number}
            )
        items.append({"field": match[1], "op": match[2], "value": match[3]})
    return validate(items, target=target)


def _lookup_path(field: str, target: str) -> str:
    if target == "touch":
        if field.startswith("properties."):
            return "properties__" + field.split(".", 1)[1]
        return TOUCH_FIELDS[field]
    if field.startswith("account.custom."):
        return "account__custom__" + field.rsplit(".", 1)[1]
    if field.startswith("custom."):
        return "custom__" + field.split(".", 1)[1]
    return CONTACT_FIELDS[field]


def to_q(conditions: list[Condition], *, target: str) -> Q:
    """All conditions must hold (AND)."""
    q = Q()
    for c in conditions:
        path = _lookup_path(c.field, target)
        if c.op == "exists":
            q &= Q(**{f"{path}__isnull": False})
            continue
        value = glob_to_regex(c.value) if c.op == "like" else c.value
        condition = Q(**{f"{path}__{OPERATORS[c.op]}": value})
        q &= ~condition if c.op == "!=" else condition
    return q


def from_stored(items: list[dict], *, target: str) -> list[Condition]:
    """Stored conditions were validated on save; a field deleted since then raises here."""
    return validate(items, target=target)
