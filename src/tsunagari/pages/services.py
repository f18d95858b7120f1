"""Writes of the builders: forms and their fields, landing pages and blocks, assets, slots."""

from __future__ import annotations

import datetime as dt
import string

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.core.models import User
from tsunagari.crm.models import Contact
from tsunagari.pages.blocks import BlockError, clean_blocks, new_block
from tsunagari.pages.fieldmap import HIDDEN_TARGETS, TARGETS, custom_field_for
from tsunagari.pages.models import (
    ConsentText,
    ContentSlot,
    Form,
    FormField,
    FormSubmission,
    LandingPage,
    PageVariant,
    PendingConsent,
    SlotVariant,
    UsedFormToken,
)
from tsunagari.pages.presentation import redirect_allowed
from tsunagari.pages.protection import TOKEN_MAX_AGE

RESERVED_SLUGS = {"embed", "slots", "static", "admin"}


class PagesError(Exception):
    """A builder request refused, with a message for the person who made it."""


@transaction.atomic
def form_create(*, name: str, actor: User | None = None) -> Form:
    """A new form starts with the one field every form needs: the email address."""
    form = Form.objects.create(name=name.strip()[:120], created_by=actor)
    FormField.objects.create(
        form=form, kind=FormField.Kind.FIELD, target="email", required=True, progressive=False
    )
    return form


def form_validate(form: Form) -> None:
    if form.redirect_url and not redirect_allowed(form.redirect_url):
        raise PagesError(
            _("The thank-you redirect must be a page of a registered site or of this server.")
        )


@transaction.atomic
def field_save(*, field: FormField, consent_text: str = "", actor: User | None = None) -> FormField:
    """Create or update a field; a changed consent text becomes a new version."""
    if field.kind == FormField.Kind.FIELD:
        if field.target not in TARGETS and custom_field_for(field.target) is None:
            raise PagesError(_("Choose what this question fills in."))
    elif field.kind == FormField.Kind.HIDDEN:
        if field.target not in HIDDEN_TARGETS:
            raise PagesError(_("Unknown hidden field."))
        field.required = False
    else:
        if not consent_text.strip():
            raise PagesError(_("A consent checkbox needs the exact words people agree to."))
        field.target = field.target.strip()[:60]
        field.progressive = False
    if field.kind == FormField.Kind.FIELD and field.target == "email":
        field.required, field.progressive = True, False
    if field.pk is None:
        top = field.form.fields.aggregate(m=Max("position"))["m"]
        field.position = (top or 0) + 1
    field.save()
    if field.kind == FormField.Kind.CONSENT:
        current = field.current_consent()
        text = consent_text.strip()
        if current is None or current.text != text:
            ConsentText.objects.create(
                field=field, version=(current.version + 1) if current else 1, text=text
            )
    return field


@transaction.atomic
def field_delete(*, field: FormField) -> None:
    if field.target == "email" and field.kind == FormField.Kind.FIELD:
        raise PagesError(_("Every form keeps its email field."))
    field.delete()


@transaction.atomic
def field_move(*, field: FormField, up: bool) -> None:
    """Swap with the neighbour; positions are renumbered so they stay distinct."""
    fields = list(field.form.fields.order_by("position", "id"))
    index = next(i for i, f in enumerate(fields) if f.pk == field.pk)
    other = index - 1 if up else index + 1
    if 0 <= other < len(fields):
        fields[index], fields[other] = fields[other], fields[index]
    for position, f in enumerate(fields, start=1):
        if f.position != position:
            FormField.objects.filter(pk=f.pk).update(position=position)


@transaction.atomic
def page_create(*, slug: str, title: str, actor: User | None = None) -> LandingPage:
    if slug in RESERVED_SLUGS or LandingPage.objects.filter(slug=slug).exists():
        raise PagesError(_("This address is already taken."))
    page = LandingPage.objects.create(slug=slug, title=title.strip()[:200], created_by=actor)
    PageVariant.objects.create(
        page=page, key="A", blocks=[{"type": "heading", "text": page.title, "level": 1}]
    )
    return page


