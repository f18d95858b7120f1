"""Abuse protection for public forms: signed form tokens, replay, fill time, rate limits,
payload limits and email checks. A submission refused here changes nothing."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.core.ratelimit import RateLimiter
from tsunagari.crm.validation import clean_email

TOKEN_SALT = "tsunagari.pages.form-token"  # noqa: S105 (a namespace, not a secret)
# A page left open over a long meeting can still be submitted; older tokens are refused.
TOKEN_MAX_AGE = 6 * 3600
# Whole request and one answer: far above any honest form, far below a flood of bytes.
MAX_BODY_BYTES = 64 * 1024
MAX_ANSWER_CHARS = 2000
HONEYPOT = "website_url"

# One address: a burst of 10 submissions, then one every 5 s. One form: 5/s, bursts of 100.
ip_limiter = RateLimiter(rate=0.2, burst=10)
form_limiter = RateLimiter(rate=5.0, burst=100)
# Confirmation emails to one address: a victim's mailbox gets at most 3 in quick succession.
confirm_limiter = RateLimiter(rate=1 / 600, burst=3)


class Refused(Exception):
    """A submission refused outright (not a field error): status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class FormToken:
    form_id: int
    nonce: str
    issued: float
    origin: str
    asked: list[int] = field(default_factory=list)  # ids of the fields that were shown
    visitor: str = ""
    landing_page: int | None = None
    variant: str = ""


def token_issue(
    *,
    form_id: int,
    origin: str,
    asked: list[int],
    visitor: str = "",
    landing_page: int | None = None,
    variant: str = "",
) -> str:
    payload = {
        "f": form_id,
        "n": secrets.token_hex(16),
        "t": int(time.time() * 1000) / 1000,  # never after now: a 0 s minimum always passes
        "o": origin,
        "q": asked,
        "v": visitor,
        "lp": landing_page,
        "var": variant,
    }
    return signing.dumps(payload, salt=TOKEN_SALT, compress=True)


def token_read(value: str, *, form_id: int) -> FormToken:
    """The token's facts; Refused for a forged, expired or other form's token."""
    try:
        data = signing.loads(value, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise Refused(400, _("This form has expired. Reload the page and try again.")) from None
    except signing.BadSignature:
        raise Refused(400, _("This form could not be verified. Reload the page.")) from None
    if data.get("f") != form_id:
        raise Refused(400, _("This form could not be verified. Reload the page."))
    return FormToken(
        form_id=data["f"],
        nonce=str(data["n"]),
        issued=float(data["t"]),
        origin=str(data.get("o", "")),
        asked=[int(i) for i in data.get("q", [])],
        visitor=str(data.get("v") or ""),
        landing_page=data.get("lp"),
        variant=str(data.get("var") or ""),
    )


def check_fill_time(token: FormToken, minimum_seconds: int) -> None:
    if time.time() - token.issued < minimum_seconds:
        raise Refused(400, _("The form was sent too quickly. Please try again."))


def token_use(token: FormToken) -> None:
    """Record the nonce inside the submission's transaction; a second use is refused.

    No savepoint of its own (two round trips fewer): a refusal rolls the whole submission's
    transaction back, which is what a reused token must store anyway — nothing.
    """
    from tsunagari.pages.models import UsedFormToken

    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("token_use runs inside the submission's transaction")
    try:
        UsedFormToken.objects.create(nonce=token.nonce, used_at=timezone.now())
    except IntegrityError:
        raise Refused(
            400, _("This form was already sent. Reload the page to send it again.")
        ) from None


def check_rates(ip: str, form_id: int) -> None:
    if not ip_limiter.allow(ip or "-"):
        raise Refused(429, _("Too many submissions from your network. Please wait a minute."))
    if not form_limiter.allow(str(form_id)):
        raise Refused(429, _("This form is receiving too many submissions. Please retry shortly."))


@cache
def disposable_domains() -> frozenset[str]:
    path = Path(__file__).parent / "data" / "disposable_domains.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(x.strip().lower() for x in lines if x.strip() and not x.startswith("#"))


def is_disposable(domain: str) -> bool:
    parts = domain.split(".")
    blocked = disposable_domains()
    return any(".".join(parts[i:]) in blocked for i in range(len(parts) - 1))


def clean_form_email(raw: str) -> str:
    """A deliverable-looking, non-disposable address; header injection refused outright."""
    if "\r" in raw or "\n" in raw or "\x00" in raw:
        raise ValidationError(_("An email address cannot contain line breaks."))
    email = clean_email(raw)
    if email and is_disposable(email.rsplit("@", 1)[1]):
        raise ValidationError(_("Please use your work email address, not a disposable one."))
    return email


# Dynamic content asks once per page view: the collect endpoint's pace.
ip_limiter_slots = RateLimiter(rate=20.0, burst=100)
