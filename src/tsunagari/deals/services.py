"""Writes of deals: create, update, move through the stages; each with its lifecycle effects.

Effects on the primary contact (recorded through the crm lifecycle service, with a touchpoint):
- a new (or reopened) deal moves the contact to opportunity unless it is already an
  opportunity or a customer;
- a won deal makes the contact a customer;
- a lost deal sends the contact back to nurture (リナーチャリング, scoring.handoff.contact_recycle)
  unless the contact is a customer or still the primary contact of another open deal.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tsunagari.core.models import User
from tsunagari.crm.choices import LifecycleStage
from tsunagari.crm.models import Account, Contact
from tsunagari.crm.services import contact_set_lifecycle
from tsunagari.deals.models import (
    CLOSED_STAGES,
    OPEN_STAGES,
    Deal,
    DealStageChange,
    LostReason,
    Stage,
)
from tsunagari.scoring.handoff import contact_recycle
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.services import stage_change_touch, touchpoints_append
from tsunagari.tracking.vocabulary import Type

MAX_AMOUNT = Decimal("9999999999999.99")  # max_digits=15, decimal_places=2
# The labels of the touch types deals write (tracking.vocabulary), translated in this app's
# catalogue because tracking has none of its own.
TOUCH_LABELS = (gettext_noop("Deal created"), gettext_noop("Deal won"), gettext_noop("Deal lost"))
# Fields deal_update changes; the stage goes through deal_move_stage.
EDITABLE = ("name", "account", "primary_contact", "owner", "amount", "close_date", "campaign")


class DealError(ValidationError):
    """A deal change that is refused: messages per field, for the form or the API (422)."""


def _amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise DealError({"amount": [_("Enter the amount as a number.")]}) from None
    if not amount.is_finite():
        raise DealError({"amount": [_("Enter the amount as a number.")]})
    if amount < 0:
        raise DealError({"amount": [_("The amount cannot be negative.")]})
    if amount > MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        raise DealError({"amount": [_("The amount is too large or has too many decimals.")]})
    return amount.quantize(Decimal("0.01"))  # as the database returns it


def _validate(deal: Deal, *, relations: bool = True) -> None:
    """Every rule about one deal's values; raises DealError naming each problem.

    `relations`: check the account and the primary contact too. Only when they are set or
    changed: a contact who later moves to another company does not block the deal's edits.
    """
    errors: dict[str, list[str]] = {}
    deal.name = (deal.name or "").strip()
    if not deal.name:
        errors.setdefault("name", []).append(_("Give the deal a name."))
    elif len(deal.name) > 200:
        errors.setdefault("name", []).append(_("The name is too long (200 characters at most)."))
    if deal.account_id is None:
        errors.setdefault("account", []).append(_("Choose the account of the deal."))
    elif (
        relations
        and not Account.objects.filter(pk=deal.account_id, deleted_at__isnull=True).exists()
    ):
        errors.setdefault("account", []).append(_("This account does not exist or was deleted."))
    if relations and deal.primary_contact_id is not None:
        account_id = (
            Contact.objects.filter(pk=deal.primary_contact_id, deleted_at__isnull=True)
            .values_list("account_id", flat=True)
            .first()
        )
        if account_id is None or account_id != deal.account_id:
            errors.setdefault("primary_contact", []).append(
                _("The primary contact must be a contact of the deal's account.")
            )
    if deal.owner_id is not None and not User.objects.filter(pk=deal.owner_id).exists():
        errors.setdefault("owner", []).append(_("This user does not exist."))
    try:
        deal.amount = _amount(deal.amount)
    except DealError as exc:
        errors.setdefault("amount", []).extend(exc.message_dict["amount"])
    if deal.stage not in Stage.values:
        errors.setdefault("stage", []).append(_("Unknown stage."))
    if deal.stage == Stage.LOST:
        if deal.lost_reason not in LostReason.values:
            errors.setdefault("lost_reason", []).append(_("Say why the deal was lost."))
    else:
        deal.lost_reason, deal.lost_note = "", ""
    deal.campaign = (deal.campaign or "").strip()
    if len(deal.campaign) > 100:
        errors.setdefault("campaign", []).append(_("The campaign is too long."))
    if len(deal.lost_note or "") > 500:
        errors.setdefault("lost_note", []).append(_("The details are too long."))
    if errors:
        raise DealError(errors)


def _touch(deal: Deal, type_: str, actor: User | None, now: dt.datetime, **extra: Any) -> None:
    """The deal's moment on its primary contact's timeline (none without a primary contact)."""
    if deal.primary_contact_id is None:
        return
    touchpoints_append(
        [
            Touchpoint(
                contact_id=deal.primary_contact_id,
                account_id=deal.account_id,
                type=type_,
                occurred_at=now,
                source="deals",
                title=deal.name[:300],
                properties={
                    "deal_id": deal.pk,
                    "amount": str(deal.amount),
                    "stage": deal.stage,
                    **extra,
                },
                recorded_by=actor,
            )
        ]
    )


def _set_lifecycle(
    contact: Contact, to_stage: str, actor: User | None, rule: str, why: str
) -> None:
    before = contact.lifecycle_stage
    if contact_set_lifecycle(
        contact=contact, to_stage=to_stage, actor=actor, rule=rule, reason=why
    ):
        stage_change_touch(
            contact=contact, before=before, after=to_stage, source="deals", actor=actor, note=why
        )


def _contact(deal: Deal) -> Contact | None:
    if deal.primary_contact_id is None:
        return None
    return Contact.objects.filter(pk=deal.primary_contact_id, deleted_at__isnull=True).first()


def _opened(deal: Deal, actor: User | None) -> None:
    """A deal is open (new or reopened): its contact is an opportunity, unless a customer."""
    contact = _contact(deal)
    if contact is None or contact.lifecycle_stage in (
        LifecycleStage.OPPORTUNITY,
        LifecycleStage.CUSTOMER,
    ):
        return
    _set_lifecycle(contact, LifecycleStage.OPPORTUNITY, actor, "deals:open", deal.name)


def _won(deal: Deal, actor: User | None) -> None:
    contact = _contact(deal)
    if contact is not None:
        _set_lifecycle(contact, LifecycleStage.CUSTOMER, actor, "deals:won", deal.name)


def lost_reason_text(deal: Deal) -> str:
    label = LostReason(deal.lost_reason).label if deal.lost_reason else ""
    text = f"{label}: {deal.lost_note}" if deal.lost_note else str(label)
    return text[:500]


def _lost(deal: Deal, actor: User | None) -> bool:
    """Recycle the contact to nurture unless a customer or on another open deal. Recycled?"""
    contact = _contact(deal)
    if contact is None or contact.lifecycle_stage == LifecycleStage.CUSTOMER:
        return False
    still_open = (
        Deal.objects.filter(primary_contact_id=contact.pk, stage__in=OPEN_STAGES)
        .exclude(pk=deal.pk)
        .exists()
    )
    if still_open:
        return False
    reason = _("Deal lost: %(deal)s (%(reason)s)") % {
        "deal": deal.name,
        "reason": lost_reason_text(deal),
    }
    return contact_recycle(contact=contact, reason=reason[:500], actor=actor)


def _entered(deal: Deal, actor: User | None, now: dt.datetime) -> None:
    """The effects of the deal arriving in its (new) stage."""
    if deal.stage == Stage.WON:
        _touch(deal, Type.DEAL_WON, actor, now)
        _won(deal, actor)
    elif deal.stage == Stage.LOST:
        _touch(deal, Type.DEAL_LOST, actor, now, reason=deal.lost_reason, note=deal.lost_note[:200])
        _lost(deal, actor)
    else:
        _opened(deal, actor)


@transaction.atomic
def deal_create(
    *,
    name: str,
    account: Account | None,
    amount: Decimal | int | str = 0,
    stage: str = Stage.QUALIFICATION,
    primary_contact: Contact | None = None,
    owner: User | None = None,
    close_date: dt.date | None = None,
    lost_reason: str = "",
    lost_note: str = "",
    campaign: str = "",
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> Deal:
    """A new deal, with its first history row and a `deal_created` touch on the contact."""
    now = now or timezone.now()
    deal = Deal(
        name=name,
        account=account,
        primary_contact=primary_contact,
        owner=owner,
        amount=amount,
        stage=stage,
        close_date=close_date,
        lost_reason=lost_reason or "",
        lost_note=(lost_note or "").strip(),
        campaign=campaign,
        created_by=actor,
        created_at=now,
    )
    _validate(deal)
    if deal.stage in CLOSED_STAGES:
        deal.closed_at = now
        deal.close_date = deal.close_date or timezone.localdate(now)
    deal.save()
    DealStageChange.objects.create(
        deal=deal, from_stage="", to_stage=deal.stage, occurred_at=now, actor=actor
    )
    _touch(deal, Type.DEAL_CREATED, actor, now, campaign=deal.campaign)
    _entered(deal, actor, now)
    return deal


@transaction.atomic
def deal_move_stage(
    *,
    deal: Deal,
    to_stage: str,
    actor: User | None = None,
    note: str = "",
    lost_reason: str = "",
    lost_note: str = "",
    now: dt.datetime | None = None,
) -> Deal:
    """Move a deal to another stage; won/lost close it (closed_at), reopening clears it."""
    now = now or timezone.now()
    locked = Deal.objects.select_for_update().get(pk=deal.pk)
    if to_stage not in Stage.values:
        raise DealError({"stage": [_("Unknown stage.")]})
    if locked.stage == to_stage:
        return locked
    before = locked.stage
    locked.stage = to_stage
    if to_stage == Stage.LOST:
        locked.lost_reason, locked.lost_note = lost_reason or "", (lost_note or "").strip()
    _validate(locked, relations=False)
    if to_stage in CLOSED_STAGES:
        locked.closed_at = now
        locked.close_date = timezone.localdate(now)
    else:
        locked.closed_at = None
    locked.save()
    DealStageChange.objects.create(
        deal=locked,
        from_stage=before,
        to_stage=to_stage,
        occurred_at=now,
        actor=actor,
        note=(note or lost_reason_text(locked) if to_stage == Stage.LOST else note)[:500],
    )
    _entered(locked, actor, now)
    return locked


@transaction.atomic
def deal_update(
    *,
    deal: Deal,
    changes: dict[str, Any],
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> Deal:
    """Change a deal's fields; a `stage` among the changes goes through deal_move_stage.

    `changes` maps field names (EDITABLE, plus stage, lost_reason, lost_note, note) to values;
    account, primary_contact and owner take model instances or None.
    """
    unknown = set(changes) - {*EDITABLE, "stage", "lost_reason", "lost_note", "note"}
    if unknown:
        raise DealError({"": [_("Unknown fields: %s") % ", ".join(sorted(unknown))]})
    locked = Deal.objects.select_for_update().get(pk=deal.pk)
    relations = any(
        field in changes
        and getattr(locked, f"{field}_id") != getattr(changes[field], "pk", changes[field])
        for field in ("account", "primary_contact")
    )
    for field in EDITABLE:
        if field in changes:
            setattr(locked, field, changes[field])
    stage = changes.get("stage", locked.stage)
    if stage == locked.stage == Stage.LOST:
        locked.lost_reason = changes.get("lost_reason", locked.lost_reason)
        locked.lost_note = changes.get("lost_note", locked.lost_note)
    _validate(locked, relations=relations)
    if stage != locked.stage:
        # Check the target stage's rules before anything is written (lost needs a reason).
        probe = Deal(**{f.attname: getattr(locked, f.attname) for f in Deal._meta.concrete_fields})
        probe.stage = stage
        probe.lost_reason = changes.get("lost_reason", "")
        probe.lost_note = changes.get("lost_note", "")
        _validate(probe, relations=False)
    locked.save()
    if stage != locked.stage:
        locked = deal_move_stage(
            deal=locked,
            to_stage=stage,
            actor=actor,
            note=changes.get("note", ""),
            lost_reason=changes.get("lost_reason", ""),
            lost_note=changes.get("lost_note", ""),
            now=now,
        )
    return locked


def move_deals_on_merge(keep: Contact, drop: Contact) -> None:
    """The dropped contact's deals name the kept contact (a crm merge hook)."""
    Deal.objects.filter(primary_contact=drop).update(primary_contact=keep)


def move_account_deals_on_merge(keep: Account, drop: Account) -> None:
    """The retired account's deals belong to the kept one (a crm account-merge hook)."""
    Deal.objects.filter(account=drop).update(account=keep)
