"""The segment filter language: its JSON Schema, the catalogue of fields, and validation.

A definition is a JSON tree (docs/segments.md). Validation happens in two passes: the JSON
Schema fixes the shape (which keys a node may have, value types), then `validate` checks
meaning against the database (a field exists and takes that operator, a custom field is
defined and active, a referenced segment exists and forms no cycle) and the limits that keep
a query bounded (depth, size, windows). Every problem is reported with the path of the node
it concerns, so the builder can show it beside the right condition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tsunagari.crm.choices import (
    AbmTier,
    AccountLifecycle,
    BantBudget,
    BantTiming,
    BuyingRole,
    ConsentState,
    Industry,
    LifecycleStage,
    Prefecture,
)
from tsunagari.segments.schema import SCHEMA
from tsunagari.tracking.vocabulary import Type as TouchType

MAX_DEPTH = 12  # nesting of and/or/not, segment references expanded
MAX_NODES = 200  # conditions and groups in one definition, segment references expanded
MAX_LIST = 500  # values of one `in` / `contains` list
MAX_TEXT = 500  # characters of one text value
MAX_DAYS = 3650  # "in the last N days": ten years at most
MAX_COUNT = 100_000  # "at least N times"
MAX_WHERE = 10  # property filters of one activity condition
DATE_MIN = dt.date(1990, 1, 1)
DATE_MAX = dt.date(2100, 12, 31)


class DefinitionError(ValueError):
    """A definition that cannot be saved or run; `problems` lists (path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p or 'filter'}: {m}" for p, m in problems))


# --- Field types and their operators ------------------------------------------------------

TEXT, NUMBER, CHOICE, BOOLEAN, DATETIME, DATE, TAGS, MULTI = (
    "text",
    "number",
    "choice",
    "boolean",
    "datetime",
    "date",
    "tags",
    "multi_choice",
)

OPERATORS: dict[str, tuple[str, ...]] = {
    TEXT: (
        "eq",
        "neq",
        "in",
        "not_in",
        "contains",
        "not_contains",
        "starts_with",
        "is_empty",
        "is_not_empty",
    ),
    NUMBER: ("eq", "neq", "gt", "gte", "lt", "lte", "between", "is_empty", "is_not_empty"),
    CHOICE: ("eq", "neq", "in", "not_in", "is_empty", "is_not_empty"),
    BOOLEAN: ("is_true", "is_false"),
    DATETIME: (
        "before",
        "after",
        "between",
        "in_last_days",
        "more_than_days_ago",
        "is_empty",
        "is_not_empty",
    ),
    TAGS: ("has_any", "has_all", "has_none"),
    MULTI: ("has_any", "has_none", "is_empty", "is_not_empty"),
}
OPERATORS[DATE] = OPERATORS[DATETIME]

OPERATOR_LABELS = {
    "eq": gettext_lazy("is"),
    "neq": gettext_lazy("is not"),
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
    "contains": gettext_lazy("contains"),
    "not_contains": gettext_lazy("does not contain"),
    "starts_with": gettext_lazy("starts with"),
    "is_empty": gettext_lazy("is empty"),
    "is_not_empty": gettext_lazy("is not empty"),
    "gt": gettext_lazy("is more than"),
    "gte": gettext_lazy("is at least"),
    "lt": gettext_lazy("is less than"),
    "lte": gettext_lazy("is at most"),
    "between": gettext_lazy("is between"),
    "is_true": gettext_lazy("is yes"),
    "is_false": gettext_lazy("is no"),
    "before": gettext_lazy("is before"),
    "after": gettext_lazy("is on or after"),
    "in_last_days": gettext_lazy("is within the last N days"),
    "more_than_days_ago": gettext_lazy("is more than N days ago"),
    "has_any": gettext_lazy("has any of"),
    "has_all": gettext_lazy("has all of"),
    "has_none": gettext_lazy("has none of"),
}

NO_VALUE = {"is_empty", "is_not_empty", "is_true", "is_false"}
LIST_VALUE = {"in", "not_in", "has_any", "has_all", "has_none"}
PAIR_VALUE = {"between"}
DAYS_VALUE = {"in_last_days", "more_than_days_ago"}
# Text operators that take one string or a list of strings (any of them matches).
TEXT_ANY = {"contains", "not_contains", "starts_with"}


