"""Reads of the pages app: which fields a visitor is asked, lists and reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, QuerySet
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


# Only these types carry an asset: the (type, time) index narrows the touches to read.
_ASSET_TYPES = (Type.PAGE_VIEW, Type.DOWNLOAD, Type.FORM_SUBMITTED)


def _asset_report_sql(assets: list[ContentAsset], since: dt.datetime) -> tuple[str, list]:
    """One statement for every asset: visits, new leads, influenced MQLs and deals per asset.

    `a` lists the assets (id, key, URL prefix). `m` reads the period's touches once, through
    the (type, time) index (CROSS JOIN keeps them the outer loop on SQLite), and pairs each
    with every asset it belongs to (tagged with its key, or a page view whose URL starts with
    its prefix, case-sensitively on both databases), grouped per asset and contact with the
    contact's first touch of it. `tr` is each contact's latest move to MQL and to opportunity
    in the period, from the (to_stage, time) index: a contact touched the asset before some
    such move exactly when its latest one is after its first touch.
    """

    quote = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    tp = quote(Touchpoint._meta.db_table)
    contact = quote(Contact._meta.db_table)
    transition = quote(LifecycleTransition._meta.db_table)
    rows = ", ".join(
        ["(CAST(%s AS INTEGER), CAST(%s AS VARCHAR(100)), CAST(%s AS VARCHAR(500)))"] * len(assets)
    )
    types = ", ".join(["%s"] * len(_ASSET_TYPES))
    sql = f"""
        WITH a (id, akey, prefix) AS (VALUES {rows}),
        m AS (
            SELECT a.id AS asset_id, t.contact_id AS contact_id, COUNT(*) AS n,
                   MIN(t.occurred_at) AS first_at
            FROM {tp} t CROSS JOIN a
            WHERE t.type IN ({types}) AND t.occurred_at >= %s AND t.is_bot = %s
              AND (
                t.content_asset = a.akey
                OR (t.type = %s AND a.prefix <> ''
                    AND SUBSTR(t.url, 1, LENGTH(a.prefix)) = a.prefix)
              )
            GROUP BY a.id, t.contact_id
        ),
        tr AS (
            SELECT contact_id,
                   MAX(CASE WHEN to_stage = %s THEN occurred_at END) AS mql_at,
                   MAX(CASE WHEN to_stage = %s THEN occurred_at END) AS deal_at
            FROM {transition}
            WHERE to_stage IN (%s, %s) AND occurred_at >= %s
            GROUP BY contact_id
        )
        SELECT m.asset_id, SUM(m.n),
               SUM(CASE WHEN c.created_at >= %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN tr.mql_at > m.first_at THEN 1 ELSE 0 END),
               SUM(CASE WHEN tr.deal_at > m.first_at THEN 1 ELSE 0 END)
        FROM m
        LEFT JOIN {contact} c ON c.id = m.contact_id
        LEFT JOIN tr ON tr.contact_id = m.contact_id
        GROUP BY m.asset_id
    """
    when = adapt(since)
    params: list = []
    for asset in assets:
        params += [asset.pk, asset.key, asset.url_prefix]
    params += [*_ASSET_TYPES, when, False, Type.PAGE_VIEW]
    params += ["mql", "opportunity", "mql", "opportunity", when, when]
    return sql, params


def asset_report(*, days: int = 90) -> tuple[list[AssetRow], dict[str, AssetRow]]:
    """Per asset and per content type: visits, new leads, influenced MQLs and deals.

    A visit is a page view of the asset's URLs or a touch tagged with it. A new lead is a
    contact created in the window whose touches include the asset. An MQL or deal is
    influenced when the contact touched the asset before becoming MQL or opportunity in the
    window (deals are counted as the move to the opportunity stage until the sales app
    records deals). Two queries whatever the number of assets: the assets, then one
    statement over the period's touches (_asset_report_sql).
    """
    since = timezone.now() - dt.timedelta(days=days)
    totals = {
        k: AssetRow(asset=ContentAsset(kind=k, name=label))
        for k, label in ContentAsset.Kind.choices
    }
    assets = list(ContentAsset.objects.filter(is_active=True))
    rows = [AssetRow(asset=asset) for asset in assets]
    if not assets:
        return rows, totals
    by_id = {row.asset.pk: row for row in rows}
    with connection.cursor() as cursor:
        cursor.execute(*_asset_report_sql(assets, since))
        for asset_id, visits, leads, mqls, deals in cursor.fetchall():
            row = by_id[asset_id]
            # SUM is a numeric (Decimal) on PostgreSQL.
            row.visits, row.leads, row.mqls, row.deals = map(int, (visits, leads, mqls, deals))
    for row in rows:
        total = totals[row.asset.kind]
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
