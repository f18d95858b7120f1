"""Property test: the compiled SQL selects exactly whom the slow Python reference selects.

Hypothesis draws small data sets (contacts with and without accounts, scores, tags, teams,
custom fields, touchpoints, lifecycle history, a static and a dynamic segment) and random filter
trees over every kind of condition; each example runs in a transaction that is rolled back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsunagari.core.models import Team, User
from tsunagari.crm.models import Account, Contact, CustomField, LifecycleTransition, Tag
from tsunagari.scoring.models import ContactScore
from tsunagari.segments import language
from tsunagari.segments.models import Membership, Segment
from tsunagari.segments.services import compile_filter
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.services import touchpoints_append

from .reference import Reference

TZ = ZoneInfo("Asia/Tokyo")
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=TZ)
TAGS = ["展示会2025", "VIP", "newsletter"]
DEPARTMENTS = ["情報システム部", "営業部", "", "IT Systems", "it_systems%"]
PATHS = ["/pricing", "/case-study/a", "/blog/x", "/Pricing/plans", ""]
STAGES = ["lead", "mql", "sql", "customer"]
DAYS = [0, 1, 3, 8, 20, 40, 400]


def _when(days_ago: int, hour: int = 10) -> dt.datetime:
    return (NOW - dt.timedelta(days=days_ago)).replace(hour=hour)


accounts_st = st.lists(
    st.fixed_dictionaries(
        {
            "industry": st.sampled_from(["manufacturing", "it", ""]),
            "employee_count": st.sampled_from([None, 50, 300, 1000]),
            "abm_tier": st.integers(0, 3),
            "is_target": st.booleans(),
            "prefecture": st.sampled_from(["13", "27", ""]),
            "custom": st.fixed_dictionaries(
                {}, optional={"region": st.sampled_from(["east", "west"])}
            ),
        }
    ),
    min_size=1,
    max_size=3,
)
contact_custom_st = st.fixed_dictionaries(
    {},
    optional={
        "size": st.sampled_from(["Large", "small", "中堅"]),
        "n": st.sampled_from([0, 5, 12.5, 100]),
        "since": st.sampled_from(["2025-01-01", "2026-06-10", "2026-06-14"]),
        "flag": st.booleans(),
        "langs": st.lists(
            st.sampled_from(["ja", "en", "中文"]), min_size=1, max_size=2, unique=True
        ),
    },
)
touch_st = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["page_view", "email_opened", "form_submitted"]),
        "days": st.sampled_from(DAYS),
        "path": st.sampled_from(PATHS),
        "broadcast": st.sampled_from([None, 1, 2]),
        "machine": st.sampled_from([None, True, False]),
        "form_id": st.sampled_from([None, 7]),
    }
)
contacts_st = st.lists(
    st.fixed_dictionaries(
        {
            "account": st.one_of(st.none(), st.integers(0, 2)),
            "department": st.sampled_from(DEPARTMENTS),
            "stage": st.sampled_from(STAGES),
            "consent": st.sampled_from(["unknown", "opt_in", "opt_out"]),
            "dnc": st.booleans(),
            "owner": st.sampled_from([None, 0, 1]),
            "email": st.sampled_from([None, "x"]),
            "last_activity": st.one_of(st.none(), st.sampled_from(DAYS)),
            "tags": st.lists(st.sampled_from(TAGS), unique=True, max_size=2),
            "score": st.one_of(
                st.none(),
                st.tuples(
                    st.sampled_from([0, 5, 20, 60]),
                    st.sampled_from([0, 10, 40]),
                    st.sampled_from(["", "A", "B"]),
                ),
            ),
            "custom": contact_custom_st,
            "touches": st.lists(touch_st, max_size=5),
            "became": st.lists(
                st.tuples(st.sampled_from(STAGES), st.sampled_from(DAYS)), max_size=2
            ),
            "static": st.booleans(),
        }
    ),
    min_size=1,
    max_size=7,
)

# --- Filter trees -----------------------------------------------------------------------------

when_st = st.one_of(
    st.none(),
    st.builds(lambda d: {"last_days": d}, st.sampled_from([2, 7, 30, 365])),
    st.just({"since": "2026-06-07"}),
    st.just({"from": "2026-05-01", "to": "2026-06-12"}),
)


def _field(key: str, ops_values: list[tuple[str, Any]]):
    return st.sampled_from(ops_values).map(
        lambda ov: {"field": key, "op": ov[0], **({} if ov[1] is None else {"value": ov[1]})}
    )


field_leaves = st.one_of(
    _field(
        "account.industry",
        [
            ("eq", "manufacturing"),
            ("neq", "manufacturing"),
            ("in", ["it", "manufacturing"]),
            ("not_in", ["it"]),
            ("is_empty", None),
            ("is_not_empty", None),
        ],
    ),
    _field(
        "account.employee_count",
        [("gte", 300), ("lt", 300), ("between", [100, 500]), ("neq", 50), ("is_empty", None)],
    ),
    _field("account.abm_tier", [("eq", 1), ("in", [2, 3]), ("neq", 0)]),
    _field("account.is_target", [("is_true", None), ("is_false", None)]),
    _field("account.prefecture", [("eq", "13"), ("is_empty", None), ("not_in", ["27"])]),
    _field(
        "contact.department",
        [
            ("contains", "情報システム"),
            ("contains", ["情報", "it"]),
            ("starts_with", "IT"),
            ("not_contains", "営業"),
            ("eq", "IT Systems"),
            ("is_empty", None),
            ("contains", "_systems%"),
        ],
    ),
    _field("contact.lifecycle_stage", [("eq", "sql"), ("neq", "sql"), ("in", ["mql", "sql"])]),
    _field("contact.email_consent", [("eq", "opt_in"), ("neq", "opt_out")]),
    _field("contact.do_not_contact", [("is_true", None), ("is_false", None)]),
    _field("contact.email", [("is_empty", None), ("is_not_empty", None)]),
    _field("contact.owner", [("eq", "@user0"), ("neq", "@user1"), ("is_empty", None)]),
    _field("contact.team", [("eq", "@team0"), ("neq", "@team0"), ("is_empty", None)]),
    _field(
        "contact.tags",
        [("has_any", ["VIP"]), ("has_all", ["VIP", "展示会2025"]), ("has_none", ["newsletter"])],
    ),
    _field(
        "contact.last_activity_at",
        [
            ("in_last_days", 7),
            ("more_than_days_ago", 30),
            ("before", "2026-06-07"),
            ("after", "2026-06-14"),
            ("between", ["2026-05-01", "2026-06-12"]),
            ("is_empty", None),
        ],
    ),
    _field("score.behaviour", [("gte", 20), ("lt", 10), ("eq", 0), ("between", [1, 30])]),
    _field("score.fit", [("lte", 10), ("gt", 0)]),
    _field("score.grade", [("eq", "A"), ("in", ["A", "B"]), ("is_empty", None), ("neq", "B")]),
    _field(
        "contact.custom.size",
        [
            ("eq", "Large"),
            ("contains", "LAR"),
            ("neq", "small"),
            ("is_empty", None),
            ("in", ["中堅", "small"]),
        ],
    ),
    _field(
        "contact.custom.n", [("gt", 10), ("lte", 5), ("between", [1, 50]), ("is_not_empty", None)]
    ),
    _field(
        "contact.custom.since",
        [("before", "2026-06-01"), ("after", "2026-06-12"), ("in_last_days", 3)],
    ),
    _field("contact.custom.flag", [("is_true", None), ("is_false", None)]),
    _field(
        "contact.custom.langs", [("has_any", ["中文"]), ("has_none", ["en"]), ("is_empty", None)]
    ),
    _field("account.custom.region", [("eq", "east"), ("neq", "east"), ("is_empty", None)]),
)

count_st = st.one_of(
    st.none(),
    st.builds(
        lambda op, n: {"op": op, "value": n},
        st.sampled_from(["at_least", "at_most", "exactly"]),
        st.integers(1, 3),
    ),
    st.just({"op": "exactly", "value": 0}),
    st.just({"op": "at_most", "value": 0}),
)
activity_leaves = st.builds(
    lambda activity_where, count, when: {
        "activity": activity_where[0],
        **({"where": activity_where[1]} if activity_where[1] else {}),
        **({"count": count} if count else {}),
        **({"when": when} if when else {}),
    },
    st.sampled_from(
        [
            ("page_view", []),
            ("email_opened", []),
            ("form_submitted", []),
            (
                "page_view",
                [{"field": "path", "op": "contains", "value": ["/pricing", "/case-study"]}],
            ),
            ("page_view", [{"field": "path", "op": "starts_with", "value": "/PRICING"}]),
            ("page_view", [{"field": "path", "op": "eq", "value": "/blog/x"}]),
        ]
    ),
    count_st,
    when_st,
)
email_leaves = st.builds(
    lambda where, when: {
        "activity": "email_opened",
        "where": where,
        **({"when": when} if when else {}),
    },
    st.sampled_from(
        [
            [{"field": "broadcast_id", "op": "eq", "value": 1}],
            [{"field": "broadcast_id", "op": "in", "value": [1, 2]}],
        ]
    ),
    when_st,
)
form_leaves = st.just(
    {"activity": "form_submitted", "where": [{"field": "form_id", "op": "eq", "value": 7}]}
)
became_leaves = st.builds(
    lambda stage, when: {"became": stage, **({"when": when} if when else {})},
    st.sampled_from(STAGES),
    when_st,
)
segment_leaves = st.sampled_from([{"in_segment": "@static"}, {"in_segment": "@dynamic"}])

leaves = st.one_of(
    field_leaves, activity_leaves, email_leaves, form_leaves, became_leaves, segment_leaves
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda xs: {"and": xs}),
        st.lists(children, min_size=1, max_size=3).map(lambda xs: {"or": xs}),
        children.map(lambda x: {"not": x}),
    ),
    max_leaves=8,
)


def _substitute(node: Any, names: dict[str, int]) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, names) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, names) for v in node]
    if isinstance(node, str) and node.startswith("@"):
        return names[node]
    return node


# --- Building a data set ----------------------------------------------------------------------


def _build(accounts: list[dict], contacts: list[dict]) -> dict[str, int]:
    users = [User.objects.create_user(username=f"u{i}", password="x") for i in range(2)]
    team = Team.objects.create(name="インサイドセールス", kind="inside_sales")
    team.members.add(users[0])
    for key, kind, choices in (
        ("size", "text", []),
        ("n", "number", []),
        ("since", "date", []),
        ("flag", "boolean", []),
        ("langs", "multi_choice", ["ja", "en", "中文"]),
    ):
        CustomField.objects.create(
            object_type="contact", key=key, label=key, field_type=kind, choices=choices
        )
    CustomField.objects.create(
        object_type="account",
        key="region",
        label="地域",
        field_type="choice",
        choices=["east", "west"],
    )
    tags = {name: Tag.objects.create(name=name) for name in TAGS}
    made_accounts = [
        Account.objects.create(name=f"会社{i}", name_key=f"k{i}", **a)
        for i, a in enumerate(accounts)
    ]
    static = Segment.objects.create(name="static", kind=Segment.Kind.STATIC)
    dynamic = Segment.objects.create(
        name="dynamic",
        definition={"field": "contact.lifecycle_stage", "op": "in", "value": ["mql", "sql"]},
    )
    touches = []
    for i, spec in enumerate(contacts):
        account = (
            made_accounts[spec["account"] % len(made_accounts)]
            if spec["account"] is not None
            else None
        )
        contact = Contact.objects.create(
            email=f"c{i}@example.jp" if spec["email"] else None,
            family_name=f"姓{i}",
            department=spec["department"],
            lifecycle_stage=spec["stage"],
            email_consent=spec["consent"],
            do_not_contact=spec["dnc"],
            owner=users[spec["owner"]] if spec["owner"] is not None else None,
            account=account,
            custom=spec["custom"],
            last_activity_at=_when(spec["last_activity"])
            if spec["last_activity"] is not None
            else None,
        )
        contact.tags.set([tags[name] for name in spec["tags"]])
        if spec["score"] is not None:
            b, f, g = spec["score"]
            ContactScore.objects.create(contact=contact, behaviour=b, fit=f, grade=g)
        for stage, days in spec["became"]:
            LifecycleTransition.objects.create(
                contact=contact, from_stage="lead", to_stage=stage, occurred_at=_when(days, 9)
            )
        if spec["static"]:
            Membership.objects.create(segment=static, contact=contact, entered_at=NOW)
        for t in spec["touches"]:
            properties: dict[str, Any] = {}
            if t["type"] == "email_opened":
                if t["broadcast"] is not None:
                    properties["broadcast_id"] = t["broadcast"]
                if t["machine"] is not None:
                    properties["machine"] = t["machine"]
            if t["type"] == "form_submitted" and t["form_id"] is not None:
                properties = {"form_id": t["form_id"], "form": "資料請求"}
            touches.append(
                Touchpoint(
                    contact=contact,
                    type=t["type"],
                    occurred_at=_when(t["days"], 11),
                    path=t["path"] if t["type"] == "page_view" else "",
                    properties=properties,
                )
            )
    touchpoints_append(touches)
    return {
        "@user0": users[0].pk,
        "@user1": users[1].pk,
        "@team0": team.pk,
        "@static": static.pk,
        "@dynamic": dynamic.pk,
    }


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(accounts=accounts_st, contacts=contacts_st, tree=trees)
def test_the_compiled_query_selects_whom_the_reference_evaluator_selects(accounts, contacts, tree):
    with transaction.atomic():
        names = _build(accounts, contacts)
        definition = _substitute(tree, names)
        language.validate(definition)
        compiled = set(compile_filter(definition, now=NOW).values_list("pk", flat=True))
        expected = Reference(NOW).matching_ids(definition)
        assert compiled == expected, definition
        transaction.set_rollback(True)
