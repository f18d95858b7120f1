"""The step engine: enrol contacts, claim due step runs, run them a group at a time.

A batch of due StepRuns is claimed with one compare-and-set UPDATE (status ready → running,
a claim token and a lease; work/claims.py explains why). The claimed runs are grouped by
(journey, step): a group is one step for many contacts, so it runs set-based — one query per
condition, one UPDATE per outcome, one INSERT of the next runs — and everything it writes
(the queued email rows, tags, tasks, the next runs, the enrolments' positions) commits in
ONE transaction with the runs marked done. A worker killed before the commit leaves the runs
claimed under a lease that expires; the next worker retakes them and nothing was written
twice. Side effects outside the database (webhooks) carry a delivery id that stays the same
across retries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from tsunagari.crm.models import Contact
from tsunagari.journeys import conditions, timing
from tsunagari.journeys.models import Enrolment, Journey, JourneySettings, StepRun, Task
from tsunagari.work.claims import due

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
CHUNK = 2000
ANALYZE_AFTER = 10_000  # enrolments in one call that refresh the planner's statistics


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, "TSUNAGARI_JOURNEY_LEASE_SECONDS", 120))


def batch_size() -> int:
    return int(getattr(settings, "TSUNAGARI_JOURNEY_BATCH", 1000))


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min, 4 min… between retries of a failing step."""
    base = getattr(settings, "TSUNAGARI_JOURNEY_RETRY_SECONDS", 30)
    return dt.timedelta(seconds=base * 2 ** max(0, attempts - 1))


# --- Enrolment -------------------------------------------------------------------------------


def _blocked_sql(journey: Journey, now: dt.datetime) -> tuple[str, list]:
    """SQL for "an earlier or current enrolment of contact c keeps it out", and its params."""
    clause, params = "e.status = 'active'", []
    if journey.reentry == Journey.Reentry.NEVER:
        clause = "1 = 1"
    elif journey.reentry == Journey.Reentry.AFTER_DAYS:
        since = now - dt.timedelta(days=journey.reentry_days)
        clause = "(e.status = 'active' OR e.ended_at > %s)"
        params = [connection.ops.adapt_datetimefield_value(since)]
    return (
        f"NOT EXISTS (SELECT 1 FROM {_table(Enrolment)} e WHERE e.family_id = %s "
        f"AND e.contact_id = c.id AND {clause})",
        [journey.family_id, *params],
    )


def enrol(
    journey: Journey,
    contact_ids: Iterable[int],
    *,
    source: str = "",
    now: dt.datetime | None = None,
) -> int:
    """Enrol live contacts in a live journey, respecting re-entry; how many entered.

    Set-based: per chunk of contacts, one INSERT … SELECT of the enrolments (live contacts
    the re-entry rule lets in) and one of their first step runs. Idempotent and race-safe:
    the partial UNIQUE index allows one active enrolment per contact per journey family
    (ON CONFLICT DO NOTHING), so two triggers firing at once enrol a contact once.
    """
    if journey.status != Journey.Status.LIVE or not journey.start:
        return 0
    now = now or timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    wanted = sorted({int(i) for i in contact_ids})
    blocked, blocked_params = _blocked_sql(journey, now)
    contacts, enrolments, runs = _table(Contact), _table(Enrolment), _table(StepRun)
    entered = 0
    for chunk in _chunks(wanted, CHUNK):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {enrolments} (journey_id, family_id, contact_id, status, step_key, "
                "source, entered_at, exit_reason) "
                f"SELECT %s, %s, c.id, 'active', %s, %s, %s, '' FROM {contacts} c "
                f"WHERE c.deleted_at IS NULL AND c.id IN ({_marks(chunk)}) AND {blocked} "
                "ON CONFLICT DO NOTHING",
                [
                    journey.pk,
                    journey.family_id,
                    journey.start,
                    source[:100],
                    stamp,
                    *chunk,
                    *blocked_params,
                ],
            )
            cursor.execute(
                f"INSERT INTO {runs} (enrolment_id, journey_id, contact_id, step_key, visit, "
                "status, due_at, claim, attempts, outcome, last_error) "
                "SELECT e.id, e.journey_id, e.contact_id, %s, 0, 'ready', %s, '', 0, '', '' "
                f"FROM {enrolments} e WHERE e.journey_id = %s AND e.status = 'active' "
                f"AND e.entered_at = %s AND e.contact_id IN ({_marks(chunk)}) "
                "ON CONFLICT DO NOTHING",
                [journey.start, stamp, journey.pk, stamp, *chunk],
            )
            entered += cursor.rowcount
    if entered >= ANALYZE_AFTER and connection.vendor == "postgresql":
        # A bulk enrolment can grow the due runs by orders of magnitude at once. Without fresh
        # statistics (autovacuum lagging, or off) the planner reads every due run for each
        # claim instead of walking the due index in order, so claims slow down as O(due runs).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {runs}, {enrolments}")
    return entered


