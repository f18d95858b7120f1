"""Scoring's background work: the stream consumer, queued recomputes, and the scheduled checks.

Nothing here runs in a request. The consumer scores each batch of new touchpoints inside the
transaction that moves its cursor (a crash repeats the batch, never half of it). A rule change
queues a RecomputeJob row (outbox) that the worker claims with a compare-and-set and a lease.
The scheduled runner refreshes scores whose rows expired, re-grades edited contacts and sends
contacts gone cold back to nurture.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tsunagari.crm.models import Account, Contact
from tsunagari.scoring import engine, fit, mql
from tsunagari.scoring.handoff import recycle_cold, remind_overdue
from tsunagari.scoring.models import MqlSettings, RecomputeJob, ScoringState
from tsunagari.tracking.vocabulary import Type
from tsunagari.work.claims import claim_one, due

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=30)
MAX_ATTEMPTS = 3
SWEEP_EVERY = dt.timedelta(minutes=1)
COLD_EVERY = dt.timedelta(hours=1)


def handle_touchpoints(batch: Sequence) -> None:
    """The `scoring` consumer: score the batch, then make MQLs of those who now qualify.

    The batch is light rows with the fields below (tracking.consumers), not models.
    """
    contacts = engine.score_batch(batch)
    identified = {t.contact_id for t in batch if t.type == Type.IDENTIFIED and t.contact_id}
    if identified:
        # Identification attached earlier anonymous touches: rebuild these contacts exactly.
        engine.recompute(contact_ids=identified, upto_id=batch[-1].pk)
    settings = MqlSettings.load()
    criteria = mql.hand_raises(batch, settings)
    if contacts | identified:
        found = mql.qualifying(contact_ids=contacts | identified, settings=settings)
        for pk, criterion in found.items():
            criteria.setdefault(pk, criterion)
    if criteria:
        mql.qualify(criteria)


handle_touchpoints.touch_fields = ("pk", "contact_id", "type", "is_bot", "properties")


def rescore_on_merge(keep: Contact, drop: Contact) -> None:
    """crm merge hook (after tracking moved the touches): both contacts' ledgers rebuilt."""
    engine.recompute(contact_ids=[keep.pk, drop.pk])


def enqueue(kind: str, *, rule=None, actor=None) -> RecomputeJob:
    """Queue background work in the caller's transaction; an identical queued job is reused."""
    waiting = RecomputeJob.objects.filter(kind=kind, rule=rule, status=RecomputeJob.Status.QUEUED)
    return waiting.first() or RecomputeJob.objects.create(kind=kind, rule=rule, requested_by=actor)


def qualify_all() -> int:
    """Make MQLs of every contact meeting the criteria, a batch per transaction."""
    made = 0
    while True:
        with transaction.atomic():
            criteria = mql.qualifying()
            if not criteria:
                return made
            handoffs = mql.qualify(criteria)
        made += len(handoffs)
        if not handoffs:
            return made


def _run(job: RecomputeJob) -> int:
    with transaction.atomic():
        if job.kind == RecomputeJob.Kind.RULE:
            rows = engine.recompute(rule_ids=[job.rule_id])
        elif job.kind == RecomputeJob.Kind.ALL:
            rows = engine.recompute()
        elif job.kind == RecomputeJob.Kind.FIT:
            rows = fit.refresh_fit()
        else:
            rows = 0
    qualify_all()
    return rows


def run_jobs() -> int:
    """Worker runner: claim and run queued jobs, oldest first; how many ran."""
    ready = due(RecomputeJob.Status.QUEUED, RecomputeJob.Status.RUNNING) & Q(
        attempts__lt=MAX_ATTEMPTS
    )
    done = 0
    for pk in RecomputeJob.objects.filter(ready).order_by("pk").values_list("pk", flat=True)[:5]:
        if not claim_one(
            RecomputeJob,
            pk=pk,
            ready=ready,
            running_status=RecomputeJob.Status.RUNNING,
            lease=LEASE,
        ):
            continue
        job = RecomputeJob.objects.get(pk=pk)
        try:
            rows = _run(job)
        except Exception as exc:
            log.exception("scoring job %s failed", pk)
            status = (
                RecomputeJob.Status.FAILED
                if job.attempts >= MAX_ATTEMPTS
                else RecomputeJob.Status.QUEUED
            )
            RecomputeJob.objects.filter(pk=pk).update(
                status=status, failure=str(exc)[:2000], lease_until=None
            )
            continue
        RecomputeJob.objects.filter(pk=pk).update(
            status=RecomputeJob.Status.DONE, rows=rows, lease_until=None, finished_at=timezone.now()
        )
        done += 1
    return done


def edited_contacts(since: dt.datetime | None, now: dt.datetime) -> set[int]:
    """Contacts edited, or whose account was edited, in (since, now]."""
    contacts = Contact.objects.filter(deleted_at__isnull=True, updated_at__lte=now)
    accounts = Account.objects.filter(updated_at__lte=now)
    if since is not None:
        contacts = contacts.filter(updated_at__gt=since)
        accounts = accounts.filter(updated_at__gt=since)
    ids = set(contacts.values_list("pk", flat=True))
    ids |= set(
        Contact.objects.filter(
            account__in=accounts.values("pk"), deleted_at__isnull=True
        ).values_list("pk", flat=True)
    )
    return ids


def run_scheduled(*, now: dt.datetime | None = None, force: bool = False) -> int:
    """Worker runner: the expiry sweep, re-grading edited contacts, and the gone-cold check."""
    now = now or timezone.now()
    state = ScoringState.load()
    done = 0
    if force or state.swept_at is None or now - state.swept_at >= SWEEP_EVERY:
        with transaction.atomic():
            touched = engine.sweep_expired(since=state.swept_at, now=now)
            # Fit rules read contacts and accounts as staff and imports edit them.
            if state.fit_checked_at is None:
                fit.refresh_fit()
                edited: set[int] = set()
            else:
                edited = edited_contacts(state.fit_checked_at, now)
                ids = sorted(edited)
                for start in range(0, len(ids), 1000):
                    fit.refresh_fit(contact_ids=ids[start : start + 1000])
            ScoringState.objects.filter(pk=state.pk).update(swept_at=now, fit_checked_at=now)
            criteria = mql.qualifying(contact_ids=touched | edited) if touched | edited else {}
            if criteria:
                mql.qualify(criteria)
        done += len(touched) + len(edited)
        done += remind_overdue(now=now)
    if force or state.cold_checked_at is None or now - state.cold_checked_at >= COLD_EVERY:
        done += recycle_cold(now=now)
        ScoringState.objects.filter(pk=state.pk).update(cold_checked_at=now)
    return done
