"""The bytes of one email, written directly: what Django's `EmailMultiAlternatives.message()`
produces for a text part with an HTML alternative, without building an `email.message` tree.

Building and flattening that tree (header objects, folding policies, charset lookups) cost
about 2 ms per message, more than everything else a broadcast does per recipient. The shape
here is fixed — `multipart/alternative` with `text/plain` and `text/html` in UTF-8 — so the
headers that do not change within a broadcast are encoded once and cached, and each message
fills in only its own: To, Subject, Date, Message-ID and the per-message headers.

`serialise()` answers None for anything outside that shape (attachments, Cc, an address that
is not plain ASCII…); the caller then lets Django build the message as usual.
"""

from __future__ import annotations

import base64
import binascii
import functools
import random
import re
import time
from email.utils import formataddr, formatdate, make_msgid, parseaddr

from django.conf import settings
from django.core.mail import BadHeaderError
from django.core.mail.utils import DNS_NAME

# RFC 5322 §2.1.1: a line is at most 998 characters (before CRLF).
LINE_LIMIT = 998
# RFC 2047 encoded-words of at most 75 characters: 45 bytes of UTF-8 → 60 of base64.
_WORD_BYTES = 45


def _ascii(value: str) -> bool:
    return value.isascii()


def encoded_words(value: str) -> str:
    """`=?utf-8?b?…?=` words of whole characters, folded one per line (RFC 2047)."""
    data = value.encode()
    words = []
    start, end = 0, len(data)
    while start < end:
        stop = min(start + _WORD_BYTES, end)
        while stop < end and (data[stop] & 0xC0) == 0x80:  # never split a character
            stop -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:stop]).decode()}?=")
        start = stop
    return "\r\n ".join(words)


def unstructured(name: str, value: str) -> str:
    """A free-text header (Subject): as is when short plain ASCII, else encoded-words."""
    if _ascii(value) and "=?" not in value and len(name) + 2 + len(value) <= 78:
        return value
    return encoded_words(value)


# A bare ASCII address (what a recipient usually is): written as is, without parsing.
_BARE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def bare_address(value: str) -> bool:
    return _BARE.fullmatch(value) is not None


def address_header(value: str) -> str | None:
    """`Name <addr>` with the name encoded when it is not ASCII; None when the address is not
    a plain ASCII one (the caller falls back to Django's encoder, which handles IDNA)."""
    if _BARE.fullmatch(value):
        return value
    return _named_address(value)


@functools.lru_cache(maxsize=64)
def _named_address(value: str) -> str | None:
    name, addr = parseaddr(value)
    if not addr or not _ascii(addr) or any(c in addr for c in ' ,<>"()'):
        return None
    if not name:
        return addr
    if _ascii(name):
        return formataddr((name, addr))
    return f"{encoded_words(name)} <{addr}>"


def _list_header(value: str) -> str:
    """An ASCII list header (List-Unsubscribe): folded after each comma."""
    return ",\r\n ".join(item.strip() for item in value.split(","))


_date_cache: list = [0, ""]


def date_header() -> str:
    """The Date header, formatted once per second (as Django does it, EMAIL_USE_LOCALTIME)."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, localtime=settings.EMAIL_USE_LOCALTIME)
    return _date_cache[1]


def body_part(content_type: str, text: str) -> bytes:
    """One text part in UTF-8: 8bit (as Django sends it) unless a line is too long for SMTP,
    then quoted-printable (binascii's C encoder)."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode()
    if len(data) > LINE_LIMIT and max(map(len, data.split(b"\n"))) > LINE_LIMIT:
        encoding = b"quoted-printable"
        data = binascii.b2a_qp(data, istext=True)
    else:
        encoding = b"8bit"
    return (
        b"Content-Type: " + content_type.encode() + b'; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: " + encoding + b"\r\n\r\n" + data.replace(b"\n", b"\r\n")
    )


def serialise(email) -> bytes | None:
    """The wire bytes of a Django EmailMultiAlternatives with one text/html alternative, or
    None when the message has another shape (attachments, Cc, non-ASCII addresses…)."""
    alternatives = getattr(email, "alternatives", ())
    if (
        email.attachments
        or email.cc
        or email.content_subtype != "plain"
        or (email.encoding or settings.DEFAULT_CHARSET).lower() != "utf-8"
        or len(alternatives) != 1
        or alternatives[0][1] != "text/html"
        or len(email.to) != 1
    ):
        return None
    headers = {k.lower(): (k, v) for k, v in email.extra_headers.items()}
    sender = address_header(str(headers.pop("from", ("From", email.from_email))[1]))
    to = address_header(str(email.to[0]))
    reply_to = None
    if email.reply_to:
        if len(email.reply_to) != 1:
            return None
        reply_to = address_header(str(email.reply_to[0]))
        if reply_to is None:
            return None
    if "reply-to" in headers:
        reply_to = address_header(str(headers.pop("reply-to")[1]))
        if reply_to is None:
            return None
    if sender is None or to is None or "to" in headers or "cc" in headers:
        return None
    for value in (email.subject, email.to[0], *(v for _k, v in headers.values())):
        if any(c in str(value) for c in "\r\n\x00"):
            raise BadHeaderError(f"Header values cannot contain newlines or NUL ({value!r})")
    lines = [
        f"Subject: {unstructured('Subject', str(email.subject))}",
        f"From: {sender}",
        f"To: {to}",
    ]
    if reply_to:
        lines.append(f"Reply-To: {reply_to}")
    if "date" not in headers:
        lines.append(f"Date: {date_header()}")
    if "message-id" not in headers:
        lines.append(f"Message-ID: {make_msgid(domain=DNS_NAME)}")
    for name, value in headers.values():
        value = str(value)
        if not _ascii(value):
            value = unstructured(name, value)
        elif name.lower() in ("list-unsubscribe", "list-help", "list-post"):
            value = _list_header(value)
        elif len(name) + 2 + len(value) > LINE_LIMIT:
            return None
        lines.append(f"{name}: {value}")
    # Not a secret, only unique (random, not os.urandom, which can block on a busy host); the
    # bodies are UTF-8 text, which never holds this ASCII run by chance.
    boundary = f"=_tsg_{random.getrandbits(128):032x}"
    lines.append("MIME-Version: 1.0")
    lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    delimiter = f"--{boundary}\r\n".encode()
    return b"".join(
        (
            head,
            delimiter,
            body_part("text/plain", str(email.body)),
            b"\r\n",  # the line break before a delimiter belongs to the delimiter
            delimiter,
            body_part("text/html", str(alternatives[0][0])),
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
