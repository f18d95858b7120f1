"""Writes of scoring's settings: each rule change commits with the job that recomputes it."""

from __future__ import annotations

from django.db import transaction

from tsunagari.core.models import User
from tsunagari.scoring.jobs import enqueue
from tsunagari.scoring.models import BehaviourRule, FitRule, MqlSettings, RecomputeJob


@transaction.atomic
def rule_save(*, form, actor: User | None) -> BehaviourRule:
    """Save a validated behaviour rule and queue the recompute of its points (outbox)."""
    rule = form.save(commit=False)
    if rule.pk is None:
        rule.created_by = actor
    rule.save()
    enqueue(RecomputeJob.Kind.RULE, rule=rule, actor=actor)
    return rule


@transaction.atomic
def rule_set_active(*, rule: BehaviourRule, active: bool, actor: User | None) -> BehaviourRule:
    """(De)activate a rule; its points appear or disappear with the queued recompute."""
    BehaviourRule.objects.filter(pk=rule.pk).update(is_active=active)
    rule.is_active = active
    enqueue(RecomputeJob.Kind.RULE, rule=rule, actor=actor)
    return rule


@transaction.atomic
def recompute_request(*, actor: User | None) -> RecomputeJob:
    return enqueue(RecomputeJob.Kind.ALL, actor=actor)


@transaction.atomic
def fit_rule_save(*, form, actor: User | None) -> FitRule:
    rule = form.save()
    enqueue(RecomputeJob.Kind.FIT, actor=actor)
    return rule


@transaction.atomic
def fit_rule_set_active(*, rule: FitRule, active: bool, actor: User | None) -> FitRule:
    FitRule.objects.filter(pk=rule.pk).update(is_active=active)
    rule.is_active = active
    enqueue(RecomputeJob.Kind.FIT, actor=actor)
    return rule


@transaction.atomic
def mql_settings_save(*, form, actor: User | None) -> MqlSettings:
    """Save the criteria; contacts that meet them now are checked in the background."""
    settings = form.save()
    enqueue(RecomputeJob.Kind.MQL, actor=actor)
    return settings
