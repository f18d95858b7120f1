"""The visitor's own address when Tsunagari runs behind a reverse proxy or load balancer.

Rate limits and company IP ranges need the address of the browser, but behind a proxy every
request comes from the proxy. With TSUNAGARI_TRUSTED_PROXIES set (addresses or CIDR ranges
of your proxies), a request from one of them is taken to be from the address its
X-Forwarded-For names: read from the right, the first hop that is not a trusted proxy. (The
left of that header is whatever the browser sent, so it is never believed.) Requests from
anywhere else keep their own address, whatever they claim.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=4)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _within(address: str, networks: tuple[Network, ...]) -> bool | None:
    """Whether the address is one of the networks; None when it is not an address at all."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return any(ip in network for network in networks)


def client_address(peer: str, forwarded_for: str) -> str:
    """The address a request came from, seen through the trusted proxies in front of us."""
    if not forwarded_for:  # a browser straight to us: nothing to look up (the common case)
        return peer
    networks = _networks(tuple(settings.TSUNAGARI_TRUSTED_PROXIES))
    if not networks or not _within(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    for hop in reversed(hops):
        trusted = _within(hop, networks)
        if trusted is None:
            return peer  # a proxy of ours writes addresses: this header is not theirs
        if not trusted:
            return hop
    return hops[0]  # proxies all the way: the first one is as far as we can see


class BehindProxies:
    """WSGI middleware: REMOTE_ADDR becomes the visitor's address (see the module)."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        environ["REMOTE_ADDR"] = client_address(
            environ.get("REMOTE_ADDR", ""), environ.get("HTTP_X_FORWARDED_FOR", "")
        )
        return self.app(environ, start_response)