def end_enrolments(
    enrolment_ids: Sequence[int], status: str, reason: str, now: dt.datetime | None = None
) -> int:
    """End active enrolments wherever they are and cancel their waiting runs."""
    now = now or timezone.now()
    total = 0
    for start in range(0, len(enrolment_ids), CHUNK):
        chunk = list(enrolment_ids[start : start + CHUNK])
        with transaction.atomic():
            total += Enrolment.objects.filter(pk__in=chunk, status=Enrolment.Status.ACTIVE).update(
                status=status, ended_at=now, exit_reason=reason[:200]
            )
            StepRun.objects.filter(
                enrolment_id__in=chunk, status__in=[StepRun.Status.READY, StepRun.Status.RUNNING]
            ).update(status=StepRun.Status.CANCELLED, done_at=now, claim="")
    return total


def sweep_goals(now: dt.datetime | None = None) -> int:
    """Goal and exit conditions end enrolments wherever they are (also while waiting).

    Set-based: one UPDATE per live journey and condition set, over the contacts that match.
    """
    now = now or timezone.now()
    ended = 0
    for journey in Journey.objects.filter(status=Journey.Status.LIVE).exclude(
        goal=[], exit_conditions=[]
    ):
        for conds, status, reason in (
            (journey.goal, Enrolment.Status.GOAL, "goal"),
            (journey.exit_conditions, Enrolment.Status.EXITED, "exit condition"),
        ):
            if not conds or any(c.get("kind") == "email" for c in conds):
                continue
            q = Q()
            for cond in conds:
                q &= Q(contact__in=Contact.objects.filter(conditions.contact_q(cond, now)))
            ids = list(
                Enrolment.objects.filter(
                    q, family_id=journey.family_id, status=Enrolment.Status.ACTIVE
                ).values_list("pk", flat=True)[:10_000]
            )
            if ids:
                ended += end_enrolments(ids, status, reason, now)
    return ended


# --- Claiming --------------------------------------------------------------------------------


def _ready(now: dt.datetime) -> Q:
    return due(StepRun.Status.READY, StepRun.Status.RUNNING) & Q(due_at__lte=now)


def claim_batch(
    limit: int | None = None, now: dt.datetime | None = None
) -> tuple[str, list[StepRun]]:
    """Compare-and-set claim of due runs of live journeys: (claim token, runs).

    On PostgreSQL the candidates are read with FOR UPDATE SKIP LOCKED in the claim's own
    transaction, so concurrent workers (several Celery processes) take disjoint batches instead
    of all reading the same oldest rows and all but one finding them taken. SQLite has one
    writer at a time; there the read runs outside a transaction (an idle poll takes no write
    lock) and the compare-and-set UPDATE alone decides.
    """
    now = now or timezone.now()
    token = secrets.token_hex(16)
    candidates = StepRun.objects.filter(_ready(now), journey__status=Journey.Status.LIVE)
    skip_locked = connection.features.has_select_for_update_skip_locked
    if skip_locked:
        candidates = candidates.select_for_update(skip_locked=True, of=("self",))
    with transaction.atomic() if skip_locked else contextlib.nullcontext():
        ids = list(
            candidates.order_by("due_at").values_list("pk", flat=True)[: limit or batch_size()]
        )
        if not ids:
            return "", []
        StepRun.objects.filter(_ready(now), pk__in=ids).update(
            status=StepRun.Status.RUNNING,
            lease_until=now + lease(),
            attempts=F("attempts") + 1,
            claim=token,
        )
    # By primary key (no index has the claim token: filtering on it alone would scan every due
    # row), then the token keeps only the rows this claim won.
    runs = list(
        StepRun.objects.filter(pk__in=ids, claim=token, status=StepRun.Status.RUNNING).order_by(
            "pk"
        )
    )
    return token, runs