@transaction.atomic
def variant_add(*, page: LandingPage) -> PageVariant:
    """A new variant starts as a copy of A, so the test changes one thing at a time."""
    used = set(page.variants.values_list("key", flat=True))
    key = next((c for c in string.ascii_uppercase if c not in used), None)
    if key is None:
        raise PagesError(_("A page has at most 26 variants."))
    first = page.variants.order_by("key").first()
    return PageVariant.objects.create(page=page, key=key, blocks=first.blocks if first else [])


def blocks_save(*, variant: PageVariant, blocks: list) -> PageVariant:
    try:
        variant.blocks = clean_blocks(blocks)
    except BlockError as exc:
        raise PagesError(str(exc)) from None
    PageVariant.objects.filter(pk=variant.pk).update(blocks=variant.blocks)
    return variant


def block_add(*, variant: PageVariant, kind: str) -> PageVariant:
    try:
        block = new_block(kind)
    except BlockError as exc:
        raise PagesError(str(exc)) from None
    return blocks_save(variant=variant, blocks=[*variant.blocks, block])


def block_update(*, variant: PageVariant, index: int, values: dict) -> PageVariant:
    blocks = list(variant.blocks)
    if not 0 <= index < len(blocks):
        raise PagesError(_("This block no longer exists."))
    blocks[index] = {**blocks[index], **values, "type": blocks[index]["type"]}
    return blocks_save(variant=variant, blocks=blocks)


def block_remove(*, variant: PageVariant, index: int) -> PageVariant:
    blocks = list(variant.blocks)
    if 0 <= index < len(blocks):
        blocks.pop(index)
    return blocks_save(variant=variant, blocks=blocks)


def block_move(*, variant: PageVariant, index: int, up: bool) -> PageVariant:
    blocks = list(variant.blocks)
    other = index - 1 if up else index + 1
    if 0 <= index < len(blocks) and 0 <= other < len(blocks):
        blocks[index], blocks[other] = blocks[other], blocks[index]
    return blocks_save(variant=variant, blocks=blocks)


@transaction.atomic
def page_publish(*, page: LandingPage) -> LandingPage:
    """What visitors see becomes the current drafts of every variant, in one step."""
    for variant in page.variants.all():
        PageVariant.objects.filter(pk=variant.pk).update(
            published_blocks=clean_blocks(variant.blocks)
        )
    page.status = LandingPage.Status.PUBLISHED
    page.published_at = timezone.now()
    page.save(update_fields=["status", "published_at", "updated_at"])
    return page


def page_unpublish(*, page: LandingPage) -> LandingPage:
    page.status = LandingPage.Status.DRAFT
    page.save(update_fields=["status", "updated_at"])
    return page


def slot_variant_save(*, variant: SlotVariant) -> SlotVariant:
    rules = variant.rules or {}
    allowed = {
        "segments",
        "lifecycle",
        "industry",
        "abm_tiers",
        "target_account",
        "min_behaviour",
        "grades",
    }
    if not isinstance(rules, dict) or set(rules) - allowed:
        raise PagesError(_("Unknown rule."))
    if variant.pk is None:
        top = variant.slot.variants.aggregate(m=Max("position"))["m"]
        variant.position = (top or 0) + 1
    variant.save()
    return variant


def slot_save(*, slot: ContentSlot) -> ContentSlot:
    slot.save()
    return slot


def move_submissions_on_merge(keep: Contact, drop: Contact) -> None:
    """crm merge hook: the duplicate's submissions and pending consents follow the kept one."""
    FormSubmission.objects.filter(contact=drop).update(contact=keep)
    PendingConsent.objects.filter(contact=drop).update(contact=keep)


def used_tokens_forget(*, limit: int = 1000) -> int:
    """Worker job: nonces of expired tokens can go, an expired token is refused anyway."""
    cutoff = timezone.now() - dt.timedelta(seconds=TOKEN_MAX_AGE + 3600)
    ids = list(
        UsedFormToken.objects.filter(used_at__lt=cutoff).values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return 0
    return UsedFormToken.objects.filter(pk__in=ids).delete()[0]