@dataclass(frozen=True)
class Field:
    """One field a condition can test: its key in the JSON, label, type and allowed values."""

    key: str
    label: Any
    type: str
    group: Any
    choices: Callable[[], list[tuple[Any, str]]] | None = None
    custom: str = ""  # "contact" or "account" for a custom field: its JSON key follows
    nullable: bool = True
    meta: dict = field(default_factory=dict)


def _static(choices) -> Callable[[], list[tuple[Any, str]]]:
    return lambda: [(value, str(label)) for value, label in choices.choices]


def _owners() -> list[tuple[Any, str]]:
    from tsunagari.core.models import User

    return [(u.pk, str(u)) for u in User.objects.filter(is_active=True).order_by("username")]


def _teams() -> list[tuple[Any, str]]:
    from tsunagari.core.models import Team

    return [(t.pk, t.name) for t in Team.objects.order_by("name")]


def _tags() -> list[tuple[Any, str]]:
    from tsunagari.crm.models import Tag

    return [(name, name) for name in Tag.objects.order_by("name").values_list("name", flat=True)]


def _grades() -> list[tuple[Any, str]]:
    return [(g, g) for g in ("A", "B", "C", "D")]


_C = gettext_lazy("Contact")
_A = gettext_lazy("Account")
_S = gettext_lazy("Score")

BUILT_IN_FIELDS: tuple[Field, ...] = (
    Field("contact.email", gettext_lazy("Email"), TEXT, _C),
    Field("contact.family_name", gettext_lazy("Family name"), TEXT, _C, nullable=False),
    Field("contact.given_name", gettext_lazy("Given name"), TEXT, _C, nullable=False),
    Field("contact.family_name_kana", gettext_lazy("Family name (kana)"), TEXT, _C, nullable=False),
    Field("contact.title", gettext_lazy("Title"), TEXT, _C, nullable=False),
    Field("contact.department", gettext_lazy("Department"), TEXT, _C, nullable=False),
    Field("contact.phone", gettext_lazy("Phone"), TEXT, _C, nullable=False),
    Field(
        "contact.buying_role",
        gettext_lazy("Buying role"),
        CHOICE,
        _C,
        _static(BuyingRole),
        nullable=False,
    ),
    Field(
        "contact.lifecycle_stage",
        gettext_lazy("Lifecycle stage"),
        CHOICE,
        _C,
        _static(LifecycleStage),
        nullable=False,
    ),
    Field(
        "contact.email_consent",
        gettext_lazy("Email consent"),
        CHOICE,
        _C,
        _static(ConsentState),
        nullable=False,
    ),
    Field("contact.do_not_contact", gettext_lazy("Do not contact"), BOOLEAN, _C, nullable=False),
    Field("contact.bant_budget", gettext_lazy("Budget"), CHOICE, _C, _static(BantBudget), False),
    Field("contact.bant_timing", gettext_lazy("Timing"), CHOICE, _C, _static(BantTiming), False),
    Field("contact.owner", gettext_lazy("Owner"), CHOICE, _C, _owners),
    Field("contact.team", gettext_lazy("Owner's team"), CHOICE, _C, _teams),
    Field("contact.tags", gettext_lazy("Tags"), TAGS, _C, _tags),
    Field("contact.created_at", gettext_lazy("Created"), DATETIME, _C, nullable=False),
    Field("contact.last_activity_at", gettext_lazy("Last activity"), DATETIME, _C),
    Field("contact.lifecycle_changed_at", gettext_lazy("Stage changed"), DATETIME, _C),
    Field("score.behaviour", gettext_lazy("Behaviour score"), NUMBER, _S, nullable=False),
    Field("score.fit", gettext_lazy("Fit score"), NUMBER, _S, nullable=False),
    Field("score.grade", gettext_lazy("Grade"), CHOICE, _S, _grades, nullable=False),
    Field("account.name", gettext_lazy("Company name"), TEXT, _A),
    Field("account.industry", gettext_lazy("Industry"), CHOICE, _A, _static(Industry)),
    Field("account.employee_count", gettext_lazy("Employees"), NUMBER, _A),
    Field("account.annual_revenue", gettext_lazy("Annual revenue (yen)"), NUMBER, _A),
    Field("account.capital", gettext_lazy("Capital (yen)"), NUMBER, _A),
    Field("account.prefecture", gettext_lazy("Prefecture"), CHOICE, _A, _static(Prefecture)),
    Field(
        "account.lifecycle",
        gettext_lazy("Account lifecycle"),
        CHOICE,
        _A,
        _static(AccountLifecycle),
    ),
    Field("account.abm_tier", gettext_lazy("ABM tier"), CHOICE, _A, _static(AbmTier)),
    Field("account.is_target", gettext_lazy("Target account"), BOOLEAN, _A),
    Field("account.owner", gettext_lazy("Account owner"), CHOICE, _A, _owners),
)
BUILT_IN = {f.key: f for f in BUILT_IN_FIELDS}

