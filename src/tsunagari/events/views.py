"""Staff pages: events, sessions, registrants, check-in, the booth kiosk, attendance import,
follow-up and the seminar report."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_http_methods, require_POST

from tsunagari.core.access import nav_area, require_capability
from tsunagari.core.roles import Capability
from tsunagari.events import queries, services
from tsunagari.events.forms import AttendanceImportForm, EventForm, NewEventForm, SessionForm
from tsunagari.events.models import Event, Registration, Session
from tsunagari.events.public import form_block, submit_context
from tsunagari.journeys.services import JourneyError
from tsunagari.pages import protection
from tsunagari.pages.protection import Refused

VIEW = Capability.CRM_VIEW
BUILD = Capability.CRM_CONFIGURE  # marketing and admins set up events
DOOR = Capability.CRM_EDIT  # staff at the door: check-in, kiosk, attendance
REPORT_DAYS = (30, 90, 180, 365)


def _paged(request: HttpRequest, qs, per_page: int = queries.PAGE_SIZE):
    return Paginator(qs, per_page).get_page(request.GET.get("page"))


@nav_area("events")
@require_capability(VIEW)
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "events/index.html",
        {
            "page": _paged(request, queries.events_for_list()),
            "can_build": request.user.can(BUILD),
            "new": NewEventForm(),
        },
    )


@nav_area("events")
@require_capability(BUILD)
@require_http_methods(["GET", "POST"])
def event_create(request: HttpRequest) -> HttpResponse:
    form = NewEventForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            event = services.event_create(
                name=form.cleaned_data["name"], slug=form.cleaned_data["slug"], actor=request.user
            )
        except services.EventsError as exc:
            form.add_error("slug", str(exc))
        else:
            messages.success(request, _("Event created. Add its sessions."))
            return redirect("events:detail", event.pk)
    return render(request, "events/event_create.html", {"new": form})


@nav_area("events")
@require_capability(VIEW)
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(Event.objects.select_related("form"), pk=pk)
    sessions = event.sessions.all()
    total, per_session = queries.report(event)
    return render(
        request,
        "events/detail.html",
        {
            "event": event,
            "rows": list(zip(sessions, per_session, strict=True)),
            "total": total,
            "can_build": request.user.can(BUILD),
            "can_door": request.user.can(DOOR),
            "public_url": request.build_absolute_uri(reverse("events:register", args=[event.slug])),
        },
    )


@nav_area("events")
@require_capability(BUILD)
@require_http_methods(["GET", "POST"])
def event_edit(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(Event, pk=pk)
    form = EventForm(request.POST or None, instance=event)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Saved."))
        return redirect("events:detail", event.pk)
    return render(request, "events/event_edit.html", {"event": event, "form": form})


@nav_area("events")
@require_capability(BUILD)
@require_http_methods(["GET", "POST"])
def session_edit(request: HttpRequest, pk: int, session_pk: int | None = None) -> HttpResponse:
    event = get_object_or_404(Event, pk=pk)
    session = get_object_or_404(Session, pk=session_pk, event=event) if session_pk else None
    form = SessionForm(request.POST or None, instance=session or Session(event=event))
    if request.method == "POST" and form.is_valid():
        try:
            services.session_save(session=form.save(commit=False))
        except services.EventsError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Session saved."))
            return redirect("events:detail", event.pk)
    return render(
        request, "events/session_edit.html", {"event": event, "form": form, "session": session}
    )


@nav_area("events")
@require_capability(VIEW)
def registrants(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(Event, pk=pk)
    try:
        session_id = int(request.GET.get("session") or 0)
    except ValueError:
        session_id = 0
    status = request.GET.get("status", "")
    if status not in {"", "attended", "no_show", *Registration.Status.values}:
        status = ""
    qs = queries.registrants(event, session_id=session_id or None, status=status)
    query = urlencode(
        {k: v for k, v in {"session": session_id or "", "status": status}.items() if v}
    )
    return render(
        request,
        "events/registrants.html",
        {
            "event": event,
            "page": _paged(request, qs),
            "sessions": event.sessions.all(),
            "session_id": session_id,
            "status": status,
            "query": query,
            "statuses": [
                ("registered", _("Registered")),
                ("waitlisted", _("Waitlisted")),
                ("cancelled", _("Cancelled")),
                ("attended", _("Attended")),
                ("no_show", _("No-show")),
            ],
            "can_door": request.user.can(DOOR),
        },
    )


@require_capability(DOOR)
@require_POST
def registration_action(request: HttpRequest, pk: int, reg_pk: int) -> HttpResponse:
    registration = get_object_or_404(Registration, pk=reg_pk, session__event_id=pk)
    action = request.POST.get("action")
    if action == "checkin":
        if services.checkin_manual(registration=registration):
            messages.success(request, _("Checked in."))
        else:
            messages.info(request, _("Already checked in."))
    elif action == "cancel":
        services.registration_cancel(registration=registration)
        messages.success(request, _("Registration cancelled; the waitlist moves up."))
    return redirect(f"{reverse('events:registrants', args=[pk])}?{request.POST.get('back', '')}")


CHECKIN_MESSAGES = {
    "attended": ("success", gettext_noop("Checked in: %(name)s")),
    "duplicate": ("warning", gettext_noop("%(name)s was already checked in.")),
    "unknown": (
        "error",
        gettext_noop("Unknown code: this is not a registration code of Tsunagari."),
    ),
    "other_event": ("error", gettext_noop("This code is for another event: %(event)s.")),
    "not_registered": ("error", gettext_noop("%(name)s cancelled this registration.")),
}


def _checkin_message(result: services.CheckinResult) -> tuple[str, str]:
    level, text = CHECKIN_MESSAGES[result.outcome]
    registration = result.registration
    values = {"name": "", "event": ""}
    if registration is not None:
        contact = registration.contact
        values["name"] = contact.full_name or contact.email
        values["event"] = registration.session.event.name
    return level, _(text) % values


@nav_area("events")
@require_capability(DOOR)
@require_http_methods(["GET", "POST"])
def checkin(request: HttpRequest, pk: int) -> HttpResponse:
    """Scan the QR code (a USB or camera scanner types it) or type it; Enter checks in."""
    event = get_object_or_404(Event, pk=pk)
    outcome = None
    if request.method == "POST":
        result = services.checkin(event=event, token=request.POST.get("code", "")[:500])
        level, text = _checkin_message(result)
        outcome = {"level": level, "text": text, "registration": result.registration}
    context = {
        "event": event,
        "outcome": outcome,
        "attended": Registration.objects.filter(
            session__event=event, attended_at__isnull=False
        ).count(),
    }
    if request.htmx:
        return render(request, "events/partials/checkin_panel.html", context)
    return render(request, "events/checkin.html", context)


@require_capability(DOOR)
@require_http_methods(["GET", "POST"])
def kiosk(request: HttpRequest, pk: int) -> HttpResponse:
    """The booth tablet: one visitor after another, the browser never identified as any."""
    event = get_object_or_404(Event.objects.select_related("form"), pk=pk)
    sessions = list(services.open_sessions(event, running=True))
    chosen = next((s for s in sessions if str(s.pk) == request.GET.get("session")), None)
    if chosen is None and sessions:
        chosen = sessions[0]
    outcome: dict = {}
    status = 200
    if request.method == "POST" and chosen is not None and event.form_id:
        try:
            result = services.kiosk_submit(
                event=event,
                session_id=chosen.pk,
                data=request.POST,
                ctx=submit_context(request, visitor_uid=""),
            )
        except Refused as exc:
            outcome, status = {"errors": {"_": exc.message}, "values": request.POST}, exc.status
        else:
            if result.ok:
                if result.registration is not None:
                    messages.success(request, _("Thank you! Next visitor, please."))
                # A fresh page: the form is empty and carries a new token for the next person.
                return redirect(f"{reverse('events:kiosk', args=[pk])}?session={chosen.pk}")
            outcome = {"errors": {**result.submit.errors, **result.errors}, "values": request.POST}
            status = 400
    block = (
        form_block(event, visitor="", contact=None, outcome=outcome)
        if chosen is not None and event.form_id
        else None
    )
    response = render(
        request,
        "events/kiosk.html",
        {
            "event": event,
            "sessions": sessions,
            "chosen": chosen,
            "form_block": block,
            "honeypot": protection.HONEYPOT,
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@nav_area("events")
@require_capability(DOOR)
@require_http_methods(["GET", "POST"])
def attendance_import(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(Event, pk=pk)
    form = AttendanceImportForm(request.POST or None, request.FILES or None, event=event)
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        marked, errors = services.attendance_import(
            session=form.cleaned_data["session"], data=form.cleaned_data["file"].read()
        )
        if not errors:
            messages.success(request, _("%(n)s attendees recorded.") % {"n": marked})
            return redirect("events:registrants", event.pk)
    return render(
        request, "events/attendance.html", {"event": event, "form": form, "errors": errors}
    )


@require_capability(BUILD)
@require_POST
def followup(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(
        Event.objects.select_related("attended_journey", "noshow_journey"), pk=pk
    )
    try:
        attended, no_shows = services.followup_enrol(event=event, actor=request.user)
    except JourneyError as exc:
        messages.error(request, " ".join(str(m) for m in exc.messages))
    else:
        messages.success(
            request,
            _("Follow-up started: %(a)s attendees and %(n)s no-shows enrolled.")
            % {"a": attended, "n": no_shows},
        )
    return redirect("events:detail", event.pk)


@nav_area("events")
@require_capability(VIEW)
def report(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(Event, pk=pk)
    try:
        days = int(request.GET.get("days", 90))
    except ValueError:
        days = 90
    days = days if days in REPORT_DAYS else 90
    total, per_session = queries.report(event, days=days)
    return render(
        request,
        "events/report.html",
        {
            "event": event,
            "total": total,
            "rows": list(zip(event.sessions.all(), per_session, strict=True)),
            "days": days,
            "day_choices": REPORT_DAYS,
            "deals": queries.registrant_deals(event, days=days)[:200],
        },
    )


@require_capability(VIEW)
def contact_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The contact page's seminars: registrations with session, status and attendance."""
    registrations = (
        Registration.objects.filter(contact_id=pk)
        .select_related("session__event")
        .order_by("-session__starts_at")[:20]
    )
    return render(
        request,
        "events/partials/contact_panel.html",
        {"registrations": registrations, "now": timezone.now()},
    )
