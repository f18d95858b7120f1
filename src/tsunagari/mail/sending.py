"""The send runner: claim due messages under a lease, check who may be emailed now, render,
deliver over one reused connection, and record every outcome in one transaction per batch.

A worker killed mid-batch leaves its claimed rows in `sending`; their lease expires and the
next run retakes them, so nothing is lost and at most that batch is sent twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import smtplib
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from tsunagari.crm.choices import ConsentState
from tsunagari.mail.compose import (
    CompiledTemplate,
    HeaderError,
    LinkCache,
    MailMessage,
    compile_parts,
    compose,
    contact_rows,
)
from tsunagari.mail.engagement import normalised, suppress, topic_opt_outs
from tsunagari.mail.models import Broadcast, Message, SenderSettings, Suppression, Template, Topic
from tsunagari.mail.queries import sender_settings
from tsunagari.mail.render import TemplateSyntaxError
from tsunagari.tracking.services import touchpoints_append_many
from tsunagari.tracking.vocabulary import Channel, Type
from tsunagari.work.claims import due

log = logging.getLogger(__name__)

# Retry schedule for 4xx replies and lost connections (seconds after each attempt).
BACKOFF = (60, 300, 1800, 7200, 21600)
MAX_ATTEMPTS = len(BACKOFF) + 1


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.TSUNAGARI_MAIL_LEASE_SECONDS)


def batch_size() -> int:
    return settings.TSUNAGARI_MAIL_BATCH


def _ready(now: dt.datetime) -> Q:
    # claims.due: waiting rows, or rows whose claim's lease ran out (a dead worker's).
    return (
        due(Message.Status.QUEUED, Message.Status.SENDING) | Q(status=Message.Status.DEFERRED)
    ) & Q(due_at__lte=now)


def _candidates(
    now: dt.datetime,
    limit: int,
    pending: dict[int, int] | None = None,
    busy: set[int] | None = None,
) -> list[int]:
    """Due message ids, within each sending broadcast's per-minute rate (`pending`: messages
    per broadcast this worker is sending but has not recorded yet; `busy`: their ids, never
    retaken here even if their lease ran out meanwhile)."""
    ids: list[int] = []
    ready = _ready(now) & ~Q(pk__in=busy) if busy else _ready(now)
    sending = Broadcast.objects.filter(status=Broadcast.Status.SENDING).values_list(
        "pk", "rate_per_minute"
    )
    for broadcast_id, rate in sending:
        recent = Message.objects.filter(
            broadcast_id=broadcast_id, sent_at__gte=now - dt.timedelta(minutes=1)
        ).count()
        recent += (pending or {}).get(broadcast_id, 0)
        allowance = min(limit - len(ids), rate - recent)
        if allowance <= 0:
            continue
        ids += (
            Message.objects.filter(ready, broadcast_id=broadcast_id)
            .order_by("due_at", "id")
            .values_list("pk", flat=True)[:allowance]
        )
    if len(ids) < limit:
        ids += (
            Message.objects.filter(ready, broadcast__isnull=True)
            .order_by("due_at", "id")
            .values_list("pk", flat=True)[: limit - len(ids)]
        )
    return ids


def claim_batch(
    limit: int | None = None,
    pending: dict[int, int] | None = None,
    busy: set[int] | None = None,
) -> list[Message]:
    """Compare-and-set: the UPDATE re-checks readiness, so two workers never share a row."""
    now = timezone.now()
    ids = _candidates(now, limit or batch_size(), pending, busy)
    if not ids:
        return []
    token = secrets.token_hex(16)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The claim need not wait for its WAL flush: the batch's recording commits
            # synchronously, which flushes this claim with it. A database crash before that
            # loses only claims of messages still in flight, which are then sent again —
            # the same bound as a worker killed mid-batch.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        Message.objects.filter(_ready(now), pk__in=ids).update(
            status=Message.Status.SENDING,
            lease_until=now + lease(),
            attempts=F("attempts") + 1,
            claim=token,
        )
    return list(
        Message.objects.filter(claim=token, status=Message.Status.SENDING)
        .select_related("broadcast")
        .order_by("id")
    )


@dataclass
class Batch:
    """What the batch learned about its recipients, in a handful of queries."""

    sender: SenderSettings
    rows: dict[int, dict]
    suppressed: set[str]
    recent: dict[int, int]
    topic_out: dict[int, set[int]]
    topics: dict[int, str]
    templates: dict[tuple[int, str], CompiledTemplate] = field(default_factory=dict)
    links: LinkCache = field(default_factory=LinkCache)


def _batch(
    messages: list[Message],
    now: dt.datetime,
    sender: SenderSettings | None = None,
    links: LinkCache | None = None,
) -> Batch:
    sender = sender or sender_settings()
    contact_ids = {m.contact_id for m in messages}
    rows = contact_rows(contact_ids)
    emails = {normalised(r["email"]) for r in rows.values() if r["email"]}
    suppressed = set(
        Suppression.objects.filter(active=True, email__in=emails).values_list("email", flat=True)
    )
    since = now - dt.timedelta(days=sender.frequency_days)
    recent = dict(
        Message.objects.filter(
            contact_id__in=contact_ids,
            status=Message.Status.SENT,
            sent_at__gte=since,
            template__kind=Template.Kind.MARKETING,
        )
        .values("contact_id")
        .annotate(n=Count("pk"))
        .values_list("contact_id", "n")
    )
    template_topics = dict(
        Template.objects.filter(pk__in={m.template_id for m in messages}).values_list(
            "pk", "topic_id"
        )
    )
    topics = dict(
        Topic.objects.filter(pk__in={t for t in template_topics.values() if t}).values_list(
            "pk", "key"
        )
    )
    topic_out = {tid: topic_opt_outs(contact_ids, key) for tid, key in topics.items()}
    return Batch(sender, rows, suppressed, recent, topic_out, topics, links=links or LinkCache())


def _parts(batch: Batch, message: Message) -> CompiledTemplate:
    key = (message.template_id, message.variant)
    if key not in batch.templates:
        template = Template.objects.get(pk=message.template_id)
        subject = None
        if message.variant == "b" and message.broadcast_id:
            subject = message.broadcast.subject_b
        batch.templates[key] = compile_parts(template, subject)
    return batch.templates[key]


def skip_reason(batch: Batch, message: Message, parts: CompiledTemplate) -> str:
    """Why this message may not go out now; empty when it may. Checked at send time."""
    if message.broadcast_id and message.broadcast.status == Broadcast.Status.CANCELLED:
        return "cancelled"
    row = batch.rows.get(message.contact_id)
    if row is None or row["deleted_at"] is not None:
        return "deleted"
    if not row["email"]:
        return "no_address"
    if normalised(row["email"]) in batch.suppressed:
        return "suppressed"
    if parts.kind != Template.Kind.MARKETING:
        return ""
    if row["do_not_contact"]:
        return "do_not_contact"
    if row["email_consent"] == ConsentState.OPT_OUT:
        return "opted_out"
    if row["email_consent"] != ConsentState.OPT_IN:
        return "no_consent"
    if parts.topic_id and message.contact_id in batch.topic_out.get(parts.topic_id, ()):
        return "topic_opt_out"
    if batch.recent.get(message.contact_id, 0) >= batch.sender.frequency_cap:
        return "frequency_cap"
    return ""


@dataclass
class Outcome:
    message: Message
    status: str
    reason: str = ""
    error: str = ""
    permanent: bool = False


class _Connection:
    """One SMTP (or ESP) connection for the batch, reopened after a drop."""

    def __init__(self) -> None:
        self.backend = None

    def send(self, email) -> None:
        if self.backend is None:
            self.backend = get_connection(fail_silently=False)
            self.backend.open()
        backend = self.backend
        envelope = email.plain_envelope() if isinstance(email, MailMessage) else None
        if type(backend) is SmtpBackend and backend.connection is not None and envelope:
            # Django's SMTP backend, with the connection it opened (TLS, login) and its
            # errors, minus re-parsing two addresses per message that are already plain
            # ASCII (sanitize_address parses with the email header grammar: slow).
            backend.connection.sendmail(*envelope, email.message().as_bytes(linesep="\r\n"))
        else:
            backend.send_messages([email])

    def reset(self) -> None:
        self.close()

    def close(self) -> None:
        if self.backend is not None:
            try:
                self.backend.close()
            except Exception:  # a dead connection may fail to say goodbye
                log.debug("closing a broken mail connection failed", exc_info=True)
            self.backend = None


def _smtp_outcome(message: Message, exc: Exception) -> Outcome:
    """4xx and lost connections retry later; 5xx fails, and suppresses when it is the mailbox."""
    code, text, recipient_level = 0, str(exc), False
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, raw = next(iter(exc.recipients.values()))
        text, recipient_level = (
            raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw),
            True,
        )
    elif isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        raw = exc.smtp_error
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        recipient_level = isinstance(exc, smtplib.SMTPDataError) and " 5.1." in f" {text}"
    else:
        anymail_refused = type(exc).__name__ == "AnymailRecipientsRefused"
        if anymail_refused:
            return Outcome(message, Message.Status.FAILED, error=text[:500], permanent=True)
    error = f"{code} {text}".strip()[:500]
    if 500 <= code < 600:
        permanent = recipient_level and code in (550, 551, 553, 554)
        return Outcome(message, Message.Status.FAILED, error=error, permanent=permanent)
    return Outcome(message, Message.Status.DEFERRED, error=error)


def _prepare(batch: Batch, message: Message) -> Outcome | MailMessage:
    """Check and render one message: an Outcome when it will not be sent, else the email."""
    try:
        parts = _parts(batch, message)
    except TemplateSyntaxError as exc:
        return Outcome(message, Message.Status.FAILED, error=str(exc)[:500])
    reason = skip_reason(batch, message, parts)
    if reason:
        return Outcome(message, Message.Status.SKIPPED, reason=reason)
    if message.attempts > MAX_ATTEMPTS:
        return Outcome(message, Message.Status.FAILED, error="too many attempts")
    row = batch.rows[message.contact_id]
    scope = f"b:{message.broadcast_id}" if message.broadcast_id else f"t:{message.template_id}"
    try:
        composed = compose(
            message_id=message.pk,
            row=row,
            parts=parts,
            sender=batch.sender,
            to=row["email"],
            scope=scope,
            links=batch.links,
            broadcast_id=message.broadcast_id,
        )
    except HeaderError as exc:
        return Outcome(message, Message.Status.SKIPPED, reason="invalid_header", error=str(exc))
    message.to_email = row["email"]
    message.account_id = row["account_id"]  # for the email_sent touchpoint
    message.subject = composed.subject[:300]
    message.header_message_id = composed.header_message_id[:250]
    composed.email.freeze()
    # Counted when it goes out, so a second message to the same contact in this batch sees it.
    batch.recent[message.contact_id] = batch.recent.get(message.contact_id, 0) + 1
    return composed.email


def _transmit(connection: _Connection, message: Message, email: MailMessage) -> Outcome:
    """The SMTP conversation (or ESP call) for one message."""
    try:
        connection.send(email)
    except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as exc:
        return _smtp_outcome(message, exc)
    except OSError as exc:  # a dropped connection, refused connect, timeout (and SMTPException)
        connection.reset()
        return Outcome(message, Message.Status.DEFERRED, error=f"connection: {exc}"[:500])
    except Exception as exc:  # ESP errors through anymail
        if "anymail" not in type(exc).__module__:
            raise
        return _smtp_outcome(message, exc)
    status = getattr(email, "anymail_status", None)
    if status is not None and getattr(status, "message_id", None):
        message.esp_message_id = str(status.message_id)[:250]
    return Outcome(message, Message.Status.SENT)


FIELDS = [
    "status",
    "skip_reason",
    "last_error",
    "due_at",
    "lease_until",
    "claim",
    "sent_at",
    "to_email",
    "subject",
    "header_message_id",
    "esp_message_id",
]
_DATETIMES = {"due_at", "lease_until", "sent_at"}


def _save_outcomes(rows: list[Message]) -> None:
    """The batch's outcomes in one UPDATE … FROM (VALUES …) joined on the primary key.

    The ORM's bulk_update builds a CASE per field and row, and an executemany is still one
    statement per row (a round trip each on PostgreSQL); this is one statement per batch.
    """
    ops = connection.ops
    table = ops.quote_name(Message._meta.db_table)
    columns = [Message._meta.get_field(name).column for name in FIELDS]
    postgres = connection.vendor == "postgresql"
    if postgres:
        # Typed placeholders: a column of NULLs in VALUES would otherwise be read as text.
        marks = ", ".join(
            ["%s::bigint"] + ["%s::timestamptz" if n in _DATETIMES else "%s" for n in FIELDS]
        )
        names = ", ".join(["id", *(ops.quote_name(c) for c in columns)])
        assignments = ", ".join(f"{ops.quote_name(c)} = v.{ops.quote_name(c)}" for c in columns)
    else:
        # SQLite (3.33+) names the columns of a VALUES list column1, column2…
        marks = ", ".join(["%s"] * (len(FIELDS) + 1))
        assignments = ", ".join(
            f"{ops.quote_name(c)} = v.column{i}" for i, c in enumerate(columns, start=2)
        )
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        params: list = []
        for row in chunk:
            params.append(row.pk)
            for name in FIELDS:
                value = getattr(row, name)
                params.append(ops.adapt_datetimefield_value(value) if name in _DATETIMES else value)
        values = ", ".join([f"({marks})"] * len(chunk))
        if postgres:
            sql = (
                f"UPDATE {table} AS m SET {assignments} FROM (VALUES {values}) AS v({names}) "
                "WHERE m.id = v.id"
            )
        else:
            sql = (
                f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v "
                f"WHERE {table}.id = v.column1"
            )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _sent_touch(message: Message, when: dt.datetime) -> dict:
    """The `email_sent` touchpoint as a plain row (engagement.touch's fields, with the account
    read with the contact, so that the insert needs no lookups)."""
    return {
        "contact_id": message.contact_id,
        "account_id": getattr(message, "account_id", None),
        "type": Type.EMAIL_SENT,
        "channel": Channel.EMAIL,
        "occurred_at": when,
        "source": "mail",
        "title": message.subject[:300],
        "is_bot": False,
        "properties": {
            "broadcast_id": message.broadcast_id,
            "message_id": message.pk,
            "template_id": message.template_id,
            "machine": False,
        },
    }


@transaction.atomic
def _record(outcomes: list[Outcome], now: dt.datetime) -> None:
    """Every outcome of the batch, its touchpoints and suppressions, in one transaction."""
    touches = []
    for o in outcomes:
        m = o.message
        m.status, m.skip_reason, m.claim, m.lease_until = o.status, o.reason, "", None
        m.last_error = o.error
        if o.status == Message.Status.SENT:
            m.sent_at = now
            touches.append(_sent_touch(m, now))
        elif o.status == Message.Status.DEFERRED:
            if m.attempts >= MAX_ATTEMPTS:
                m.status = Message.Status.FAILED
            else:
                m.due_at = now + dt.timedelta(seconds=BACKOFF[min(m.attempts, len(BACKOFF)) - 1])
        if o.permanent and m.to_email:
            suppress(email=m.to_email, reason=Suppression.Reason.HARD_BOUNCE, detail=o.error)
    _save_outcomes([o.message for o in outcomes])
    touchpoints_append_many(touches)


def connections() -> int:
    return max(1, settings.TSUNAGARI_MAIL_CONNECTIONS)


def _deliver_over(pairs: list[tuple[Message, MailMessage]], outcomes: list[Outcome]) -> None:
    """One connection's share of the batch, in order; outcomes appended as they happen."""
    connection = _Connection()
    try:
        for message, email in pairs:
            outcomes.append(_transmit(connection, message, email))
    finally:
        connection.close()