_CUSTOM_TYPES = {
    "text": TEXT,
    "number": NUMBER,
    "date": DATE,
    "choice": CHOICE,
    "multi_choice": MULTI,
    "boolean": BOOLEAN,
}


def custom_fields(*, include_inactive: bool = False) -> dict[str, Field]:
    """The custom fields of crm as filter fields: `contact.custom.<key>`, `account.custom.<key>`."""
    from tsunagari.crm.models import CustomField

    rows = CustomField.objects.all()
    if not include_inactive:
        rows = rows.filter(is_active=True)
    fields: dict[str, Field] = {}
    for row in rows:
        kind = _CUSTOM_TYPES.get(row.field_type, TEXT)
        choices = None
        if kind in (CHOICE, MULTI):
            choices = (lambda cs: lambda: [(str(c), str(c)) for c in cs])(list(row.choices))
        group = _C if row.object_type == "contact" else _A
        key = f"{row.object_type}.custom.{row.key}"
        fields[key] = Field(key, row.label, kind, group, choices, custom=row.object_type)
    return fields


def all_fields() -> dict[str, Field]:
    return {**BUILT_IN, **custom_fields()}


# --- Activities (behaviour conditions on the touchpoint stream) ----------------------------

WEB_FILTERS = (
    "url",
    "path",
    "title",
    "content_asset",
    "campaign",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)
EMAIL_FILTERS = ("broadcast_id", "message_id", "template_id")
EMAIL_TYPES = {TouchType.EMAIL_SENT, TouchType.EMAIL_OPENED, TouchType.EMAIL_CLICKED}
# Opens and clicks by mail scanners and privacy proxies are not engagement.
MACHINE_EXCLUDED = {TouchType.EMAIL_OPENED, TouchType.EMAIL_CLICKED}
# Touchpoint property keys (JSON) and whether they hold integers.
PROPERTY_FILTERS = {
    "broadcast_id": NUMBER,
    "message_id": NUMBER,
    "template_id": NUMBER,
    "form_id": NUMBER,
    "form": TEXT,
    "seminar_id": NUMBER,
}
COLUMN_FILTERS = set(WEB_FILTERS)
FILTER_LABELS = {
    "url": gettext_lazy("URL"),
    "path": gettext_lazy("Page path"),
    "title": gettext_lazy("Page title"),
    "content_asset": gettext_lazy("Content asset"),
    "campaign": gettext_lazy("Campaign"),
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "utm_term": "utm_term",
    "utm_content": "utm_content",
    "broadcast_id": gettext_lazy("Broadcast (id)"),
    "message_id": gettext_lazy("Message (id)"),
    "template_id": gettext_lazy("Template (id)"),
    "form_id": gettext_lazy("Form (id)"),
    "form": gettext_lazy("Form name"),
    "seminar_id": gettext_lazy("Seminar (id)"),
}
FILTER_OPERATORS = {
    TEXT: ("eq", "contains", "starts_with"),
    NUMBER: ("eq", "in"),
}
COUNT_LABELS = {
    "at_least": gettext_lazy("at least"),
    "at_most": gettext_lazy("at most"),
    "exactly": gettext_lazy("exactly"),
}


def activity_filters(activity: str) -> tuple[str, ...]:
    """The filters an activity type offers (email ids for email, form id for forms…)."""
    if activity in EMAIL_TYPES:
        return EMAIL_FILTERS + ("campaign",) + (("url",) if activity == "email_clicked" else ())
    if activity == TouchType.FORM_SUBMITTED:
        return ("form_id", "form", "url", "path", "campaign")
    if activity in (TouchType.SEMINAR_REGISTERED, TouchType.SEMINAR_ATTENDED):
        return ("seminar_id", "campaign")
    return WEB_FILTERS


def filter_type(name: str) -> str:
    return PROPERTY_FILTERS.get(name, TEXT)


def activity_types() -> list[tuple[str, str]]:
    """Built-in and custom touchpoint types, for validation and the builder."""
    from tsunagari.tracking.models import CustomTouchpointType

    types = [(value, str(label)) for value, label in TouchType.choices]
    types += [(c.key, c.label) for c in CustomTouchpointType.objects.order_by("key")]
    return types


_SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def node_kind(node: dict) -> str:
    for kind in ("and", "or", "not", "field", "activity", "became", "in_segment"):
        if kind in node:
            return kind
    return ""


def _shape_problems(definition: Any) -> list[tuple[str, str]]:
    """Depth and size first, without recursion (a 1,000-deep tree must not blow the stack)."""
    stack: list[tuple[Any, int, str]] = [(definition, 1, "")]
    nodes = 0
    while stack:
        node, depth, path = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            return [
                (path, _("The filter is nested more than %(n)d levels deep.") % {"n": MAX_DEPTH})
            ]
        if nodes > MAX_NODES:
            return [("", _("The filter has more than %(n)d conditions.") % {"n": MAX_NODES})]
        if not isinstance(node, dict):
            continue
        for key in ("and", "or"):
            children = node.get(key)
            if isinstance(children, list):
                stack.extend(
                    (child, depth + 1, f"{path}.{key}[{i}]".lstrip("."))
                    for i, child in enumerate(children)
                )
        if "not" in node:
            stack.append((node["not"], depth + 1, f"{path}.not".lstrip(".")))
    return []


def _best_schema_error(definition: Any) -> tuple[str, str] | None:
    error = jsonschema.exceptions.best_match(_SCHEMA_VALIDATOR.iter_errors(definition))
    if error is None:
        return None
    # The path of the deepest and/or/not node the error concerns names that condition.
    node_path = list(error.absolute_path)
    return (
        _path_of(node_path),
        _("This condition is incomplete or malformed (%(detail)s).")
        % {"detail": error.message[:200]},
    )


def _path_of(items: list) -> str:
    out = ""
    for item in items:
        if isinstance(item, int):
            out += f"[{item}]"
        elif item in ("and", "or", "not"):
            out += f".{item}" if out else item
        else:
            break
    return out


@dataclass
class _Context:
    fields: dict[str, Field]
    activities: set[str]
    now: dt.datetime | None
    segment_id: int | None  # the segment being validated (for cycles)
    expanding: tuple[int, ...] = ()
    problems: list[tuple[str, str]] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self.problems.append((path, message))


def validate(definition: Any, *, segment_id: int | None = None) -> None:
    """Raise DefinitionError listing every problem of `definition`; return None when it is good.

    `segment_id` is the segment the definition belongs to, so a reference back to it (directly
    or through other segments) is reported as a cycle.
    """
    problems = _shape_problems(definition)
    if problems:
        raise DefinitionError(problems)
    if definition in ({}, None):
        return
    error = _best_schema_error(definition)
    if error is not None:
        raise DefinitionError([error])
    ctx = _Context(
        fields=all_fields(),
        activities={key for key, _label in activity_types()},
        now=None,
        segment_id=segment_id,
        expanding=(segment_id,) if segment_id else (),
    )
    _check(definition, "", ctx, depth=1)
    if ctx.problems:
        raise DefinitionError(ctx.problems)
    size = expanded_size(definition, skip=(segment_id,) if segment_id else ())
    if size > MAX_NODES:
        raise DefinitionError(
            [
                (
                    "",
                    _("With the segments it refers to, the filter has more than %(n)d conditions.")
                    % {"n": MAX_NODES},
                )
            ]
        )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check(node: dict, path: str, ctx: _Context, depth: int) -> None:
    kind = node_kind(node)
    if kind in ("and", "or"):
        for i, child in enumerate(node[kind]):
            _check(child, f"{_join(path, kind)}[{i}]", ctx, depth + 1)
    elif kind == "not":
        _check(node["not"], _join(path, "not"), ctx, depth + 1)
    elif kind == "field":
        _check_field(node, path, ctx)
    elif kind == "activity":
        _check_activity(node, path, ctx)
    elif kind == "became":
        if node["became"] not in LifecycleStage.values:
            ctx.error(path, _("“%(v)s” is not a lifecycle stage.") % {"v": node["became"]})
        if "when" in node:
            _check_when(node["when"], path, ctx)
    elif kind == "in_segment":
        _check_segment_reference(node["in_segment"], path, ctx, depth)


