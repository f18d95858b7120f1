"""Accounts (companies), contacts (people), custom fields, lifecycle, consent and imports."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.choices import (
    AbmTier,
    AccountLifecycle,
    BantBudget,
    BantTiming,
    BuyingRole,
    ConsentAction,
    ConsentChannel,
    ConsentMethod,
    ConsentState,
    Industry,
    LifecycleStage,
    Prefecture,
)

LIVE = Q(deleted_at__isnull=True)


class Account(models.Model):
    name = models.CharField(_("company name"), max_length=200)
    name_kana = models.CharField(_("company name (kana)"), max_length=200, blank=True)
    # normalize_company_name(name): dedupe on import and prefix search in the account list.
    name_key = models.CharField(max_length=200, db_index=True, editable=False)
    corporate_number = models.CharField(
        _("corporate number (法人番号)"), max_length=13, null=True, blank=True, unique=True
    )
    industry = models.CharField(_("industry"), max_length=20, choices=Industry.choices, blank=True)
    employee_count = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    annual_revenue = models.BigIntegerField(_("annual revenue (yen)"), null=True, blank=True)
    capital = models.BigIntegerField(_("capital (yen)"), null=True, blank=True)
    prefecture = models.CharField(
        _("prefecture"), max_length=2, choices=Prefecture.choices, blank=True
    )
    address = models.CharField(_("address"), max_length=300, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
    )
    lifecycle = models.CharField(
        _("lifecycle"),
        max_length=20,
        choices=AccountLifecycle.choices,
        default=AccountLifecycle.PROSPECT,
    )
    abm_tier = models.PositiveSmallIntegerField(
        _("ABM tier"), choices=AbmTier.choices, default=AbmTier.NONE
    )
    is_target = models.BooleanField(_("target account"), default=False)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            # Account list: live accounts newest first, and filtered by lifecycle/owner/target.
            models.Index(fields=["-id"], condition=LIVE, name="crm_account_live_id"),
            # "Changed since": segments and grades re-evaluate edited accounts' contacts.
            models.Index(fields=["updated_at"], name="crm_account_updated"),
            models.Index(fields=["lifecycle", "-id"], condition=LIVE, name="crm_account_lc"),
            models.Index(fields=["owner", "-id"], condition=LIVE, name="crm_account_owner"),
            models.Index(fields=["is_target", "abm_tier"], name="crm_account_target"),
        ]

    def __str__(self) -> str:
        return self.name


class AccountDomain(models.Model):
    """A web/email domain of an account; contacts are linked by it when only one account has it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "domain"], name="crm_domain_once_per_account"
            )
        ]

    def __str__(self) -> str:
        return self.domain


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    # db_index: on PostgreSQL this adds the pattern-ops index that email prefix search uses.
    email = models.EmailField(_("email"), max_length=254, null=True, blank=True, db_index=True)
    family_name = models.CharField(_("family name"), max_length=60, blank=True)
    given_name = models.CharField(_("given name"), max_length=60, blank=True)
    family_name_kana = models.CharField(_("family name (kana)"), max_length=60, blank=True)
    given_name_kana = models.CharField(_("given name (kana)"), max_length=60, blank=True)
    # Normalised name and kana without spaces, kept for prefix search and sorting by name
    # (indexed below, live contacts only).
    name_key = models.CharField(max_length=130, editable=False, default="")
    kana_key = models.CharField(max_length=130, editable=False, default="")
    title = models.CharField(_("title"), max_length=100, blank=True)
    department = models.CharField(_("department"), max_length=100, blank=True)
    buying_role = models.CharField(
        _("buying role"), max_length=20, choices=BuyingRole.choices, blank=True
    )
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        db_index=False,  # crm_contact_account (account, -id) serves every lookup by account
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_contacts",
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="contacts")
    lifecycle_stage = models.CharField(
        _("lifecycle stage"),
        max_length=20,
        choices=LifecycleStage.choices,
        default=LifecycleStage.LEAD,
    )
    lifecycle_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    # BANT, each with when and from where it was learned (authority is the buying role).
    bant_budget = models.CharField(
        _("budget"), max_length=20, choices=BantBudget.choices, blank=True
    )
    bant_budget_at = models.DateTimeField(null=True, blank=True)
    bant_budget_source = models.CharField(max_length=100, blank=True)
    bant_authority_at = models.DateTimeField(null=True, blank=True)
    bant_authority_source = models.CharField(max_length=100, blank=True)
    bant_need = models.CharField(_("need"), max_length=500, blank=True)
    bant_need_at = models.DateTimeField(null=True, blank=True)
    bant_need_source = models.CharField(max_length=100, blank=True)
    bant_timing = models.CharField(
        _("timing"), max_length=20, choices=BantTiming.choices, blank=True
    )
    bant_timing_at = models.DateTimeField(null=True, blank=True)
    bant_timing_source = models.CharField(max_length=100, blank=True)

    # Derived from ConsentRecord rows by crm.services.consent_record; never edited directly.
    email_consent = models.CharField(
        max_length=10, choices=ConsentState.choices, default=ConsentState.UNKNOWN, editable=False
    )
    do_not_contact = models.BooleanField(_("do not contact"), default=False)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["email"],
                condition=LIVE & Q(email__isnull=False),
                name="crm_contact_email_unique_live",
            )
        ]
        indexes = [
            # Contact list: newest first, and the same filtered by stage/owner/consent.
            models.Index(fields=["-id"], condition=LIVE, name="crm_contact_live_id"),
            # "Changed since": segments and grades re-evaluate edited contacts every minute.
            models.Index(fields=["updated_at"], name="crm_contact_updated"),
            models.Index(fields=["lifecycle_stage", "-id"], condition=LIVE, name="crm_contact_lc"),
            models.Index(fields=["owner", "-id"], condition=LIVE, name="crm_contact_owner"),
            models.Index(fields=["email_consent", "-id"], condition=LIVE, name="crm_contact_cons"),
            # Sort by last activity (most recent first) in the contact list.
            models.Index(
                fields=["-last_activity_at", "-id"], condition=LIVE, name="crm_contact_act"
            ),
            models.Index(fields=["account", "-id"], name="crm_contact_account"),
            # Prefix search and sort by name. Partial, so that SQLite answers "which live
            # contacts start with サトウ" from the index alone (tens of thousands of matches for a
            # common name must not mean as many row reads). PostgreSQL also gets pattern-ops
            # twins of these for LIKE (migration 0004).
            models.Index(
                fields=["name_key", "kana_key", "id"], condition=LIVE, name="crm_contact_name_live"
            ),
            models.Index(fields=["kana_key", "id"], condition=LIVE, name="crm_contact_kana_live"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or f"#{self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.family_name} {self.given_name}".strip()

    @property
    def full_name_kana(self) -> str:
        return f"{self.family_name_kana} {self.given_name_kana}".strip()

    @property
    def bant_known(self) -> int:
        """How many of the four BANT facts are known (0–4)."""
        return sum(
            bool(v) for v in (self.bant_budget, self.buying_role, self.bant_need, self.bant_timing)
        )


class LifecycleTransition(models.Model):
    """Append-only history of a contact's lifecycle stage: from, to, when, by whom and why."""

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="transitions", db_index=False
    )  # crm_transition_contact leads with contact
    from_stage = models.CharField(max_length=20, choices=LifecycleStage.choices, blank=True)
    to_stage = models.CharField(max_length=20, choices=LifecycleStage.choices)
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    rule = models.CharField(max_length=100, blank=True)  # e.g. "import", "scoring:MQL"
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # "became MQL in the last 7 days": segments filter by target stage and time.
            models.Index(fields=["to_stage", "occurred_at"], name="crm_transition_to"),
            models.Index(fields=["contact", "-occurred_at"], name="crm_transition_contact"),
        ]


