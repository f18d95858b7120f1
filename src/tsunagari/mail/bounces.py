"""Bounces and complaints: DSNs (RFC 3464), ARF reports (RFC 5965), mailto unsubscribes, from a
maildir; ESP events through django-anymail. Each event is stored once (by its event id), then
suppresses, counts a soft bounce, or unsubscribes.

A report that cannot be parsed is skipped, never raised: one malformed message in the bounce
mailbox must not stop the others.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import mailbox
import os
import re
from dataclasses import dataclass
from email.message import EmailMessage

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from tsunagari.mail import engagement, tokens
from tsunagari.mail.models import DeliveryEvent, Message, Suppression
from tsunagari.mail.queries import sender_settings
from tsunagari.tracking.services import touchpoints_append
from tsunagari.tracking.vocabulary import Type

log = logging.getLogger(__name__)

# The bounce mailbox the worker reads, a maildir your MTA or fetchmail/getmail delivers to.

# Permanent failures that are about the mailbox being full or the message itself, not the
# address: counted as soft so that a full mailbox is not suppressed on the first try.
_SOFT_PERMANENT = {"5.2.2", "5.2.3", "5.3.4", "5.7.1"}
_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")
_TAG = re.compile(r"\+(m\d+-[0-9a-fA-F]{16})@")


@dataclass
class Event:
    event_id: str
    kind: str
    email: str = ""
    message_id: int | None = None
    status: str = ""
    detail: str = ""


def _addr(value: str) -> str:
    """`rfc822; user@example.jp` → `user@example.jp`."""
    value = (value or "").strip()
    if ";" in value:
        value = value.split(";", 1)[1]
    return value.strip().strip("<>").lower()


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def _blocks(part) -> list:
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload
    text = payload if isinstance(payload, str) else ""
    # Some senders put the fields in as text: parse each blank-line-separated block.
    return [
        email.message_from_string(block.strip() + "\n")
        for block in re.split(r"\n\s*\n", text)
        if block.strip()
    ]


def _tagged_message_id(report: EmailMessage) -> int | None:
    """The message a VERP return path or unsubscribe address names (signature checked)."""
    for header in ("Delivered-To", "X-Original-To", "To", "Envelope-To"):
        for value in report.get_all(header, []) or []:
            match = _TAG.search(str(value))
            if match:
                found = tokens.return_path_message_id(match.group(1))
                if found:
                    return found
    return None


def _original_message_id(report: EmailMessage) -> int | None:
    """Our Message row, from the Message-ID of the original the report encloses."""
    for part in report.walk():
        ctype = part.get_content_type()
        original = None
        if ctype == "message/rfc822":
            payload = part.get_payload()
            original = payload[0] if isinstance(payload, list) and payload else None
        elif ctype == "text/rfc822-headers":
            original = email.message_from_string(part.get_content() or "")
        if original is not None and original.get("Message-ID"):
            header_id = str(original["Message-ID"]).strip()
            found = Message.objects.filter(header_message_id=header_id).values_list("pk", flat=True)
            for pk in found:
                return pk
    return None


def _base_id(report: EmailMessage, raw: bytes) -> str:
    header = str(report.get("Message-ID", "") or "").strip()
    return header or "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_report(raw: bytes) -> list[Event]:
    """The events in one received email: DSN recipients, an ARF complaint, or a mailto
    unsubscribe. [] for anything else or anything malformed."""
    try:
        return _parse_report(raw)
    except Exception:  # malformed input of every kind: the parser must not crash the run
        log.warning("unreadable bounce message skipped", exc_info=True)
        return []


def _parse_report(raw: bytes) -> list[Event]:
    report = _parse(raw)
    base = _base_id(report, raw)
    tagged = _tagged_message_id(report)
    if report.get_content_type() == "multipart/report":
        report_type = (report.get_param("report-type") or "").lower()
        if report_type == "delivery-status":
            return _dsn_events(report, base, tagged)
        if report_type == "feedback-report":
            return _arf_events(report, base, tagged)
        return []
    if tagged and "unsubscribe" in str(report.get("Subject", "")).lower() + " unsubscribe":
        # A mail to the List-Unsubscribe mailto address (unsubscribe+m123-sig@…).
        to_tag = any("unsubscribe" in str(v).lower() for v in report.get_all("To", []) or [])
        if to_tag:
            return [Event(f"{base}:unsubscribe", DeliveryEvent.Kind.UNSUBSCRIBE, message_id=tagged)]
    return []


def _dsn_events(report: EmailMessage, base: str, tagged: int | None) -> list[Event]:
    original = tagged or _original_message_id(report)
    events = []
    for part in report.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _blocks(part)[1:] or _blocks(part):
            recipient = _addr(
                str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
            )
            action = str(block.get("Action", "")).strip().lower()
            match = _STATUS.search(str(block.get("Status", "")))
            status = match.group(0) if match else ""
            if not recipient or action not in ("failed", "delayed"):
                continue
            soft = action == "delayed" or status.startswith("4") or status in _SOFT_PERMANENT
            kind = DeliveryEvent.Kind.SOFT_BOUNCE if soft else DeliveryEvent.Kind.HARD_BOUNCE
            diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
            events.append(
                Event(f"{base}:{recipient}", kind, recipient, original, status, diagnostic[:500])
            )
    return events


def _arf_events(report: EmailMessage, base: str, tagged: int | None) -> list[Event]:
    original = tagged or _original_message_id(report)
    for part in report.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        fields = _blocks(part)[0] if _blocks(part) else None
        if fields is None:
            return []
        feedback = str(fields.get("Feedback-Type", "")).strip().lower()
        if (
            feedback not in ("abuse", "fraud", "virus", "other", "not-spam")
            or feedback == "not-spam"
        ):
            return []
        recipient = _addr(str(fields.get("Original-Rcpt-To", "")))
        if not recipient and original:
            recipient = (
                Message.objects.filter(pk=original).values_list("to_email", flat=True).first() or ""
            )
        return [
            Event(
                f"{base}:complaint", DeliveryEvent.Kind.COMPLAINT, recipient, original, "", feedback
            )
        ]
    return []


def apply_event(event: Event, *, source: str) -> bool:
    """Store the event once and act on it; False when it was seen before (or names nothing)."""
    message = Message.objects.filter(pk=event.message_id).first() if event.message_id else None
    address = (event.email or (message.to_email if message else "")).lower()
    if not address and message is None:
        return False
    try:
        with transaction.atomic():
            DeliveryEvent.objects.create(
                event_id=event.event_id[:200],
                kind=event.kind,
                email=address[:254],
                message=message,
                status=event.status[:20],
                detail=event.detail[:500],
                source=source[:30],
                received_at=timezone.now(),
            )
            _act(event, address, message)
    except IntegrityError:
        return False  # the same event again (a re-read mailbox, a retried webhook)
    return True


def _act(event: Event, address: str, message: Message | None) -> None:
    now = timezone.now()
    kinds = DeliveryEvent.Kind
    if event.kind == kinds.UNSUBSCRIBE:
        if message is not None:
            engagement.unsubscribe(message=message, reason="mailto")
        return
    if event.kind == kinds.HARD_BOUNCE:
        engagement.suppress(
            email=address, reason=Suppression.Reason.HARD_BOUNCE, detail=event.detail
        )
    elif event.kind == kinds.SOFT_BOUNCE:
        engagement.soft_bounce(
            email=address, limit=sender_settings().soft_bounce_limit, detail=event.detail
        )
    elif event.kind == kinds.COMPLAINT:
        engagement.suppress(email=address, reason=Suppression.Reason.COMPLAINT, detail=event.detail)
    else:
        return
    if message is None:
        return
    if event.kind == kinds.COMPLAINT:
        Message.objects.filter(pk=message.pk, complained_at__isnull=True).update(complained_at=now)
    elif event.kind == kinds.HARD_BOUNCE:
        Message.objects.filter(pk=message.pk, bounced_at__isnull=True).update(bounced_at=now)
    bounce = engagement.touch(message, Type.EMAIL_BOUNCED, machine=False, when=now)
    bounce.is_bot = True  # not the person's activity: it must not count as engagement
    bounce.properties["kind"] = event.kind
    bounce.properties["status"] = event.status
    touchpoints_append([bounce])


def ingest_maildir(path: str) -> int:
    """Read new mail in a maildir, act on each report once, and file it under cur/ as seen."""
    box = mailbox.Maildir(path, factory=None, create=False)
    handled = 0
    for key in list(box.iterkeys()):
        try:
            item = box.get_message(key)
        except (OSError, KeyError):
            continue
        if item.get_subdir() != "new":
            continue
        for event in parse_report(box.get_bytes(key)):
            apply_event(event, source="maildir")
        item.set_subdir("cur")
        item.add_flag("S")
        box[key] = item
        handled += 1
    return handled


def ingest_configured_maildir() -> int:
    """The worker's runner: the maildir named by TSUNAGARI_BOUNCE_MAILDIR, if any."""
    path = settings.TSUNAGARI_BOUNCE_MAILDIR
    if not path or not os.path.isdir(path):
        return 0
    return ingest_maildir(path)


