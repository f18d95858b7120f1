"""Seminars: an event, its sessions, registrations with a waitlist, and the emails they get."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.models import Contact


class Event(models.Model):
    """A seminar or trade show. Registration goes through a pages form bound to the event."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("address (/e/…)"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    form = models.ForeignKey(
        "pages.Form",
        verbose_name=_("registration form"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    is_open = models.BooleanField(_("registration open"), default=True)
    attended_journey = models.ForeignKey(
        "journeys.Journey",
        verbose_name=_("follow-up journey for attendees"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    noshow_journey = models.ForeignKey(
        "journeys.Journey",
        verbose_name=_("follow-up journey for no-shows"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    followup_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Session(models.Model):
    """One date of an event: when, where (a place or an online URL) and how many seats."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="sessions")
    title = models.CharField(_("title"), max_length=200, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    place = models.CharField(_("place"), max_length=300, blank=True)
    online_url = models.URLField(_("online URL"), max_length=500, blank=True)
    capacity = models.PositiveIntegerField(_("capacity (0 = unlimited)"), default=0)

    class Meta:
        ordering = ["starts_at", "id"]

    def __str__(self) -> str:
        return self.title or self.event.name


class Registration(models.Model):
    """One contact on one session: a seat, a place on the waitlist, or cancelled."""

    class Status(models.TextChoices):
        REGISTERED = "registered", _("Registered")
        WAITLISTED = "waitlisted", _("Waitlisted")
        CANCELLED = "cancelled", _("Cancelled")

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="registrations")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REGISTERED)
    source = models.CharField(max_length=20, blank=True)  # form, kiosk, import
    created_at = models.DateTimeField()
    waitlisted_at = models.DateTimeField(null=True, blank=True)  # waitlist order
    cancelled_at = models.DateTimeField(null=True, blank=True)
    attended_at = models.DateTimeField(null=True, blank=True)
    checkin_method = models.CharField(max_length=10, blank=True)  # qr, manual, import, kiosk
    # This server's address as the registrant reached it: links in emails sent later.
    link_base = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "contact"], name="events_reg_one_per_session"
            )
        ]
        indexes = [
            models.Index(fields=["session", "status", "waitlisted_at"], name="events_reg_queue"),
            models.Index(fields=["contact"], name="events_reg_contact"),
        ]


class EventEmail(models.Model):
    """An email about a registration, due at a time; the idempotency key makes it happen once."""

    class Kind(models.TextChoices):
        CONFIRMATION = "confirmation", _("Confirmation")
        WAITLISTED = "waitlisted", _("Waitlist notice")
        PROMOTED = "promoted", _("Seat confirmed from the waitlist")
        REMINDER_DAY = "reminder_day", _("Reminder (1 day before)")
        REMINDER_HOUR = "reminder_hour", _("Reminder (1 hour before)")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    registration = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=120, unique=True)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    skip_reason = models.CharField(max_length=40, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "due_at"], name="events_email_ready")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(idempotency_key=""), name="events_email_key_not_empty"
            )
        ]
