"""Reads of the pages app: which fields a visitor is asked, lists and reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from tsunagari.crm.models import Contact, LifecycleTransition
from tsunagari.pages.fieldmap import is_known
from tsunagari.pages.models import (
    ContentAsset,
    Form,
    FormField,
    FormSubmission,
    LandingPage,
)
from tsunagari.tracking.models import Touchpoint, Visitor
from tsunagari.tracking.vocabulary import Type

PAGE_SIZE = 50


def visitor_by_uid(uid: str | None) -> Visitor | None:
    if not uid or len(uid) != 32 or not all(c in "0123456789abcdef" for c in uid):
        return None
    return Visitor.objects.filter(uid=uid).first()


def contact_of_visitor(visitor: Visitor | None) -> Contact | None:
    """The live contact a browser was identified as, with its account, or None."""
    if visitor is None or visitor.contact_id is None:
        return None
    return (
        Contact.objects.select_related("account")
        .filter(pk=visitor.contact_id, deleted_at__isnull=True)
        .first()
    )


def fields_to_ask(form: Form, contact: Contact | None) -> list[FormField]:
    """Progressive profiling: always-asked fields, then the next unknown ones in order.

    Hidden fields and consent checkboxes always come along. A field marked "ask only when
    unknown" is skipped once the contact (or its account) has a value for it; of the rest,
    at most `form.max_questions` are asked this time, in the builder's order.
    """
    account = contact.account if contact is not None else None
    asked: list[FormField] = []
    questions = 0
    for field in form.fields.prefetch_related("consent_texts"):
        if field.kind != FormField.Kind.FIELD or not field.progressive:
            asked.append(field)
        elif is_known(field.target, contact, account) or (
            form.max_questions and questions >= form.max_questions
        ):
            continue
        else:
            asked.append(field)
            questions += 1
    return asked


def forms_for_list() -> QuerySet[Form]:
    return Form.objects.annotate(submission_count=Count("submissions")).order_by("-id")


def pages_for_list() -> QuerySet[LandingPage]:
    return LandingPage.objects.prefetch_related("variants").order_by("-id")


def submissions_of(form: Form) -> QuerySet[FormSubmission]:
    return form.submissions.select_related("contact", "landing_page").order_by("-id")


@dataclass
class AssetRow:
    asset: ContentAsset
    visits: int = 0
    leads: int = 0
    mqls: int = 0
    deals: int = 0


def _asset_touches(asset: ContentAsset, since: dt.datetime) -> Q:
    """Touches of an asset: tagged with its key (downloads, gated forms) or a matching URL."""
    match = Q(content_asset=asset.key)
    if asset.url_prefix:
        match |= Q(type=Type.PAGE_VIEW, url__startswith=asset.url_prefix)
    # Only these types carry an asset: the (type, time) index narrows the rows to read.
    kinds = (Type.PAGE_VIEW, Type.DOWNLOAD, Type.FORM_SUBMITTED)
    return match & Q(type__in=kinds, occurred_at__gte=since)


def asset_report(*, days: int = 90) -> tuple[list[AssetRow], dict[str, AssetRow]]:
    """Per asset and per content type: visits, new leads, influenced MQLs and deals.

    A visit is a page view of the asset's URLs or a touch tagged with it. A new lead is a
    contact created in the window whose touches include the asset. An MQL or deal is
    influenced when the contact touched the asset before becoming MQL or opportunity in the
    window (deals are counted as the move to the opportunity stage until the sales app
    records deals).
    """
    since = timezone.now() - dt.timedelta(days=days)
    rows: list[AssetRow] = []
    totals = {
        k: AssetRow(asset=ContentAsset(kind=k, name=label))
        for k, label in ContentAsset.Kind.choices
    }
    for asset in ContentAsset.objects.filter(is_active=True):
        touches = Touchpoint.objects.filter(_asset_touches(asset, since), is_bot=False)
        row = AssetRow(asset=asset, visits=touches.count())
        contacts = touches.filter(contact__isnull=False).values("contact_id")
        row.leads = Contact.objects.filter(pk__in=contacts, created_at__gte=since).count()
        first_touch = touches.filter(contact_id=OuterRef("contact_id")).order_by("occurred_at")
        for stage, attr in (("mql", "mqls"), ("opportunity", "deals")):
            influenced = (
                LifecycleTransition.objects.filter(
                    to_stage=stage, occurred_at__gte=since, contact_id__in=contacts
                )
                .filter(occurred_at__gt=Subquery(first_touch.values("occurred_at")[:1]))
                .values("contact_id")
                .distinct()
                .count()
            )
            setattr(row, attr, influenced)
        rows.append(row)
        total = totals[asset.kind]
        total.visits += row.visits
        total.leads += row.leads
        total.mqls += row.mqls
        total.deals += row.deals
    return rows, totals


def asset_for_url(url: str) -> ContentAsset | None:
    """The asset a page URL belongs to (longest matching prefix), for journeys and reports."""
    best = None
    for asset in ContentAsset.objects.filter(is_active=True).exclude(url_pattern=""):
        if url.startswith(asset.url_prefix) and (
            best is None or len(asset.url_prefix) > len(best.url_prefix)
        ):
            best = asset
    return best


def trigger_assets() -> QuerySet[ContentAsset]:
    """Trigger (引き金型) assets: the journey trigger rule starts journeys on touches of these."""
    return ContentAsset.objects.filter(is_active=True, kind=ContentAsset.Kind.TRIGGER)
