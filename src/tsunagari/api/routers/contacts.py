"""/api/v1/contacts: list, read, create, update, delete (to the trash), timeline, touches."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.http import QueryDict
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from tsunagari.api.api import require
from tsunagari.api.routers.forms import custom_changes, form_data, valid
from tsunagari.core.roles import Capability
from tsunagari.crm import queries, services
from tsunagari.crm.choices import LifecycleStage
from tsunagari.crm.forms import ContactForm
from tsunagari.crm.models import Contact
from tsunagari.tracking import queries as tracking_queries
from tsunagari.tracking.services import TrackingError, touch_record_offline
from tsunagari.tracking.vocabulary import OFFLINE_TYPES

router = Router(tags=["contacts"])

MAX_LIMIT = 200
MAX_OFFSET = queries.COUNT_CAP


class ContactOut(Schema):
    id: int
    email: str | None
    family_name: str
    given_name: str
    family_name_kana: str
    given_name_kana: str
    account_id: int | None
    department: str
    title: str
    buying_role: str
    phone: str
    owner_id: int | None
    lifecycle_stage: str
    email_consent: str
    do_not_contact: bool
    bant_budget: str
    bant_need: str
    bant_timing: str
    tags: list[str]
    custom: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    last_activity_at: dt.datetime | None

    @staticmethod
    def resolve_tags(obj: Contact) -> list[str]:
        return sorted(tag.name for tag in obj.tags.all())


class ContactPage(Schema):
    count: int
    count_capped: bool = Field(description="true when there are more than `count` matches")
    items: list[ContactOut]


class ContactIn(Schema):
    email: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    family_name_kana: str | None = None
    given_name_kana: str | None = None
    account_id: int | None = None
    department: str | None = None
    title: str | None = None
    buying_role: str | None = None
    phone: str | None = None
    owner_id: int | None = None
    lifecycle_stage: str | None = Field(
        None, description="on create only: subscriber, lead or customer"
    )
    bant_budget: str | None = None
    bant_need: str | None = None
    bant_timing: str | None = None
    do_not_contact: bool | None = None
    tags: list[str] | None = None
    custom: dict[str, Any] | None = None


class ListParams(Schema):
    q: str = ""
    stage: str = ""
    owner: int | None = None
    account: int | None = None
    consent: str = ""
    tag: str = ""
    sort: str = "-created"
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class TouchIn(Schema):
    type: str = Field(
        description="call, visit, meeting, trade_show, business_card, seminar_attended"
    )
    occurred_at: dt.datetime
    title: str = ""
    note: str = ""
    campaign: str = ""


class TouchOut(Schema):
    id: int
    type: str
    channel: str
    occurred_at: dt.datetime
    title: str
    url: str
    campaign: str
    source: str
    properties: dict[str, Any]


class TimelinePage(Schema):
    items: list[TouchOut]
    next: str = Field(description="pass as `before` for the next (older) page; empty at the end")


def _filter(params: ListParams):
    query = QueryDict(mutable=True)
    for key in ("q", "stage", "consent", "tag", "sort"):
        if getattr(params, key):
            query[key] = getattr(params, key)
    for key in ("owner", "account"):
        if getattr(params, key) is not None:
            query[key] = str(getattr(params, key))
    f = queries.contact_filter_from(query)
    if f.errors:
        raise ValidationError({"": f.errors})
    return f


@router.get("", response=ContactPage, summary="List contacts (filters as in the UI)")
def list_contacts(request, params: Query[ListParams]):
    require(request, Capability.CRM_VIEW)
    results = queries.contact_list_results(_filter(params))
    count, capped = queries.capped_count(results)
    rows = list(results[params.offset : params.offset + params.limit])
    prefetch_related_objects(rows, "tags")
    return {"count": count, "count_capped": capped, "items": rows}


@router.get("/{int:contact_id}", response=ContactOut, summary="One contact")
def get_contact(request, contact_id: int):
    require(request, Capability.CRM_VIEW)
    return queries.get_contact_for_user(request.user, contact_id)


def _save(request, contact: Contact, payload: ContactIn, status_ok: int):
    changes = payload.dict(exclude_unset=True)
    tags = changes.pop("tags", None)
    custom = changes.pop("custom", None)
    for key in ("account_id", "owner_id"):
        if key in changes:
            changes[key.removesuffix("_id")] = changes.pop(key) or ""
    if contact.pk and "lifecycle_stage" in changes:
        raise ValidationError(
            {"lifecycle_stage": ["Change the stage with POST /contacts/{id}/lifecycle."]}
        )
    data = form_data(ContactForm, contact, {**changes, **custom_changes(custom)})
    if tags is not None:
        data["tags_text"] = ",".join(tags)
    elif contact.pk:
        data["tags_text"] = ",".join(contact.tags.values_list("name", flat=True))
    form = valid(ContactForm(data, instance=contact))
    instance = form.save(commit=False)
    instance.custom = form.custom_values
    services.contact_stamp_bant(instance, form.changed_data, f"api:{request.user.username}")
    try:
        with transaction.atomic():
            services.contact_save(
                contact=instance, actor=request.user, source="api", tags=form.tag_names()
            )
    except IntegrityError:
        raise ValidationError({"email": ["Another contact already has this address."]}) from None
    return Status(status_ok, Contact.objects.prefetch_related("tags").get(pk=instance.pk))


@router.post("", response={201: ContactOut}, summary="Create a contact")
def create_contact(request, payload: ContactIn):
    require(request, Capability.CRM_EDIT)
    return _save(request, Contact(), payload, 201)


@router.patch("/{int:contact_id}", response={200: ContactOut}, summary="Change some fields")
def update_contact(request, contact_id: int, payload: ContactIn):
    require(request, Capability.CRM_EDIT)
    contact = queries.get_contact_for_user(request.user, contact_id)
    return _save(request, contact, payload, 200)


@router.delete("/{int:contact_id}", response={204: None}, summary="Move to the trash")
def delete_contact(request, contact_id: int):
    require(request, Capability.CRM_EDIT)
    contact = queries.get_contact_for_user(request.user, contact_id)
    services.contact_delete(contact=contact, actor=request.user)
    return Status(204, None)


class LifecycleIn(Schema):
    to_stage: str
    reason: str = ""


@router.post("/{int:contact_id}/lifecycle", response=ContactOut, summary="Change the stage")
def set_lifecycle(request, contact_id: int, payload: LifecycleIn):
    require(request, Capability.CRM_EDIT)
    contact = queries.get_contact_for_user(request.user, contact_id)
    if payload.to_stage not in LifecycleStage.values:
        raise ValidationError({"to_stage": [f"one of {', '.join(LifecycleStage.values)}"]})
    services.contact_set_lifecycle(
        contact=contact,
        to_stage=payload.to_stage,
        actor=request.user,
        rule="api",
        reason=payload.reason[:300],
    )
    return Contact.objects.prefetch_related("tags").get(pk=contact.pk)


@router.get("/{int:contact_id}/touchpoints", response=TimelinePage, summary="The timeline")
def timeline(request, contact_id: int, channel: str = "", type: str = "", before: str = ""):
    require(request, Capability.CRM_VIEW)
    contact = queries.get_contact_for_user(request.user, contact_id)
    params = QueryDict(mutable=True)
    params.update({"channel": channel, "type": type, "before": before})
    f = tracking_queries.timeline_filter_from(params)
    rows, cursor = tracking_queries.timeline_page(
        tracking_queries.contact_touchpoints(contact.pk), f
    )
    return {"items": rows, "next": cursor}


@router.post("/{int:contact_id}/touchpoints", response={201: TouchOut}, summary="Record a touch")
def record_touch(request, contact_id: int, payload: TouchIn):
    require(request, Capability.CRM_EDIT)
    contact = queries.get_contact_for_user(request.user, contact_id)
    if payload.type not in OFFLINE_TYPES:
        raise ValidationError({"type": [f"one of {', '.join(OFFLINE_TYPES)}"]})
    when = payload.occurred_at
    if timezone.is_naive(when):
        when = timezone.make_aware(when)  # a time without offset is in the tenant time zone
    try:
        touch = touch_record_offline(
            contact=contact,
            type_key=payload.type,
            occurred_at=when,
            actor=request.user,
            title=payload.title,
            note=payload.note,
            campaign=payload.campaign,
            source=f"api:{request.user.username}",
        )
    except TrackingError as exc:
        raise ValidationError({"occurred_at": [str(exc)]}) from None
    return Status(201, touch)
