"""Reads of the CRM: list filters, search, capped counts, detail lookups and dashboard figures."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.http import Http404, QueryDict

from tsunagari.core.models import User
from tsunagari.core.roles import Capability
from tsunagari.core.text import (
    normalize_company_name,
    normalize_email,
    normalize_text,
    to_katakana,
)
from tsunagari.crm.choices import AccountLifecycle, ConsentState, LifecycleStage
from tsunagari.crm.models import LIVE, Account, Contact, ImportJob

# Counts past this are shown as "10,000+": an exact count of a million rows costs more than
# the page is allowed, and nobody pages that far.
COUNT_CAP = 10_000
PAGE_SIZE = 50

CONTACT_SORTS = {
    "-created": ("-id",),
    "created": ("id",),
    "name": ("kana_key", "id"),
    "-activity": ("-last_activity_at", "-id"),
}
ACCOUNT_SORTS = {
    "-created": ("-id",),
    "name": ("name_key", "id"),
    "-employees": ("-employee_count", "-id"),
    "-revenue": ("-annual_revenue", "-id"),
}


@dataclass
class ContactFilter:
    q: str = ""
    stage: str = ""
    owner: int | None = None
    account: int | None = None
    consent: str = ""
    tag: str = ""
    sort: str = "-created"
    errors: list[str] = field(default_factory=list)


@dataclass
class AccountFilter:
    q: str = ""
    lifecycle: str = ""
    owner: int | None = None
    target: bool | None = None
    tier: int | None = None
    industry: str = ""
    prefecture: str = ""
    sort: str = "-created"


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def contact_filter_from(params: QueryDict) -> ContactFilter:
    """Read list filters from a query string; unknown values are ignored, never an error page."""
    stage = params.get("stage", "")
    consent = params.get("consent", "")
    sort = params.get("sort", "-created")
    return ContactFilter(
        q=params.get("q", "").strip()[:100],
        stage=stage if stage in LifecycleStage.values else "",
        owner=_int_or_none(params.get("owner")),
        account=_int_or_none(params.get("account")),
        consent=consent if consent in ConsentState.values else "",
        tag=params.get("tag", "").strip()[:60],
        sort=sort if sort in CONTACT_SORTS else "-created",
    )


def account_filter_from(params: QueryDict) -> AccountFilter:
    lifecycle = params.get("lifecycle", "")
    sort = params.get("sort", "-created")
    target = params.get("target", "")
    return AccountFilter(
        q=params.get("q", "").strip()[:100],
        lifecycle=lifecycle if lifecycle in AccountLifecycle.values else "",
        owner=_int_or_none(params.get("owner")),
        target={"1": True, "0": False}.get(target),
        tier=_int_or_none(params.get("tier")),
        industry=params.get("industry", "")[:20],
        prefecture=params.get("prefecture", "")[:2],
        sort=sort if sort in ACCOUNT_SORTS else "-created",
    )


def _contact_search(q: str) -> Q:
    """Prefix search that every index can serve: email, name, kana, or company name."""
    if "@" in q:
        return Q(email__prefix=normalize_email(q))
    key = normalize_text(q).replace(" ", "")
    company = normalize_company_name(q)
    condition = Q(name_key__prefix=key) | Q(kana_key__prefix=to_katakana(key))
    if company:
        condition |= Q(
            account__in=Account.objects.filter(LIVE, name_key__prefix=company).values("pk")[
                :COUNT_CAP
            ]
        )
    if key.isascii():
        condition |= Q(email__prefix=key)
    return condition


def contacts_matching(f: ContactFilter) -> QuerySet[Contact]:
    qs = Contact.objects.filter(LIVE)
    if f.q:
        qs = qs.filter(_contact_search(f.q))
    if f.stage:
        qs = qs.filter(lifecycle_stage=f.stage)
    if f.owner:
        qs = qs.filter(owner_id=f.owner)
    if f.account:
        qs = qs.filter(account_id=f.account)
    if f.consent:
        qs = qs.filter(email_consent=f.consent)
    if f.tag:
        qs = qs.filter(tags__name=f.tag)
    return qs.order_by(*CONTACT_SORTS[f.sort])


def accounts_matching(f: AccountFilter) -> QuerySet[Account]:
    qs = Account.objects.filter(LIVE)
    if f.q:
        digits = f.q.replace("-", "")
        if digits.isdigit() and len(digits) == 13:
            qs = qs.filter(corporate_number=digits)
        else:
            qs = qs.filter(name_key__prefix=normalize_company_name(f.q))
    if f.lifecycle:
        qs = qs.filter(lifecycle=f.lifecycle)
    if f.owner:
        qs = qs.filter(owner_id=f.owner)
    if f.target is not None:
        qs = qs.filter(is_target=f.target)
    if f.tier is not None:
        qs = qs.filter(abm_tier=f.tier)
    if f.industry:
        qs = qs.filter(industry=f.industry)
    if f.prefecture:
        qs = qs.filter(prefecture=f.prefecture)
    return qs.order_by(*ACCOUNT_SORTS[f.sort])


def capped_count(qs: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, capped): counts at most cap + 1 rows, so the cost does not grow with the table."""
    n = qs.order_by()[: cap + 1].count()
    return (min(n, cap), n > cap)


def get_contact_for_user(user: User, pk: int) -> Contact:
    """A live contact this user may see, or 404 (every contact page goes through here)."""
    try:
        return Contact.objects.select_related("account", "owner").get(LIVE, pk=pk)
    except Contact.DoesNotExist:
        raise Http404 from None


def get_account_for_user(user: User, pk: int) -> Account:
    try:
        return Account.objects.select_related("owner").get(LIVE, pk=pk)
    except Account.DoesNotExist:
        raise Http404 from None


def get_import_for_user(user: User, pk: int) -> ImportJob:
    """An import this user may see, or 404; imports are shared by everyone who may import."""
    if not user.can(Capability.CRM_IMPORT):
        raise Http404
    try:
        return ImportJob.objects.select_related("created_by").get(pk=pk)
    except ImportJob.DoesNotExist:
        raise Http404 from None


def dashboard_stats() -> dict[str, int]:
    contacts = Contact.objects.filter(LIVE)
    return {
        "contacts": capped_count(contacts, 10_000_000)[0],
        "accounts": capped_count(Account.objects.filter(LIVE), 10_000_000)[0],
        "mql": capped_count(contacts.filter(lifecycle_stage=LifecycleStage.MQL))[0],
        "sql": capped_count(contacts.filter(lifecycle_stage=LifecycleStage.SQL))[0],
    }
