"""Compiling a validated filter definition into one Q over Contact: one SQL query, no Python.

Every leaf is two-valued (TRUE or FALSE, never SQL NULL) so that NOT means what people mean:
"industry is not manufacturing" includes contacts without an account. Column lookups get that
from Django's own negation (it adds `IS NOT NULL` guards for nullable columns and outer joins);
JSON custom-field lookups carry an explicit guard. Sets of contacts from other tables (tags,
touchpoint counts, lifecycle history, scores, teams) are `pk IN (subquery)`: PostgreSQL plans
them as hash semi-joins and SQLite builds the subquery's list once, which beats a correlated
probe per contact on a million contacts. A condition that holds for "zero" (at most 2 visits,
behaviour score below 10 for a contact without a score row) is compiled as NOT IN the contacts
for whom it fails, so contacts absent from the other table are counted correctly.

`restrict_ids` pushes "only these contacts" into every subquery, so an incremental refresh of
a thousand contacts reads a thousand contacts' touchpoints, not a window of everyone's.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from functools import reduce
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import CharField, Count, Exists, F, FloatField, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Lookup,
)

from tsunagari.core.models import Team
from tsunagari.crm.models import Account, Contact, LifecycleTransition
from tsunagari.scoring.models import ContactScore
from tsunagari.segments import language as lang
from tsunagari.tracking.models import Touchpoint

TRUE = Q(pk__isnull=False)
FALSE = Q(pk__in=[])


class _Compiler:
    def __init__(self, now: dt.datetime, restrict_ids: Iterable[int] | None) -> None:
        self.now = now
        self.restrict = list(restrict_ids) if restrict_ids is not None else None
        self.fields = lang.all_fields()
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.expanding: tuple[int, ...] = ()
        self.vendor = connection.vendor

    # -- helpers -------------------------------------------------------------------------
    def midnight(self, value: str, *, plus_days: int = 0) -> dt.datetime:
        day = dt.date.fromisoformat(value[:10]) + dt.timedelta(days=plus_days)
        return dt.datetime.combine(day, dt.time(), tzinfo=self.tz)

    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()

    def restricted(self, qs: QuerySet, column: str = "contact_id") -> QuerySet:
        if self.restrict is None:
            return qs
        return qs.filter(**{f"{column}__in": self.restrict})

    def contacts_in(self, qs: QuerySet, column: str = "contact_id") -> Q:
        """Contacts with a row in `qs`: EXISTS on PostgreSQL, IN on SQLite.

        PostgreSQL turns EXISTS and NOT EXISTS into hash semi- and anti-joins, whereas NOT IN
        over a large subquery degrades to a per-row subplan. SQLite runs an uncorrelated IN
        once into a temporary index, whereas EXISTS would probe once per contact.
        """
        qs = self.restricted(qs, column)
        if self.vendor == "postgresql":
            return Q(Exists(qs.filter(**{column: OuterRef("pk")})))
        return Q(pk__in=qs.values(column))

    # -- nodes ---------------------------------------------------------------------------
    def node(self, node: dict) -> Q:
        kind = lang.node_kind(node)
        if kind in ("and", "or"):
            # Account conditions side by side become one test of the contact's account (one
            # subquery over accounts instead of one per condition): a contact has one account,
            # so "its account is in A and in B" is "its account is in A ∩ B", and so for OR.
            children = node[kind]
            on_account = [child for child in children if self.account_only(child)]
            parts = [self.node(child) for child in children if not self.account_only(child)]
            if len(on_account) > 1:
                accounts = Account.objects.filter(self.account_q({kind: on_account}))
                parts.append(self.account_exists(accounts))
            else:
                parts += [self.node(child) for child in on_account]
            if kind == "and":
                return reduce(lambda a, b: a & b, parts) if parts else TRUE
            return reduce(lambda a, b: a | b, parts)
        if kind == "not":
            return ~self.node(node["not"])
        if kind == "field":
            return self.field(node)
        if kind == "activity":
            return self.activity(node)
        if kind == "became":
            return self.became(node)
        if kind == "in_segment":
            return self.in_segment(node["in_segment"])
        raise lang.DefinitionError([("", "unknown node")])

    def window(self, when: dict | None, column: str) -> Q:
        if not when:
            return Q()
        if "last_days" in when:
            return Q(**{f"{column}__gte": self.now - dt.timedelta(days=when["last_days"])})
        if "since" in when:
            return Q(**{f"{column}__gte": self.midnight(when["since"])})
        return Q(
            **{
                f"{column}__gte": self.midnight(when["from"]),
                f"{column}__lt": self.midnight(when["to"], plus_days=1),
            }
        )

    def became(self, node: dict) -> Q:
        rows = LifecycleTransition.objects.filter(
            Q(to_stage=node["became"]) & self.window(node.get("when"), "occurred_at")
        )
        return self.contacts_in(rows)

    def in_segment(self, segment_id: int) -> Q:
        from tsunagari.segments.models import Membership, Segment

        if segment_id in self.expanding:
            raise lang.DefinitionError([("", "Segments may not refer to each other in a cycle.")])
        other = Segment.objects.filter(pk=segment_id, deleted_at__isnull=True).first()
        if other is None:
            return FALSE
        if other.kind == Segment.Kind.STATIC:
            current = Membership.objects.filter(segment_id=segment_id, exited_at__isnull=True)
            return self.contacts_in(current)
        if not other.definition:
            return TRUE
        # Inline: always as current as the contacts themselves, whatever the other segment's
        # last refresh; validation bounds the expanded size and rules out cycles.
        outer = self.expanding
        self.expanding = (*outer, segment_id)
        try:
            return self.node(other.definition)
        finally:
            self.expanding = outer

    # -- behaviour -----------------------------------------------------------------------
    def activity(self, node: dict) -> Q:
        activity = node["activity"]
        q = Q(type=activity, contact_id__isnull=False) & self.window(
            node.get("when"), "occurred_at"
        )
        for item in node.get("where", []):
            q &= self.touch_filter(item["field"], item["op"], item["value"])
        rows = Touchpoint.objects.filter(q)
        if activity in lang.MACHINE_EXCLUDED:
            # "machine IS NOT TRUE": the key test keeps the NOT from meeting a NULL, so a touch
            # without the key counts.
            machine = Q(properties__has_key="machine") & Q(properties__machine=True)
            rows = rows.filter(~machine)
        count = node.get("count", {"op": "at_least", "value": 1})
        return self.counted(rows, count["op"], count["value"])

    def counted(self, rows: QuerySet, op: str, n: int) -> Q:
        """Contacts whose number of `rows` satisfies `op n` (zero included where it should)."""
        if op == "at_least" and n <= 1:
            return self.contacts_in(rows)
        if n == 0:  # at most 0, exactly 0: none at all
            return ~self.contacts_in(rows)
        # Counts: contacts over a threshold are few; an uncorrelated IN with GROUP BY … HAVING
        # is one pass over the window on both databases.
        rows = self.restricted(rows)
        if op == "at_least":
            return Q(pk__in=_having(rows, "gte", n))
        if op == "at_most":
            return ~Q(pk__in=_having(rows, "gt", n))
        return Q(pk__in=_having(rows, "exact", n))

    def touch_filter(self, name: str, op: str, value: Any) -> Q:
        values = value if isinstance(value, list) else [value]
        if name in lang.COLUMN_FILTERS:
            if op == "eq":
                return Q(**{f"{name}__in": values})
            return _any(_like(F(name), v, contains=op == "contains") for v in values)
        if lang.filter_type(name) == lang.NUMBER:
            # Property names are the fixed vocabulary above, never a lookup name.
            return Q(**{f"properties__{name}__in": values})
        text = KeyTextTransform(name, "properties")
        if op == "eq":
            return _any(Q(Exact(text, v)) for v in values)
        return _any(_like(text, v, contains=op == "contains") for v in values)

    # -- profile fields ------------------------------------------------------------------
    def field(self, node: dict) -> Q:
        f = self.fields[node["field"]]
        op, value = node["op"], node.get("value")
        if f.custom:
            return self.custom(f, op, value)
        key = f.key
        if key == "contact.tags":
            return self.tags(op, value)
        if key == "contact.team":
            return self.team(op, value)
        if key.startswith("score."):
            return self.score(f, op, value)
        column = key.split(".", 1)[1]
        if column == "owner":
            column = "owner_id"
        if key.startswith("account."):
            return self.account_column(f, column, op, value)
        return self.column(f, column, op, value)

    def account_column(self, f: lang.Field, column: str, op: str, value: Any) -> Q:
        """EXISTS (the contact's account matches): SQLite then scans contacts once and looks
        each account up by primary key, instead of walking from matching accounts to their
        contacts at random (a join or an IN list lets it choose that, and on a million
        contacts it is several times slower); PostgreSQL hashes an IN list of accounts."""
        if op in ("neq", "not_in", "not_contains", "is_not_empty"):
            positive = {"neq": "eq", "not_in": "in", "not_contains": "contains"}
            return ~self.account_column(f, column, positive.get(op, "is_empty"), value)
        accounts = Account.objects.all()
        if op == "is_empty":
            empty = Q(**{f"{column}__isnull": True})
            if isinstance(Account._meta.get_field(column.removesuffix("_id")), CharField):
                empty |= Q(**{column: ""})
            return Q(account_id__isnull=True) | self.account_exists(accounts.filter(empty))
        return self.account_exists(accounts.filter(self.column(f, column, op, value)))

    # Operators that hold only for a contact with an account (a missing value is false), so
    # they can be asked of the account itself; the others (neq, is_empty…) hold without one.
    ACCOUNT_POSITIVE = frozenset(
        ("eq", "in", "contains", "starts_with", "gt", "gte", "lt", "lte", "between",
         "is_true", "is_false")
    )  # fmt: skip

    def account_only(self, node: Any) -> bool:
        """A condition on the account's own columns alone (AND/OR of such), none negated."""
        kind = lang.node_kind(node) if isinstance(node, dict) else ""
        if kind in ("and", "or"):
            return bool(node[kind]) and all(self.account_only(child) for child in node[kind])
        if kind != "field":
            return False
        f = self.fields.get(node["field"])
        return (
            f is not None
            and f.key.startswith("account.")
            and not f.custom
            and node["op"] in self.ACCOUNT_POSITIVE
        )

    def account_q(self, node: dict) -> Q:
        """The Q over Account of an `account_only` node."""
        kind = lang.node_kind(node)
        if kind == "and":
            return reduce(lambda a, b: a & b, (self.account_q(c) for c in node["and"]))
        if kind == "or":
            return reduce(lambda a, b: a | b, (self.account_q(c) for c in node["or"]))
        f = self.fields[node["field"]]
        column = f.key.split(".", 1)[1]
        column = "owner_id" if column == "owner" else column
        return self.column(f, column, node["op"], node.get("value"))

    def account_exists(self, accounts: QuerySet) -> Q:
        if self.vendor == "postgresql":
            return Q(account_id__in=accounts.values("pk"))
        # "+ 0": SQLite would otherwise rewrite a plain `id = outer.account_id` EXISTS into an
        # IN list and walk from the accounts to their contacts.
        return Q(Exists(accounts.filter(pk=OuterRef("account_id") + 0)))

    def column(self, f: lang.Field, path: str, op: str, value: Any) -> Q:
        if op in ("neq", "not_in", "not_contains"):
            positive = {"neq": "eq", "not_in": "in", "not_contains": "contains"}[op]
            return ~self.column(f, path, positive, value)
        if op == "is_not_empty":
            return ~self.column(f, path, "is_empty", value)
        if op == "is_empty":
            q = Q(**{f"{path}__isnull": True})
            if _is_text_column(path):
                q |= Q(**{path: ""})
            return q
        if op in ("is_true", "is_false"):
            return Q(**{path: op == "is_true"})
        if op == "eq":
            return Q(**{path: value})
        if op == "in":
            return Q(**{f"{path}__in": value})
        if op in ("contains", "starts_with"):
            values = value if isinstance(value, list) else [value]
            # The guard keeps a NULL (no email) from turning "does not contain" into NULL.
            matches = _any(_like(F(path), v, contains=op == "contains") for v in values)
            return matches & Q(**{f"{path}__isnull": False})
        if f.type in (lang.DATETIME, lang.DATE):
            return self.dates(path, op, value)
        lookup = {"gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}.get(op)
        if lookup:
            return Q(**{f"{path}__{lookup}": value})
        if op == "between":
            return Q(**{f"{path}__gte": value[0], f"{path}__lte": value[1]})
        raise lang.DefinitionError([("", f"operator {op} on {f.key}")])

    def dates(self, path: str, op: str, value: Any) -> Q:
        if op == "before":
            return Q(**{f"{path}__lt": self.midnight(value)})
        if op == "after":
            return Q(**{f"{path}__gte": self.midnight(value)})
        if op == "between":
            return Q(
                **{
                    f"{path}__gte": self.midnight(value[0]),
                    f"{path}__lt": self.midnight(value[1], plus_days=1),
                }
            )
        cutoff = self.now - dt.timedelta(days=value)
        if op == "in_last_days":
            return Q(**{f"{path}__gte": cutoff})
        return Q(**{f"{path}__lt": cutoff})  # more_than_days_ago

    def tags(self, op: str, value: list[str]) -> Q:
        through = Contact.tags.through.objects
        if op == "has_none":
            return ~self.tags("has_any", value)
        if op == "has_any":
            return self.contacts_in(through.filter(tag__name__in=value))
        return reduce(
            lambda a, b: a & b,
            (self.contacts_in(through.filter(tag__name=name)) for name in value),
        )

    def team(self, op: str, value: Any) -> Q:
        members = Team.members.through.objects
        if op in ("neq", "not_in"):
            return ~self.team({"neq": "eq", "not_in": "in"}[op], value)
        if op == "is_not_empty":
            return ~self.team("is_empty", value)
        if op == "is_empty":
            return Q(owner_id__isnull=True) | ~Q(owner_id__in=members.values("user_id"))
        teams = value if isinstance(value, list) else [value]
        return Q(owner_id__in=members.filter(team_id__in=teams).values("user_id"))

    def score(self, f: lang.Field, op: str, value: Any) -> Q:
        """A condition on the contact's score row; a contact without one has 0, 0 and ""."""
        column = f.key.split(".", 1)[1]
        default = "" if column == "grade" else 0
        if op in ("is_empty", "is_not_empty"):
            if column != "grade":  # scores always have a value (0 without a row)
                return FALSE if op == "is_empty" else TRUE
            op, value = ("eq" if op == "is_empty" else "neq"), ""
        holds = _python_op(op, default, value)
        rows = ContactScore.objects.all()
        row_q = self.column(f, column, op, value)
        if holds:
            return ~self.contacts_in(rows.filter(~row_q))
        return self.contacts_in(rows.filter(row_q))

    def custom(self, f: lang.Field, op: str, value: Any) -> Q:
        """Custom fields live in a JSON column: explicit lookups with a NULL guard each."""
        if f.custom == "account":
            inner = self.custom_on(f, op, value, "custom")
            if op in ("is_empty", "neq", "not_in", "not_contains", "has_none"):
                positive = self.custom_on(f, _POSITIVE_OF[op], value, "custom")
                return ~Q(account_id__in=Account.objects.filter(positive).values("pk"))
            return Q(account_id__in=Account.objects.filter(inner).values("pk"))
        return self.custom_on(f, op, value, "custom")

    def custom_on(self, f: lang.Field, op: str, value: Any, column: str) -> Q:
        key = f.key.rsplit(".", 1)[1]
        if op in _POSITIVE_OF:
            return ~self.custom_on(f, _POSITIVE_OF[op], value, column)
        text = KeyTextTransform(key, column)
        present = Q(IsNull(text, False))
        if op == "is_not_empty":
            return (
                present & ~Q(Exact(text, ""))
                if f.type != lang.MULTI
                else present & ~Q(Exact(text, "[]"))
            )
        if op in ("is_true", "is_false"):
            return present & _json_key_exact(column, key, op == "is_true")
        if f.type == lang.MULTI:  # has_any: the JSON array holds one of the values
            needles = {json.dumps(v) for v in value} | {
                json.dumps(v, ensure_ascii=False) for v in value
            }
            return present & _any(Q(IContains(text, n)) for n in sorted(needles))
        if f.type == lang.NUMBER:
            number = Cast(text, FloatField())
            return present & self.compare(number, op, value)
        if f.type == lang.DATE:
            return present & self.compare_dates(text, op, value)
        if op == "contains" or op == "starts_with":
            values = value if isinstance(value, list) else [value]
            return present & _any(_like(text, v, contains=op == "contains") for v in values)
        return present & self.compare(text, op, value)

    def compare(self, expr: Any, op: str, value: Any) -> Q:
        if op == "eq":
            return Q(Exact(expr, value))
        if op == "in":
            return Q(In(expr, value))
        if op == "between":
            return Q(GreaterThanOrEqual(expr, value[0])) & Q(LessThanOrEqual(expr, value[1]))
        make: Callable = {
            "gt": GreaterThan,
            "gte": GreaterThanOrEqual,
            "lt": LessThan,
            "lte": LessThanOrEqual,
        }[op]
        return Q(make(expr, value))

    def compare_dates(self, expr: Any, op: str, value: Any) -> Q:
        """ISO dates stored as text compare as text."""
        if op == "before":
            return Q(LessThan(expr, value[:10]))
        if op == "after":
            return Q(GreaterThanOrEqual(expr, value[:10]))
        if op == "between":
            return Q(GreaterThanOrEqual(expr, value[0][:10])) & Q(
                LessThanOrEqual(expr, value[1][:10])
            )
        cutoff = (self.today() - dt.timedelta(days=value)).isoformat()
        if op == "in_last_days":
            return Q(GreaterThanOrEqual(expr, cutoff))
        return Q(LessThan(expr, cutoff))


_POSITIVE_OF = {
    "neq": "eq",
    "not_in": "in",
    "not_contains": "contains",
    "has_none": "has_any",
    "is_empty": "is_not_empty",
}


def _json_key_exact(column: str, key: str, value: Any) -> Q:
    """`column -> key = value` as Django writes it for each database (JSON booleans differ).

    Validation rejects custom-field keys that are lookup names, so the key cannot be misread.
    """
    return Q(**{f"{column}__{key}": value})


def _is_text_column(path: str) -> bool:
    """Whether a Contact path ends in a text column, where "" also counts as empty."""
    model: Any = Contact
    parts = path.split("__")
    if parts[0] == "account":
        model, parts = Account, parts[1:]
    if model is Contact and parts == ["grade"]:
        model = ContactScore
    return isinstance(model._meta.get_field(parts[0]), CharField)


class _CaseInsensitiveLike(Lookup):
    """`contains` / `starts with` ignoring case: ILIKE on PostgreSQL, LIKE on SQLite.

    Django's icontains writes UPPER(column) LIKE UPPER(pattern) on PostgreSQL, which costs an
    UPPER() per row on millions of page views; ILIKE does the same match directly. SQLite's
    LIKE already ignores the case of Latin letters.
    """

    lookup_name = "segments_ilike"
    prepare_rhs = False
    contains = True

    def get_prep_lookup(self) -> Any:
        return self.rhs

    def as_sql(self, compiler, connection) -> tuple[str, list]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        pattern = connection.ops.prep_for_like_query(self.rhs)
        pattern = f"%{pattern}%" if self.contains else f"{pattern}%"
        if connection.vendor == "postgresql":
            return f"({lhs})::text ILIKE %s", [*lhs_params, pattern]
        return f"{lhs} LIKE %s ESCAPE '\\'", [*lhs_params, pattern]


class _CaseInsensitiveStartsWith(_CaseInsensitiveLike):
    lookup_name = "segments_istarts"
    contains = False


def _like(expr: Any, value: str, *, contains: bool) -> Q:
    lookup = _CaseInsensitiveLike if contains else _CaseInsensitiveStartsWith
    return Q(lookup(expr, value))


def _any(qs: Iterable[Q]) -> Q:
    return reduce(lambda a, b: a | b, qs)


def _having(rows: QuerySet, lookup: str, n: int) -> QuerySet:
    return (
        rows.order_by()
        .values("contact_id")
        .annotate(n=Count("id"))
        .filter(**{f"n__{lookup}": n})
        .values("contact_id")
    )


def _python_op(op: str, actual: Any, value: Any) -> bool:
    """Whether the default value of a missing score row satisfies a condition."""
    if op == "eq":
        return actual == value
    if op == "neq":
        return actual != value
    if op == "in":
        return actual in value
    if op == "not_in":
        return actual not in value
    if op == "gt":
        return actual > value
    if op == "gte":
        return actual >= value
    if op == "lt":
        return actual < value
    if op == "lte":
        return actual <= value
    if op == "between":
        return value[0] <= actual <= value[1]
    return False


def compile_q(
    definition: dict,
    *,
    now: dt.datetime,
    restrict_ids: Iterable[int] | None = None,
    segment_id: int | None = None,
) -> Q:
    """The Q over Contact that `definition` means (validated beforehand; not the live filter)."""
    compiler = _Compiler(now, restrict_ids)
    if segment_id is not None:
        compiler.expanding = (segment_id,)
    if not definition:
        return TRUE
    return compiler.node(definition)