# --- Running ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a group's step decided: per run id, the next step (None: the journey ends)."""

    next: dict[int, str | None] = field(default_factory=dict)
    label: dict[int, str] = field(default_factory=dict)
    due_at: dt.datetime | None = None
    retry: dict[int, str] = field(default_factory=dict)  # run id → error, try again later
    failed: dict[int, str] = field(default_factory=dict)  # run id → error, give up


class StepError(Exception):
    """A step that cannot run as configured (deleted template, bad wait…): fails visibly."""


def run_steps(limit: int | None = None) -> int:
    """The worker's batch: claim due runs and run them; how many runs were handled."""
    now = timezone.now()
    token, runs = claim_batch(limit, now)
    if not runs:
        return 0
    groups: dict[tuple[int, str], list[StepRun]] = defaultdict(list)
    for run in runs:
        groups[(run.journey_id, run.step_key)].append(run)
    journeys = Journey.objects.in_bulk([j for j, _s in groups])
    for (journey_id, key), group in groups.items():
        journey = journeys[journey_id]
        try:
            _run_group(journey, key, group, token, now)
        except StepError as exc:  # the step's configuration: retrying will not help
            _record_error(journey, key, group, token, str(exc), now, permanent=True)
        except Exception as exc:
            log.exception("journey %s step %s failed", journey_id, key)
            if len(group) > 1:
                for run in group:  # find the one that breaks; the others go on
                    try:
                        _run_group(journey, key, [run], token, now)
                    except Exception as one:
                        _record_error(journey, key, [run], token, str(one), now)
            else:
                _record_error(journey, key, group, token, str(exc), now)
    return len(runs)


def _record_error(
    journey: Journey,
    key: str,
    runs: list[StepRun],
    token: str,
    error: str,
    now: dt.datetime,
    *,
    permanent: bool = False,
) -> None:
    outcome = Outcome()
    for run in runs:
        if permanent or run.attempts >= MAX_ATTEMPTS:
            outcome.failed[run.pk] = error
        else:
            outcome.retry[run.pk] = error
    with transaction.atomic():
        _commit(journey, journey.steps.get(key, {}), runs, token, outcome, now)


def _run_group(
    journey: Journey, key: str, runs: list[StepRun], token: str, now: dt.datetime
) -> None:
    step = journey.steps.get(key)
    pairs = [(r.enrolment_id, r.contact_id) for r in runs]
    # Goal and exit first: a contact who became an SQL does not get the next email.
    ended: dict[int, str] = {}
    for conds, status in ((journey.goal, "goal"), (journey.exit_conditions, "exited")):
        if conds:
            for e in conditions.matching(conds, [p for p in pairs if p[0] not in ended], now):
                ended[e] = status
    live = [r for r in runs if r.enrolment_id not in ended]
    outcome = Outcome()
    if step is None:
        for run in live:
            outcome.failed[run.pk] = f"the step {key!r} does not exist in this version"
    elif step.get("type") == "webhook":
        _webhook(journey, key, step, live, outcome, now)
    with transaction.atomic():
        if ended:
            _end(runs, ended, token, now)
        if step is not None and step.get("type") != "webhook" and live:
            HANDLERS[step.get("type", "")](journey, key, step, live, outcome, now)
        _commit(journey, step or {}, live, token, outcome, now)


