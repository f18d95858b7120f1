"""Writes for mail: templates, topics, broadcasts (schedule, pause, resume, cancel, A/B), and
queueing single messages (journey emails use the same pipeline as broadcasts)."""

from __future__ import annotations

import datetime as dt
import math
import random

from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.core.models import User
from tsunagari.crm.models import Contact
from tsunagari.mail.compose import (
    ComplianceError,
    compile_parts,
    compose,
    contact_rows,
    sender_problems,
    template_problems,
)
from tsunagari.mail.models import Broadcast, Message, Template, Topic
from tsunagari.mail.queries import sender_settings
from tsunagari.mail.render import TemplateSyntaxError, compile_template, sanitise_html
from tsunagari.segments.queries import segment_members


class MailError(ValueError):
    """A request that cannot be done, with a message for people."""


# --- Templates ---------------------------------------------------------------------------------


def template_check(template: Template) -> list[str]:
    """Syntax errors (with their line) and missing required content, as messages for people."""
    problems: list[str] = []
    for label, source in (
        (_("Subject"), template.subject),
        (_("HTML"), template.html),
        (_("Plain text"), template.text),
    ):
        try:
            compile_template(source)
        except TemplateSyntaxError as exc:
            problems.append(
                _("%(part)s, line %(line)d: %(reason)s")
                % {"part": label, "line": exc.line, "reason": exc.reason}
            )
    if problems:
        return problems
    return template_problems(
        html_source=template.html, text_source=template.text, kind=template.kind
    )


@transaction.atomic
def template_save(*, template: Template, actor: User | None = None) -> Template:
    """Sanitise the HTML, refuse syntax errors and marketing email without required content."""
    template.html = sanitise_html(template.html)
    problems = template_check(template)
    if problems:
        raise ComplianceError(problems)
    if template.pk is None:
        template.created_by = actor
    template.save()
    return template


def template_preview(*, template: Template, contact: Contact) -> dict:
    """The email as this contact would get it; warnings list unknown variables."""
    parts = compile_parts(template)
    row = contact_rows([contact.pk])[contact.pk]
    composed = compose(
        message_id=None,
        row=row,
        parts=parts,
        sender=sender_settings(),
        to=contact.email or "preview@invalid",
        scope=f"t:{template.pk}",
        links=None,
    )
    email = composed.email
    return {
        "subject": composed.subject,
        "text": email.body,
        "html": email.alternatives[0][0],
        "warnings": parts.warnings,
    }


def template_test_send(*, template: Template, contact: Contact, to: str) -> None:
    """One test email to `to`, personalised as `contact`; nothing is tracked or recorded."""
    problems = template_check(template)
    if problems:
        raise ComplianceError(problems)
    row = contact_rows([contact.pk])[contact.pk]
    composed = compose(
        message_id=None,
        row=row,
        parts=compile_parts(template),
        sender=sender_settings(),
        to=to,
        scope=f"t:{template.pk}",
        links=None,
        subject_prefix="[TEST] ",
    )
    composed.email.send(fail_silently=False)


def topic_save(*, topic: Topic) -> Topic:
    topic.full_clean()
    topic.save()
    return topic


# --- Broadcasts --------------------------------------------------------------------------------


def broadcast_problems(broadcast: Broadcast) -> list[str]:
    problems = template_check(broadcast.template)
    if broadcast.template.deleted_at:
        problems.append(_("The template has been deleted."))
    if broadcast.template.kind == Template.Kind.MARKETING:
        problems += sender_problems(sender_settings())
    if broadcast.subject_b:
        try:
            compile_template(broadcast.subject_b)
        except TemplateSyntaxError as exc:
            problems.append(_("Subject B: %(reason)s") % {"reason": exc.reason})
        if not 1 <= broadcast.ab_sample_percent <= 100:
            problems.append(_("The A/B sample must be between 1 and 100 percent."))
    if broadcast.rate_per_minute < 1:
        problems.append(_("The rate must be at least one message per minute."))
    return problems


@transaction.atomic
def broadcast_schedule(
    *, broadcast: Broadcast, at: dt.datetime | None = None, actor: User | None = None
) -> Broadcast:
    """Schedule now or later; refuses content or settings that may not be sent."""
    locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
    if locked.status not in (Broadcast.Status.DRAFT, Broadcast.Status.SCHEDULED):
        raise MailError(_("Only a draft or scheduled broadcast can be scheduled."))
    problems = broadcast_problems(locked)
    if problems:
        raise ComplianceError(problems)
    locked.scheduled_at = at or timezone.now()
    locked.status = Broadcast.Status.SCHEDULED
    locked.save(update_fields=["scheduled_at", "status"])
    return locked


