"""Dynamic web content: which variant of a slot a visitor sees, decided in a few queries.

Slots and their variants are cached per process for a few seconds (like tracked sites); a
decision reads the visitor with its contact, account and score in one query and segment
memberships in one more, only when a rule needs them. Each decision is recorded as a
`custom_event` touchpoint with properties {"event": "dynamic_content", "slot", "variant"}.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone

from tsunagari.pages.blocks import clean_html
from tsunagari.pages.models import ContentSlot
from tsunagari.segments.models import Membership
from tsunagari.tracking.collect import is_bot
from tsunagari.tracking.models import Touchpoint, Visitor
from tsunagari.tracking.services import touchpoints_append
from tsunagari.tracking.sites import account_for_ip
from tsunagari.tracking.vocabulary import Type

DEFAULT_VARIANT = "default"
EVENT_NAME = "dynamic_content"
_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class Variant:
    key: str
    html: str
    rules: dict


@dataclass(frozen=True)
class Slot:
    key: str
    default_html: str
    variants: tuple[Variant, ...]


class _SlotCache:
    def __init__(self) -> None:
        self._slots: dict[str, Slot] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def get(self, key: str) -> Slot | None:
        if time.monotonic() - self._loaded_at > _TTL_SECONDS:
            self.reload()
        return self._slots.get(key)

    def reload(self) -> None:
        slots = {
            s.key: Slot(
                s.key,
                clean_html(s.default_html),
                tuple(Variant(v.key, clean_html(v.html), v.rules or {}) for v in s.variants.all()),
            )
            for s in ContentSlot.objects.filter(is_active=True).prefetch_related("variants")
        }
        with self._lock:
            self._slots = slots
            self._loaded_at = time.monotonic()


slot_cache = _SlotCache()


@dataclass
class Profile:
    """What rules look at, for one visitor (anonymous visitors have an account at most)."""

    contact_id: int | None = None
    lifecycle: str = ""
    industry: str = ""
    abm_tier: int = 0
    is_target: bool = False
    behaviour: int = 0
    fit: int = 0
    grade: str = ""
    segments: set[int] | None = None  # loaded on first use
    visitor: Visitor | None = field(default=None, repr=False)

    def segment_ids(self) -> set[int]:
        if self.segments is None:
            self.segments = (
                set(
                    Membership.objects.filter(
                        contact_id=self.contact_id, exited_at__isnull=True
                    ).values_list("segment_id", flat=True)
                )
                if self.contact_id
                else set()
            )
        return self.segments


def _visitor_query(uid: str):
    return Visitor.objects.select_related("contact__account", "contact__score", "account").filter(
        uid=uid
    )


def profile_for(uid: str | None, *, ip: str = "", user_agent: str = "") -> Profile:
    """What the rules see of this browser; a browser not stored yet is stored now.

    The snippet's first page view may still be on its way to the database when the slot is
    asked for, so the visitor row is created here too (the same insert-or-ignore as ingest),
    with the company its IP range belongs to.
    """
    if not uid or len(uid) != 32 or not all(c in "0123456789abcdef" for c in uid):
        return Profile()
    visitor = _visitor_query(uid).first()
    if visitor is None:
        if is_bot(user_agent):
            return Profile()
        now = timezone.now()
        Visitor.objects.bulk_create(
            [
                Visitor(
                    uid=uid,
                    first_seen=now,
                    last_seen=now,
                    user_agent=user_agent[:300],
                    account_id=account_for_ip(ip),
                )
            ],
            ignore_conflicts=True,
        )
        visitor = _visitor_query(uid).first()
        if visitor is None:
            return Profile()
    profile = Profile(visitor=visitor)
    contact = visitor.contact if visitor.contact_id else None
    if contact is not None and contact.deleted_at is None:
        profile.contact_id = contact.pk
        profile.lifecycle = contact.lifecycle_stage
        try:
            score = contact.score
            profile.behaviour, profile.fit, profile.grade = score.behaviour, score.fit, score.grade
        except ObjectDoesNotExist:
            pass  # no score row: 0 / 0 / no grade
    account = (contact.account if contact is not None else None) or visitor.account
    if account is not None and account.deleted_at is None:
        profile.industry = account.industry
        profile.abm_tier = account.abm_tier
        profile.is_target = account.is_target
    return profile


def matches(rules: dict, p: Profile) -> bool:
    """All given rules must hold; an empty rule set matches everyone."""
    if rules.get("lifecycle") and p.lifecycle not in rules["lifecycle"]:
        return False
    if rules.get("industry") and p.industry not in rules["industry"]:
        return False
    if rules.get("abm_tiers") and p.abm_tier not in rules["abm_tiers"]:
        return False
    if rules.get("target_account") and not p.is_target:
        return False
    if rules.get("min_behaviour") is not None and p.behaviour < int(rules["min_behaviour"]):
        return False
    if rules.get("grades") and p.grade not in rules["grades"]:
        return False
    return not (rules.get("segments") and not (set(rules["segments"]) & p.segment_ids()))


def choose(slot: Slot, profile: Profile) -> tuple[str, str]:
    for variant in slot.variants:
        if matches(variant.rules, profile):
            return variant.key, variant.html
    return DEFAULT_VARIANT, slot.default_html


def decide(
    *,
    uid: str | None,
    keys: list[str],
    source: str,
    url: str = "",
    ip: str = "",
    user_agent: str = "",
) -> dict[str, dict]:
    """The variant of each known slot for this visitor, recorded on the stream."""
    slots = [s for s in (slot_cache.get(k) for k in keys[:10]) if s is not None]
    if not slots:
        return {}
    profile = profile_for(uid, ip=ip, user_agent=user_agent)
    now = timezone.now()
    out: dict[str, dict] = {}
    touches = []
    for slot in slots:
        variant, html = choose(slot, profile)
        out[slot.key] = {"variant": variant, "html": html}
        if profile.visitor is not None:
            touches.append(
                Touchpoint(
                    contact_id=profile.contact_id,
                    visitor=profile.visitor,
                    account_id=profile.visitor.account_id if not profile.contact_id else None,
                    type=Type.CUSTOM_EVENT,
                    occurred_at=now,
                    source=source[:100],
                    url=url[:2000],
                    properties={"event": EVENT_NAME, "slot": slot.key, "variant": variant},
                )
            )
    if touches:
        with transaction.atomic():
            touchpoints_append(touches)
    return out
