"""Internet-facing pages: hosted landing pages, the form embed, submissions, confirmation,
gated downloads and dynamic content.

Hosted pages are same-origin (Django's CSRF applies) and carry a strict CSP. Cross-origin
embeds are accepted only from registered sites (tracking's origin rules) and with a signed,
expiring, single-use form token. Redirects go only to this server or registered sites.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import F
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from tsunagari.core.access import require_capability
from tsunagari.core.roles import Capability
from tsunagari.pages import dynamic, protection
from tsunagari.pages.blocks import clean_blocks
from tsunagari.pages.models import Form, LandingPage, PageVariant
from tsunagari.pages.presentation import HIDDEN_KEYS, as_json, present, redirect_allowed
from tsunagari.pages.protection import Refused
from tsunagari.pages.queries import contact_of_visitor, visitor_by_uid
from tsunagari.pages.submissions import (
    SubmitContext,
    confirm_read,
    consent_confirm,
    download_read,
    download_record,
    form_submit,
)
from tsunagari.tracking.collect import is_bot, origin_of
from tsunagari.tracking.models import Touchpoint, Visitor
from tsunagari.tracking.services import touchpoints_append
from tsunagari.tracking.sites import existing_account_for_ip, site_cache
from tsunagari.tracking.vocabulary import Type

EMBED_JS = (Path(__file__).parent / "static" / "pages" / "embed.js").read_bytes()
VISITOR_COOKIE = "_tsg_vid"
TWO_YEARS = 2 * 365 * 24 * 3600


def _ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Vary"] = "Origin"
    return response


def _too_big(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > protection.MAX_BODY_BYTES


def _csp(form_targets: list[str]) -> str:
    actions = " ".join(["'self'", *sorted(set(form_targets))])
    return (
        "default-src 'none'; img-src 'self' https: data:; style-src 'self'; "
        f"form-action {actions}; base-uri 'none'; frame-ancestors 'none'"
    )


def embed_script(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(EMBED_JS, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    response["Access-Control-Allow-Origin"] = "*"
    return response


# --- hosted landing pages -------------------------------------------------------------------


def _visitor_uid(request: HttpRequest) -> tuple[str, bool]:
    uid = request.COOKIES.get(VISITOR_COOKIE, "")
    if len(uid) == 32 and all(c in "0123456789abcdef" for c in uid):
        return uid, False
    return secrets.token_hex(16), True


def pick_variant(variants: list[PageVariant], uid: str) -> PageVariant:
    """The same visitor always sees the same variant, traffic split by weight."""
    weights = [max(v.weight, 1) for v in variants]
    digest = hashlib.sha256(f"{uid}:{variants[0].page_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % sum(weights)
    for variant, weight in zip(variants, weights, strict=True):
        point -= weight
        if point < 0:
            return variant
    return variants[-1]


def _forms_of(blocks: list[dict]) -> dict[int, Form]:
    ids = {b.get("form_id") for b in blocks if b.get("type") == "form"}
    return {f.pk: f for f in Form.objects.filter(pk__in=ids, is_active=True)}


def _render_page(
    request: HttpRequest,
    page: LandingPage,
    blocks: list[dict],
    *,
    variant: str,
    uid: str,
    preview: bool = False,
    outcome: dict | None = None,
) -> HttpResponse:
    blocks = clean_blocks(blocks)  # never trust stored HTML
    forms = _forms_of(blocks)
    contact = contact_of_visitor(visitor_by_uid(uid)) if not preview else None
    hidden = {k: request.GET.get(k, "") for k in HIDDEN_KEYS}
    hidden["page"] = request.build_absolute_uri(request.path)
    rendered = []
    for block in blocks:
        item = dict(block)
        if block["type"] == "form":
            form = forms.get(block["form_id"])
            if form is None:
                continue
            item["form"] = form
            item["errors"], item["values"] = {}, {}
            done = outcome and outcome.get("form_id") == form.pk
            if done and outcome.get("result"):
                item["result"] = outcome["result"]
            else:
                item["presented"] = present(
                    form,
                    contact=contact,
                    origin="",
                    visitor=uid,
                    landing_page=page.pk,
                    variant=variant,
                    hidden_values=hidden,
                )
                if done:
                    item["errors"] = outcome.get("errors", {})
                    item["values"] = outcome.get("values", {})
        rendered.append(item)
    targets = [origin_of(f.redirect_url) for f in forms.values() if origin_of(f.redirect_url)]
    response = render(
        request,
        "pages/public/landing.html",
        {
            "page": page,
            "blocks": rendered,
            "preview": preview,
            "honeypot": protection.HONEYPOT,
        },
    )
    response["Content-Security-Policy"] = _csp(targets)
    response["X-Frame-Options"] = "DENY"
    response["Cache-Control"] = "no-store"
    return response


def _record_view(request: HttpRequest, page: LandingPage, variant: PageVariant, uid: str) -> None:
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
                "account_id": existing_account_for_ip(_ip(request)),
            },
        )
        Visitor.objects.filter(pk=visitor.pk).update(last_seen=now)
        contact_id = visitor.contact_id
        touchpoints_append(
            [
                Touchpoint(
                    contact_id=contact_id,
                    visitor=visitor,
                    account_id=None if contact_id else visitor.account_id,
                    type=Type.PAGE_VIEW,
                    occurred_at=now,
                    source="hosted",
                    url=request.build_absolute_uri()[:2000],
                    path=request.path[:1000],
                    title=page.title[:300],
                    referrer=request.headers.get("Referer", "")[:2000],
                    content_asset=page.asset.key if page.asset_id else "",
                    properties={"landing_page_id": page.pk, "variant": variant.key},
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
        PageVariant.objects.filter(pk=variant.pk).update(views=F("views") + 1)


def _live_variants(page: LandingPage) -> list[PageVariant]:
    return [v for v in page.variants.all() if v.is_active] or list(page.variants.all())[:1]


@require_http_methods(["GET", "POST"])
def landing_page(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(
        LandingPage.objects.select_related("asset").prefetch_related("variants"),
        slug=slug,
        status=LandingPage.Status.PUBLISHED,
    )
    variants = _live_variants(page)
    if not variants:
        raise Http404
    uid, new_cookie = _visitor_uid(request)
    variant = pick_variant(variants, uid)
    outcome = None
    if request.method == "POST":
        outcome = _submit_hosted(request, page, variant, uid)
        if isinstance(outcome, HttpResponse):
            return outcome
    else:
        _record_view(request, page, variant, uid)
    response = _render_page(
        request, page, variant.published_blocks, variant=variant.key, uid=uid, outcome=outcome
    )
    if outcome and outcome.get("status"):
        response.status_code = outcome["status"]
    if new_cookie:
        response.set_cookie(
            VISITOR_COOKIE,
            uid,
            max_age=TWO_YEARS,
            samesite="Lax",
            secure=request.is_secure(),
            httponly=True,  # no script runs on hosted pages; none needs to read it
        )
    return response


def _submit_hosted(request, page, variant, uid) -> dict | HttpResponse:
    if _too_big(request):
        return {"form_id": None, "status": 413}
    try:
        form_id = int(request.POST.get("_tsg_form", ""))
    except ValueError:
        return {"form_id": None, "status": 400}
    blocks = variant.published_blocks
    if form_id not in {b.get("form_id") for b in blocks if b.get("type") == "form"}:
        return {"form_id": None, "status": 400}
    form = get_object_or_404(Form, pk=form_id, is_active=True)
    ctx = SubmitContext(
        ip=_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        token=request.POST.get("_tsg_t", ""),
        visitor_uid=uid,
        page_url=request.build_absolute_uri(request.path),
        base_url=_base_url(request),
    )
    try:
        result = form_submit(form=form, data=request.POST, ctx=ctx)
    except Refused as exc:
        return {
            "form_id": form.pk,
            "errors": {"_": exc.message},
            "status": exc.status,
            "values": request.POST,
        }
    if not result.ok:
        return {"form_id": form.pk, "errors": result.errors, "status": 400, "values": request.POST}
    if form.redirect_url and redirect_allowed(form.redirect_url) and not result.download_url:
        return HttpResponseRedirect(form.redirect_url, status=303)
    return {"form_id": form.pk, "result": result}


@require_capability(Capability.CRM_VIEW)
def landing_preview(request: HttpRequest, pk: int) -> HttpResponse:
    page = get_object_or_404(LandingPage, pk=pk)
    variant = get_object_or_404(PageVariant, page=page, key=request.GET.get("variant", "A"))
    return _render_page(request, page, variant.blocks, variant=variant.key, uid="", preview=True)


# --- embedded forms (any registered site) ---------------------------------------------------


def _site_origin(request: HttpRequest) -> str | None:
    """The registered site a cross-origin request comes from (Origin, else Referer)."""
    origin = request.headers.get("Origin", "") or origin_of(request.headers.get("Referer", ""))
    return origin if origin and site_cache.get(origin) is not None else None


@csrf_exempt
@require_http_methods(["GET", "OPTIONS"])
def form_definition(request: HttpRequest, pk: int) -> HttpResponse:
    origin = _site_origin(request)
    if origin is None:
        return JsonResponse({"error": "origin not registered"}, status=403)
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin)
    form = Form.objects.filter(pk=pk, is_active=True).first()
    if form is None:
        return _cors(JsonResponse({"error": "no such form"}, status=404), origin)
    uid = request.GET.get("v", "")
    visitor = visitor_by_uid(uid)
    presented = present(
        form,
        contact=contact_of_visitor(visitor),
        origin=origin,
        visitor=uid if visitor is not None else "",
        hidden_values={k: request.GET.get(k, "") for k in HIDDEN_KEYS},
    )
    response = JsonResponse(as_json(form, presented))
    response["Cache-Control"] = "no-store"
    return _cors(response, origin)


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def form_post(request: HttpRequest, pk: int) -> HttpResponse:
    """Submissions from the JS embed (JSON answer) and plain HTML forms (redirect or page)."""
    origin = _site_origin(request)
    wants_html = "text/html" in request.headers.get("Accept", "")
    if origin is None:
        return JsonResponse({"error": "origin not registered"}, status=403)
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin)
    if _too_big(request):
        return _answer(request, origin, {"error": _("The form is too large.")}, 413, wants_html)
    form = Form.objects.filter(pk=pk).first()
    if form is None:
        return _answer(request, origin, {"error": _("No such form.")}, 404, wants_html)
    ctx = SubmitContext(
        ip=_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        origin=origin,
        token=request.POST.get("_tsg_t", ""),
        visitor_uid=request.POST.get("_tsg_vid", ""),
        page_url=_same_site(
            request.POST.get("page", "") or request.headers.get("Referer", ""), origin
        ),
        base_url=_base_url(request),
    )
    try:
        result = form_submit(form=form, data=request.POST, ctx=ctx)
    except Refused as exc:
        return _answer(request, origin, {"error": exc.message}, exc.status, wants_html)
    if not result.ok:
        return _answer(request, origin, {"errors": result.errors}, 400, wants_html)
    redirect = form.redirect_url if redirect_allowed(form.redirect_url) else ""
    body = {
        "ok": True,
        "message": form.thank_you_message or _("Thank you. We have received your submission."),
        "redirect": redirect,
        "download_url": result.download_url,
        "confirm": result.awaiting_confirmation,
    }
    if wants_html:
        target = redirect or _same_site(request.POST.get("next", ""), origin)
        if target and not result.download_url:
            return HttpResponseRedirect(target, status=303)
        response = render(request, "pages/public/thanks.html", {"form": form, **body})
        response["Content-Security-Policy"] = _csp([])
        return response
    return _cors(JsonResponse(body), origin)


def _same_site(url: str, origin: str) -> str:
    return url[:2000] if url and origin_of(url) == origin else ""


def _answer(request, origin: str, body: dict, status: int, wants_html: bool) -> HttpResponse:
    if wants_html:
        errors = list(body.get("errors", {}).values()) or [body.get("error", "")]
        response = render(request, "pages/public/error.html", {"errors": errors}, status=status)
        response["Content-Security-Policy"] = _csp([])
        return response
    return _cors(JsonResponse(body, status=status), origin)


# --- double opt-in confirmation and gated downloads -----------------------------------------


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button and changes nothing (mail scanners follow links); POST confirms."""
    submission = confirm_read(token)
    if submission is None or submission.contact is None:
        return render(request, "pages/public/confirm.html", {"invalid": True}, status=400)
    confirmed = False
    if request.method == "POST":
        consent_confirm(submission=submission, ip=_ip(request))
        confirmed = True
    response = render(
        request,
        "pages/public/confirm.html",
        {"submission": submission, "confirmed": confirmed, "token": token},
    )
    response["Content-Security-Policy"] = _csp([])
    return response


