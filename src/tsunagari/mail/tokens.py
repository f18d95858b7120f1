"""Signed tokens in every public mail link: they name one message (or one contact), nothing more.

HMAC with the secret key (django.core.signing), one salt per purpose, so a click token cannot
be used as an unsubscribe token. A forged or altered token fails verification and the view
answers 404.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes

_UNSUBSCRIBE = "tsunagari.mail.unsubscribe"
_OPEN = "tsunagari.mail.open"
_CLICK = "tsunagari.mail.click"
_PREFERENCES = "tsunagari.mail.preferences"
_RETURN_PATH = "tsunagari.mail.verp"


@functools.lru_cache(maxsize=32)
def _keyed(salt: str, secret: str | bytes) -> hmac.HMAC:
    """HMAC-SHA256 under the key django.utils.crypto.salted_hmac derives from salt and secret.

    Deriving that key costs a hash and building the HMAC two more: done once per salt here and
    copied per token, since a broadcast signs several tokens for every message.
    """
    key = hashlib.sha256(salt.encode() + force_bytes(secret)).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def _mac(salt: str, value: str) -> bytes:
    mac = _keyed(salt, settings.SECRET_KEY).copy()
    mac.update(value.encode())
    return mac.digest()


def _sign(salt: str, value: str) -> str:
    """Exactly django.core.signing.Signer(salt=salt).sign(value) (which verifies it), faster."""
    signature = base64.urlsafe_b64encode(_mac(salt + "signer", value)).rstrip(b"=").decode()
    return f"{value}:{signature}"


def _unsign(salt: str, token: str) -> str | None:
    try:
        return signing.Signer(salt=salt).unsign(token)
    except signing.BadSignature:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def unsubscribe_token(message_id: int) -> str:
    return _sign(_UNSUBSCRIBE, str(message_id))


def unsubscribe_message_id(token: str) -> int | None:
    return _int(_unsign(_UNSUBSCRIBE, token))


def open_token(message_id: int) -> str:
    return _sign(_OPEN, str(message_id))


def open_message_id(token: str) -> int | None:
    return _int(_unsign(_OPEN, token))


def click_token(message_id: int, link_id: int) -> str:
    return _sign(_CLICK, f"{message_id}.{link_id}")


def click_ids(token: str) -> tuple[int, int] | None:
    value = _unsign(_CLICK, token)
    if value is None or value.count(".") != 1:
        return None
    message_id, link_id = (_int(v) for v in value.split("."))
    if message_id is None or link_id is None:
        return None
    return message_id, link_id


def preferences_token(contact_id: int) -> str:
    return _sign(_PREFERENCES, str(contact_id))


def preferences_contact_id(token: str) -> int | None:
    return _int(_unsign(_PREFERENCES, token))


def return_path_tag(message_id: int) -> str:
    """`m123-<sig>`: the local-part suffix of a per-message return path (VERP)."""
    return f"m{message_id}-{_hex_signature(str(message_id))}"


def return_path_message_id(tag: str) -> int | None:
    """The message a bounce address names, only when its signature matches."""
    if not tag.startswith("m") or "-" not in tag:
        return None
    number, signature = tag[1:].split("-", 1)
    if not number.isdigit():
        return None
    matches = constant_time_compare(_hex_signature(number), signature.lower())
    return int(number) if matches else None


def _hex_signature(value: str) -> str:
    # Lower-case hex: mail servers may change the case of a local part.
    # Exactly salted_hmac(_RETURN_PATH, value, algorithm="sha256"), with its key derived once.
    return _mac(_RETURN_PATH, value).hex()[:16]