def _end(runs: list[StepRun], ended: dict[int, str], token: str, now: dt.datetime) -> None:
    for status in set(ended.values()):
        ids = [e for e, s in ended.items() if s == status]
        Enrolment.objects.filter(pk__in=ids, status=Enrolment.Status.ACTIVE).update(
            status=status,
            ended_at=now,
            exit_reason="goal" if status == "goal" else "exit condition",
        )
    StepRun.objects.filter(
        claim=token, enrolment_id__in=list(ended), status=StepRun.Status.RUNNING
    ).update(status=StepRun.Status.CANCELLED, done_at=now, outcome="ended")


def _commit(
    journey: Journey,
    step: dict,
    runs: list[StepRun],
    token: str,
    outcome: Outcome,
    now: dt.datetime,
) -> None:
    """Mark runs done, queue the next runs and move the enrolments: a few statements per group.

    Runs whose claim this worker lost (its lease expired and another worker retook them) are
    left alone: the UPDATE that marks them done matches the claim token.
    """
    by_id = {r.pk: r for r in runs}
    # Retries first: back to ready, later.
    for run_id, error in outcome.retry.items():
        run = by_id[run_id]
        StepRun.objects.filter(pk=run_id, claim=token).update(
            status=StepRun.Status.READY,
            due_at=now + backoff(run.attempts),
            lease_until=None,
            last_error=error[:500],
        )
    on_failure_continue = step.get("on_failure", "stop") == "continue"
    for run_id, error in outcome.failed.items():
        StepRun.objects.filter(pk=run_id, claim=token).update(
            status=StepRun.Status.FAILED, done_at=now, last_error=error[:500], lease_until=None
        )
        if on_failure_continue:
            outcome.next[run_id] = step.get("next") or None
            outcome.label.setdefault(run_id, "failed")
        else:
            Enrolment.objects.filter(
                pk=by_id[run_id].enrolment_id, status=Enrolment.Status.ACTIVE
            ).update(status=Enrolment.Status.FAILED, ended_at=now, exit_reason=error[:200])
    done = [r for r in runs if r.pk in outcome.next]
    if not done:
        return
    labels: dict[str, list[int]] = defaultdict(list)
    for run in done:
        if run.pk not in outcome.failed:
            labels[outcome.label.get(run.pk, "done")].append(run.pk)
    stamp = connection.ops.adapt_datetimefield_value(now)
    due_stamp = connection.ops.adapt_datetimefield_value(outcome.due_at or now)
    runs_t, enrol_t = _table(StepRun), _table(Enrolment)
    with connection.cursor() as cursor:
        for label, ids in labels.items():
            for chunk in _chunks(ids):
                cursor.execute(
                    f"UPDATE {runs_t} SET status = 'done', done_at = %s, outcome = %s, "
                    f"lease_until = NULL WHERE claim = %s AND status = 'running' "
                    f"AND id IN ({_marks(chunk)})",
                    [stamp, label[:40], token, *chunk],
                )
        by_next: dict[str | None, list[int]] = defaultdict(list)
        for run in done:
            by_next[outcome.next[run.pk]].append(run.pk)
        # Only the runs this worker still owns (marked done or failed by it, just now) move on.
        owned = "claim = %s AND status IN ('done', 'failed') AND done_at = %s"
        for next_key, ids in by_next.items():
            for chunk in _chunks(ids):
                params = [token, stamp, *chunk]
                if next_key is None or next_key not in journey.steps:
                    cursor.execute(
                        f"UPDATE {enrol_t} SET status = 'completed', ended_at = %s, step_key = '' "
                        f"WHERE status = 'active' AND id IN (SELECT enrolment_id FROM {runs_t} "
                        f"WHERE {owned} AND id IN ({_marks(chunk)}))",
                        [stamp, *params],
                    )
                    continue
                # The next runs, straight from the runs just done: no rows through Python.
                cursor.execute(
                    f"INSERT INTO {runs_t} (enrolment_id, journey_id, contact_id, step_key, visit, "
                    "status, due_at, claim, attempts, outcome, last_error) "
                    "SELECT r.enrolment_id, %s, r.contact_id, %s, "
                    f"COALESCE((SELECT MAX(p.visit) + 1 FROM {runs_t} p "
                    "WHERE p.enrolment_id = r.enrolment_id AND p.step_key = %s), 0), "
                    f"'ready', %s, '', 0, '', '' FROM {runs_t} r "
                    f"WHERE r.{owned} AND r.id IN ({_marks(chunk)}) "
                    "ON CONFLICT DO NOTHING",
                    [journey.pk, next_key, next_key, due_stamp, *params],
                )
                cursor.execute(
                    f"UPDATE {enrol_t} SET step_key = %s WHERE status = 'active' AND id IN "
                    f"(SELECT enrolment_id FROM {runs_t} "
                    f"WHERE {owned} AND id IN ({_marks(chunk)}))",
                    [next_key, *params],
                )


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _marks(values: Sequence) -> str:
    return ", ".join(["%s"] * len(values))