def _check_segment_reference(segment_id: int, path: str, ctx: _Context, depth: int) -> None:
    from tsunagari.segments.models import Segment

    if segment_id in ctx.expanding:
        ctx.error(path, _("Segments may not refer to each other in a cycle."))
        return
    other = Segment.objects.filter(pk=segment_id, deleted_at__isnull=True).first()
    if other is None:
        ctx.error(path, _("Segment #%(id)s does not exist.") % {"id": segment_id})
        return
    if other.kind == Segment.Kind.DYNAMIC and other.definition:
        if depth + len(ctx.expanding) > MAX_DEPTH:
            ctx.error(path, _("Segments refer to segments too many levels deep."))
            return
        inner = _Context(
            ctx.fields, ctx.activities, ctx.now, ctx.segment_id, (*ctx.expanding, segment_id)
        )
        _check(other.definition, "", inner, depth + 1)
        if inner.problems:
            messages = {m for _p, m in inner.problems}
            cycle = _("Segments may not refer to each other in a cycle.")
            if cycle in messages:
                ctx.error(path, cycle)
            else:
                ctx.error(path, _("Segment “%(name)s” has an invalid filter.") % {"name": other})


def expanded_size(definition: Any, *, skip: tuple = ()) -> int:
    """Nodes of the definition with every referenced dynamic segment expanded (no cycles)."""
    from tsunagari.segments.models import Segment

    total = 0
    stack = [(definition, skip)]
    while stack:
        node, seen = stack.pop()
        if not isinstance(node, dict):
            continue
        total += 1
        if total > MAX_NODES * 4:
            break
        for key in ("and", "or"):
            if isinstance(node.get(key), list):
                stack.extend((child, seen) for child in node[key])
        if "not" in node:
            stack.append((node["not"], seen))
        ref = node.get("in_segment")
        if isinstance(ref, int) and ref not in seen:
            other = Segment.objects.filter(pk=ref, kind=Segment.Kind.DYNAMIC).first()
            if other is not None and other.definition:
                stack.append((other.definition, (*seen, ref)))
    return total


def _reserved_keys() -> set[str]:
    """Lookup names a JSON key would be mistaken for in a Django filter (`custom__contains`)."""
    from django.db.models import JSONField
    from django.db.models.fields.json import KeyTransform

    return set(JSONField.get_lookups()) | set(KeyTransform.get_lookups())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.date.fromisoformat(value[:10]) if len(value) >= 10 else None
    except ValueError:
        return None
    if parsed is None or not (DATE_MIN <= parsed <= DATE_MAX):
        return None
    return parsed


def _check_field(node: dict, path: str, ctx: _Context) -> None:
    key, op = node["field"], node["op"]
    f = ctx.fields.get(key)
    if f is not None and f.custom and key.rsplit(".", 1)[1] in _reserved_keys():
        message = _("Custom field “%(key)s” has a reserved name and cannot be filtered on.")
        ctx.error(path, message % {"key": key})
        return
    if f is None:
        if ".custom." in key:
            ctx.error(
                path, _("Custom field “%(key)s” does not exist or was deleted.") % {"key": key}
            )
        else:
            ctx.error(path, _("Unknown field “%(key)s”.") % {"key": key})
        return
    if op not in OPERATORS[f.type]:
        ctx.error(
            path,
            _("“%(op)s” cannot be used with %(field)s; use one of: %(ops)s.")
            % {"op": op, "field": f.label, "ops": ", ".join(OPERATORS[f.type])},
        )
        return
    has_value = "value" in node
    value = node.get("value")
    if op in NO_VALUE:
        if has_value and value not in (None, "", []):
            ctx.error(path, _("“%(op)s” takes no value.") % {"op": op})
        return
    if not has_value or value in ("", None, []):
        ctx.error(path, _("Enter a value for %(field)s.") % {"field": f.label})
        return
    problem = _value_problem(f, op, value)
    if problem:
        ctx.error(path, problem)


def _value_problem(f: Field, op: str, value: Any) -> str:
    if op in LIST_VALUE:
        if not isinstance(value, list):
            return _("%(field)s needs a list of values.") % {"field": f.label}
        if len(value) > MAX_LIST:
            return _("At most %(n)d values.") % {"n": MAX_LIST}
        items = value
    elif op in PAIR_VALUE:
        if not isinstance(value, list) or len(value) != 2:
            return _("%(field)s needs two values: from and to.") % {"field": f.label}
        items = value
    elif op in DAYS_VALUE:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DAYS:
            return _("The number of days must be between 1 and %(n)d.") % {"n": MAX_DAYS}
        return ""
    elif op in TEXT_ANY and isinstance(value, list):
        if not value or len(value) > MAX_LIST:
            return _("Between 1 and %(n)d values.") % {"n": MAX_LIST}
        items = value
    else:
        if isinstance(value, list):
            return _("%(field)s takes a single value here.") % {"field": f.label}
        items = [value]
    for item in items:
        problem = _item_problem(f, item)
        if problem:
            return problem
    if op in PAIR_VALUE:
        low, high = value
        low_key = _parse_date(low) if f.type in (DATE, DATETIME) else low
        high_key = _parse_date(high) if f.type in (DATE, DATETIME) else high
        if low_key > high_key:
            return _("The first value must not be after the second.")
    return ""


