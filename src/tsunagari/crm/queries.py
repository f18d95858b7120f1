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


def _contact_search_branches(q: str) -> list[Q]:
    """Prefix conditions, each served by its own index: email, name, kana, company name."""
    if "@" in q:
        return [Q(email__prefix=normalize_email(q))]
    key = normalize_text(q).replace(" ", "")
    branches = [Q(name_key__prefix=key), Q(kana_key__prefix=to_katakana(key))]
    company = normalize_company_name(q)
    if company:
        accounts = Account.objects.filter(LIVE, name_key__prefix=company).values("pk")
        branches.append(Q(account__in=accounts[:COUNT_CAP]))
    if key.isascii():
        branches.append(Q(email__prefix=key))
    return branches


def _contact_filtered(f: ContactFilter) -> QuerySet[Contact]:
    """Every filter but the search box."""
    qs = Contact.objects.filter(LIVE)
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
    return qs


def contacts_matching(f: ContactFilter) -> QuerySet[Contact]:
    """All contacts the list shows for these filters, in its order (exports iterate this)."""
    qs = _contact_filtered(f)
    if f.q:
        branches = _contact_search_branches(f.q)
        condition = branches[0]
        for branch in branches[1:]:
            condition |= branch
        qs = qs.filter(condition)
    return qs.order_by(*CONTACT_SORTS[f.sort])


class SearchResult:
    """The contacts a search finds, for one list page: ids first, then 50 rows.

    One OR query over several prefix indexes makes the database fetch every matching row
    (tens of thousands for a common name like サトウ) before sorting. Here each condition runs
    on its own index, returning only the sort key and id of at most COUNT_CAP + 1 rows; they
    are merged in Python, and only the rows of the page shown are then read.
    """

    def __init__(self, f: ContactFilter) -> None:
        fields = CONTACT_SORTS[f.sort]
        names = [field.lstrip("-") for field in fields]
        base = _contact_filtered(f)
        found: dict[int, tuple] = {}
        for branch in _contact_search_branches(f.q):
            rows = base.filter(branch).order_by(*fields).values_list(*names)[: COUNT_CAP + 1]
            for row in rows:
                found[row[-1]] = row
        keys = list(found.values())
        # Stable sorts from the last field to the first give the SQL order (NULLs last).
        for index in reversed(range(len(fields))):
            descending = fields[index].startswith("-")
            keys.sort(
                key=lambda row, i=index, d=descending: (
                    (row[i] is not None) if d else (row[i] is None),
                    row[i] if row[i] is not None else 0,
                ),
                reverse=descending,
            )
        self.ids = [row[-1] for row in keys]

    def count(self) -> int:
        return len(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, window: slice) -> list[Contact]:
        ids = self.ids[window]
        rows = Contact.objects.select_related("account").in_bulk(ids)
        return [rows[pk] for pk in ids if pk in rows]


def contact_list_results(f: ContactFilter) -> QuerySet[Contact] | SearchResult:
    """What the contact list pages through: a SearchResult when searching, else a queryset."""
    if f.q:
        return SearchResult(f)
    return contacts_matching(f).select_related("account")


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


def capped_count(qs: QuerySet | SearchResult, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, capped): counts at most cap + 1 rows, so the cost does not grow with the table."""
    n = qs.count() if isinstance(qs, SearchResult) else qs.order_by()[: cap + 1].count()
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