def _transition(broadcast: Broadcast, allowed: set[str], to: str, message: str) -> Broadcast:
    touched = Broadcast.objects.filter(pk=broadcast.pk, status__in=allowed).update(status=to)
    if not touched:
        raise MailError(message)
    broadcast.refresh_from_db()
    return broadcast


def broadcast_pause(*, broadcast: Broadcast) -> Broadcast:
    """Stop claiming; messages already being sent finish, the rest wait for resume."""
    return _transition(
        broadcast,
        {Broadcast.Status.SENDING},
        Broadcast.Status.PAUSED,
        _("Only a broadcast that is sending can be paused."),
    )


def broadcast_resume(*, broadcast: Broadcast) -> Broadcast:
    return _transition(
        broadcast,
        {Broadcast.Status.PAUSED},
        Broadcast.Status.SENDING,
        _("Only a paused broadcast can be resumed."),
    )


@transaction.atomic
def broadcast_cancel(*, broadcast: Broadcast) -> Broadcast:
    """Nothing more goes out; what waits is recorded as skipped (cancelled)."""
    broadcast = _transition(
        broadcast,
        {
            Broadcast.Status.DRAFT,
            Broadcast.Status.SCHEDULED,
            Broadcast.Status.SENDING,
            Broadcast.Status.PAUSED,
        },
        Broadcast.Status.CANCELLED,
        _("This broadcast can no longer be cancelled."),
    )
    Message.objects.filter(
        broadcast=broadcast,
        status__in=[Message.Status.QUEUED, Message.Status.HELD, Message.Status.DEFERRED],
    ).update(status=Message.Status.SKIPPED, skip_reason="cancelled")
    Broadcast.objects.filter(pk=broadcast.pk).update(finished_at=timezone.now())
    return broadcast


def audience(broadcast: Broadcast):
    """The segment's live members minus everyone in any excluded segment, now."""
    members = segment_members(broadcast.segment)
    for excluded in broadcast.exclusions.all():
        members = members.exclude(pk__in=segment_members(excluded).values("pk"))
    return members


MATERIALISE_CHUNK = 2000


@transaction.atomic
def broadcast_materialise(*, broadcast_id: int) -> int:
    """Write one queued Message per recipient, in one transaction, then start sending.

    The UNIQUE (broadcast, contact) and the idempotency key make a repeat after a crash add
    nothing; the status moves to `sending` only once every row is in.
    """
    broadcast = Broadcast.objects.select_for_update().get(pk=broadcast_id)
    if broadcast.status != Broadcast.Status.SCHEDULED:
        return 0
    now = timezone.now()
    if broadcast.subject_b:
        created = _materialise_ab(broadcast, now)
    else:
        created = _materialise_all(broadcast, now)
    broadcast.status = Broadcast.Status.SENDING
    broadcast.started_at = now
    broadcast.recipients = Message.objects.filter(broadcast=broadcast).count()
    broadcast.save(update_fields=["status", "started_at", "recipients"])
    return created


def _materialise_all(broadcast: Broadcast, now: dt.datetime) -> int:
    """Every recipient's row in one INSERT … SELECT from the audience query (no ids through
    Python); ON CONFLICT DO NOTHING keeps a repeat harmless, as the UNIQUE constraints do."""
    members_sql, members_params = (
        audience(broadcast).order_by().values(member=F("pk")).query.sql_with_params()
    )
    ops = connection.ops
    values = {
        "broadcast_id": ("%s", [broadcast.pk]),
        "template_id": ("%s", [broadcast.template_id]),
        "contact_id": ("a.member", []),
        "idempotency_key": ("CAST(%s AS TEXT) || CAST(a.member AS TEXT)", [f"b{broadcast.pk}:c"]),
        "status": ("%s", [Message.Status.QUEUED]),
        "attempts": ("0", []),
        "due_at": ("%s", [ops.adapt_datetimefield_value(now)]),
        "created_at": ("%s", [ops.adapt_datetimefield_value(now)]),
    }
    # Every other NOT NULL column is a text one whose default is "".
    for field in Message._meta.concrete_fields:
        if field.primary_key or field.attname in values or field.null:
            continue
        values[field.attname] = ("%s", [""])
    columns = ", ".join(ops.quote_name(Message._meta.get_field(name).column) for name in values)
    selects = ", ".join(sql for sql, _ in values.values())
    params = [p for _, ps in values.values() for p in ps]
    table = ops.quote_name(Message._meta.db_table)
    # `WHERE 1 = 1` tells SQLite's parser that ON CONFLICT belongs to the INSERT.
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {selects} FROM ({members_sql}) AS a "
        "WHERE 1 = 1 ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *members_params])
        return max(cursor.rowcount, 0)