def _chunks(ids: list[int], size: int = CHUNK) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- Step handlers: each fills `outcome` for every run it was given -------------------------


def _key(run: StepRun) -> str:
    """The idempotency key of a run's side effects (the brief's `journey:<enrolment>:<step>`)."""
    base = f"journey:{run.enrolment_id}:{run.step_key}"
    return base if run.visit == 0 else f"{base}:{run.visit}"


def _next_all(step: dict, runs: list[StepRun], outcome: Outcome, label: str = "done") -> None:
    for run in runs:
        outcome.next[run.pk] = step.get("next") or None
        outcome.label[run.pk] = label


def _email(journey, key, step, runs, outcome, now) -> None:
    from tsunagari.mail.models import Template
    from tsunagari.mail.services import message_queue

    template = Template.objects.filter(pk=step.get("template_id"), deleted_at__isnull=True).first()
    if template is None:
        raise StepError(f"the email template {step.get('template_id')} was deleted")
    contacts = Contact.objects.in_bulk([r.contact_id for r in runs])
    for run in runs:
        message_queue(
            contact=contacts[run.contact_id], template=template, idempotency_key=_key(run)
        )
    _next_all(step, runs, outcome, "queued")


def _wait(journey, key, step, runs, outcome, now) -> None:
    js = JourneySettings.get()
    try:
        outcome.due_at = timing.wait_until(step, now, (js.sending_start_hour, js.sending_end_hour))
    except (timing.WaitError, ValueError) as exc:
        raise StepError(str(exc)) from None
    _next_all(step, runs, outcome, "waited")


def _branch(journey, key, step, runs, outcome, now) -> None:
    yes = conditions.matching(
        step.get("conditions", []), [(r.enrolment_id, r.contact_id) for r in runs], now
    )
    for run in runs:
        hit = run.enrolment_id in yes
        outcome.next[run.pk] = (step.get("yes") if hit else step.get("no")) or None
        outcome.label[run.pk] = "yes" if hit else "no"


def split_branch(enrolment_id: int, key: str, branches: list[dict]) -> int:
    """Which branch a contact takes: a stable hash, so a retried run takes the same one."""
    digest = hashlib.sha256(f"{enrolment_id}:{key}".encode()).digest()
    roll = int.from_bytes(digest[:4], "big") % 100
    total = 0
    for index, branch in enumerate(branches):
        total += int(branch.get("percent", 0))
        if roll < total:
            return index
    return len(branches) - 1


def _split(journey, key, step, runs, outcome, now) -> None:
    branches = step.get("branches", [])
    for run in runs:
        index = split_branch(run.enrolment_id, key, branches)
        outcome.next[run.pk] = branches[index].get("next") or None
        outcome.label[run.pk] = chr(ord("a") + index)


def _contacts(runs: list[StepRun]):
    return Contact.objects.filter(pk__in=[r.contact_id for r in runs])


