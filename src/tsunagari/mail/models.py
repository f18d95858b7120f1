"""Email: sender settings, topics, templates, broadcasts, one row per message, links, clicks,
suppressions and bounce/complaint events."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.models import Contact
from tsunagari.segments.models import Segment


class SenderSettings(models.Model):
    """Who the marketing email is from (特定電子メール法 Art. 4 / CAN-SPAM) and how it is sent.

    One row (pk=1), edited by administrators; `sender_settings()` in queries.py reads it.
    """

    from_name = models.CharField(_("sender name"), max_length=100, blank=True)
    from_email = models.EmailField(_("sender address"), blank=True)
    reply_to = models.EmailField(_("reply-to address"), blank=True)
    postal_address = models.CharField(_("postal address"), max_length=300, blank=True)
    complaints_contact = models.CharField(
        _("contact for questions and complaints"), max_length=200, blank=True
    )
    public_base_url = models.URLField(
        _("public base URL"),
        blank=True,
        help_text=_("Where recipients reach the unsubscribe, click and open links."),
    )
    bounce_domain = models.CharField(
        _("bounce domain"),
        max_length=200,
        blank=True,
        help_text=_("Envelope sender domain for per-message return paths (VERP)."),
    )
    unsubscribe_mailbox = models.EmailField(_("unsubscribe mailbox"), blank=True)
    frequency_cap = models.PositiveSmallIntegerField(
        _("marketing emails per contact per period"), default=4
    )
    frequency_days = models.PositiveSmallIntegerField(_("period (days)"), default=7)
    soft_bounce_limit = models.PositiveSmallIntegerField(
        _("soft bounces in a row before suppression"), default=3
    )
    utm_enabled = models.BooleanField(_("append UTM tags to links"), default=True)
    utm_source = models.CharField(_("utm_source"), max_length=100, default="tsunagari")
    utm_medium = models.CharField(_("utm_medium"), max_length=100, default="email")
    dkim_domain = models.CharField(_("DKIM domain (d=)"), max_length=200, blank=True)
    dkim_selector = models.CharField(_("DKIM selector (s=)"), max_length=63, blank=True)
    dkim_private_key = models.TextField(_("DKIM private key (PEM)"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class Topic(models.Model):
    """A subscription topic (newsletter, seminar invitations…) shown in the preference centre."""

    key = models.SlugField(_("key"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=300, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Template(models.Model):
    class Kind(models.TextChoices):
        MARKETING = "marketing", _("Marketing")
        TRANSACTIONAL = "transactional", _("Transactional")

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=15, choices=Kind.choices, default=Kind.MARKETING)
    topic = models.ForeignKey(
        Topic, verbose_name=_("topic"), null=True, blank=True, on_delete=models.SET_NULL
    )
    subject = models.CharField(_("subject"), max_length=300)
    preheader = models.CharField(_("preheader"), max_length=200, blank=True)
    html = models.TextField(_("HTML"))
    text = models.TextField(
        _("plain text"), blank=True, help_text=_("Left empty, it is made from the HTML.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Broadcast(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        CANCELLED = "cancelled", _("Cancelled")
        DONE = "done", _("Done")

    name = models.CharField(_("name"), max_length=120)
    template = models.ForeignKey(Template, verbose_name=_("template"), on_delete=models.PROTECT)
    segment = models.ForeignKey(
        Segment, verbose_name=_("audience"), on_delete=models.PROTECT, related_name="+"
    )
    exclusions = models.ManyToManyField(
        Segment, verbose_name=_("excluded segments"), blank=True, related_name="+"
    )
    subject_b = models.CharField(_("subject B (A/B test)"), max_length=300, blank=True)
    ab_sample_percent = models.PositiveSmallIntegerField(_("A/B sample (%)"), default=20)
    ab_wait_minutes = models.PositiveIntegerField(_("minutes before the winner"), default=240)
    ab_winner = models.CharField(max_length=1, blank=True, editable=False)
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    rate_per_minute = models.PositiveIntegerField(_("messages per minute"), default=1000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    recipients = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The broadcast runner: scheduled ones that are due, and those sending.
            models.Index(fields=["status", "scheduled_at"], name="mail_broadcast_due")
        ]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """One email to one contact: the outbox row the worker claims, sends and records."""

    class Status(models.TextChoices):
        HELD = "held", _("Held for the A/B winner")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DEFERRED = "deferred", _("Deferred (will retry)")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    broadcast = models.ForeignKey(
        Broadcast, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=120, unique=True)
    variant = models.CharField(max_length=1, blank=True)  # "a"/"b" in an A/B test
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    skip_reason = models.CharField(max_length=40, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True)
    to_email = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    header_message_id = models.CharField(max_length=250, blank=True)
    esp_message_id = models.CharField(max_length=250, blank=True, db_index=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)  # first human open
    machine_opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)  # first human click
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    unsubscribe_reason = models.CharField(max_length=300, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["broadcast", "contact"],
                condition=Q(broadcast__isnull=False),
                name="mail_message_one_per_broadcast",
            )
        ]
        indexes = [
            # The send runner's claim: ready rows in due order.
            models.Index(fields=["status", "due_at"], name="mail_message_ready"),
            # Reports and the done check per broadcast.
            models.Index(fields=["broadcast", "status"], name="mail_message_broadcast"),
            # The per-minute rate limit: a broadcast's sends in the last minute.
            models.Index(fields=["broadcast", "sent_at"], name="mail_message_broadcast_sent"),
            # The frequency cap: a contact's recent sends.
            models.Index(fields=["contact", "sent_at"], name="mail_message_contact_sent"),
            models.Index(fields=["claim"], condition=~Q(claim=""), name="mail_message_claim"),
        ]


class Link(models.Model):
    """A destination in one broadcast's or template's email; clicks carry its id, signed."""

    scope = models.CharField(max_length=30)  # "b:<broadcast id>" or "t:<template id>"
    url = models.CharField(max_length=2000)
    url_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "url_hash"], name="mail_link_unique")
        ]


class Click(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="clicks")
    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="clicks")
    occurred_at = models.DateTimeField()
    machine = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["link", "message"], name="mail_click_link")]


class Suppression(models.Model):
    """An address never to email again (or counting soft bounces towards that)."""

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("Hard bounce")
        SOFT_BOUNCES = "soft_bounces", _("Repeated soft bounces")
        COMPLAINT = "complaint", _("Spam complaint")
        MANUAL = "manual", _("Added by staff")

    email = models.CharField(_("email"), max_length=254, unique=True)
    active = models.BooleanField(default=True)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    soft_streak = models.PositiveSmallIntegerField(default=0)
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]


class DeliveryEvent(models.Model):
    """A bounce, complaint or ESP event as received; `event_id` makes ingestion idempotent."""

    class Kind(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("Hard bounce")
        SOFT_BOUNCE = "soft_bounce", _("Soft bounce")
        COMPLAINT = "complaint", _("Complaint")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe")
        DELIVERED = "delivered", _("Delivered")
        OTHER = "other", _("Other")

    event_id = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=15, choices=Kind.choices)
    email = models.CharField(max_length=254, blank=True)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    status = models.CharField(max_length=20, blank=True)  # RFC 3463 code, e.g. 5.1.1
    detail = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=30)  # maildir, imap, anymail:<esp>
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]
