"""Creating, checking and revoking API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.api.models import ApiToken
from tsunagari.core.models import User

TOKEN_PREFIX = "tsu_"  # noqa: S105  (a marker, not a secret)
# last_used_at is written at most this often per token: not one UPDATE per API call.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
MAX_TOKENS_PER_USER = 20


class ApiTokenError(ValueError):
    pass


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(
    *, user: User, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it and the full token text, shown only this once."""
    name = name.strip()
    if not name:
        raise ApiTokenError(_("Give the token a name (what uses it)."))
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise ApiTokenError(_("A token expires after 1 to 3,650 days, or never."))
    usable = ApiToken.objects.filter(user=user, revoked_at__isnull=True).count()
    if usable >= MAX_TOKENS_PER_USER:
        raise ApiTokenError(_("You have %(n)d tokens; revoke one first.") % {"n": usable})
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=prefix,
        secret_hash=_hash(secret),
        expires_at=timezone.now() + dt.timedelta(days=expires_in_days) if expires_in_days else None,
    )
    return token, f"{TOKEN_PREFIX}{prefix}_{secret}"


def token_authenticate(raw: str) -> ApiToken | None:
    """The usable token this text is, with its active user; None for anything else."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    prefix, _sep, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(secret)):
        return None
    if not token.is_usable or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
