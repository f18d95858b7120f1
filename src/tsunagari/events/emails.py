"""Registration emails: confirmation with the check-in QR code, waitlist notices, reminders.

Why not mail.services.message_queue: mail's templates know only contact, account, owner and
sender variables, and a message carries no context of its own, so a per-registration QR code,
session details and cancellation link cannot be put into one. These emails are transactional
(the registrant asked for them), so like mail's transactional templates they skip the
consent and frequency checks but never the suppression list. Each email is a row with a UNIQUE
idempotency key, claimed under a lease by the worker: sent once, never twice.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import secrets
from email.mime.image import MIMEImage

import segno
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tsunagari.events.models import EventEmail, Registration
from tsunagari.events.services import cancel_token, checkin_token
from tsunagari.mail.models import Suppression
from tsunagari.mail.queries import sender_settings

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)
BATCH = 50
MAX_ATTEMPTS = 5


def qr_png(token: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(token, error="m").save(buffer, kind="png", scale=6, border=2)
    return buffer.getvalue()


def claim(now: dt.datetime) -> list[EventEmail]:
    """Due rows (or rows whose lease ran out) taken by compare-and-set: no two workers share."""
    ready = Q(status=EventEmail.Status.QUEUED, due_at__lte=now) | Q(
        status=EventEmail.Status.SENDING, lease_until__lt=now
    )
    ids = list(
        EventEmail.objects.filter(ready).order_by("due_at").values_list("pk", flat=True)[:BATCH]
    )
    claimed = []
    for pk in ids:
        if EventEmail.objects.filter(Q(pk=pk) & ready).update(
            status=EventEmail.Status.SENDING, lease_until=now + LEASE
        ):
            claimed.append(pk)
    return list(
        EventEmail.objects.filter(pk__in=claimed).select_related(
            "registration__session__event", "registration__contact"
        )
    )


def _skip_reason(email: EventEmail, now: dt.datetime) -> str:
    registration = email.registration
    contact = registration.contact
    if contact.deleted_at is not None:
        return "deleted"
    if not contact.email:
        return "no_address"
    if Suppression.objects.filter(email=contact.email.lower(), active=True).exists():
        return "suppressed"
    if registration.status == Registration.Status.CANCELLED:
        return "cancelled"
    if (
        email.kind != EventEmail.Kind.WAITLISTED
        and registration.status != Registration.Status.REGISTERED
    ):
        return "not_registered"
    reminder = email.kind in (EventEmail.Kind.REMINDER_DAY, EventEmail.Kind.REMINDER_HOUR)
    if reminder and registration.session.starts_at <= now:
        return "too_late"
    return ""


def build(email: EventEmail) -> EmailMultiAlternatives:
    registration = email.registration
    session = registration.session
    event = session.event
    base = registration.link_base or sender_settings().public_base_url.rstrip("/")
    token = checkin_token(registration)
    with_code = email.kind != EventEmail.Kind.WAITLISTED
    context = {
        "email": email,
        "registration": registration,
        "session": session,
        "event": event,
        "contact": registration.contact,
        "checkin_code": token if with_code else "",
        "cancel_url": f"{base}/e/cancel/{cancel_token(registration)}/",
        "event_url": f"{base}/e/{event.slug}/",
    }
    with translation.override(settings.LANGUAGE_CODE), timezone.override(settings.TIME_ZONE):
        subjects = {
            EventEmail.Kind.CONFIRMATION: _("Registration confirmed: %(event)s"),
            EventEmail.Kind.PROMOTED: _("A seat is now yours: %(event)s"),
            EventEmail.Kind.WAITLISTED: _("You are on the waitlist: %(event)s"),
            EventEmail.Kind.REMINDER_DAY: _("Reminder: %(event)s is tomorrow"),
            EventEmail.Kind.REMINDER_HOUR: _("Reminder: %(event)s starts soon"),
        }
        subject = " ".join((subjects[email.kind] % {"event": event.name}).split())
        text = render_to_string("events/email/registration.txt", context)
        html = render_to_string("events/email/registration.html", context)
    sender = sender_settings()
    from_email = f"{sender.from_name} <{sender.from_email}>" if sender.from_email else None
    message = EmailMultiAlternatives(
        subject,
        text,
        from_email,
        [registration.contact.email],
        reply_to=[sender.reply_to] if sender.reply_to else None,
    )
    message.attach_alternative(html, "text/html")
    if with_code:
        message.mixed_subtype = "related"
        image = MIMEImage(qr_png(token), "png")
        image.add_header("Content-ID", "<checkin-qr>")
        image.add_header("Content-Disposition", "inline", filename="checkin.png")
        message.attach(image)
    return message


def send_due(now: dt.datetime | None = None) -> int:
    """The worker's runner: send a batch of due registration emails; how many were handled."""
    now = now or timezone.now()
    batch = claim(now)
    if not batch:
        return 0
    connection = get_connection()
    for email in batch:
        reason = _skip_reason(email, now)
        if reason:
            EventEmail.objects.filter(pk=email.pk).update(
                status=EventEmail.Status.SKIPPED, skip_reason=reason, lease_until=None
            )
            continue
        try:
            message = build(email)
            message.extra_headers["Message-ID"] = (
                f"<events-{email.pk}-{secrets.token_hex(6)}@tsunagari>"
            )
            connection.send_messages([message])
        except (OSError, ValueError) as exc:
            attempts = email.attempts + 1
            failed = attempts >= MAX_ATTEMPTS
            EventEmail.objects.filter(pk=email.pk).update(
                status=EventEmail.Status.FAILED if failed else EventEmail.Status.QUEUED,
                attempts=attempts,
                due_at=now + dt.timedelta(minutes=2**attempts),
                last_error=str(exc)[:500],
                lease_until=None,
            )
            log.warning("event email %s failed: %s", email.pk, exc)
            continue
        with transaction.atomic():
            EventEmail.objects.filter(pk=email.pk).update(
                status=EventEmail.Status.SENT,
                sent_at=timezone.now(),
                lease_until=None,
                attempts=email.attempts + 1,
            )
    connection.close()
    return len(batch)
