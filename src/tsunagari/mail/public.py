"""The recipient-facing mail endpoints: unsubscribe (page and RFC 8058 one-click), the open
pixel, click redirects and the preference centre.

They face everyone who receives an email (and every link scanner): tokens are signed (404 when
forged), destinations come from the database (no open redirect), one address is rate-limited,
and a GET never changes consent — scanners prefetch links.
"""

from __future__ import annotations

import base64

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from tsunagari.core.ratelimit import RateLimiter
from tsunagari.crm.models import Contact
from tsunagari.mail import engagement, tokens
from tsunagari.mail.models import Link, Message, Topic
from tsunagari.mail.queries import sender_settings

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
limiter = RateLimiter(rate=20.0, burst=200)


def _ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _limited(request: HttpRequest) -> bool:
    return not limiter.allow(_ip(request))


def _message(message_id: int | None) -> Message:
    if message_id is None:
        raise Http404
    message = (
        Message.objects.select_related("broadcast")
        .filter(pk=message_id, status=Message.Status.SENT)
        .first()
    )
    if message is None:
        raise Http404
    return message


def _too_many() -> HttpResponse:
    return HttpResponse(_("Too many requests. Please try again in a minute."), status=429)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with a button (never unsubscribes by itself). POST: unsubscribes at once.

    The POST is what mail clients send for RFC 8058 one-click (`List-Unsubscribe=One-Click`,
    no cookies), so it is CSRF-exempt by design: the signed token is the authority, and it can
    only ever opt one contact out, once.
    """
    if _limited(request):
        return _too_many()
    message = _message(tokens.unsubscribe_message_id(token))
    if request.method == "POST":
        reason = request.POST.get("reason", "")[:300]
        if not engagement.unsubscribe(message=message, reason=reason, ip=_ip(request) or None):
            raise Http404  # a used link: replaying it changes nothing
        if request.POST.get("List-Unsubscribe") == "One-Click":
            return HttpResponse(_("You have been unsubscribed."), content_type="text/plain")
        return render(request, "mail/public/unsubscribed.html", _page(message))
    context = _page(message)
    context["token"] = token
    context["done"] = message.unsubscribed_at is not None
    return render(request, "mail/public/unsubscribe.html", context)


REASONS = (
    ("too_many", _("Too many emails")),
    ("not_relevant", _("The content is not relevant to me")),
    ("never_signed_up", _("I never signed up")),
    ("other", _("Other")),
)


def _page(message: Message) -> dict:
    sender = sender_settings()
    return {
        "sender": sender,
        "reasons": REASONS,
        "preferences_token": tokens.preferences_token(message.contact_id),
    }


@require_http_methods(["GET"])
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    """The open pixel: always the same image, no cookie; the open is recorded if the token is
    good (an image answers nothing either way, so probing learns nothing)."""
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, private"
    message_id = tokens.open_message_id(token)
    if message_id is None or _limited(request):
        return response
    message = Message.objects.filter(pk=message_id, status=Message.Status.SENT).first()
    if message is not None:
        engagement.record_open(message=message, user_agent=request.headers.get("User-Agent", ""))
    return response


@require_http_methods(["GET", "HEAD"])
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Record the click and redirect to the link's URL as stored — never a URL from the request."""
    ids = tokens.click_ids(token)
    if ids is None:
        raise Http404
    message = _message(ids[0])
    link = Link.objects.filter(pk=ids[1]).first()
    scope_ok = link is not None and link.scope in (
        f"b:{message.broadcast_id}",
        f"t:{message.template_id}",
    )
    if not scope_ok:
        raise Http404  # a link id from another email: forged, or stitched together
    if not _limited(request):
        engagement.record_click(
            message=message,
            link=link,
            user_agent=request.headers.get("User-Agent", ""),
            head=request.method == "HEAD",
            visitor_uid=request.COOKIES.get("_tsg_vid", ""),
        )
    response = HttpResponseRedirect(engagement.destination(link, message, sender_settings()))
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    """The preference centre: topics on or off, or no marketing email at all."""
    if _limited(request):
        return _too_many()
    contact_id = tokens.preferences_contact_id(token)
    contact = Contact.objects.filter(pk=contact_id, deleted_at__isnull=True).first()
    if contact is None:
        raise Http404
    saved = False
    if request.method == "POST":
        wanted = set(request.POST.getlist("topic"))
        engagement.preferences_update(
            contact=contact,
            subscribed=wanted,
            everything_off=bool(request.POST.get("everything_off")),
            ip=_ip(request) or None,
        )
        contact.refresh_from_db()
        saved = True
    states = engagement.topic_states(contact)
    topics = [(t, states.get(t.key, True)) for t in Topic.objects.filter(is_active=True)]
    return render(
        request,
        "mail/public/preferences.html",
        {
            "sender": sender_settings(),
            "topics": topics,
            "opted_out": contact.email_consent == "opt_out",
            "saved": saved,
        },
    )
