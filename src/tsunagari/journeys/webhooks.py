"""Webhook calls from a journey step: signed, time-limited, retried, and SSRF-safe.

The host is resolved here and every address it resolves to is checked: private, loopback,
link-local (169.254.0.0/16, the cloud metadata address), multicast, reserved and unspecified
addresses are refused unless an administrator allowed private targets
(JourneySettings.allow_private_webhooks). The connection then goes to the checked address
(never a second DNS lookup), so a name cannot resolve to a public address for the check and
to a private one for the request.

Signature: header `X-Tsunagari-Signature: t=<unix time>,v1=<hex HMAC-SHA256>` over
`<unix time>.<body>` with the installation's webhook secret; `X-Tsunagari-Delivery` is the
same for every retry of one step run, so a receiver can drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 64 * 1024


class WebhookRefused(ValueError):
    """The target is not allowed (scheme, private address); retrying will not help."""


@dataclass
class Result:
    ok: bool
    status: int = 0
    error: str = ""
    retry: bool = False


def _forbidden(address: ipaddress._BaseAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def resolve(url: str, *, allow_private: bool) -> tuple[str, str, int, str]:
    """(scheme, checked IP, port, host) for `url`, or WebhookRefused saying why."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise WebhookRefused("webhooks call http:// or https:// URLs only")
    if parts.username or parts.password:
        raise WebhookRefused("a webhook URL may not carry a user name or password")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookRefused(f"the host {parts.hostname} does not resolve ({exc})") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private:
        bad = [str(a) for a in addresses if _forbidden(a)]
        if bad:
            raise WebhookRefused(
                f"{parts.hostname} resolves to a private or reserved address ({bad[0]}); "
                "an administrator can allow private webhook targets"
            )
    return parts.scheme, str(addresses[0]), port, parts.hostname


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What a receiver does (documented in docs/journeys.md; used by the tests)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked IP, with the certificate verified for the URL's host name."""

    def __init__(self, ip: str, port: int, host: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def call(
    url: str,
    payload: dict,
    *,
    secret: str,
    delivery: str,
    allow_private: bool,
    timeout: float = TIMEOUT_SECONDS,
) -> Result:
    """POST the payload once. 2xx: ok; 5xx, 429, time-outs, connection errors: retry."""
    try:
        scheme, ip, port, host = resolve(url, allow_private=allow_private)
    except WebhookRefused as exc:
        return Result(ok=False, error=str(exc), retry=False)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Tsunagari-Webhook/1",
        "Host": host if port in (80, 443) else f"{host}:{port}",
        "X-Tsunagari-Delivery": delivery,
        "X-Tsunagari-Signature": sign(secret, body, int(time.time())),
    }
    if scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPS(ip, port, host, timeout)
    else:
        conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return Result(ok=False, error=f"{type(exc).__name__}: {exc}"[:300], retry=True)
    finally:
        conn.close()
    if 200 <= status < 300:
        return Result(ok=True, status=status)
    # Redirects are not followed: a redirect could point at a private address.
    return Result(
        ok=False, status=status, error=f"HTTP {status}", retry=status >= 500 or status == 429
    )
