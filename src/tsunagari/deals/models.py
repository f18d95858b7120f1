"""Deals (商談): an amount on an account moving through the sales stages, with its history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.models import Account, Contact


class Stage(models.TextChoices):
    """The fixed sales stages, in pipeline order; won and lost close the deal."""

    QUALIFICATION = "qualification", _("Qualification")
    PROPOSAL = "proposal", _("Proposal")
    QUOTE = "quote", _("Quote")
    NEGOTIATION = "negotiation", _("Negotiation")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


OPEN_STAGES: tuple[str, ...] = (
    Stage.QUALIFICATION,
    Stage.PROPOSAL,
    Stage.QUOTE,
    Stage.NEGOTIATION,
)
CLOSED_STAGES: tuple[str, ...] = (Stage.WON, Stage.LOST)


class LostReason(models.TextChoices):
    PRICE = "price", _("Price")
    COMPETITOR = "competitor", _("Chose a competitor")
    NO_BUDGET = "no_budget", _("No budget")
    TIMING = "timing", _("Timing / postponed")
    NO_DECISION = "no_decision", _("No decision")
    PRODUCT_FIT = "product_fit", _("Product does not fit")
    OTHER = "other", _("Other")


class Deal(models.Model):
    name = models.CharField(_("deal name"), max_length=200)
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        # Accounts are soft-deleted; a hard delete must not take the sales history with it.
        on_delete=models.PROTECT,
        related_name="deals",
        db_index=False,  # deals_deal_account leads with account
    )
    primary_contact = models.ForeignKey(
        Contact,
        verbose_name=_("primary contact"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
        db_index=False,  # deals_deal_contact leads with primary_contact
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_deals",
        db_index=False,  # deals_deal_owner leads with owner
    )
    # In the tenant's currency (settings.TSUNAGARI_CURRENCY, JPY by default).
    amount = models.DecimalField(_("amount"), max_digits=15, decimal_places=2, default=0)
    stage = models.CharField(
        _("stage"), max_length=20, choices=Stage.choices, default=Stage.QUALIFICATION
    )
    # The expected close date while the deal is open; the day it closed once won or lost.
    close_date = models.DateField(_("close date"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, editable=False)
    lost_reason = models.CharField(
        _("lost reason"), max_length=20, choices=LostReason.choices, blank=True
    )
    lost_note = models.CharField(_("lost reason (details)"), max_length=500, blank=True)
    # Where the deal came from: a campaign, a seminar, a trade show (free text, like utm_campaign).
    campaign = models.CharField(_("source campaign"), max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="deals_amount_not_negative"),
            models.CheckConstraint(
                condition=~Q(stage="lost") | ~Q(lost_reason=""), name="deals_lost_has_reason"
            ),
        ]
        indexes = [
            # Pipeline list filtered by stage (or open/won/lost), newest first; totals per stage.
            models.Index(fields=["stage", "-id"], name="deals_deal_stage"),
            # Pipeline list filtered by owner ("my deals").
            models.Index(fields=["owner", "-id"], name="deals_deal_owner"),
            # Close-month filter.
            models.Index(fields=["close_date"], name="deals_deal_close"),
            # The account page's panel.
            models.Index(fields=["account", "-id"], name="deals_deal_account"),
            # The contact page's panel, "other open deals of this contact" on lost, and the
            # seminar report (deals of registrants created in a window).
            models.Index(fields=["primary_contact", "created_at"], name="deals_deal_contact"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES


class DealStageChange(models.Model):
    """Append-only history of a deal's stage: from, to, when, by whom, with a note."""

    deal = models.ForeignKey(
        Deal, on_delete=models.CASCADE, related_name="stage_changes", db_index=False
    )  # deals_change_deal leads with deal
    from_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["deal", "-occurred_at"], name="deals_change_deal")]
