"""Scores and grades of contacts, the rules that make them, the ledger that explains them,
the MQL criteria and the hand-off to sales."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tsunagari.core.models import Team
from tsunagari.crm.models import Contact
from tsunagari.tracking.models import Touchpoint


class ContactScore(models.Model):
    """A contact's current scores: what segments, lists and journeys read.

    `behaviour` is the sum of the contact's live ledger rows, `fit` the profile score and
    `grade` the profile grade (A–D, "" when no fit rule applies). A contact without a row has
    behaviour 0, fit 0 and no grade.
    """

    # No database constraint: a full recompute writes a row for every scored contact at once,
    # and a per-row check at commit cost more than the rows; the row goes with its contact
    # through Django's cascade.
    contact = models.OneToOneField(
        Contact,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="score",
        db_constraint=False,
    )
    behaviour = models.IntegerField(_("behaviour score"), default=0)
    fit = models.IntegerField(_("fit score"), default=0)
    grade = models.CharField(_("grade"), max_length=1, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["behaviour"], name="scoring_behaviour"),
            models.Index(fields=["grade", "behaviour"], name="scoring_grade"),
            models.Index(fields=["updated_at"], name="scoring_score_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.behaviour} / {self.grade or '-'}"


class CapPeriod(models.TextChoices):
    DAY = "day", _("per day")
    WEEK = "week", _("per week")
    MONTH = "month", _("per month")
    EVER = "ever", _("ever")


class Decay(models.TextChoices):
    NONE = "", _("No decay")
    HALF_LIFE = "half_life", _("Halve every N days")
    EXPIRE = "expire", _("Expire after N days")


class BehaviourRule(models.Model):
    """Points for touches that match: a type, a URL pattern, an asset and property conditions."""

    class UrlMatch(models.TextChoices):
        GLOB = "glob", _("Wildcard (* and ?)")
        REGEX = "regex", _("Regular expression")

    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=300, blank=True)
    touch_type = models.CharField(_("touchpoint type"), max_length=40, blank=True)
    url_pattern = models.CharField(_("URL pattern"), max_length=500, blank=True)
    url_match = models.CharField(
        _("pattern kind"), max_length=5, choices=UrlMatch.choices, default=UrlMatch.GLOB
    )
    content_asset = models.CharField(_("content asset"), max_length=100, blank=True)
    # [{"field": "utm_campaign" | "properties.form" | …, "op": "eq" | "contains" | …, "value": …}]
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    points = models.IntegerField(_("points"))
    cap_count = models.PositiveIntegerField(_("at most (times)"), null=True, blank=True)
    cap_period = models.CharField(
        _("cap period"), max_length=5, choices=CapPeriod.choices, default=CapPeriod.WEEK
    )
    decay = models.CharField(_("decay"), max_length=10, choices=Decay.choices, blank=True)
    decay_days = models.PositiveIntegerField(_("decay days"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    effective_from = models.DateTimeField(_("effective from"), null=True, blank=True)
    effective_until = models.DateTimeField(_("effective until"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_active", "name", "id"]

    def __str__(self) -> str:
        return self.name


class LedgerEntry(models.Model):
    """One change of a contact's behaviour score. The score is the sum of the live rows.

    A touch scored by a rule writes one row per decay step (step 0 first): with a half-life of
    30 days, +10 is written as 5 expiring at +30 d, 3 at +60 d, 1 at +90 d and 1 at +120 d, so
    that the live rows sum to 10, 5, 2, 1 and 0 as time passes. A reset writes the negation of
    the rows live at that moment, with their expiries, so it stays exact as they expire.
    """

    class Kind(models.TextChoices):
        TOUCH = "touch", _("Touch")
        RESET = "reset", _("Reset")

    # No database constraints: the ledger is derived data, rebuilt in bulk from the touchpoints
    # (a constraint check per row would cost more than writing the row). Its rows go with their
    # contact or rule through Django's cascade when those are deleted.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    rule = models.ForeignKey(
        BehaviourRule,
        null=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Nor for the touch: the stream is append-only and large; a contact's touches and its
    # ledger rows go together when the contact is deleted.
    touchpoint = models.ForeignKey(
        Touchpoint,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.TOUCH)
    step = models.PositiveSmallIntegerField(default=0)
    points = models.IntegerField()
    occurred_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    # The start of the cap period the touch fell in (caps count step-0 touch rows per period).
    period_start = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A touch scores at most once per rule (and decay step): replays never double count.
            models.UniqueConstraint(
                fields=["rule", "touchpoint", "step", "kind"], name="scoring_ledger_once"
            )
        ]
        indexes = [
            # A contact's score (sum of live rows) and its explanation.
            models.Index(fields=["contact", "expires_at", "points"], name="scoring_ledger_contact"),
            # Caps: how many touches of this rule the contact already scored in the period.
            # Not partial: SQLite cannot prove a partial index's condition from the bound
            # parameters of the cap query, and would scan all the rule's rows instead.
            models.Index(
                fields=["rule", "contact", "period_start", "step"], name="scoring_ledger_cap2"
            ),
            # The expiry sweep: rows that stopped counting since the last sweep.
            models.Index(fields=["expires_at"], name="scoring_ledger_expiry"),
        ]


class ScoreReset(models.Model):
    """A reset of a contact's behaviour score (e.g. a lead sent back to nurturing).

    Touches up to `position` in the stream no longer count; recomputes re-derive the reset rows.
    """

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    position = models.BigIntegerField()  # the last touchpoint id the reset covers
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)


class RecomputeJob(models.Model):
    """Background work for the worker (outbox): recompute scores, re-check MQL criteria."""

    class Kind(models.TextChoices):
        RULE = "rule", _("Recompute one rule")
        ALL = "all", _("Recompute all rules")
        FIT = "fit", _("Recompute fit and grades")
        MQL = "mql", _("Check MQL criteria")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(max_length=5, choices=Kind.choices)
    rule = models.ForeignKey(BehaviourRule, null=True, blank=True, on_delete=models.CASCADE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "lease_until"], name="scoring_job_due")]


class Grade(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"


class FitRule(models.Model):
    """Conditions on the contact and its account that set or move the grade and add fit points."""

    class Effect(models.TextChoices):
        NONE = "", _("No grade change")
        A = "A", _("Grade A")
        B = "B", _("Grade B")
        C = "C", _("Grade C")
        D = "D", _("Grade D")
        UP = "up", _("One grade up")
        DOWN = "down", _("One grade down")

    name = models.CharField(_("name"), max_length=100)
    # [{"field": "department" | "account.employee_count" | "custom.key" | …, "op": …, "value": …}]
    conditions = models.JSONField(_("conditions"), default=list)
    points = models.IntegerField(_("fit points"), default=0)
    grade_effect = models.CharField(
        _("grade"), max_length=4, choices=Effect.choices, blank=True, default=""
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_active", "name", "id"]

    def __str__(self) -> str:
        return self.name


class MqlSettings(models.Model):
    """The one row of MQL criteria and hand-off settings (pk 1)."""

    class MinGrade(models.TextChoices):
        ANY = "", _("Any grade")
        A = "A", "A"
        B = "B", _("B or better")
        C = "C", _("C or better")
        D = "D", _("D or better")

    score_enabled = models.BooleanField(_("score and grade criterion"), default=True)
    min_behaviour = models.IntegerField(_("behaviour score at least"), default=100)
    min_grade = models.CharField(
        _("grade at least"), max_length=1, choices=MinGrade.choices, blank=True, default=""
    )
    bant_enabled = models.BooleanField(_("BANT complete makes an MQL"), default=False)
    # Hand-raises: a form (by name or id) or a touch type that makes an MQL at once.
    hand_raise_forms = models.JSONField(_("hand-raise forms"), default=list, blank=True)
    hand_raise_types = models.JSONField(_("hand-raise touch types"), default=list, blank=True)
    sla_hours = models.PositiveIntegerField(_("follow-up deadline (hours)"), default=24)
    team = models.ForeignKey(
        Team,
        verbose_name=_("inside-sales team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reset_on_reject = models.BooleanField(_("reset the score when sales rejects"), default=False)
    cold_days = models.PositiveIntegerField(
        _("back to nurture after days without activity"), default=90
    )
    updated_at = models.DateTimeField(auto_now=True)

    @classmethod
    def load(cls) -> MqlSettings:
        return cls.objects.get_or_create(pk=1)[0]


class AssignmentRule(models.Model):
    """Territory: leads of these prefectures / industries go to this user or team (in order)."""

    position = models.PositiveIntegerField(_("order"), default=0)
    name = models.CharField(_("name"), max_length=100)
    prefectures = models.JSONField(_("prefectures"), default=list, blank=True)
    industries = models.JSONField(_("industries"), default=list, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    team = models.ForeignKey(
        Team, verbose_name=_("team"), null=True, blank=True, on_delete=models.CASCADE
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class RoundRobin(models.Model):
    """Who got the last lead of a pool, so the next goes to the next person."""

    key = models.CharField(max_length=40, unique=True)  # "team:<id>" or "inside_sales"
    last_user_id = models.BigIntegerField(default=0)


class Handoff(models.Model):
    """An MQL handed to a sales rep: the follow-up task with its deadline, and its outcome."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACCEPTED = "accepted", _("Accepted (SQL)")
        REJECTED = "rejected", _("Rejected")
        RECYCLED = "recycled", _("Back to nurture")

    class Reason(models.TextChoices):
        NOT_A_FIT = "not_a_fit", _("Not a fit")
        NO_BUDGET = "no_budget", _("No budget")
        BAD_TIMING = "bad_timing", _("Not now")
        WRONG_CONTACT = "wrong_contact", _("Wrong person")
        NO_RESPONSE = "no_response", _("No response")
        DUPLICATE = "duplicate", _("Duplicate")
        OTHER = "other", _("Other")

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="handoffs")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handoffs",
    )
    assigned_by = models.CharField(max_length=60, blank=True)  # account_owner, territory:3, …
    criterion = models.CharField(max_length=100, blank=True)  # why it became an MQL
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assigned_at = models.DateTimeField()
    due_at = models.DateTimeField()
    worked_at = models.DateTimeField(null=True, blank=True)  # first accept/reject
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    note = models.CharField(max_length=500, blank=True)
    # When the owner was told the deadline had passed (once per hand-off).
    overdue_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact"], condition=Q(status="open"), name="scoring_handoff_one_open"
            )
        ]
        indexes = [
            # The rep's queue and the managers' overdue list.
            models.Index(fields=["status", "owner", "due_at"], name="scoring_handoff_queue"),
            models.Index(fields=["status", "due_at"], name="scoring_handoff_due"),
        ]


class ScoringState(models.Model):
    """Watermarks of the scheduled jobs (one row, pk 1)."""

    swept_at = models.DateTimeField(null=True, blank=True)  # expiry sweep
    fit_checked_at = models.DateTimeField(null=True, blank=True)  # contacts edited since
    cold_checked_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def load(cls) -> ScoringState:
        return cls.objects.get_or_create(pk=1)[0]


class BacktestRow(models.Model):
    """Scratch rows of a back-test: written and rolled back inside its transaction, never kept.

    The same columns as LedgerEntry so the same SQL builds both; no constraints or indexes.
    """

    contact = models.ForeignKey(
        Contact, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    rule = models.ForeignKey(
        BehaviourRule,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    touchpoint = models.ForeignKey(
        Touchpoint,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    kind = models.CharField(max_length=5, default="touch")
    step = models.PositiveSmallIntegerField(default=0)
    points = models.IntegerField()
    occurred_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
