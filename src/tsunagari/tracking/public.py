"""The internet-facing tracking endpoints: the snippet, collect, the pixel, identify, a form.

These face every browser on the web: origins are checked against the registered sites,
payloads are small and validated, one address is rate-limited, nothing heavy runs in the
request (scoring and journeys read the stream later), and nothing echoes input back.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from tsunagari.crm.choices import ConsentAction, ConsentChannel, ConsentMethod
from tsunagari.crm.models import Contact
from tsunagari.crm.services import consent_record, contact_save
from tsunagari.crm.validation import clean_email
from tsunagari.tracking import endpoint
from tsunagari.tracking.collect import CollectError, origin_of, parse_hit, verify_identify
from tsunagari.tracking.endpoint import Reply
from tsunagari.tracking.models import Touchpoint, Visitor
from tsunagari.tracking.services import touchpoints_append, visitor_identify
from tsunagari.tracking.sites import SiteRules, site_cache
from tsunagari.tracking.vocabulary import Channel, Type

SNIPPET = (Path(__file__).parent / "static" / "tracking" / "t.js").read_bytes()
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _response(reply: Reply) -> HttpResponse:
    response = HttpResponse(reply.body, status=reply.status)
    for name, value in reply.headers():
        response[name] = value
    return response


def _json(data: dict, origin: str, status: int = 200) -> HttpResponse:
    return _response(Reply(status, json.dumps(data).encode(), origin))


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _checked_site(request: HttpRequest) -> tuple[SiteRules | None, HttpResponse | None]:
    site, refused = endpoint.checked_site(request.headers.get("Origin", ""), _client_ip(request))
    return site, (_response(refused) if refused else None)


def snippet(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(SNIPPET, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@csrf_exempt
def collect(request: HttpRequest) -> HttpResponse:
    """The collect endpoint through Django; `tsunagari serve` answers it in front of Django."""
    return _response(
        endpoint.collect_reply(
            method=request.method or "",
            origin=request.headers.get("Origin", ""),
            body=request.body,
            user_agent=request.headers.get("User-Agent", ""),
            dnt=request.headers.get("DNT") == "1",
            ip=_client_ip(request),
        )
    )


@require_http_methods(["GET"])
def pixel(request: HttpRequest) -> HttpResponse:
    """The no-JavaScript page view: <img src=".../t/p.gif?u=PAGE&t=TITLE">, no cookie."""
    origin = origin_of(request.headers.get("Referer", ""))
    site = site_cache.get(origin) if origin else None
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    if site is None or not endpoint.limiter.allow(_client_ip(request)):
        return response  # an image answers nothing either way: no oracle for probers
    payload = {"k": "pv", "u": request.GET.get("u", ""), "t": request.GET.get("t", "")}
    try:
        hit = parse_hit(json.dumps(payload).encode(), origin=site.origin)
    except CollectError:
        return response
    hit.visitor_uid = None
    endpoint.store_hit(
        site,
        hit,
        user_agent=request.headers.get("User-Agent", ""),
        dnt=request.headers.get("DNT") == "1",
        ip=_client_ip(request),
    )
    return response


def _visitor(uid: object) -> Visitor | None:
    if not isinstance(uid, str) or len(uid) != 32:
        return None
    return Visitor.objects.filter(uid=uid).first()


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def identify(request: HttpRequest) -> HttpResponse:
    """`tsunagari('identify', {email, ts, sig})`: the site's server vouches for who this is."""
    origin = request.headers.get("Origin", "")
    if request.method == "OPTIONS":
        return collect(request)  # the same preflight answer
    site, refused = _checked_site(request)
    if refused:
        return refused
    try:
        data = json.loads(request.body[:4096].decode("utf-8"))
        raw_email = data["e"]
        email = clean_email(raw_email)
    except (ValueError, KeyError, TypeError, ValidationError):
        return _json({"error": "bad identify payload"}, origin, 400)
    # The site's server signed the address as it holds it; check that, then normalise.
    signed = verify_identify(site.identify_secret, raw_email, data.get("ts"), data.get("sig"))
    if not email or not signed:
        return _json({"error": "identify signature does not match"}, origin, 403)
    visitor = _visitor(data.get("v"))
    if visitor is None:
        return _json({"error": "unknown visitor"}, origin, 400)
    contact = Contact.objects.filter(email=email, deleted_at__isnull=True).first()
    if contact is None:
        contact = contact_save(contact=Contact(email=email), source=f"identify:{site.origin}")
    visitor_identify(visitor=visitor, contact=contact, how=f"identify:{site.origin}")
    return _response(Reply(204, cors_origin=origin))


@csrf_exempt
@require_http_methods(["POST"])
def form_submit(request: HttpRequest) -> HttpResponse:
    """A minimal web-to-lead form for any registered site (the forms module will supersede it).

    Fields: email (required), family_name, given_name, company, consent (checkbox text in
    consent_text), _tsg_vid (filled by the snippet), and a honeypot `website` left empty.
    """
    site, refused = _checked_site(request)
    if refused:
        return refused
    origin = site.origin
    if request.POST.get("website"):
        return _after_form(request, origin)  # a bot filled the honeypot: look the same
    try:
        email = clean_email(request.POST.get("email"))
    except ValidationError:
        email = ""
    if not email:
        return _json({"error": "a valid email address is required"}, origin, 400)
    with transaction.atomic():
        contact = Contact.objects.filter(email=email, deleted_at__isnull=True).first()
        if contact is None:
            contact = Contact(
                email=email,
                family_name=request.POST.get("family_name", "")[:60],
                given_name=request.POST.get("given_name", "")[:60],
            )
            contact = contact_save(contact=contact, source=f"form:{origin}")
        consent_text = request.POST.get("consent_text", "")[:2000]
        if request.POST.get("consent"):
            consent_record(
                contact=contact,
                channel=ConsentChannel.EMAIL,
                action=ConsentAction.OPT_IN,
                method=ConsentMethod.FORM,
                source=origin,
                consent_text=consent_text,
                ip_address=_client_ip(request) or None,
            )
        page = request.headers.get("Referer", "")
        touchpoints_append(
            [
                Touchpoint(
                    contact=contact,
                    type=Type.FORM_SUBMITTED,
                    channel=Channel.FORM,
                    occurred_at=timezone.now(),
                    source=origin,
                    url=page[:2000] if origin_of(page) == origin else "",
                    properties={"form": request.POST.get("form", "")[:100]},
                )
            ]
        )
        visitor = _visitor(request.POST.get("_tsg_vid"))
        if visitor is not None:
            visitor_identify(visitor=visitor, contact=contact, how=f"form:{origin}")
    return _after_form(request, origin)


def _after_form(request: HttpRequest, origin: str) -> HttpResponse:
    """JSON for a script; for a plain HTML form, back to `next` — only ever on the same site."""
    if "text/html" not in request.headers.get("Accept", ""):
        return _json({"ok": True}, origin)
    target = request.POST.get("next") or request.headers.get("Referer", "")
    if origin_of(target) != origin:
        target = origin + "/"  # never an open redirect: the registered site's own pages only
    response = HttpResponse(status=303)
    response["Location"] = target
    return response