def _materialise_ab(broadcast: Broadcast, now: dt.datetime) -> int:
    """A/B: a random sample gets variants a and b, everyone else is held for the winner."""
    ids = list(audience(broadcast).order_by("pk").values_list("pk", flat=True))
    variants = _ab_variants(broadcast, ids)
    created = 0
    for start in range(0, len(ids), MATERIALISE_CHUNK):
        rows = []
        for contact_id in ids[start : start + MATERIALISE_CHUNK]:
            variant = variants.get(contact_id, "")
            held = broadcast.subject_b and not variant
            rows.append(
                Message(
                    broadcast_id=broadcast.pk,
                    template_id=broadcast.template_id,
                    contact_id=contact_id,
                    idempotency_key=f"b{broadcast.pk}:c{contact_id}",
                    variant=variant,
                    status=Message.Status.HELD if held else Message.Status.QUEUED,
                    due_at=now,
                )
            )
        created += len(Message.objects.bulk_create(rows, ignore_conflicts=True))
    return created


def _ab_variants(broadcast: Broadcast, ids: list[int]) -> dict[int, str]:
    """A random sample split evenly between subjects A and B; the rest wait for the winner."""
    if not broadcast.subject_b or not ids:
        return {}
    sample_size = max(2, math.ceil(len(ids) * broadcast.ab_sample_percent / 100))
    sample = random.Random(broadcast.pk).sample(ids, min(sample_size, len(ids)))
    half = len(sample) // 2
    return {cid: ("a" if i < half else "b") for i, cid in enumerate(sample)}


@transaction.atomic
def broadcast_pick_winner(*, broadcast: Broadcast) -> str:
    """The subject with more human opens per message sent wins; held messages get it."""
    rates = {}
    for variant in ("a", "b"):
        figures = Message.objects.filter(broadcast=broadcast, variant=variant).aggregate(
            sent=Count("pk", filter=Q(status=Message.Status.SENT)),
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
        )
        rates[variant] = figures["opened"] / figures["sent"] if figures["sent"] else 0.0
    winner = "b" if rates["b"] > rates["a"] else "a"
    touched = Broadcast.objects.filter(pk=broadcast.pk, ab_winner="").update(ab_winner=winner)
    if touched:
        Message.objects.filter(broadcast=broadcast, status=Message.Status.HELD).update(
            status=Message.Status.QUEUED, variant=winner, due_at=timezone.now()
        )
    broadcast.ab_winner = winner
    return winner


UNFINISHED = [
    Message.Status.HELD,
    Message.Status.QUEUED,
    Message.Status.SENDING,
    Message.Status.DEFERRED,
]


def broadcast_finish_if_done(*, broadcast: Broadcast) -> bool:
    """Done only when no message is waiting, sending or due for a retry."""
    if Message.objects.filter(broadcast=broadcast, status__in=UNFINISHED).exists():
        return False
    touched = Broadcast.objects.filter(pk=broadcast.pk, status=Broadcast.Status.SENDING).update(
        status=Broadcast.Status.DONE, finished_at=timezone.now()
    )
    return bool(touched)


def broadcasts_advance(now: dt.datetime | None = None) -> int:
    """The broadcast runner: start due ones, pick A/B winners, mark finished ones done."""
    now = now or timezone.now()
    done = 0
    due = Broadcast.objects.filter(status=Broadcast.Status.SCHEDULED, scheduled_at__lte=now)
    for broadcast_id in due.values_list("pk", flat=True):
        broadcast_materialise(broadcast_id=broadcast_id)
        done += 1
    for broadcast in Broadcast.objects.filter(status=Broadcast.Status.SENDING):
        waiting_for_winner = broadcast.subject_b and not broadcast.ab_winner
        if (
            waiting_for_winner
            and broadcast.started_at + dt.timedelta(minutes=broadcast.ab_wait_minutes) <= now
        ):
            broadcast_pick_winner(broadcast=broadcast)
            done += 1
        elif broadcast_finish_if_done(broadcast=broadcast):
            done += 1
    return done


# --- Single messages (journeys, notifications) -------------------------------------------------


def message_queue(
    *,
    contact: Contact,
    template: Template,
    idempotency_key: str,
    due_at: dt.datetime | None = None,
) -> Message:
    """Queue one email; the same key twice queues it once (a journey step retried)."""
    message, _created = Message.objects.get_or_create(
        idempotency_key=idempotency_key[:120],
        defaults={
            "contact": contact,
            "template": template,
            "due_at": due_at or timezone.now(),
        },
    )
    return message