class ConsentRecord(models.Model):
    """One opt-in or opt-out, exactly as given; never changed, only appended (特定電子メール法)."""

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="consents", db_index=False
    )  # crm_consent leads with contact
    channel = models.CharField(max_length=10, choices=ConsentChannel.choices)
    topic = models.CharField(max_length=60, blank=True)  # blank: the channel as a whole
    action = models.CharField(max_length=10, choices=ConsentAction.choices)
    method = models.CharField(max_length=20, choices=ConsentMethod.choices)
    basis = models.CharField(max_length=300, blank=True)  # stated basis, e.g. for imports
    source = models.CharField(max_length=200, blank=True)  # form name, file, event…
    consent_text = models.TextField(blank=True)  # the words the person saw
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["contact", "channel", "-recorded_at"], name="crm_consent")]

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Consent records are append-only")
        super().save(*args, **kwargs)


class CustomField(models.Model):
    class Object(models.TextChoices):
        CONTACT = "contact", _("Contact")
        ACCOUNT = "account", _("Account")

    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")
        MULTI_CHOICE = "multi_choice", _("Multiple choice")
        BOOLEAN = "boolean", _("Yes / no")

    object_type = models.CharField(_("object"), max_length=10, choices=Object.choices)
    key = models.SlugField(_("key"), max_length=50)
    label = models.CharField(_("label"), max_length=100)
    field_type = models.CharField(_("type"), max_length=20, choices=Type.choices)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["object_type", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["object_type", "key"], name="crm_customfield_key")
        ]

    def __str__(self) -> str:
        return self.label


class ContactMerge(models.Model):
    """Audit of a merge: the dropped contact's values as they were, kept for history."""

    kept = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges")
    dropped = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    snapshot = models.JSONField()
    merged_at = models.DateTimeField()
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )


class AccountMerge(models.Model):
    kept = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="merges")
    dropped = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    snapshot = models.JSONField()
    merged_at = models.DateTimeField()
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )


class ImportJob(models.Model):
    """An uploaded CSV on its way in: previewed, then run by the worker batch by batch."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    object_type = models.CharField(max_length=10, choices=CustomField.Object.choices)
    file_name = models.CharField(max_length=255)
    stored_path = models.CharField(max_length=500)
    file_size = models.PositiveBigIntegerField(default=0)
    encoding = models.CharField(max_length=20)
    delimiter = models.CharField(max_length=1)
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)  # CSV column → field key
    # Consent stated for the whole file (method IMPORT needs a basis to count as opt-in).
    consent_basis = models.CharField(max_length=300, blank=True)
    # A touch recorded for every contact imported, e.g. the trade show where the cards were
    # collected: {"type": key, "title": event name, "date": "YYYY-MM-DD"}, or {} for none.
    touch = models.JSONField(default=dict, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    # Work-queue columns: claimed with a compare-and-set on status and a lease (see work/).
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)  # committed with each batch
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)  # [{"row": n, "errors": ["..."]}]
    failure = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "lease_until"], name="crm_import_due")]


class ImportMappingMemory(models.Model):
    """The mapping last used for a given set of CSV headers, offered again next time."""

    object_type = models.CharField(max_length=10, choices=CustomField.Object.choices)
    header_signature = models.CharField(max_length=64)
    mapping = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["object_type", "header_signature"], name="crm_import_memory"
            )
        ]