# --- ESP events through django-anymail ---------------------------------------------------------

_ANYMAIL_KINDS = {
    "bounced": DeliveryEvent.Kind.HARD_BOUNCE,
    "rejected": DeliveryEvent.Kind.HARD_BOUNCE,
    "deferred": DeliveryEvent.Kind.SOFT_BOUNCE,
    "complained": DeliveryEvent.Kind.COMPLAINT,
    "unsubscribed": DeliveryEvent.Kind.UNSUBSCRIBE,
    "delivered": DeliveryEvent.Kind.DELIVERED,
}


def on_anymail_tracking(sender, event, esp_name: str, **kwargs) -> None:
    """anymail's `tracking` signal: one normalised ESP webhook event."""
    kind = _ANYMAIL_KINDS.get(str(event.event_type))
    if kind is None:
        return
    message = None
    if event.message_id:
        message = Message.objects.filter(esp_message_id=str(event.message_id)).first()
    event_id = (
        event.event_id
        or hashlib.sha256(
            f"{event.message_id}|{event.event_type}|{event.recipient}|{event.timestamp}".encode()
        ).hexdigest()
    )
    apply_event(
        Event(
            event_id=f"{esp_name}:{event_id}",
            kind=kind,
            email=(event.recipient or "").lower(),
            message_id=message.pk if message else None,
            status=str(event.mta_response or "")[:20]
            if kind != DeliveryEvent.Kind.COMPLAINT
            else "",
            detail=str(event.description or event.reject_reason or "")[:500],
        ),
        source=f"anymail:{esp_name}"[:30],
    )


def connect_anymail() -> None:
    from anymail.signals import tracking

    tracking.connect(on_anymail_tracking, dispatch_uid="tsunagari.mail.anymail")
