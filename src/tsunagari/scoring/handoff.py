"""The MQL → SQL hand-off: assignment, the follow-up task and its deadline, accept and reject.

Assignment, in order: the account's owner (an active user); the first territory rule matching
the account's prefecture and industry (its user, or round robin within its team); round robin
within the inside-sales team of the settings, or among all active inside-sales users.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.core.models import Team, User
from tsunagari.core.roles import Capability, Role
from tsunagari.core.services import notify
from tsunagari.crm.choices import LifecycleStage
from tsunagari.crm.models import Contact
from tsunagari.crm.services import contact_set_lifecycle
from tsunagari.scoring.models import AssignmentRule, Handoff, MqlSettings, RoundRobin
from tsunagari.tracking.services import stage_change_touch


class HandoffError(Exception):
    """A hand-off action that cannot be done, with a message for the person who tried."""


def _round_robin(key: str, candidates: list[int]) -> User | None:
    """The next of `candidates` (user ids) after the one who got the last lead of this pool."""
    if not candidates:
        return None
    RoundRobin.objects.get_or_create(key=key)
    pointer = RoundRobin.objects.select_for_update().get(key=key)
    ordered = sorted(candidates)
    chosen = next((pk for pk in ordered if pk > pointer.last_user_id), ordered[0])
    RoundRobin.objects.filter(pk=pointer.pk).update(last_user_id=chosen)
    return User.objects.get(pk=chosen)


def _team_members(team: Team) -> list[int]:
    return list(team.members.filter(is_active=True).values_list("pk", flat=True))


def assignee(contact: Contact, settings: MqlSettings) -> tuple[User | None, str]:
    """Who follows up this contact, and by which rule."""
    account = contact.account
    if account is not None and account.owner_id:
        owner = User.objects.filter(pk=account.owner_id, is_active=True).first()
        if owner is not None:
            return owner, "account_owner"
    prefecture = account.prefecture if account else ""
    industry = account.industry if account else ""
    for rule in AssignmentRule.objects.filter(is_active=True).select_related("team", "user"):
        if rule.prefectures and prefecture not in rule.prefectures:
            continue
        if rule.industries and industry not in rule.industries:
            continue
        if rule.user_id and rule.user.is_active:
            return rule.user, f"territory:{rule.pk}"
        if rule.team_id:
            user = _round_robin(f"team:{rule.team_id}", _team_members(rule.team))
            if user is not None:
                return user, f"territory:{rule.pk}"
    if settings.team_id:
        user = _round_robin(f"team:{settings.team_id}", _team_members(settings.team))
        if user is not None:
            return user, "round_robin"
    pool = User.objects.filter(is_active=True, role=Role.INSIDE_SALES).values_list("pk", flat=True)
    user = _round_robin("inside_sales", list(pool))
    return user, "round_robin" if user else "unassigned"


def handoff_open(*, contact: Contact, criterion: str, now: dt.datetime | None = None) -> Handoff:
    """The follow-up task of a new MQL, assigned, with its deadline; the owner is notified."""
    now = now or timezone.now()
    existing = Handoff.objects.filter(contact=contact, status=Handoff.Status.OPEN).first()
    if existing is not None:
        return existing
    settings = MqlSettings.load()
    owner, how = assignee(contact, settings)
    handoff = Handoff.objects.create(
        contact=contact,
        owner=owner,
        assigned_by=how,
        criterion=criterion[:100],
        assigned_at=now,
        due_at=now + dt.timedelta(hours=settings.sla_hours),
    )
    if owner is not None:
        notify(
            owner,
            kind="scoring.handoff",
            title=_("New MQL to follow up: %(name)s") % {"name": contact},
            body=_("%(name)s (%(company)s) became an MQL. Please follow up by %(due)s.")
            % {
                "name": contact,
                "company": contact.account or "—",
                "due": timezone.localtime(handoff.due_at).strftime("%Y-%m-%d %H:%M"),
            },
            url=reverse("scoring:handoff_detail", args=[handoff.pk]),
        )
    return handoff


def can_work(user: User, handoff: Handoff) -> bool:
    """The owner works the lead; a manager who may also work leads (an admin) may act for them."""
    if not user.can(Capability.LEADS_WORK):
        return False
    return handoff.owner_id == user.pk or user.can(Capability.LEADS_MANAGE)


BANT_FIELDS = ("bant_budget", "buying_role", "bant_need", "bant_timing")


@transaction.atomic
def handoff_accept(*, handoff: Handoff, actor: User, bant: dict[str, str]) -> Handoff:
    """The rep accepts: the contact becomes an SQL, with the BANT learned on the call."""
    handoff = Handoff.objects.select_for_update().get(pk=handoff.pk)
    if handoff.status != Handoff.Status.OPEN:
        raise HandoffError(_("This lead was already handled."))
    if not can_work(actor, handoff):
        raise HandoffError(_("Only the assigned rep or an administrator can handle this lead."))
    now = timezone.now()
    contact = Contact.objects.select_for_update().get(pk=handoff.contact_id)
    changed = []
    for field in BANT_FIELDS:
        value = (bant.get(field) or "").strip()
        if value and value != getattr(contact, field):
            setattr(contact, field, value)
            changed.append(field)
            stamp = "bant_authority" if field == "buying_role" else field
            setattr(contact, f"{stamp}_at", now)
            setattr(contact, f"{stamp}_source", f"handoff:{actor.username}"[:100])
            changed += [f"{stamp}_at", f"{stamp}_source"]
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
    before = contact.lifecycle_stage
    contact_set_lifecycle(
        contact=contact, to_stage=LifecycleStage.SQL, actor=actor, rule="scoring:handoff"
    )
    stage_change_touch(
        contact=contact,
        before=before,
        after=LifecycleStage.SQL,
        source="scoring:handoff",
        actor=actor,
        note="",
    )
    Handoff.objects.filter(pk=handoff.pk).update(
        status=Handoff.Status.ACCEPTED, worked_at=handoff.worked_at or now, resolved_by=actor
    )
    handoff.refresh_from_db()
    return handoff


@transaction.atomic
def handoff_reject(
    *, handoff: Handoff, actor: User, reason: str, note: str = "", reset_score: bool | None = None
) -> Handoff:
    """The rep sends the lead back to nurturing with a reason; the score may start again at 0."""
    from tsunagari.scoring.engine import reset_contact

    if reason not in Handoff.Reason.values:
        raise HandoffError(_("Choose why the lead goes back to nurturing."))
    handoff = Handoff.objects.select_for_update().get(pk=handoff.pk)
    if handoff.status != Handoff.Status.OPEN:
        raise HandoffError(_("This lead was already handled."))
    if not can_work(actor, handoff):
        raise HandoffError(_("Only the assigned rep or an administrator can handle this lead."))
    now = timezone.now()
    contact = Contact.objects.get(pk=handoff.contact_id)
    label = Handoff.Reason(reason).label
    _back_to_nurture(
        contact,
        actor=actor,
        rule="scoring:rejected",
        reason=f"{label}: {note}"[:500] if note else str(label),
        note=note,
    )
    if reset_score is None:
        reset_score = MqlSettings.load().reset_on_reject
    if reset_score:
        reset_contact(contact_id=contact.pk, actor=actor, reason=f"rejected: {reason}", now=now)
    Handoff.objects.filter(pk=handoff.pk).update(
        status=Handoff.Status.REJECTED,
        worked_at=handoff.worked_at or now,
        resolved_by=actor,
        reason=reason,
        note=note[:500],
    )
    handoff.refresh_from_db()
    return handoff


@transaction.atomic
def contact_recycle(*, contact: Contact, reason: str, actor: User | None = None) -> bool:
    """Back to nurture (a deal lost, a contact gone cold); closes an open hand-off. Changed?"""
    if not _back_to_nurture(contact, actor=actor, rule="scoring:recycle", reason=reason):
        return False
    Handoff.objects.filter(contact=contact, status=Handoff.Status.OPEN).update(
        status=Handoff.Status.RECYCLED, note=reason[:500], resolved_by=actor
    )
    return True


def _back_to_nurture(
    contact: Contact, *, actor: User | None, rule: str, reason: str, note: str | None = None
) -> bool:
    """Move the contact to nurture with its timeline touch; False when it was there already."""
    before = contact.lifecycle_stage
    transition = contact_set_lifecycle(
        contact=contact, to_stage=LifecycleStage.NURTURE, actor=actor, rule=rule, reason=reason
    )
    if transition is None:
        return False
    stage_change_touch(
        contact=contact,
        before=before,
        after=LifecycleStage.NURTURE,
        source="scoring:handoff",
        actor=actor,
        note=reason if note is None else note,
    )
    return True


COLD_STAGES = (LifecycleStage.MQL, LifecycleStage.SQL)


def recycle_cold(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """MQLs and SQLs with no activity and no stage change for `cold_days` go back to nurture."""
    now = now or timezone.now()
    settings = MqlSettings.load()
    cutoff = now - dt.timedelta(days=settings.cold_days)
    cold = (
        Contact.objects.filter(deleted_at__isnull=True, lifecycle_stage__in=COLD_STAGES)
        .filter(Q(last_activity_at__lt=cutoff) | Q(last_activity_at__isnull=True))
        .filter(lifecycle_changed_at__lt=cutoff)
        .order_by("pk")[:limit]
    )
    done = 0
    for contact in cold:
        done += contact_recycle(
            contact=contact, reason=_("No activity for %(n)s days") % {"n": settings.cold_days}
        )
    return done


def remind_overdue(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Tell each owner, once, that a lead's follow-up deadline has passed."""
    now = now or timezone.now()
    late = (
        Handoff.objects.filter(
            status=Handoff.Status.OPEN,
            due_at__lt=now,
            overdue_notified_at__isnull=True,
            owner__isnull=False,
        )
        .select_related("contact", "owner")
        .order_by("due_at", "pk")[:limit]
    )
    done = 0
    for handoff in late:
        with transaction.atomic():
            claimed = Handoff.objects.filter(
                pk=handoff.pk, overdue_notified_at__isnull=True
            ).update(overdue_notified_at=now)
            if not claimed:
                continue
            notify(
                handoff.owner,
                kind="scoring.overdue",
                title=_("Follow-up overdue: %(name)s") % {"name": handoff.contact},
                body=_("The deadline to follow up %(name)s passed at %(due)s.")
                % {
                    "name": handoff.contact,
                    "due": timezone.localtime(handoff.due_at).strftime("%Y-%m-%d %H:%M"),
                },
                url=reverse("scoring:handoff_detail", args=[handoff.pk]),
            )
        done += 1
    return done


def overdue(now: dt.datetime | None = None):
    """Open hand-offs past their deadline, the most overdue first (the managers' list)."""
    now = now or timezone.now()
    return (
        Handoff.objects.filter(status=Handoff.Status.OPEN, due_at__lt=now)
        .select_related("contact", "contact__account", "owner")
        .order_by("due_at", "pk")
    )


def ignored_rate(*, days: int = 30, now: dt.datetime | None = None) -> dict[str, float | int]:
    """Of the MQLs whose deadline fell in the last `days`, how many were not worked in time."""
    now = now or timezone.now()
    due = Handoff.objects.filter(due_at__gte=now - dt.timedelta(days=days), due_at__lte=now)
    total = due.count()
    ignored = due.filter(Q(worked_at__isnull=True) | Q(worked_at__gt=F("due_at"))).count()
    return {
        "total": total,
        "ignored": ignored,
        "rate": round(ignored / total * 100, 1) if total else 0.0,
    }
