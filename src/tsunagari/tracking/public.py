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
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from tsunagari.core.ratelimit import RateLimiter
from tsunagari.crm.choices import ConsentAction, ConsentChannel, ConsentMethod
from tsunagari.crm.models import Contact
from tsunagari.crm.services import consent_record, contact_save
from tsunagari.crm.validation import clean_email
from tsunagari.tracking.collect import (
    CollectError,
    Hit,
    is_bot,
    origin_of,
    parse_hit,
    verify_identify,
)
from tsunagari.tracking.ingest import IngestTimeout, Pending, writer
from tsunagari.tracking.models import Touchpoint, Visitor
from tsunagari.tracking.services import touchpoints_append, visitor_identify
from tsunagari.tracking.sites import SiteRules, site_cache
from tsunagari.tracking.vocabulary import Channel, Type

SNIPPET = (Path(__file__).parent / "static" / "tracking" / "t.js").read_bytes()
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

# A browser sends a page view and a leave per page; 20/s sustained with bursts of 60 is far
# above a person and far below a flood.
limiter = RateLimiter(rate=20.0, burst=60)


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "86400"
    response["Vary"] = "Origin"
    return response


def _reject(status: int, message: str) -> HttpResponse:
    return JsonResponse({"error": message}, status=status)


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _checked_site(request: HttpRequest) -> tuple[SiteRules | None, HttpResponse | None]:
    origin = request.headers.get("Origin", "")
    site = site_cache.get(origin) if origin else None
    if site is None:
        return None, _reject(403, "origin not registered")
    if not limiter.allow(_client_ip(request)):
        return None, _cors(_reject(429, "too many requests"), origin)
    return site, None


def snippet(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(SNIPPET, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _store(request: HttpRequest, site: SiteRules, hit: Hit) -> HttpResponse | None:
    """Hand the hit to the group-commit writer; None when stored, else the error response."""
    user_agent = request.headers.get("User-Agent", "")
    bot = is_bot(user_agent)
    if bot and not site.record_bots:
        return None
    if site.honour_dnt and request.headers.get("DNT") == "1":
        return None
    if site.consent_mode != "always" and not hit.consented:
        if site.consent_mode == "opt_in":
            return None  # nothing at all until consent
        hit.visitor_uid = None  # cookieless: the visit counts, the browser is not followed
    pending = Pending(
        hit=hit,
        source=site.origin,
        user_agent=user_agent,
        is_bot=bot,
        ip=_client_ip(request),
    )
    try:
        writer.submit(pending)
    except IngestTimeout:
        return _reject(503, "busy, retry")
    return None


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def collect(request: HttpRequest) -> HttpResponse:
    """One page view, leave or event from the snippet; 204 once it is durably stored."""
    origin = request.headers.get("Origin", "")
    if request.method == "OPTIONS":
        if site_cache.get(origin) is None:
            return _reject(403, "origin not registered")
        return _cors(HttpResponse(status=204), origin)
    site, refused = _checked_site(request)
    if refused:
        return refused
    try:
        hit = parse_hit(request.body, origin=site.origin)
    except CollectError as exc:
        return _cors(_reject(400, str(exc)), origin)
    failed = _store(request, site, hit)
    return _cors(failed or HttpResponse(status=204), origin)


@require_http_methods(["GET"])
def pixel(request: HttpRequest) -> HttpResponse:
    """The no-JavaScript page view: <img src=".../t/p.gif?u=PAGE&t=TITLE">, no cookie."""
    origin = origin_of(request.headers.get("Referer", ""))
    site = site_cache.get(origin) if origin else None
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    if site is None or not limiter.allow(_client_ip(request)):
        return response  # an image answers nothing either way: no oracle for probers
    payload = {"k": "pv", "u": request.GET.get("u", ""), "t": request.GET.get("t", "")}
    try:
        hit = parse_hit(json.dumps(payload).encode(), origin=site.origin)
    except CollectError:
        return response
    hit.visitor_uid = None
    _store(request, site, hit)
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
        return collect(request)
    site, refused = _checked_site(request)
    if refused:
        return refused
    try:
        data = json.loads(request.body[:4096].decode("utf-8"))
        raw_email = data["e"]
        email = clean_email(raw_email)
    except (ValueError, KeyError, TypeError, ValidationError):
        return _cors(_reject(400, "bad identify payload"), origin)
    # The site's server signed the address as it holds it; check that, then normalise.
    signed = verify_identify(site.identify_secret, raw_email, data.get("ts"), data.get("sig"))
    if not email or not signed:
        return _cors(_reject(403, "identify signature does not match"), origin)
    visitor = _visitor(data.get("v"))
    if visitor is None:
        return _cors(_reject(400, "unknown visitor"), origin)
    contact = Contact.objects.filter(email=email, deleted_at__isnull=True).first()
    if contact is None:
        contact = contact_save(contact=Contact(email=email), source=f"identify:{site.origin}")
    visitor_identify(visitor=visitor, contact=contact, how=f"identify:{site.origin}")
    return _cors(HttpResponse(status=204), origin)


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
        return _cors(JsonResponse({"ok": True}), origin)  # a bot filled the honeypot
    try:
        email = clean_email(request.POST.get("email"))
    except ValidationError:
        email = ""
    if not email:
        return _cors(_reject(400, "a valid email address is required"), origin)
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
    return _cors(JsonResponse({"ok": True}), origin)