def _update_field(journey, key, step, runs, outcome, now) -> None:
    name, value = str(step.get("field", "")), step.get("value")
    if name.startswith("custom."):
        custom_key = name.split(".", 1)[1]
        for contact in _contacts(runs).only("pk", "custom"):
            if contact.custom.get(custom_key) != value:
                contact.custom[custom_key] = value
                Contact.objects.filter(pk=contact.pk).update(custom=contact.custom, updated_at=now)
    elif name in {"title", "department", "buying_role", "do_not_contact"}:
        _contacts(runs).update(**{name: value, "updated_at": now})  # one UPDATE for the group
    else:
        raise StepError(f"the field {name!r} cannot be set by a journey")
    _next_all(step, runs, outcome)


def _lifecycle(journey, key, step, runs, outcome, now) -> None:
    from tsunagari.crm.services import contact_set_lifecycle

    for contact in _contacts(runs).exclude(lifecycle_stage=step.get("stage")):
        contact_set_lifecycle(
            contact=contact, to_stage=step.get("stage", ""), rule=f"journey:{journey.family_id}"
        )
    _next_all(step, runs, outcome)


def _score(journey, key, step, runs, outcome, now) -> None:
    """± points as ledger rows (no rule, no touchpoint), then the contacts' scores refreshed.

    Exactly once: the rows commit with the run marked done, in the same transaction.
    """
    from tsunagari.scoring.engine import refresh_behaviour
    from tsunagari.scoring.models import LedgerEntry

    points = int(step.get("points", 0))
    LedgerEntry.objects.bulk_create(
        [LedgerEntry(contact_id=r.contact_id, points=points, occurred_at=now) for r in runs]
    )
    refresh_behaviour(contact_ids=[r.contact_id for r in runs], now=now)
    _next_all(step, runs, outcome)


def _tags(journey, key, step, runs, outcome, now) -> None:
    """One INSERT … SELECT adds the tags to every contact of the group; one DELETE removes."""
    from tsunagari.crm.models import Tag

    add = [t.strip()[:60] for t in step.get("add", []) if t.strip()]
    remove = [t.strip() for t in step.get("remove", []) if t.strip()]
    through = Contact.tags.through
    ids = [r.contact_id for r in runs]
    if add:
        Tag.objects.bulk_create([Tag(name=n) for n in add], ignore_conflicts=True)
        with connection.cursor() as cursor:
            for chunk in _chunks(ids):
                cursor.execute(
                    f"INSERT INTO {_table(through)} (contact_id, tag_id) "
                    f"SELECT c.id, t.id FROM {_table(Contact)} c, {_table(Tag)} t "
                    f"WHERE c.id IN ({_marks(chunk)}) AND t.name IN ({_marks(add)}) "
                    "ON CONFLICT DO NOTHING",
                    [*chunk, *add],
                )
    if remove:
        through.objects.filter(contact_id__in=ids, tag__name__in=remove).delete()
    _next_all(step, runs, outcome)


def _static_list(journey, key, step, runs, outcome, now) -> None:
    from tsunagari.segments import services as segments
    from tsunagari.segments.models import Segment

    segment = Segment.objects.filter(pk=step.get("segment_id")).first()
    if segment is None:
        raise StepError(f"the list {step.get('segment_id')} was deleted")
    ids = [r.contact_id for r in runs]
    if step.get("action", "add") == "remove":
        segments.static_remove(segment, ids, source=f"journey:{journey.family_id}")
    else:
        segments.static_add(segment, ids, source=f"journey:{journey.family_id}")
    _next_all(step, runs, outcome)


def _stream(journey, key, step, runs, outcome, now) -> None:
    """Join a nurture stream (once per contact: the member row is UNIQUE); one INSERT."""
    from tsunagari.journeys.models import Stream
    from tsunagari.journeys.streams import stream_join

    stream = Stream.objects.filter(pk=step.get("stream_id")).first()
    if stream is None:
        raise StepError(f"the nurture stream {step.get('stream_id')} was deleted")
    stream_join(stream, [r.contact_id for r in runs], now)
    _next_all(step, runs, outcome)