def _item_problem(f: Field, item: Any) -> str:
    if f.type == TEXT or (f.type == MULTI and f.choices is None):
        if not isinstance(item, str) or not item.strip():
            return _("%(field)s needs text.") % {"field": f.label}
        if len(item) > MAX_TEXT:
            return _("Text longer than %(n)d characters.") % {"n": MAX_TEXT}
        return ""
    if f.type == NUMBER:
        if not _is_number(item) or abs(item) > 9e18:
            return _("%(field)s needs a number.") % {"field": f.label}
        return ""
    if f.type in (DATE, DATETIME):
        if _parse_date(item) is None:
            return _("%(field)s needs a date (YYYY-MM-DD) between %(a)s and %(b)s.") % {
                "field": f.label,
                "a": DATE_MIN.isoformat(),
                "b": DATE_MAX.isoformat(),
            }
        return ""
    if f.choices is not None:
        allowed = {str(v) for v, _label in f.choices()}
        if str(item) not in allowed or isinstance(item, bool):
            return _("“%(v)s” is not a choice of %(field)s.") % {"v": item, "field": f.label}
    return ""


def _check_when(when: dict, path: str, ctx: _Context) -> None:
    if "last_days" in when:
        days = when["last_days"]
        if not 1 <= days <= MAX_DAYS:
            ctx.error(path, _("The window must be between 1 and %(n)d days.") % {"n": MAX_DAYS})
        return
    dates = [when.get("since")] if "since" in when else [when.get("from"), when.get("to")]
    parsed = [_parse_date(d) for d in dates]
    if any(p is None for p in parsed):
        ctx.error(
            path,
            _("Dates must be YYYY-MM-DD between %(a)s and %(b)s.")
            % {"a": DATE_MIN.isoformat(), "b": DATE_MAX.isoformat()},
        )
        return
    if len(parsed) == 2 and parsed[0] > parsed[1]:
        ctx.error(path, _("The start date is after the end date."))


def _check_activity(node: dict, path: str, ctx: _Context) -> None:
    activity = node["activity"]
    if activity not in ctx.activities:
        ctx.error(path, _("Unknown activity type “%(v)s”.") % {"v": activity})
        return
    allowed = activity_filters(activity)
    where = node.get("where", [])
    if len(where) > MAX_WHERE:
        ctx.error(path, _("At most %(n)d filters on one activity.") % {"n": MAX_WHERE})
    for item in where:
        name, op, value = item["field"], item["op"], item["value"]
        if name not in allowed:
            ctx.error(
                path,
                _("“%(f)s” cannot filter this activity; use one of: %(ok)s.")
                % {"f": name, "ok": ", ".join(allowed)},
            )
            continue
        kind = filter_type(name)
        if op not in FILTER_OPERATORS[kind]:
            ctx.error(
                path,
                _("“%(op)s” cannot be used with %(f)s.") % {"op": op, "f": name},
            )
            continue
        items = value if isinstance(value, list) else [value]
        if not items or len(items) > MAX_LIST:
            ctx.error(path, _("Between 1 and %(n)d values.") % {"n": MAX_LIST})
            continue
        if kind == NUMBER and not all(
            isinstance(v, int) and not isinstance(v, bool) for v in items
        ):
            ctx.error(path, _("%(f)s needs whole numbers.") % {"f": name})
        if kind == TEXT and not all(isinstance(v, str) and v.strip() for v in items):
            ctx.error(path, _("%(f)s needs text.") % {"f": name})
        if kind == TEXT and any(len(v) > MAX_TEXT for v in items if isinstance(v, str)):
            ctx.error(path, _("Text longer than %(n)d characters.") % {"n": MAX_TEXT})
    count = node.get("count", {"op": "at_least", "value": 1})
    if not 0 <= count["value"] <= MAX_COUNT:
        ctx.error(path, _("The count must be between 0 and %(n)d.") % {"n": MAX_COUNT})
    if count["op"] == "at_least" and count["value"] == 0:
        ctx.error(path, _("“At least 0 times” matches everyone; remove the condition instead."))
    if "when" in node:
        _check_when(node["when"], path, ctx)
