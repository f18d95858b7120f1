"""Journeys: a versioned graph of steps, the contacts enrolled in it, and the due step runs.

The engine's state is rows, never memory: an Enrolment says where a contact is, a StepRun is
one step due for one enrolment (the outbox the worker claims with a compare-and-set and a
lease). A step run and everything it writes commit together, so a worker killed mid-batch
leaves the run claimable and nothing half-done.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.models import Contact


class Journey(models.Model):
    """One version of a scenario. `family_id` groups the versions (the first version's id).

    Only one version of a family is live at a time; publishing a new version retires the
    previous one and moves its waiting contacts (services.journey_publish documents the rule).
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        LIVE = "live", _("Live")
        PAUSED = "paused", _("Paused")
        RETIRED = "retired", _("Retired (older version)")
        ARCHIVED = "archived", _("Archived")

    class Reentry(models.TextChoices):
        NEVER = "never", _("Never: a contact goes through once")
        ALWAYS = "always", _("Again once the previous enrolment ended")
        AFTER_DAYS = "after_days", _("Again N days after the previous enrolment ended")

    name = models.CharField(_("name"), max_length=120)
    description = models.CharField(_("description"), max_length=500, blank=True)
    family_id = models.BigIntegerField(null=True, blank=True, db_index=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # {"type": "segment_entry", "segment_id": 3} … see triggers.py for every type.
    trigger = models.JSONField(_("trigger"), default=dict, blank=True)
    # {"start": "s1", "steps": {"s1": {"type": "email", "template_id": 4, "next": "s2"}, …}}
    graph = models.JSONField(_("steps"), default=dict, blank=True)
    # Ends the enrolment wherever it is: [{"field": "lifecycle_stage", "op": "eq", …}].
    goal = models.JSONField(_("goal"), default=list, blank=True)
    exit_conditions = models.JSONField(_("exit conditions"), default=list, blank=True)
    reentry = models.CharField(
        _("re-entry"), max_length=10, choices=Reentry.choices, default=Reentry.NEVER
    )
    reentry_days = models.PositiveIntegerField(_("re-entry after (days)"), default=0)
    # Where time-scanned triggers (lifecycle transitions) read from, so none is read twice.
    trigger_cursor = models.BigIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["family_id", "version"], name="journeys_version_once"),
            models.UniqueConstraint(
                fields=["family_id"], condition=Q(status="live"), name="journeys_one_live"
            ),
        ]
        indexes = [models.Index(fields=["status"], name="journeys_status")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def steps(self) -> dict[str, dict]:
        return (self.graph or {}).get("steps", {})

    @property
    def start(self) -> str:
        return (self.graph or {}).get("start", "")


class Enrolment(models.Model):
    """A contact's way through a journey family: where it is now, and how it ended."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        GOAL = "goal", _("Reached the goal")
        EXITED = "exited", _("Exited")
        FAILED = "failed", _("Stopped by a failed step")

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrolments")
    family_id = models.BigIntegerField()
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    step_key = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=100, blank=True)  # trigger, "manual", "csv:<file>"
    entered_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            # One active enrolment per contact per journey (all its versions).
            models.UniqueConstraint(
                fields=["family_id", "contact"],
                condition=Q(status="active"),
                name="journeys_one_active",
            )
        ]
        indexes = [
            models.Index(fields=["journey", "status", "step_key"], name="journeys_enrol_step"),
            models.Index(fields=["contact", "family_id"], name="journeys_enrol_contact"),
        ]


class StepRun(models.Model):
    """One step due for one enrolment: the outbox row the worker claims.

    `visit` counts how many times the enrolment reached this step (loops with a wait), so
    (enrolment, step_key, visit) is unique and a retried transition never doubles a run.
    """

    class Status(models.TextChoices):
        READY = "ready", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="runs")
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    step_key = models.CharField(max_length=40)
    visit = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    due_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    outcome = models.CharField(max_length=40, blank=True)  # the branch taken, "sent", …
    last_error = models.CharField(max_length=500, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enrolment", "step_key", "visit"], name="journeys_run_once"
            )
        ]
        indexes = [
            # The claim: due rows first.
            models.Index(
                fields=["due_at"], condition=Q(status__in=["ready", "running"]), name="journeys_due"
            ),
            models.Index(fields=["journey", "step_key", "status"], name="journeys_run_step"),
        ]


class Task(models.Model):
    """A sales task a journey created (a call, a follow-up) for the contact's owner."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(_("title"), max_length=200)
    note = models.CharField(_("note"), max_length=1000, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    journey = models.ForeignKey(
        Journey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    key = models.CharField(max_length=120, unique=True)  # journey:<enrolment>:<step>:<visit>
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class JourneySettings(models.Model):
    """Installation-wide journey settings an administrator edits (one row, pk=1)."""

    webhook_secret = models.CharField(max_length=100, blank=True)
    allow_private_webhooks = models.BooleanField(
        _("allow webhooks to private and loopback addresses"), default=False
    )
    sending_start_hour = models.PositiveSmallIntegerField(_("sending hours from"), default=9)
    sending_end_hour = models.PositiveSmallIntegerField(_("sending hours until"), default=18)

    @classmethod
    def get(cls) -> JourneySettings:
        row, _created = cls.objects.get_or_create(pk=1)
        return row


class Stream(models.Model):
    """A nurture stream (教育型): ordered content emails on a cadence."""

    name = models.CharField(_("name"), max_length=120)
    # Cadence: every `every_weeks` weeks on `weekday` (0 = Monday) at `hour` local time.
    weekday = models.PositiveSmallIntegerField(_("weekday"), default=1)
    hour = models.PositiveSmallIntegerField(_("hour"), default=10)
    every_weeks = models.PositiveSmallIntegerField(_("every N weeks"), default=2)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class StreamItem(models.Model):
    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    template = models.ForeignKey("mail.Template", on_delete=models.PROTECT, related_name="+")
    # Consumed when the contact already viewed this content (a touchpoint URL containing it).
    content_url = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "position"], name="journeys_item_pos")
        ]


class StreamMember(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RUNNING = "running", _("Running")
        EXHAUSTED = "exhausted", _("Exhausted")
        STOPPED = "stopped", _("Stopped")

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="members")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    position = models.PositiveIntegerField(default=0)  # last position delivered or skipped
    due_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "contact"], name="journeys_stream_member")
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="journeys_stream_due")]
