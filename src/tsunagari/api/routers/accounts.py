"""/api/v1/accounts: list, read, create, update."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import QueryDict
from ninja import Field, Query, Router, Schema, Status

from tsunagari.api.api import require
from tsunagari.api.routers.forms import custom_changes, form_data, valid
from tsunagari.core.roles import Capability
from tsunagari.crm import queries, services
from tsunagari.crm.forms import AccountForm
from tsunagari.crm.models import Account

router = Router(tags=["accounts"])


class AccountOut(Schema):
    id: int
    name: str
    name_kana: str
    corporate_number: str | None
    industry: str
    employee_count: int | None
    annual_revenue: int | None
    capital: int | None
    prefecture: str
    address: str
    phone: str
    owner_id: int | None
    lifecycle: str
    abm_tier: int
    is_target: bool
    domains: list[str]
    custom: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_domains(obj: Account) -> list[str]:
        return sorted(d.domain for d in obj.domains.all())


class AccountPage(Schema):
    count: int
    count_capped: bool
    items: list[AccountOut]


class AccountIn(Schema):
    name: str | None = None
    name_kana: str | None = None
    corporate_number: str | None = Field(None, description="法人番号, 13 digits")
    industry: str | None = None
    employee_count: int | None = None
    annual_revenue: int | None = None
    capital: int | None = None
    prefecture: str | None = None
    address: str | None = None
    phone: str | None = None
    owner_id: int | None = None
    lifecycle: str | None = None
    abm_tier: int | None = None
    is_target: bool | None = None
    domains: list[str] | None = None
    custom: dict[str, Any] | None = None


class ListParams(Schema):
    q: str = ""
    lifecycle: str = ""
    owner: int | None = None
    target: bool | None = None
    tier: int | None = None
    industry: str = ""
    prefecture: str = ""
    sort: str = "-created"
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=queries.COUNT_CAP)


@router.get("", response=AccountPage, summary="List accounts (filters as in the UI)")
def list_accounts(request, params: Query[ListParams]):
    require(request, Capability.CRM_VIEW)
    query = QueryDict(mutable=True)
    for key, value in params.dict(exclude={"limit", "offset"}).items():
        if value not in ("", None):
            query[key] = "1" if value is True else "0" if value is False else str(value)
    qs = queries.accounts_matching(queries.account_filter_from(query))
    count, capped = queries.capped_count(qs)
    rows = qs.prefetch_related("domains")[params.offset : params.offset + params.limit]
    return {"count": count, "count_capped": capped, "items": list(rows)}


@router.get("/{int:account_id}", response=AccountOut, summary="One account")
def get_account(request, account_id: int):
    require(request, Capability.CRM_VIEW)
    return queries.get_account_for_user(request.user, account_id)


def _save(request, account: Account, payload: AccountIn, status_ok: int):
    changes = payload.dict(exclude_unset=True)
    domains = changes.pop("domains", None)
    custom = changes.pop("custom", None)
    if "owner_id" in changes:
        changes["owner"] = changes.pop("owner_id") or ""
    changes = {k: "" if v is None else v for k, v in changes.items()}
    data = form_data(AccountForm, account, {**changes, **custom_changes(custom)})
    if domains is not None:
        data["domains_text"] = "\n".join(domains)
    elif account.pk:
        data["domains_text"] = "\n".join(account.domains.values_list("domain", flat=True))
    form = valid(AccountForm(data, instance=account))
    instance = form.save(commit=False)
    instance.custom = form.custom_values
    try:
        with transaction.atomic():
            services.account_save(
                account=instance, actor=request.user, domains=form.cleaned_data["domains_text"]
            )
    except IntegrityError:
        raise ValidationError({"corporate_number": ["Another account has it."]}) from None
    return Status(status_ok, Account.objects.prefetch_related("domains").get(pk=instance.pk))


@router.post("", response={201: AccountOut}, summary="Create an account")
def create_account(request, payload: AccountIn):
    require(request, Capability.CRM_EDIT)
    return _save(request, Account(), payload, 201)


@router.patch("/{int:account_id}", response={200: AccountOut}, summary="Change some fields")
def update_account(request, account_id: int, payload: AccountIn):
    require(request, Capability.CRM_EDIT)
    return _save(request, queries.get_account_for_user(request.user, account_id), payload, 200)
