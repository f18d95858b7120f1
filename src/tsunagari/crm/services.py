"""Writes of the CRM: every change to accounts, contacts, lifecycle and consent goes here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from tsunagari.core.models import User
from tsunagari.core.text import (
    normalize_company_name,
    normalize_domain,
    normalize_text,
    to_katakana,
)
from tsunagari.crm.choices import ConsentAction, ConsentChannel, ConsentState, LifecycleStage
from tsunagari.crm.models import (
    Account,
    AccountDomain,
    AccountMerge,
    ConsentRecord,
    Contact,
    ContactMerge,
    LifecycleTransition,
    Tag,
)
from tsunagari.crm.validation import FREE_MAIL_DOMAINS


class CrmError(Exception):
    """A request the CRM refuses, with a message for the person who made it."""


def name_keys(family: str, given: str, family_kana: str, given_kana: str) -> tuple[str, str]:
    """The stored search/sort keys of a person's name and kana: normalised, no spaces."""
    name = normalize_text(f"{family}{given}").replace(" ", "")
    kana = to_katakana(normalize_text(f"{family_kana}{given_kana}")).replace(" ", "")
    return name[:130], kana[:130]


def _refresh_contact_keys(contact: Contact) -> None:
    contact.name_key, contact.kana_key = name_keys(
        contact.family_name, contact.given_name, contact.family_name_kana, contact.given_name_kana
    )


def account_for_email_domain(email: str) -> Account | None:
    """The one live account owning the email's domain; None if none, several, or free mail."""
    domain = normalize_domain(email) if email else ""
    if not domain or domain in FREE_MAIL_DOMAINS:
        return None
    account_ids = list(
        AccountDomain.objects.filter(domain=domain, account__deleted_at__isnull=True)
        .values_list("account_id", flat=True)
        .distinct()[:2]
    )
    if len(account_ids) != 1:
        return None
    return Account.objects.get(pk=account_ids[0])


def account_set_domains(*, account: Account, domains: Iterable[str]) -> None:
    wanted = {d for d in (normalize_domain(x) for x in domains) if d}
    AccountDomain.objects.filter(account=account).exclude(domain__in=wanted).delete()
    have = set(AccountDomain.objects.filter(account=account).values_list("domain", flat=True))
    AccountDomain.objects.bulk_create(
        [AccountDomain(account=account, domain=d) for d in sorted(wanted - have)]
    )


@transaction.atomic
def account_save(
    *, account: Account, domains: Iterable[str] | None = None, actor: User | None = None
) -> Account:
    """Create or update an account from validated values; keeps its name key and domains."""
    account.name_key = normalize_company_name(account.name)
    account.corporate_number = account.corporate_number or None
    account.save()
    if domains is not None:
        account_set_domains(account=account, domains=domains)
    return account


@transaction.atomic
def contact_save(
    *,
    contact: Contact,
    actor: User | None = None,
    source: str = "ui",
    link_account: bool = True,
    tags: Iterable[str] | None = None,
) -> Contact:
    """Create or update a contact; links its account by email domain when that is unambiguous.

    A new contact's first lifecycle stage is recorded as a transition from nothing.
    """
    is_new = contact.pk is None
    _refresh_contact_keys(contact)
    contact.email = contact.email or None
    if link_account and contact.account_id is None and contact.email:
        contact.account = account_for_email_domain(contact.email)
    if is_new:
        contact.lifecycle_changed_at = timezone.now()
    contact.save()
    if tags is not None:
        contact_set_tags(contact=contact, names=tags)
    if is_new:
        LifecycleTransition.objects.create(
            contact=contact,
            from_stage="",
            to_stage=contact.lifecycle_stage,
            occurred_at=contact.lifecycle_changed_at,
            actor=actor,
            rule=source,
            reason="created",
        )
    return contact


def contact_stamp_bant(contact: Contact, changed: Iterable[str], source: str) -> None:
    """Each BANT fact records when and from where it was learned (before contact_save)."""
    now = timezone.now()
    changed = set(changed)
    for field, stamp in (
        ("bant_budget", "bant_budget"),
        ("buying_role", "bant_authority"),
        ("bant_need", "bant_need"),
        ("bant_timing", "bant_timing"),
    ):
        if field in changed:
            setattr(contact, f"{stamp}_at", now)
            setattr(contact, f"{stamp}_source", source[:100])


