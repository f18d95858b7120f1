"""/api/v1/deals: list, read, create, update; stage changes go through the deals service."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.http import QueryDict
from ninja import Field, Query, Router, Schema, Status

from tsunagari.api.api import require
from tsunagari.core.models import User
from tsunagari.core.roles import Capability
from tsunagari.crm.models import Account, Contact
from tsunagari.crm.queries import COUNT_CAP, capped_count
from tsunagari.deals import queries, services
from tsunagari.deals.models import Deal

router = Router(tags=["deals"])


class DealOut(Schema):
    id: int
    name: str
    account_id: int
    primary_contact_id: int | None
    owner_id: int | None
    amount: Decimal
    currency: str
    stage: str
    is_open: bool
    close_date: dt.date | None
    closed_at: dt.datetime | None
    lost_reason: str
    lost_note: str
    campaign: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_currency(obj: Deal) -> str:
        from django.conf import settings

        return settings.TSUNAGARI_CURRENCY


class DealPage(Schema):
    count: int
    count_capped: bool
    items: list[DealOut]


class DealIn(Schema):
    name: str | None = None
    account_id: int | None = None
    primary_contact_id: int | None = None
    owner_id: int | None = None
    amount: Decimal | None = Field(None, ge=0, description="in the tenant currency")
    stage: str | None = Field(
        None, description="qualification, proposal, quote, negotiation, won, lost"
    )
    close_date: dt.date | None = None
    lost_reason: str | None = Field(
        None,
        description="required with stage lost: price, competitor, no_budget, timing, "
        "no_decision, product_fit, other",
    )
    lost_note: str | None = None
    note: str | None = Field(None, description="a note on the stage change, kept in its history")
    campaign: str | None = None


class ListParams(Schema):
    stage: str = ""
    status: str = Field("", description="open, won or lost")
    owner: int | None = None
    month: str = Field("", description="close month, YYYY-MM")
    account: int | None = None
    contact: int | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=COUNT_CAP)


@router.get("", response=DealPage, summary="List deals (filters as in the pipeline)")
def list_deals(request, params: Query[ListParams]):
    require(request, Capability.CRM_VIEW)
    query = QueryDict(mutable=True)
    for key, value in params.dict(exclude={"limit", "offset"}).items():
        if value not in ("", None):
            query[key] = str(value)
    qs = queries.deals_matching(queries.deal_filter_from(query))
    count, capped = capped_count(qs)
    rows = qs[params.offset : params.offset + params.limit]
    return {"count": count, "count_capped": capped, "items": list(rows)}


@router.get("/{int:deal_id}", response=DealOut, summary="One deal")
def get_deal(request, deal_id: int):
    require(request, Capability.CRM_VIEW)
    return queries.get_deal_for_user(request.user, deal_id)


def _related(changes: dict) -> dict:
    """Ids in the payload as the objects the service takes; an unknown id is a field error."""
    out = dict(changes)
    for key, model, field in (
        ("account_id", Account, "account"),
        ("primary_contact_id", Contact, "primary_contact"),
        ("owner_id", User, "owner"),
    ):
        if key not in out:
            continue
        pk = out.pop(key)
        if pk is None:
            out[field] = None
            continue
        found = model.objects.filter(pk=pk).first()
        if found is None:
            raise ValidationError({field: [f"no such {field.replace('_', ' ')}: {pk}"]})
        out[field] = found
    return out


@router.post("", response={201: DealOut}, summary="Create a deal")
def create_deal(request, payload: DealIn):
    require(request, Capability.CRM_EDIT)
    values = _related(payload.dict(exclude_unset=True, exclude={"note"}))
    if "account" not in values:
        raise ValidationError({"account": ["account_id is required"]})
    values = {
        k: ("" if v is None and k in {"lost_reason", "lost_note"} else v) for k, v in values.items()
    }
    deal = services.deal_create(actor=request.user, **values)
    return Status(201, deal)


@router.patch("/{int:deal_id}", response={200: DealOut}, summary="Change fields or the stage")
def update_deal(request, deal_id: int, payload: DealIn):
    require(request, Capability.CRM_EDIT)
    deal = queries.get_deal_for_user(request.user, deal_id)
    changes = _related(payload.dict(exclude_unset=True))
    for key in ("name", "campaign", "lost_reason", "lost_note", "note"):
        if key in changes and changes[key] is None:
            changes[key] = ""
    if "amount" in changes and changes["amount"] is None:
        raise ValidationError({"amount": ["the amount cannot be null (0 for none)"]})
    if "account" in changes and changes["account"] is None:
        raise ValidationError({"account": ["a deal needs an account"]})
    return Status(200, services.deal_update(deal=deal, changes=changes, actor=request.user))
