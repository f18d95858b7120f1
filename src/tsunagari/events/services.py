"""Writes for seminars: events and sessions, registration (through the pages form machinery),
waitlist promotion, cancellation, check-in, attendance import and follow-up enrolment."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.crm.models import Contact
from tsunagari.crm.validation import clean_email
from tsunagari.events.models import Event, EventEmail, Registration, Session
from tsunagari.pages.models import FormField
from tsunagari.pages.services import field_save, form_create
from tsunagari.pages.submissions import SubmitContext, SubmitResult, form_submit
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.services import touchpoints_append
from tsunagari.tracking.vocabulary import Channel, Type

CHECKIN_SALT = "tsunagari.events.checkin"
CANCEL_SALT = "tsunagari.events.cancel"
REMINDERS = (
    (EventEmail.Kind.REMINDER_DAY, dt.timedelta(days=1)),
    (EventEmail.Kind.REMINDER_HOUR, dt.timedelta(hours=1)),
)
MAX_IMPORT_BYTES = 5 * 1024 * 1024


class EventsError(ValueError):
    """A refused change, with a message for people."""


# --- events and sessions --------------------------------------------------------------------


@transaction.atomic
def event_create(*, name: str, slug: str, actor=None, description: str = "") -> Event:
    """A new event with its registration form: email, name and company, editable in pages."""
    if Event.objects.filter(slug=slug).exists():
        raise EventsError(_("This address is already used by another event."))
    form = form_create(name=_("Registration: %(name)s") % {"name": name}, actor=actor)
    form.title = ""
    form.submit_label = _("Register")
    form.save()
    for target, required in (("family_name", True), ("given_name", False), ("company", True)):
        field_save(
            field=FormField(
                form=form,
                kind=FormField.Kind.FIELD,
                target=target,
                required=required,
                progressive=False,
            ),
            actor=actor,
        )
    return Event.objects.create(
        name=name.strip()[:200], slug=slug, description=description, form=form, created_by=actor
    )


def session_save(*, session: Session) -> Session:
    if session.ends_at <= session.starts_at:
        raise EventsError(_("A session must end after it starts."))
    session.save()
    if session.capacity:
        promote_waitlist(session=session)
    return session


# --- tokens ---------------------------------------------------------------------------------


def checkin_token(registration: Registration) -> str:
    """What the QR code carries: signed, so a guessed or altered code checks nobody in."""
    return signing.dumps({"r": registration.pk}, salt=CHECKIN_SALT)


def cancel_token(registration: Registration) -> str:
    return signing.dumps({"r": registration.pk}, salt=CANCEL_SALT)


def _read(token: str, salt: str) -> Registration | None:
    try:
        data = signing.loads(token.strip(), salt=salt)
    except signing.BadSignature:
        return None
    return (
        Registration.objects.select_related("session__event", "contact")
        .filter(pk=data.get("r"))
        .first()
    )


def cancel_read(token: str) -> Registration | None:
    return _read(token, CANCEL_SALT)


# --- registration ---------------------------------------------------------------------------


def _seats_taken(session: Session) -> int:
    return session.registrations.filter(status=Registration.Status.REGISTERED).count()


def _touch(registration: Registration, kind: str, now: dt.datetime) -> None:
    session = registration.session
    touchpoints_append(
        [
            Touchpoint(
                contact=registration.contact,
                type=kind,
                channel=Channel.EVENT,
                occurred_at=now,
                source="events",
                title=session.event.name[:300],
                properties={"seminar_id": session.event_id, "session_id": session.pk},
            )
        ]
    )


def _queue(registration: Registration, kind: str, due_at: dt.datetime, stamp: str = "") -> None:
    key = f"events:{registration.pk}:{kind}{stamp}"
    EventEmail.objects.get_or_create(
        idempotency_key=key,
        defaults={"registration": registration, "kind": kind, "due_at": due_at},
    )


def _queue_seat_emails(registration: Registration, kind: str, now: dt.datetime) -> None:
    """The confirmation (or promotion notice) now, the reminders before the session starts."""
    _queue(registration, kind, now)
    starts = registration.session.starts_at
    for reminder, before in REMINDERS:
        if starts - before > now:
            _queue(registration, reminder, starts - before)


@transaction.atomic
def register(
    *,
    session: Session,
    contact: Contact,
    source: str = "form",
    link_base: str = "",
    emails: bool = True,
    now: dt.datetime | None = None,
) -> Registration:
    """A seat when one is free, else the waitlist; registering again changes nothing.

    The session row is locked so two registrations for the last seat cannot both get it.
    """
    now = now or timezone.now()
    session = Session.objects.select_for_update().select_related("event").get(pk=session.pk)
    existing = Registration.objects.filter(session=session, contact=contact).first()
    if existing is not None and existing.status != Registration.Status.CANCELLED:
        return existing
    full = bool(session.capacity) and _seats_taken(session) >= session.capacity
    status = Registration.Status.WAITLISTED if full else Registration.Status.REGISTERED
    registration = existing or Registration(session=session, contact=contact, created_at=now)
    registration.session = session
    registration.status = status
    registration.source = source
    registration.cancelled_at = None
    registration.waitlisted_at = now if full else None
    registration.link_base = link_base[:200] or registration.link_base
    registration.save()
    _touch(registration, Type.SEMINAR_REGISTERED, now)
    if emails:
        stamp = f":{int(now.timestamp())}" if existing is not None else ""
        if full:
            _queue(registration, EventEmail.Kind.WAITLISTED, now, stamp)
        else:
            _queue(registration, EventEmail.Kind.CONFIRMATION, now, stamp)
            for reminder, before in REMINDERS:
                if session.starts_at - before > now:
                    _queue(registration, reminder, session.starts_at - before, stamp)
    return registration


@dataclass
class RegisterResult:
    submit: SubmitResult = field(default_factory=SubmitResult)
    registration: Registration | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.submit.errors


def open_sessions(event: Event, *, running: bool = False):
    """Sessions people can register for: not started yet (a booth's kiosk: not ended yet)."""
    now = timezone.now()
    if running:
        return event.sessions.filter(ends_at__gt=now)
    return event.sessions.filter(starts_at__gt=now)


def registration_submit(
    *,
    event: Event,
    session_id,
    data,
    ctx: SubmitContext,
    source: str = "form",
    emails: bool = True,
) -> RegisterResult:
    """The event's form through pages' submission handling, then the seat, in one transaction.

    pages does the contact upsert, consent, form_submitted touchpoint, visitor identification
    and abuse protection (Refused propagates to the view); a spam hit registers nobody.
    """
    if not event.is_open or event.form_id is None:
        return RegisterResult(errors={"_": _("Registration for this event is closed.")})
    try:
        session_id = int(session_id)
    except (TypeError, ValueError):
        session_id = 0
    session = open_sessions(event, running=source == "kiosk").filter(pk=session_id).first()
    if session is None:
        return RegisterResult(errors={"session": _("Choose a session.")})
    with transaction.atomic():
        submitted = form_submit(form=event.form, data=data, ctx=ctx)
        result = RegisterResult(submit=submitted)
        if submitted.ok and submitted.submission is not None:
            result.registration = register(
                session=session,
                contact=submitted.submission.contact,
                source=source,
                link_base=ctx.base_url,
                emails=emails,
            )
    return result


def promote_waitlist(*, session: Session, now: dt.datetime | None = None) -> list[Registration]:
    """Give free seats to the waitlist in the order people joined it."""
    now = now or timezone.now()
    promoted = []
    with transaction.atomic():
        session = Session.objects.select_for_update().select_related("event").get(pk=session.pk)
        free = (session.capacity - _seats_taken(session)) if session.capacity else 10**9
        if free <= 0:
            return []
        waiting = list(
            session.registrations.filter(status=Registration.Status.WAITLISTED)
            .select_related("contact")
            .order_by("waitlisted_at", "id")[: min(free, 1000)]
        )
        for registration in waiting:
            registration.status = Registration.Status.REGISTERED
            registration.save(update_fields=["status"])
            registration.session = session
            _queue_seat_emails(registration, EventEmail.Kind.PROMOTED, now)
            promoted.append(registration)
    return promoted


def registration_cancel(*, registration: Registration) -> bool:
    """Cancel a seat or waitlist place and hand the seat on; cancelling twice does nothing."""
    now = timezone.now()
    with transaction.atomic():
        changed = (
            Registration.objects.filter(pk=registration.pk)
            .exclude(status=Registration.Status.CANCELLED)
            .update(status=Registration.Status.CANCELLED, cancelled_at=now)
        )
        if changed:
            EventEmail.objects.filter(
                registration=registration, status=EventEmail.Status.QUEUED
            ).update(status=EventEmail.Status.SKIPPED, skip_reason="cancelled")
            promote_waitlist(session=registration.session, now=now)
    return bool(changed)


# --- attendance -----------------------------------------------------------------------------


@dataclass
class CheckinResult:
    outcome: str  # attended, duplicate, unknown, other_event, not_registered
    registration: Registration | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "attended"


def _mark_attended(registration: Registration, method: str, now: dt.datetime) -> bool:
    """Compare-and-set: the second scan of a code records nothing."""
    changed = Registration.objects.filter(pk=registration.pk, attended_at__isnull=True).update(
        attended_at=now, checkin_method=method
    )
    if changed:
        registration.attended_at = now
        registration.checkin_method = method
        _touch(registration, Type.SEMINAR_ATTENDED, now)
    return bool(changed)


@transaction.atomic
def checkin(*, event: Event, token: str) -> CheckinResult:
    """Check in the registrant whose QR code (or typed code) this is, at this event only."""
    registration = _read(token, CHECKIN_SALT)
    if registration is None:
        return CheckinResult("unknown")
    if registration.session.event_id != event.pk:
        return CheckinResult("other_event", registration)
    if registration.status == Registration.Status.CANCELLED:
        return CheckinResult("not_registered", registration)
    if not _mark_attended(registration, "qr", timezone.now()):
        return CheckinResult("duplicate", registration)
    return CheckinResult("attended", registration)


@transaction.atomic
def checkin_manual(*, registration: Registration) -> bool:
    return _mark_attended(registration, "manual", timezone.now())


def attendance_import(*, session: Session, data: bytes) -> tuple[int, list[str]]:
    """Mark the contacts a CSV lists (column `email`, or the first) as attended.

    All or nothing: a line with an invalid address or an address that is not a contact is
    reported and the file changes nothing. Registrants not yet registered are registered
    (source import) without emails. Returns (newly attended, errors).
    """
    if len(data) > MAX_IMPORT_BYTES:
        return 0, [_("The file is larger than 5 MB.")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp932")
        except UnicodeDecodeError:
            return 0, [_("The file is neither UTF-8 nor Shift_JIS.")]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return 0, [_("The file is empty.")]
    header = [c.strip().lower() for c in rows[0]]
    has_header = "email" in header or not any("@" in c for c in rows[0])
    column = header.index("email") if "email" in header else 0
    errors: list[str] = []
    wanted: dict[str, int] = {}
    for number, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        raw = row[column].strip() if len(row) > column else ""
        if not raw:
            continue
        try:
            email = clean_email(raw)
        except ValidationError:
            email = ""
        if not email or "\n" in raw or "\r" in raw:
            errors.append(
                _("Line %(n)s: %(value)s is not a valid email address.")
                % {"n": number, "value": raw[:100]}
            )
            continue
        wanted[email] = number
    found = {
        email: pk
        for pk, email in Contact.objects.filter(
            email__in=list(wanted), deleted_at__isnull=True
        ).values_list("pk", "email")
    }
    for email, number in wanted.items():
        if email not in found:
            errors.append(
                _("Line %(n)s: %(value)s is not a contact.") % {"n": number, "value": email}
            )
    if errors:
        return 0, errors
    if not found:
        return 0, [_("The file lists no email addresses.")]
    now = timezone.now()
    marked = 0
    with transaction.atomic():
        contacts = Contact.objects.in_bulk(list(found.values()))
        for contact in contacts.values():
            registration = Registration.objects.filter(session=session, contact=contact).first()
            if registration is None or registration.status == Registration.Status.CANCELLED:
                registration = register(
                    session=session, contact=contact, source="import", emails=False, now=now
                )
            if registration.status == Registration.Status.WAITLISTED:
                # They came anyway: the seat is theirs.
                Registration.objects.filter(pk=registration.pk).update(
                    status=Registration.Status.REGISTERED
                )
            marked += _mark_attended(registration, "import", now)
    return marked, []


def kiosk_submit(*, event: Event, session_id, data, ctx: SubmitContext) -> RegisterResult:
    """One booth visitor: contact upsert and touches, never identifying the tablet's browser.

    The context carries no visitor: the token has none and no cookie is read, so nothing the
    tablet did before is merged into this person and the next visitor starts clean.
    """
    ctx.visitor_uid = ""
    with transaction.atomic():
        result = registration_submit(
            event=event, session_id=session_id, data=data, ctx=ctx, source="kiosk", emails=False
        )
        if result.ok and result.registration is not None:
            _mark_attended(result.registration, "kiosk", timezone.now())
    return result


def move_registrations_on_merge(keep: Contact, drop: Contact) -> None:
    """The dropped contact's registrations become the kept one's; one per session survives.

    Where both were registered for the same session, the kept contact's row stays and takes
    the attendance of the other if only the other was checked in.
    """
    for registration in Registration.objects.filter(contact=drop):
        twin = Registration.objects.filter(session_id=registration.session_id, contact=keep).first()
        if twin is None:
            Registration.objects.filter(pk=registration.pk).update(contact=keep)
            continue
        if registration.attended_at and not twin.attended_at:
            Registration.objects.filter(pk=twin.pk).update(
                attended_at=registration.attended_at, checkin_method=registration.checkin_method
            )
        registration.delete()


# --- follow-up ------------------------------------------------------------------------------


def followup_enrol(*, event: Event, actor=None) -> tuple[int, int]:
    """Attendees into one journey, no-shows into the other; enrolling twice enrols once."""
    from tsunagari.journeys.services import enrol_manual

    regs = Registration.objects.filter(
        session__event=event,
        status=Registration.Status.REGISTERED,
        session__ends_at__lte=timezone.now(),
    )
    attended = list(regs.filter(attended_at__isnull=False).values_list("contact_id", flat=True))
    no_shows = list(regs.filter(attended_at__isnull=True).values_list("contact_id", flat=True))
    entered_attended = entered_no_show = 0
    if event.attended_journey_id and attended:
        entered_attended = enrol_manual(
            journey=event.attended_journey, contact_ids=attended, actor=actor
        )
    if event.noshow_journey_id and no_shows:
        entered_no_show = enrol_manual(
            journey=event.noshow_journey, contact_ids=no_shows, actor=actor
        )
    Event.objects.filter(pk=event.pk).update(followup_at=timezone.now())
    return entered_attended, entered_no_show