def contact_set_tags(*, contact: Contact, names: Iterable[str]) -> None:
    cleaned = sorted({n.strip()[:60] for n in names if n and n.strip()})
    existing = {t.name: t for t in Tag.objects.filter(name__in=cleaned)}
    missing = [Tag(name=n) for n in cleaned if n not in existing]
    Tag.objects.bulk_create(missing, ignore_conflicts=True)
    contact.tags.set(Tag.objects.filter(name__in=cleaned))


@transaction.atomic
def contact_set_lifecycle(
    *,
    contact: Contact,
    to_stage: str,
    actor: User | None = None,
    rule: str = "",
    reason: str = "",
) -> LifecycleTransition | None:
    """Move a contact to another stage and record the transition; None when nothing changes."""
    if to_stage not in LifecycleStage.values:
        raise CrmError(f"Unknown lifecycle stage {to_stage!r}")
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    if locked.lifecycle_stage == to_stage:
        return None
    now = timezone.now()
    transition = LifecycleTransition.objects.create(
        contact=locked,
        from_stage=locked.lifecycle_stage,
        to_stage=to_stage,
        occurred_at=now,
        actor=actor,
        rule=rule,
        reason=reason[:500],
    )
    Contact.objects.filter(pk=locked.pk).update(
        lifecycle_stage=to_stage, lifecycle_changed_at=now, updated_at=now
    )
    contact.lifecycle_stage = to_stage
    contact.lifecycle_changed_at = now
    return transition


def derived_email_consent(contact_id: int) -> str:
    """The email consent state as the records say: the latest channel-wide record wins."""
    latest = (
        ConsentRecord.objects.filter(contact_id=contact_id, channel=ConsentChannel.EMAIL, topic="")
        .order_by("-recorded_at", "-id")
        .values_list("action", flat=True)
        .first()
    )
    if latest is None:
        return ConsentState.UNKNOWN
    return ConsentState.OPT_IN if latest == ConsentAction.OPT_IN else ConsentState.OPT_OUT


@transaction.atomic
def consent_record(
    *,
    contact: Contact,
    channel: str,
    action: str,
    method: str,
    topic: str = "",
    basis: str = "",
    source: str = "",
    consent_text: str = "",
    ip_address: str | None = None,
    recorded_at=None,
    actor: User | None = None,
) -> ConsentRecord:
    """Append one consent record and bring the contact's derived state up to date."""
    record = ConsentRecord.objects.create(
        contact=contact,
        channel=channel,
        topic=topic,
        action=action,
        method=method,
        basis=basis[:300],
        source=source[:200],
        consent_text=consent_text,
        ip_address=ip_address,
        recorded_at=recorded_at or timezone.now(),
        recorded_by=actor,
    )
    if channel == ConsentChannel.EMAIL and not topic:
        state = derived_email_consent(contact.pk)
        Contact.objects.filter(pk=contact.pk).update(email_consent=state)
        contact.email_consent = state
    return record


@transaction.atomic
def contact_delete(*, contact: Contact, actor: User | None = None) -> None:
    """Move to the trash; the address becomes free, and contact_restore brings it back."""
    Contact.objects.filter(pk=contact.pk).update(deleted_at=timezone.now())


@transaction.atomic
def contact_restore(*, contact: Contact, actor: User | None = None) -> None:
    if (
        contact.email
        and Contact.objects.filter(email=contact.email, deleted_at__isnull=True)
        .exclude(pk=contact.pk)
        .exists()
    ):
        raise CrmError("Another contact now has this email address; merge them instead.")
    Contact.objects.filter(pk=contact.pk).update(deleted_at=None)


# Values the kept record takes from the dropped one when its own are empty.
_CONTACT_FILL_FIELDS = (
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "title",
    "department",
    "buying_role",
    "phone",
    "account_id",
    "owner_id",
    "bant_budget",
    "bant_budget_at",
    "bant_budget_source",
    "bant_authority_at",
    "bant_authority_source",
    "bant_need",
    "bant_need_at",
    "bant_need_source",
    "bant_timing",
    "bant_timing_at",
    "bant_timing_source",
)


def _snapshot(instance) -> dict[str, Any]:
    data = model_to_dict(instance)
    data.pop("tags", None)
    return {key: (str(value) if value is not None else None) for key, value in data.items()}


