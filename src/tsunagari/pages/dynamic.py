"""Dynamic web content: which variant of a slot a visitor sees, decided in a few queries.

Slots and their variants are cached per process for a few seconds (like tracked sites); a
decision reads the visitor with its contact, account and score in one query and segment
memberships in one more, only when a rule needs them. Each decision is recorded as a
`custom_event` touchpoint with properties {"event": "dynamic_content", "slot", "variant"}.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from tsunagari.crm.models import Account, Contact
from tsunagari.pages.blocks import clean_html
from tsunagari.pages.models import ContentSlot
from tsunagari.scoring.models import ContactScore
from tsunagari.segments.models import Membership
from tsunagari.tracking.collect import is_bot
from tsunagari.tracking.models import Touchpoint, Visitor
from tsunagari.tracking.services import touchpoints_append_many
from tsunagari.tracking.sites import existing_account_for_ip
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
    visitor_id: int | None = None
    visitor_account_id: int | None = None

    def segment_ids(self) -> set[int]:
        if self.segments is None:
            self.segments = set()
            if self.contact_id:
                table = connection.ops.quote_name(Membership._meta.db_table)
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT segment_id FROM {table} "
                        "WHERE contact_id = %s AND exited_at IS NULL",
                        [self.contact_id],
                    )
                    self.segments = {row[0] for row in cursor.fetchall()}
        return self.segments


def _profile_sql() -> str:
    """One query for everything the rules read: the visitor, its contact, account and score.

    Written by hand because it is the whole of the hot path: the ORM's query building alone
    cost more than the query.
    """
    q = connection.ops.quote_name
    v, c, a, s = (q(m._meta.db_table) for m in (Visitor, Contact, Account, ContactScore))
    return (
        "SELECT v.id, COALESCE(c.account_id, v.account_id), c.id, c.lifecycle_stage, "
        "s.behaviour, s.fit, s.grade, a.industry, a.abm_tier, a.is_target "
        f"FROM {v} v "
        f"LEFT JOIN {c} c ON c.id = v.contact_id AND c.deleted_at IS NULL "
        f"LEFT JOIN {s} s ON s.contact_id = c.id "
        f"LEFT JOIN {a} a ON a.id = COALESCE(c.account_id, v.account_id) "
        f"AND a.deleted_at IS NULL "
        f"WHERE v.uid = %s"
    )


def _profile_row(uid: str) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(_profile_sql(), [uid])
        return cursor.fetchone()


def profile_for(uid: str | None, *, ip: str = "", user_agent: str = "") -> Profile:
    """What the rules see of this browser; a browser not stored yet is stored now.

    The snippet's first page view may still be on its way to the database when the slot is
    asked for, so the visitor row is created here too (the same insert-or-ignore as ingest),
    with the company its IP range belongs to.
    """
    if not uid or len(uid) != 32 or not all(c in "0123456789abcdef" for c in uid):
        return Profile()
    row = _profile_row(uid)
    if row is None:
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
                    account_id=existing_account_for_ip(ip),
                )
            ],
            ignore_conflicts=True,
        )
        row = _profile_row(uid)
        if row is None:
            return Profile()
    (
        visitor_id,
        visitor_account,
        contact_id,
        lifecycle,
        behaviour,
        fit,
        grade,
        industry,
        tier,
        is_target,
    ) = row
    return Profile(
        contact_id=contact_id,
        lifecycle=lifecycle or "",
        behaviour=behaviour or 0,  # no score row: 0 / 0 / no grade
        fit=fit or 0,
        grade=grade or "",
        industry=industry or "",
        abm_tier=tier or 0,
        is_target=bool(is_target),
        visitor_id=visitor_id,
        visitor_account_id=visitor_account,
    )


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
        if profile.visitor_id is not None:
            touches.append(
                Touchpoint(
                    contact_id=profile.contact_id,
                    visitor_id=profile.visitor_id,
                    account_id=profile.visitor_account_id,
                    type=Type.CUSTOM_EVENT,
                    occurred_at=now,
                    source=source[:100],
                    url=url[:2000],
                    properties={"event": EVENT_NAME, "slot": slot.key, "variant": variant},
                )
            )
    if touches:
        with transaction.atomic():
            touchpoints_append_many(touches)
    return out
