"""The plain data a run shares between processes: no Django models, so workers can unpickle it.

Worker processes receive these before Django is set up in them (see demo.workers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple


class ContactFacts(NamedTuple):
    """One generated contact as later generators (tags, the activity stream) need it."""

    id: int
    account_id: int | None
    owner_id: int | None
    origin: str
    stage: str
    created: int  # epoch seconds
    stage_changed: int
    last_activity: int | None
    email_consent: str
    opted_in: int  # epoch seconds of the email opt-in, 0: never opted in
    opted_out: int  # epoch seconds of the email opt-out, 0: never opted out


@dataclass(frozen=True)
class Staff:
    """Ids of the demo company's staff users by role: the owners and actors of the data set."""

    marketing: list[int]
    inside_sales: list[int]
    field_sales: list[int]
    usernames: dict[int, str] = field(default_factory=dict)  # for "staff:<username>" sources


@dataclass(frozen=True)
class DemoContext:
    """What every generator of a run shares: the clock, the staff, the tags, time formatting."""

    end: int  # epoch seconds: "now" for the data set, every generated time is before it
    timestamp: Callable[[int], str]  # epoch seconds → what the database reads for a datetime
    staff: Staff
    tag_ids: dict[str, int]


@dataclass
class ContactChunk:
    """The rows of one chunk of contacts, and their facts for the generators that follow."""

    number: int
    facts: list[ContactFacts] = field(default_factory=list)
    contacts: list[tuple] = field(default_factory=list)
    email_names: list[tuple[int, int]] = field(default_factory=list)  # (family, given) per row
    transitions: list[tuple] = field(default_factory=list)
    consents: list[tuple] = field(default_factory=list)
    extras: dict[str, list[tuple]] = field(default_factory=dict)  # see generator.CHUNK_EXTRAS
