"""Fit (profile) rules → ContactScore.fit and grade, in one INSERT … SELECT over contacts.

The grade: the best grade set by a matching rule (A beats B), or D when only "one grade up/down"
rules match, moved up or down by the net number of those, kept within A–D. No matching rule
with a grade effect leaves the grade empty. Fit points are the sum of matching rules' points.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Case, CharField, IntegerField, Q, Value, When
from django.db.models.functions import Coalesce, Greatest, Least
from django.db.models.lookups import Exact
from django.utils import timezone

from tsunagari.crm.models import Contact
from tsunagari.scoring.conditions import from_stored, to_q
from tsunagari.scoring.models import ContactScore, FitRule

_RANK = {"A": 1, "B": 2, "C": 3, "D": 4}


def _rule_qs(rules: list[FitRule]) -> list[tuple[FitRule, Q]]:
    return [(r, to_q(from_stored(r.conditions, target="contact"), target="contact")) for r in rules]


def _expressions(pairs: list[tuple[FitRule, Q]]):
    """(fit points, grade letter, any rule matched) as SQL expressions over Contact."""
    zero = Value(0, output_field=IntegerField())
    points = zero
    for rule, q in pairs:
        if rule.points:
            points = points + Case(When(q, then=Value(rule.points)), default=zero)
    set_whens = []
    for letter in "ABCD":
        qs = [q for r, q in pairs if r.grade_effect == letter]
        if qs:
            combined = qs[0]
            for q in qs[1:]:
                combined |= q
            set_whens.append(When(combined, then=Value(_RANK[letter])))
    set_rank = Case(*set_whens, default=Value(None), output_field=IntegerField())
    steps = zero
    any_grade = Q(pk__in=[])
    for rule, q in pairs:
        if rule.grade_effect in ("up", "down"):
            steps = steps + Case(
                When(q, then=Value(1 if rule.grade_effect == "up" else -1)), default=zero
            )
        if rule.grade_effect:
            any_grade |= q
    rank = Greatest(
        Value(1), Least(Value(4), Coalesce(set_rank, Value(4)) - steps), output_field=IntegerField()
    )
    letters = [When(Exact(rank, n), then=Value(letter)) for letter, n in _RANK.items()]
    grade = Case(
        When(any_grade, then=Case(*letters, default=Value(""), output_field=CharField())),
        default=Value(""),
        output_field=CharField(),
    )
    matched = Q(pk__in=[])
    for _rule, q in pairs:
        matched |= q
    return points, grade, matched


def refresh_fit(*, contact_ids: Iterable[int] | None = None) -> int:
    """Recompute fit and grade for these contacts (None: all live contacts); rows written."""
    ids = None if contact_ids is None else sorted(set(contact_ids))
    if ids is not None and not ids:
        return 0
    pairs = _rule_qs(list(FitRule.objects.filter(is_active=True).order_by("pk")))
    contacts = Contact.objects.filter(deleted_at__isnull=True)
    if ids is not None:
        contacts = contacts.filter(pk__in=ids)
    now = timezone.now()
    written = 0
    scores = connection.ops.quote_name(ContactScore._meta.db_table)
    if pairs:
        points, grade, matched = _expressions(pairs)
        qs = (
            contacts.filter(matched)
            .annotate(f_points=points, f_grade=grade, f_now=Value(now))
            .order_by()
            .values_list("pk", "f_points", "f_grade", "f_now")
        )
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {scores} (contact_id, fit, grade, updated_at, behaviour) "
                f"SELECT src.*, 0 FROM ({sql}) AS src WHERE 1 = 1 "
                "ON CONFLICT (contact_id) DO UPDATE SET fit = excluded.fit, "
                "grade = excluded.grade, updated_at = excluded.updated_at",
                params,
            )
            written = max(cursor.rowcount, 0)
        unmatched = contacts.exclude(matched)
    else:
        unmatched = contacts
    stale = ContactScore.objects.filter(contact__in=unmatched.values("pk")).exclude(fit=0, grade="")
    written += stale.update(fit=0, grade="", updated_at=now)
    return written
