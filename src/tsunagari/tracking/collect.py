"""Validation of what the website snippet sends: one page view, leave, event or identify."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qs, urlsplit

from tsunagari.tracking.vocabulary import Type

MAX_BODY_BYTES = 8 * 1024
_UID = re.compile(r"^[0-9a-f]{32}$")
_EVENT_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")
_SCREEN = re.compile(r"\d{1,5}x\d{1,5}")
_BOT = re.compile(
    r"bot|crawl|spider|slurp|mediapartners|facebookexternalhit|embedly|quora link|"
    r"headlesschrome|phantomjs|lighthouse|pingdom|uptime|monitor|curl/|wget/|python-requests|"
    r"python-urllib|go-http-client|java/|okhttp|httpclient|scrapy|axios/",
    re.IGNORECASE,
)
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
KINDS = {"pv": Type.PAGE_VIEW, "leave": Type.PAGE_LEAVE, "ev": Type.CUSTOM_EVENT}


class CollectError(ValueError):
    """The payload is not something the snippet sends; the message says what is wrong."""


@dataclass
class Hit:
    """One validated event from a browser, ready to become a touchpoint."""

    kind: str
    visitor_uid: str | None
    url: str
    path: str
    title: str
    referrer: str
    utm: dict[str, str]
    occurred_at: dt.datetime
    duration_ms: int | None = None
    event_name: str = ""
    properties: dict = field(default_factory=dict)
    screen: str = ""
    consented: bool = False


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")


@functools.lru_cache(maxsize=4096)
def is_bot(user_agent: str) -> bool:
    # Cached: a site's visitors send a few hundred distinct user agents, each on every hit.
    return not user_agent or bool(_BOT.search(user_agent))


def _text(data: dict, key: str, limit: int) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CollectError(f"{key} must be a string")
    # Control characters have no place in a title or URL; strip rather than reject.
    return _CONTROL.sub("", value)[:limit]


def origin_of(url: str) -> str:
    """scheme://host[:port] of an http(s) URL; "" for anything else, malformed ones included."""
    try:
        return _origin(urlsplit(url))
    except ValueError:  # "http://[::1", a port beyond 65535…: no origin, never a 500
        return ""


def _origin(parts: SplitResult) -> str:
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return ""
    port = parts.port  # ValueError when out of range
    default = 80 if parts.scheme == "http" else 443
    return f"{parts.scheme}://{parts.hostname}{f':{port}' if port and port != default else ''}"


def parse_hit(body: bytes, *, origin: str) -> Hit:
    """Parse one event; the page URL must belong to the origin the browser says it came from."""
    if len(body) > MAX_BODY_BYTES:
        raise CollectError("payload too large")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CollectError("payload is not JSON") from None
    if not isinstance(data, dict):
        raise CollectError("payload must be a JSON object")
    kind = data.get("k")
    if kind not in KINDS:
        raise CollectError("unknown kind")
    uid = data.get("v")
    if uid is not None and (not isinstance(uid, str) or not _UID.match(uid)):
        raise CollectError("visitor id must be 32 hex characters")
    url = _text(data, "u", 2000)
    try:
        parts = urlsplit(url)
        on_site = _origin(parts) == origin
    except ValueError:
        on_site = False
    if not on_site:
        raise CollectError("page URL is not on the sending site")
    utm = {}
    if "utm_" in parts.query:
        query = parse_qs(parts.query)
        utm = {key: query[key][0][:100] for key in UTM_KEYS if query.get(key)}
    duration = data.get("d")
    if duration is not None:
        if not isinstance(duration, int) or isinstance(duration, bool) or duration < 0:
            raise CollectError("duration must be a whole number of milliseconds")
        duration = min(duration, 24 * 3600 * 1000)
    name = ""
    props: dict = {}
    if kind == "ev":
        name = data.get("n", "")
        if not isinstance(name, str) or not _EVENT_NAME.match(name):
            raise CollectError("event name must be 1-40 letters, digits or _.:-")
        raw_props = data.get("p") or {}
        if not isinstance(raw_props, dict) or len(raw_props) > 20:
            raise CollectError("event properties must be an object of at most 20 keys")
        for key, value in raw_props.items():
            if not isinstance(value, (str, int, float, bool)) or len(str(key)) > 40:
                raise CollectError("event properties must be short keys with plain values")
            props[str(key)] = value[:200] if isinstance(value, str) else value
    screen = data.get("s", "")
    screen = screen if isinstance(screen, str) and _SCREEN.fullmatch(screen) else ""
    return Hit(
        kind=kind,
        visitor_uid=uid,
        url=url,
        path=parts.path[:1000] or "/",
        title=_text(data, "t", 300),
        referrer=_text(data, "r", 2000),
        utm=utm,
        occurred_at=dt.datetime.now(dt.UTC),  # timezone.now() without its settings lookup
        duration_ms=duration,
        event_name=name,
        properties=props,
        screen=screen,
        consented=data.get("c") == 1,
    )


def identify_signature(secret: str, email: str, timestamp: int) -> str:
    """What the site's server computes to vouch for `email`: HMAC-SHA256 over email|timestamp."""
    message = f"{email}|{timestamp}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_identify(secret: str, email: str, timestamp: object, signature: object) -> bool:
    """True for a signature made with the site's secret in the last 24 hours."""
    if not isinstance(timestamp, int) or not isinstance(signature, str):
        return False
    if abs(time.time() - timestamp) > 24 * 3600:
        return False
    expected = identify_signature(secret, email, timestamp)
    return hmac.compare_digest(expected, signature)
