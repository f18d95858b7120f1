"""Forms, their submissions and consent texts; landing pages and A/B variants; content assets;
dynamic content slots. Seminars live in the events app."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.models import Contact
from tsunagari.tracking.models import Visitor


class ContentAsset(models.Model):
    """A piece of the company's content: a URL pattern on its site or an uploaded file."""

    class Kind(models.TextChoices):
        ATTRACTION = "attraction", _("Attraction (集客型)")
        TRIGGER = "trigger", _("Trigger (引き金型)")
        EDUCATION = "education", _("Education (教育型)")

    # The value written to Touchpoint.content_asset; stable even when the name changes.
    key = models.SlugField(_("key"), max_length=100, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("content type"), max_length=12, choices=Kind.choices)
    theme = models.CharField(_("theme"), max_length=100, blank=True)
    keywords = models.CharField(_("keywords"), max_length=300, blank=True)
    # Page URLs of this asset: a prefix such as https://www.example.co.jp/whitepaper/dx,
    # optionally ending in * (the same meaning either way).
    url_pattern = models.CharField(_("URL pattern"), max_length=500, blank=True)
    file = models.FileField(_("file"), upload_to="assets/%Y/%m/", blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def url_prefix(self) -> str:
        return self.url_pattern.rstrip("*")


class Form(models.Model):
    name = models.CharField(_("name"), max_length=120)
    title = models.CharField(_("title shown above the form"), max_length=200, blank=True)
    submit_label = models.CharField(_("button label"), max_length=60, blank=True)
    thank_you_message = models.TextField(_("thank-you message"), blank=True)
    # Only pages of a registered site (or this server's own pages) are accepted.
    redirect_url = models.CharField(_("thank-you redirect URL"), max_length=500, blank=True)
    notify_emails = models.CharField(
        _("notify these addresses"), max_length=500, blank=True, help_text=_("comma-separated")
    )
    double_opt_in = models.BooleanField(
        _("double opt-in"),
        default=False,
        help_text=_("Consent counts only after the person confirms by email."),
    )
    max_questions = models.PositiveSmallIntegerField(
        _("profiling questions per visit"),
        default=3,
        help_text=_("At most this many not-yet-known fields are asked at once (0: no limit)."),
    )
    min_fill_seconds = models.PositiveSmallIntegerField(_("minimum fill time (s)"), default=3)
    accept_plain_post = models.BooleanField(
        _("accept plain HTML posts"),
        default=False,
        help_text=_(
            "Allow posts from registered sites without the form token (no JavaScript). "
            "Minimum fill time and replay checks need the token."
        ),
    )
    asset = models.ForeignKey(
        ContentAsset,
        verbose_name=_("gated asset"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="forms",
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name

    def notify_list(self) -> list[str]:
        return [a.strip() for a in self.notify_emails.split(",") if a.strip()]


class FormField(models.Model):
    class Kind(models.TextChoices):
        FIELD = "field", _("Question")
        HIDDEN = "hidden", _("Hidden")
        CONSENT = "consent", _("Consent checkbox")

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="fields")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.FIELD)
    # What the answer updates (pages.fieldmap): "email", "company", "bant_budget",
    # "contact.custom.<key>", "account.custom.<key>"; for hidden: "utm_source", "campaign"…;
    # for consent: the topic ("" = all email).
    target = models.CharField(_("maps to"), max_length=120)
    label = models.CharField(_("label"), max_length=200, blank=True)
    required = models.BooleanField(_("required"), default=False)
    # Progressive: asked only while the contact's value is unknown.
    progressive = models.BooleanField(_("ask only when unknown"), default=True)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    default = models.CharField(_("default value"), max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label or self.target

    @property
    def name(self) -> str:
        """The input name in the rendered form: stable and never a raw target."""
        return f"f{self.pk}"

    def current_consent(self) -> ConsentText | None:
        """The latest version of a checkbox's words (from the prefetch when there is one)."""
        prefetched = getattr(self, "_prefetched_objects_cache", {}).get("consent_texts")
        if prefetched is not None:
            return max(prefetched, key=lambda text: text.version, default=None)
        return self.consent_texts.order_by("-version").first()


class ConsentText(models.Model):
    """One version of a consent checkbox's words; never changed, a new version is added."""

    field = models.ForeignKey(FormField, on_delete=models.CASCADE, related_name="consent_texts")
    version = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["field", "version"], name="pages_consent_version")
        ]

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Consent texts are append-only; add a version")
        super().save(*args, **kwargs)


