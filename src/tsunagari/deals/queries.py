"""Reads of deals: the pipeline with its filters and stage totals, panels and access."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.http import Http404, QueryDict

from tsunagari.core.models import User
from tsunagari.deals.models import CLOSED_STAGES, OPEN_STAGES, Deal, DealStageChange, Stage

PAGE_SIZE = 50
PANEL_SIZE = 10
STATUSES = ("open", "won", "lost")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass
class DealFilter:
    stage: str = ""
    status: str = ""  # open, won, lost
    owner: int | None = None
    month: str = ""  # YYYY-MM of the close date
    account: int | None = None
    contact: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.stage or self.status or self.owner or self.month)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def deal_filter_from(params: QueryDict | dict) -> DealFilter:
    """The filter a query string asks for; unknown values are ignored, never an error."""
    stage = params.get("stage", "")
    status = params.get("status", "")
    month = params.get("month", "")
    match = _MONTH.match(month)
    if not match or not 1 <= int(match.group(2)) <= 12:
        month = ""
    return DealFilter(
        stage=stage if stage in Stage.values else "",
        status=status if status in STATUSES else "",
        owner=_int(params.get("owner")),
        month=month,
        account=_int(params.get("account")),
        contact=_int(params.get("contact")),
    )


def _month_range(month: str) -> tuple[dt.date, dt.date]:
    year, number = (int(x) for x in month.split("-"))
    start = dt.date(year, number, 1)
    end = dt.date(year + (number == 12), number % 12 + 1, 1)
    return start, end


def deals_matching(f: DealFilter) -> QuerySet[Deal]:
    """Deals as filtered, newest first (indexes: deals_deal_stage/owner/close/account)."""
    qs = Deal.objects.all()
    if f.stage:
        qs = qs.filter(stage=f.stage)
    if f.status == "open":
        qs = qs.filter(stage__in=OPEN_STAGES)
    elif f.status in CLOSED_STAGES:
        qs = qs.filter(stage=f.status)
    if f.owner:
        qs = qs.filter(owner_id=f.owner)
    if f.month:
        start, end = _month_range(f.month)
        qs = qs.filter(close_date__gte=start, close_date__lt=end)
    if f.account:
        qs = qs.filter(account_id=f.account)
    if f.contact:
        qs = qs.filter(primary_contact_id=f.contact)
    return qs.order_by("-id")


@dataclass
class StageTotal:
    stage: str
    label: str
    count: int
    amount: Decimal


def stage_totals(qs: QuerySet[Deal]) -> list[StageTotal]:
    """Count and amount per stage of these deals, every stage listed in pipeline order."""
    found = {
        row["stage"]: row
        for row in qs.order_by().values("stage").annotate(n=Count("pk"), amount=Sum("amount"))
    }
    return [
        StageTotal(
            stage=value,
            label=str(label),
            count=found.get(value, {}).get("n", 0),
            amount=found.get(value, {}).get("amount") or Decimal(0),
        )
        for value, label in Stage.choices
    ]


def pipeline_summary(totals: list[StageTotal]) -> dict[str, Decimal | int]:
    """Funnel amount (open deals, 先行管理指標) and won amount (KGI) of the totals."""
    open_rows = [t for t in totals if t.stage in OPEN_STAGES]
    won = next(t for t in totals if t.stage == Stage.WON)
    return {
        "open_count": sum(t.count for t in open_rows),
        "open_amount": sum((t.amount for t in open_rows), Decimal(0)),
        "won_count": won.count,
        "won_amount": won.amount,
    }


def deals_for_list(qs: QuerySet[Deal]) -> QuerySet[Deal]:
    return qs.select_related("account", "primary_contact", "owner")


def get_deal_for_user(user: User, pk: int) -> Deal:
    """A deal this user may see, or 404 (every deal page and endpoint goes through here)."""
    try:
        return Deal.objects.select_related("account", "primary_contact", "owner").get(pk=pk)
    except Deal.DoesNotExist:
        raise Http404 from None


def history(deal: Deal) -> QuerySet[DealStageChange]:
    return deal.stage_changes.select_related("actor").order_by("-occurred_at", "-id")


def owners() -> QuerySet[User]:
    return User.objects.filter(is_active=True).order_by("username")
