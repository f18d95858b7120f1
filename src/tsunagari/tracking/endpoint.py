"""The collect endpoint's logic, free of any web framework so the hot path can skip Django.

`collect_reply` decides everything from a few request facts. The Django view (tests, any
server) and the WSGI fast path in front of Django (`tsunagari serve`) both call it, so there
is one implementation; the fast path only saves Django's middleware on every page view.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from tsunagari.core.ratelimit import RateLimiter
from tsunagari.tracking.collect import MAX_BODY_BYTES, CollectError, Hit, is_bot, parse_hit
from tsunagari.tracking.ingest import IngestTimeout, Pending, writer
from tsunagari.tracking.sites import SiteRules, site_cache

# A browser sends a page view and a leave per page; the default (50/s, bursts of 200) is far
# above an office of people behind one address and far below a flood.
limiter = RateLimiter(rate=settings.TSUNAGARI_COLLECT_RATE, burst=settings.TSUNAGARI_COLLECT_BURST)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    cors_origin: str = ""  # echo as Access-Control-Allow-Origin when set
    preflight: bool = False  # the answer to OPTIONS: what the origin may send, for a day

    @property
    def content_type(self) -> str:
        return "application/json" if self.body else "text/plain"

    def headers(self) -> list[tuple[str, str]]:
        # A 204 has no content, so no Content-Length either (RFC 9110, 8.6).
        headers = (
            []
            if self.status == 204
            else [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))]
        )
        if self.cors_origin:
            headers += [("Access-Control-Allow-Origin", self.cors_origin), ("Vary", "Origin")]
            if self.preflight:
                headers += [
                    ("Access-Control-Allow-Methods", "POST, OPTIONS"),
                    ("Access-Control-Allow-Headers", "Content-Type"),
                    ("Access-Control-Max-Age", "86400"),
                ]
        return headers


def error(status: int, message: str, origin: str = "") -> Reply:
    return Reply(status, json.dumps({"error": message}).encode(), origin)


def checked_site(origin: str, ip: str) -> tuple[SiteRules | None, Reply | None]:
    """The registered site for this origin, or the refusal (403 unknown origin, 429 flood)."""
    site = site_cache.get(origin) if origin else None
    if site is None:
        return None, error(403, "origin not registered")
    if not limiter.allow(ip):
        return None, error(429, "too many requests", origin)
    return site, None


def admitted(
    site: SiteRules,
    hit: Hit,
    *,
    user_agent: str,
    dnt: bool,
    ip: str,
    make: Callable[..., Pending] = Pending,
) -> Pending | None:
    """The hit as the writer's next item; None when the site's rules drop it.

    Dropped: bots (unless the site records them), Do-Not-Track where honoured, and before
    consent everything (opt-in); cookieless sites keep the visit without its visitor id.
    """
    bot = is_bot(user_agent)
    if bot and not site.record_bots:
        return None
    if site.honour_dnt and dnt:
        return None
    if site.consent_mode != "always" and not hit.consented:
        if site.consent_mode == "opt_in":
            return None  # nothing at all until consent
        hit.visitor_uid = None  # cookieless: the visit counts, the browser is not followed
    return make(hit=hit, source=site.origin, user_agent=user_agent, is_bot=bot, ip=ip)


def store_hit(site: SiteRules, hit: Hit, *, user_agent: str, dnt: bool, ip: str) -> Reply | None:
    """Hand the hit to the group-commit writer and wait; None when stored (or rightly dropped)."""
    pending = admitted(site, hit, user_agent=user_agent, dnt=dnt, ip=ip)
    if pending is None:
        return None
    try:
        writer.submit(pending)
    except IngestTimeout:
        return error(503, "busy, retry", site.origin)
    return None


def collect_decision(
    *,
    method: str,
    origin: str,
    body: bytes,
    user_agent: str,
    dnt: bool,
    ip: str,
    make: Callable[..., Pending] = Pending,
) -> Reply | Pending:
    """Everything about one request short of storing it: the answer, or the hit to store.

    A Pending is answered 204 once the writer has committed it (`collect_reply` waits in a
    thread, the collector server awaits it on its event loop).
    """
    if method == "OPTIONS":
        if site_cache.get(origin) is None:
            return error(403, "origin not registered")
        return Reply(204, cors_origin=origin, preflight=True)
    if method != "POST":
        return error(405, "POST only")
    site, refused = checked_site(origin, ip)
    if refused:
        return refused
    try:
        hit = parse_hit(body, origin=site.origin)
    except CollectError as exc:
        return error(400, str(exc), origin)
    pending = admitted(site, hit, user_agent=user_agent, dnt=dnt, ip=ip, make=make)
    return Reply(204, cors_origin=origin) if pending is None else pending


def collect_reply(
    *, method: str, origin: str, body: bytes, user_agent: str, dnt: bool, ip: str
) -> Reply:
    """One page view, leave or event from the snippet; 204 once it is durably stored."""
    decided = collect_decision(
        method=method, origin=origin, body=body, user_agent=user_agent, dnt=dnt, ip=ip
    )
    if isinstance(decided, Reply):
        return decided
    try:
        writer.submit(decided)
    except IngestTimeout:
        return error(503, "busy, retry", origin)
    return Reply(204, cors_origin=origin)


REASONS = {
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class CollectFastPath:
    """WSGI middleware: answers POST/OPTIONS /t/collect itself, passes everything else on."""

    path = "/t/collect"

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != self.path:
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            reply = error(400, "payload too large")
        else:
            body = environ["wsgi.input"].read(length) if length else b""
            reply = collect_reply(
                method=environ.get("REQUEST_METHOD", ""),
                origin=environ.get("HTTP_ORIGIN", ""),
                body=body,
                user_agent=environ.get("HTTP_USER_AGENT", ""),
                dnt=environ.get("HTTP_DNT") == "1",
                ip=environ.get("REMOTE_ADDR", ""),
            )
        start_response(f"{reply.status} {REASONS.get(reply.status, 'OK')}", reply.headers())
        return [reply.body]
