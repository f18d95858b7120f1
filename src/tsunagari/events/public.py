"""Public pages: an event's registration page and the signed cancellation link.

The form is the event's pages form, shown with pages' presentation and template and submitted
through pages' submission handling, so abuse protection, consent and visitor identification
are the same as on any landing page.
"""

from __future__ import annotations

import secrets

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from tsunagari.events import services
from tsunagari.events.models import Event, Registration
from tsunagari.pages import protection
from tsunagari.pages.presentation import present
from tsunagari.pages.protection import Refused
from tsunagari.pages.queries import contact_of_visitor, visitor_by_uid
from tsunagari.pages.submissions import SubmitContext
from tsunagari.tracking.collect import is_bot
from tsunagari.tracking.models import Touchpoint, Visitor
from tsunagari.tracking.services import touchpoints_append
from tsunagari.tracking.sites import existing_account_for_ip
from tsunagari.tracking.vocabulary import Type

VISITOR_COOKIE = "_tsg_vid"  # the tracking cookie pages and t.js use
TWO_YEARS = 2 * 365 * 24 * 3600
CSP = (
    "default-src 'none'; img-src 'self' https: data:; style-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _visitor_uid(request: HttpRequest) -> tuple[str, bool]:
    uid = request.COOKIES.get(VISITOR_COOKIE, "")
    if len(uid) == 32 and all(c in "0123456789abcdef" for c in uid):
        return uid, False
    return secrets.token_hex(16), True


def submit_context(request: HttpRequest, *, visitor_uid: str) -> SubmitContext:
    return SubmitContext(
        ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.headers.get("User-Agent", ""),
        token=request.POST.get("_tsg_t", ""),
        visitor_uid=visitor_uid,
        page_url=request.build_absolute_uri(request.path),
        base_url=request.build_absolute_uri("/").rstrip("/"),
    )


def form_block(event: Event, *, visitor: str, contact, outcome: dict | None = None) -> dict:
    """What pages' hosted_form.html expects: the form, its presentation, errors, values."""
    block: dict = {"form": event.form, "errors": {}, "values": {}}
    outcome = outcome or {}
    if outcome.get("result") is not None:
        block["result"] = outcome["result"]
        return block
    block["presented"] = present(event.form, contact=contact, origin="", visitor=visitor)
    block["errors"] = outcome.get("errors", {})
    block["values"] = outcome.get("values", {})
    return block


def _record_view(request: HttpRequest, event: Event, uid: str) -> None:
    """A page_view of the registration page: the visitor exists, so registering identifies it
    and its anonymous history joins the contact (as on pages' landing pages)."""
    user_agent = request.headers.get("User-Agent", "")
    if is_bot(user_agent):
        return
    now = timezone.now()
    with transaction.atomic():
        visitor, _created = Visitor.objects.get_or_create(
            uid=uid,
            defaults={
                "first_seen": now,
                "last_seen": now,
                "user_agent": user_agent[:300],
                "account_id": existing_account_for_ip(request.META.get("REMOTE_ADDR", "")),
            },
        )
        Visitor.objects.filter(pk=visitor.pk).update(last_seen=now)
        touchpoints_append(
            [
                Touchpoint(
                    contact_id=visitor.contact_id,
                    visitor=visitor,
                    account_id=None if visitor.contact_id else visitor.account_id,
                    type=Type.PAGE_VIEW,
                    occurred_at=now,
                    source="hosted",
                    url=request.build_absolute_uri()[:2000],
                    path=request.path[:1000],
                    title=event.name[:300],
                    referrer=request.headers.get("Referer", "")[:2000],
                    properties={"seminar_id": event.pk},
                    **{
                        k: request.GET.get(k, "")[:100]
                        for k in (
                            "utm_source",
                            "utm_medium",
                            "utm_campaign",
                            "utm_term",
                            "utm_content",
                        )
                    },
                )
            ]
        )


def _secure(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = CSP
    response["X-Frame-Options"] = "DENY"
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
def register_page(request: HttpRequest, slug: str) -> HttpResponse:
    event = get_object_or_404(Event.objects.select_related("form"), slug=slug)
    uid, new_cookie = _visitor_uid(request)
    sessions = list(services.open_sessions(event))
    taken = {
        s.pk: s.registrations.filter(status=Registration.Status.REGISTERED).count()
        for s in sessions
    }
    for s in sessions:
        s.seats_left = max(s.capacity - taken[s.pk], 0) if s.capacity else None
    chosen = next((s for s in sessions if str(s.pk) == request.GET.get("session")), None)
    if chosen is None and len(sessions) == 1:
        chosen = sessions[0]
    outcome: dict = {}
    status = 200
    registration = None
    if request.method == "GET":
        _record_view(request, event, uid)
    if request.method == "POST":
        if int(request.META.get("CONTENT_LENGTH") or 0) > protection.MAX_BODY_BYTES:
            return _secure(HttpResponse(status=413))
        try:
            result = services.registration_submit(
                event=event,
                session_id=chosen.pk if chosen else 0,
                data=request.POST,
                ctx=submit_context(request, visitor_uid=uid),
            )
        except Refused as exc:
            outcome = {"errors": {"_": exc.message}, "values": request.POST}
            status = exc.status
        else:
            if result.ok:
                outcome = {"result": result.submit}
                registration = result.registration
            else:
                errors = {**result.submit.errors, **result.errors}
                if "session" in errors or "_" in result.errors:
                    errors["_"] = errors.get("_") or errors["session"]
                outcome = {"errors": errors, "values": request.POST}
                status = 400
    open_form = event.is_open and event.form_id and chosen is not None
    contact = contact_of_visitor(visitor_by_uid(uid))
    context = {
        "event": event,
        "sessions": sessions,
        "chosen": chosen,
        "registration": registration,
        "honeypot": protection.HONEYPOT,
        "form_block": form_block(event, visitor=uid, contact=contact, outcome=outcome)
        if open_form or outcome
        else None,
    }
    response = render(request, "events/public/register.html", context, status=status)
    if new_cookie:
        response.set_cookie(
            VISITOR_COOKIE,
            uid,
            max_age=TWO_YEARS,
            samesite="Lax",
            secure=request.is_secure(),
            httponly=True,
        )
    return _secure(response)


@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (link scanners cancel nothing); POST cancels."""
    registration = services.cancel_read(token)
    if registration is None:
        return _secure(render(request, "events/public/cancel.html", {"invalid": True}, status=404))
    done = False
    if request.method == "POST":
        services.registration_cancel(registration=registration)
        return redirect(request.path)
    registration.refresh_from_db()
    done = registration.status == Registration.Status.CANCELLED
    return _secure(
        render(
            request,
            "events/public/cancel.html",
            {"registration": registration, "session": registration.session, "done": done},
        )
    )