class LandingPage(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        ARCHIVED = "archived", _("Archived")

    slug = models.SlugField(_("address (/p/…)"), max_length=100, unique=True)
    title = models.CharField(_("title"), max_length=200)
    description = models.CharField(_("description"), max_length=300, blank=True)
    asset = models.ForeignKey(
        ContentAsset,
        verbose_name=_("content asset"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="landing_pages",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.title


class PageVariant(models.Model):
    """One version of a landing page; several active ones split the traffic (A/B)."""

    page = models.ForeignKey(LandingPage, on_delete=models.CASCADE, related_name="variants")
    key = models.CharField(_("variant"), max_length=10)  # "A", "B", …
    weight = models.PositiveSmallIntegerField(_("traffic weight"), default=1)
    is_active = models.BooleanField(_("active"), default=True)
    blocks = models.JSONField(default=list)  # the draft being edited
    published_blocks = models.JSONField(default=list)  # what visitors see
    # Counters moved with F() in the request that views or converts; read by the A/B report.
    views = models.PositiveIntegerField(default=0)
    conversions = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["page", "key"], name="pages_variant_key")]

    def __str__(self) -> str:
        return f"{self.page_id}:{self.key}"

    @property
    def conversion_rate(self) -> float:
        return self.conversions / self.views if self.views else 0.0

    @property
    def conversion_percent(self) -> str:
        return f"{self.conversion_rate * 100:.1f}%"


class FormSubmission(models.Model):
    class Status(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        AWAITING = "awaiting", _("Awaiting confirmation")
        CONFIRMED = "confirmed", _("Confirmed")

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="submissions")
    contact = models.ForeignKey(
        Contact, null=True, on_delete=models.SET_NULL, related_name="form_submissions"
    )
    visitor = models.ForeignKey(Visitor, null=True, blank=True, on_delete=models.SET_NULL)
    landing_page = models.ForeignKey(
        LandingPage, null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    variant = models.CharField(max_length=10, blank=True)
    data = models.JSONField(default=dict)  # {label: value} as submitted and cleaned
    hidden = models.JSONField(default=dict)  # UTM, campaign, page
    # [{"topic": …, "version": n, "text": …, "checked": bool}]: exactly what was shown.
    consents = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACCEPTED)
    origin = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The submissions list of one form, newest first.
            models.Index(fields=["form", "-id"], name="pages_submission_form"),
        ]


class SubmissionEmail(models.Model):
    """An email a submission causes, sent by the worker (pages.emails), not by the request.

    Written in the submission's transaction (an outbox row): the visitor never waits for an
    SMTP server, and a crash before or after commit loses or doubles nothing. Claimed with a
    compare-and-set and a lease (work/claims.py); a failed send is retried with backoff.
    """

    class Kind(models.TextChoices):
        CONFIRM = "confirm", _("Confirmation request")
        NOTIFY = "notify", _("Notification of the owners")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    submission = models.ForeignKey(FormSubmission, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    base_url = models.CharField(max_length=300, blank=True)  # for the links in the email
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    due_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [
            # The worker's claim: emails waiting (or under an expired lease), oldest first.
            models.Index(
                fields=["status", "due_at"],
                condition=models.Q(status__in=["queued", "sending"]),
                name="pages_subemail_due",
            ),
        ]


class UsedFormToken(models.Model):
    """The nonce of each form token once used: a second use of the same token is refused."""

    nonce = models.CharField(max_length=32, unique=True)
    used_at = models.DateTimeField(db_index=True)


class PendingConsent(models.Model):
    """Double opt-in: consent given on a form, active only once the person confirms by email."""

    submission = models.ForeignKey(
        FormSubmission, on_delete=models.CASCADE, related_name="pending_consents"
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    topic = models.CharField(max_length=60, blank=True)
    consent_text = models.TextField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()


class ContentSlot(models.Model):
    """A place on the customer's site (<div data-tsunagari-slot="key">) filled per visitor."""

    key = models.SlugField(_("key"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=120)
    default_html = models.TextField(_("default content"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class SlotVariant(models.Model):
    """Content shown when all of its rules match; the first matching variant wins."""

    slot = models.ForeignKey(ContentSlot, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(_("key"), max_length=40)
    html = models.TextField(_("content"))
    # {"segments": [ids], "lifecycle": [...], "industry": [...], "abm_tiers": [1,2],
    #  "target_account": true, "min_behaviour": 50, "grades": ["A","B"]}; {} matches everyone.
    rules = models.JSONField(_("rules"), default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["slot", "key"], name="pages_slot_variant")]

    def __str__(self) -> str:
        return self.key