def _deliver(pairs: list[tuple[Message, MailMessage]]) -> list[Outcome]:
    """Deliver the rendered batch over up to `connections()` SMTP (or ESP) connections at once.

    Each SMTP message costs four round trips to the server; with one connection the worker
    would sit idle through all of them. Threads here only wait on sockets (the rendering is
    done, and nothing here touches the database), so they do not fight over the interpreter
    lock. Every outcome reached is returned even when one thread fails unexpectedly; that
    failure is raised after the others finish.
    """
    lanes = min(connections(), max(1, len(pairs) // 8))
    if lanes == 1:
        outcomes: list[Outcome] = []
        try:
            _deliver_over(pairs, outcomes)
        except BaseException as exc:
            exc.outcomes = outcomes  # type: ignore[attr-defined]
            raise
        return outcomes
    shares = [pairs[i::lanes] for i in range(lanes)]
    results: list[list[Outcome]] = [[] for _ in shares]
    errors: list[BaseException] = []

    def lane(index: int) -> None:
        try:
            _deliver_over(shares[index], results[index])
        except BaseException as exc:  # re-raised in the calling thread below
            errors.append(exc)

    threads = [
        threading.Thread(target=lane, args=(i,), name=f"mail-send-{i}", daemon=True)
        for i in range(1, lanes)
    ]
    for thread in threads:
        thread.start()
    lane(0)
    for thread in threads:
        thread.join()
    outcomes = [o for result in results for o in result]
    if errors:
        errors[0].outcomes = outcomes  # type: ignore[attr-defined]
        raise errors[0]
    return outcomes


@dataclass
class _Claimed:
    """A claimed batch, checked and rendered: what will not be sent, and what will."""

    outcomes: list[Outcome]
    pairs: list[tuple[Message, MailMessage]]


def _claim_and_render(
    limit: int | None,
    in_flight: _Claimed | None,
    sender: SenderSettings | None = None,
    links: LinkCache | None = None,
) -> _Claimed | None:
    """Claim a batch, check each message and render it. `in_flight` is the batch being
    delivered meanwhile: its messages count towards the rate and the frequency cap as if
    recorded, exactly as messages earlier in the same batch do."""
    pending: dict[int, int] = {}
    busy: set[int] = set()
    if in_flight is not None:
        busy = {o.message.pk for o in in_flight.outcomes} | {m.pk for m, _ in in_flight.pairs}
    for message, _email in in_flight.pairs if in_flight else ():
        if message.broadcast_id:
            pending[message.broadcast_id] = pending.get(message.broadcast_id, 0) + 1
    messages = claim_batch(limit, pending, busy)
    if not messages:
        return None
    batch = _batch(messages, timezone.now(), sender, links)
    for message, _email in in_flight.pairs if in_flight else ():
        batch.recent[message.contact_id] = batch.recent.get(message.contact_id, 0) + 1
    claimed = _Claimed([], [])
    try:
        for message in messages:
            item = _prepare(batch, message)
            if isinstance(item, Outcome):
                claimed.outcomes.append(item)
            else:
                claimed.pairs.append((message, item))
    except BaseException:
        if claimed.outcomes:
            _record(claimed.outcomes, timezone.now())
        raise
    return claimed


class _Delivery:
    """A claimed batch's delivery, running in the background (`_deliver`'s threads)."""

    def __init__(self, claimed: _Claimed) -> None:
        self.claimed = claimed
        self.outcomes: list[Outcome] = []
        self.error: BaseException | None = None
        self.thread = None
        if claimed.pairs:
            self.thread = threading.Thread(target=self._run, name="mail-deliver", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        try:
            self.outcomes = _deliver(self.claimed.pairs)
        except BaseException as exc:  # raised by finish(), in the calling thread
            self.error = exc
            self.outcomes = getattr(exc, "outcomes", [])

    def finish(self, *, raise_error: bool = True) -> int:
        """Wait for the delivery, record every outcome reached; the number recorded."""
        if self.thread is not None:
            self.thread.join()
        outcomes = self.claimed.outcomes + self.outcomes
        if outcomes:
            _record(outcomes, timezone.now())
        if self.error is not None and raise_error:
            raise self.error
        return len(outcomes)


def send_batches(limit: int | None = None, max_batches: int = 10) -> int:
    """Claim, send and record up to `max_batches` batches; the number of messages handled.

    Pipelined: while one batch is being delivered (waiting on the SMTP server), the previous
    one is recorded and the next one claimed, checked and rendered (waiting on the database).
    At most two batches are in flight, so a killed worker can send at most those twice; every
    outcome reached is recorded whatever happens, and a batch claimed but not yet delivered
    when something fails stays under its lease and is retried when the lease runs out.
    """
    handled = 0
    batches = 0
    # Read once for the batches of this call: the sender settings and the link ids.
    sender, links = sender_settings(), LinkCache()
    ready = _claim_and_render(limit, None, sender, links)
    flight: _Delivery | None = None
    finished: _Delivery | None = None
    try:
        while ready is not None or flight is not None:
            finished, flight = flight, None
            if finished is not None and finished.thread is not None:
                finished.thread.join()
            if ready is not None:
                flight, ready = _Delivery(ready), None
                batches += 1
            if finished is not None:
                done, finished = finished, None
                handled += done.finish()
            if flight is not None and batches < max_batches:
                ready = _claim_and_render(limit, flight.claimed, sender, links)
    finally:
        for leftover in (finished, flight):
            if leftover is not None:
                leftover.finish(raise_error=False)
        if ready is not None and ready.outcomes:
            _record(ready.outcomes, timezone.now())
    return handled


def send_batch(limit: int | None = None) -> int:
    """Claim, send and record one batch; the number of messages handled.

    The batch is rendered first, then delivered over a few connections at once (`_deliver`).
    Every outcome is recorded at the end in one transaction, whatever happened: a message
    whose outcome is unknown (an unexpected error) stays claimed and is retried when its
    lease runs out.
    """
    return send_batches(limit, max_batches=1)