@transaction.atomic
def contact_merge(*, keep: Contact, drop: Contact, actor: User | None = None) -> Contact:
    """Fold `drop` into `keep`: history, consent, tags and empty fields move; `drop` is retired.

    Nothing is lost: every row that pointed at `drop` points at `keep`, and `drop`'s own values
    are kept in a ContactMerge snapshot.
    """
    if keep.pk == drop.pk:
        raise CrmError("A contact cannot be merged with itself.")
    keep = Contact.objects.select_for_update().get(pk=keep.pk, deleted_at__isnull=True)
    drop = Contact.objects.select_for_update().get(pk=drop.pk, deleted_at__isnull=True)
    now = timezone.now()
    ContactMerge.objects.create(
        kept=keep, dropped=drop, snapshot=_snapshot(drop), merged_at=now, merged_by=actor
    )
    for field in _CONTACT_FILL_FIELDS:
        if not getattr(keep, field) and getattr(drop, field):
            setattr(keep, field, getattr(drop, field))
    keep.custom = {**drop.custom, **{k: v for k, v in keep.custom.items() if v not in (None, "")}}
    keep.do_not_contact = keep.do_not_contact or drop.do_not_contact
    if drop.created_at < keep.created_at:
        keep.created_at = drop.created_at
    if drop.last_activity_at and (
        keep.last_activity_at is None or drop.last_activity_at > keep.last_activity_at
    ):
        keep.last_activity_at = drop.last_activity_at
    LifecycleTransition.objects.filter(contact=drop).update(contact=keep)
    ConsentRecord.objects.filter(contact=drop).update(contact=keep)
    keep.tags.add(*drop.tags.all())
    for relation in _merge_hooks:
        relation(keep, drop)
    drop_email = drop.email
    Contact.objects.filter(pk=drop.pk).update(deleted_at=now, email=None)
    if not keep.email and drop_email:
        keep.email = drop_email
    _refresh_contact_keys(keep)
    keep.save()
    state = derived_email_consent(keep.pk)
    Contact.objects.filter(pk=keep.pk).update(email_consent=state)
    keep.email_consent = state
    return keep


# Apps above crm (tracking, scoring…) register how to move their rows to the kept contact
# or account.
_merge_hooks: list = []
_account_merge_hooks: list = []


def register_contact_merge_hook(hook) -> None:
    _merge_hooks.append(hook)


def register_account_merge_hook(hook) -> None:
    """hook(keep, drop) runs inside account_merge's transaction, before `drop` retires."""
    _account_merge_hooks.append(hook)


@transaction.atomic
def account_merge(*, keep: Account, drop: Account, actor: User | None = None) -> Account:
    """Fold `drop` into `keep`: contacts and domains move, empty fields fill, `drop` retires.

    Rows of other apps that name `drop` (its timeline, visitors, IP ranges, deals) move with
    the hooks those apps register.
    """
    if keep.pk == drop.pk:
        raise CrmError("An account cannot be merged with itself.")
    keep = Account.objects.select_for_update().get(pk=keep.pk, deleted_at__isnull=True)
    drop = Account.objects.select_for_update().get(pk=drop.pk, deleted_at__isnull=True)
    now = timezone.now()
    AccountMerge.objects.create(
        kept=keep, dropped=drop, snapshot=_snapshot(drop), merged_at=now, merged_by=actor
    )
    for field in (
        "name_kana",
        "industry",
        "employee_count",
        "annual_revenue",
        "capital",
        "prefecture",
        "address",
        "phone",
        "owner_id",
    ):
        if not getattr(keep, field) and getattr(drop, field):
            setattr(keep, field, getattr(drop, field))
    drop_number = drop.corporate_number
    keep.is_target = keep.is_target or drop.is_target
    if drop.abm_tier and (not keep.abm_tier or drop.abm_tier < keep.abm_tier):
        keep.abm_tier = drop.abm_tier
    keep.custom = {**drop.custom, **{k: v for k, v in keep.custom.items() if v not in (None, "")}}
    Contact.objects.filter(account=drop).update(account=keep)
    for relation in _account_merge_hooks:
        relation(keep, drop)
    domains = set(drop.domains.values_list("domain", flat=True)) | set(
        keep.domains.values_list("domain", flat=True)
    )
    AccountDomain.objects.filter(account=drop).delete()
    Account.objects.filter(pk=drop.pk).update(deleted_at=now, corporate_number=None)
    if not keep.corporate_number and drop_number:
        keep.corporate_number = drop_number
    account_save(account=keep, domains=domains, actor=actor)
    return keep