def _owner(journey, key, step, runs, outcome, now) -> None:
    from tsunagari.core.models import User

    if not User.objects.filter(pk=step.get("user_id"), is_active=True).exists():
        raise StepError(f"the user {step.get('user_id')} does not exist or is inactive")
    _contacts(runs).update(owner_id=step["user_id"], updated_at=now)
    _next_all(step, runs, outcome)


def _task(journey, key, step, runs, outcome, now) -> None:
    """A task for the contact's owner (and a notification, which `notify: true` asks for)."""
    from tsunagari.core.services import notify

    contacts = Contact.objects.in_bulk([r.contact_id for r in runs])
    due_at = now + dt.timedelta(days=int(step.get("due_days", 1) or 0))
    title = step.get("title") or journey.name
    for run in runs:
        contact = contacts[run.contact_id]
        task_key = _key(run)
        try:
            with transaction.atomic():
                Task.objects.create(
                    contact=contact,
                    owner_id=contact.owner_id,
                    title=title[:200],
                    note=step.get("note", "")[:1000],
                    due_at=due_at,
                    journey=journey,
                    key=task_key,
                )
        except IntegrityError:
            continue  # this run already created its task
        if step.get("notify", True) and contact.owner_id:
            notify(
                contact.owner,
                title=title,
                body=f"{contact.family_name} {contact.given_name} <{contact.email or ''}>",
                url=f"/contacts/{contact.pk}/",
                kind="journeys.task",
            )
    _next_all(step, runs, outcome)


def _notify(journey, key, step, runs, outcome, now) -> None:
    from tsunagari.core.services import notify

    for contact in _contacts(runs).filter(owner__isnull=False).select_related("owner"):
        notify(
            contact.owner,
            title=step.get("title") or journey.name,
            body=f"{contact.family_name} {contact.given_name} <{contact.email or ''}>",
            url=f"/contacts/{contact.pk}/",
            kind="journeys.notify",
        )
    _next_all(step, runs, outcome)


def _exit(journey, key, step, runs, outcome, now) -> None:
    status = Enrolment.Status.GOAL if step.get("goal") else Enrolment.Status.EXITED
    Enrolment.objects.filter(pk__in=[r.enrolment_id for r in runs], status="active").update(
        status=status, ended_at=now, exit_reason=key
    )
    for run in runs:
        outcome.next[run.pk] = None
        outcome.label[run.pk] = "exit"


def _webhook(journey, key, step, runs, outcome, now) -> None:
    """Outside the transaction: an HTTP call may take seconds and must not hold a lock."""
    from tsunagari.journeys import webhooks

    js = JourneySettings.get()
    for run in runs:
        result = webhooks.call(
            step.get("url", ""),
            {
                "journey": journey.family_id,
                "version": journey.version,
                "step": key,
                "enrolment": run.enrolment_id,
                "contact": run.contact_id,
            },
            secret=js.webhook_secret or settings.SECRET_KEY,
            delivery=_key(run),
            allow_private=js.allow_private_webhooks,
            timeout=float(step.get("timeout", webhooks.TIMEOUT_SECONDS)),
        )
        if result.ok:
            outcome.next[run.pk] = step.get("next") or None
            outcome.label[run.pk] = f"http {result.status}"
        elif result.retry and run.attempts < MAX_ATTEMPTS:
            outcome.retry[run.pk] = result.error
        else:
            outcome.failed[run.pk] = result.error


HANDLERS = {
    "email": _email,
    "wait": _wait,
    "branch": _branch,
    "split": _split,
    "update_field": _update_field,
    "lifecycle": _lifecycle,
    "score": _score,
    "tags": _tags,
    "list": _static_list,
    "stream": _stream,
    "owner": _owner,
    "task": _task,
    "notify": _notify,
    "exit": _exit,
}
STEP_TYPES = [*HANDLERS, "webhook"]