@require_GET
def download(request: HttpRequest, token: str) -> HttpResponse:
    found = download_read(token)
    if found is None:
        raise Http404
    asset, contact = found
    uid = request.COOKIES.get(VISITOR_COOKIE, "")
    download_record(asset=asset, contact=contact, visitor=visitor_by_uid(uid))
    if asset.file:
        return FileResponse(asset.file.open("rb"), as_attachment=True)
    # The asset's URL is set by staff, never taken from the request: not an open redirect.
    target = asset.url_prefix
    if urlsplit(target).scheme not in {"http", "https"}:
        raise Http404
    return HttpResponseRedirect(target)


# --- dynamic content ------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "OPTIONS"])
def slots(request: HttpRequest) -> HttpResponse:
    origin = _site_origin(request)
    if origin is None:
        return JsonResponse({"error": "origin not registered"}, status=403)
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin)
    if not protection.ip_limiter_slots.allow(_ip(request) or "-"):
        return _cors(JsonResponse({"error": "too many requests"}, status=429), origin)
    keys = [k for k in request.GET.get("k", "").split(",") if k][:10]
    page_url = _same_site(request.GET.get("u", ""), origin)
    decisions = dynamic.decide(
        uid=request.GET.get("v"),
        keys=keys,
        source=origin,
        url=page_url,
        ip=_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
    )
    response = HttpResponse(json.dumps(decisions), content_type="application/json")
    response["Cache-Control"] = "no-store"
    return _cors(response, origin)
