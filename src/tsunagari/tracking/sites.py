"""Which origins may send to the collect endpoint: a small cache refreshed every few seconds."""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass

from tsunagari.tracking.models import IpRange, TrackedSite

_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class SiteRules:
    id: int
    origin: str
    consent_mode: str
    honour_dnt: bool
    record_bots: bool
    identify_secret: str


class _SiteCache:
    def __init__(self) -> None:
        self._sites: dict[str, SiteRules] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def get(self, origin: str) -> SiteRules | None:
        if time.monotonic() - self._loaded_at > _TTL_SECONDS:
            self.reload()
        return self._sites.get(origin)

    def reload(self) -> None:
        sites = {
            s.origin: SiteRules(
                s.pk, s.origin, s.consent_mode, s.honour_dnt, s.record_bots, s.identify_secret
            )
            for s in TrackedSite.objects.filter(is_active=True)
        }
        with self._lock:
            self._sites = sites
            self._loaded_at = time.monotonic()


site_cache = _SiteCache()


def ip_key(address: str) -> str | None:
    """A sortable text key of an IP address (IPv4 mapped into IPv6 space), None if invalid."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 4:
        ip = ipaddress.IPv6Address(f"::ffff:{ip}")
    return f"{int(ip):039d}"


def range_keys(cidr: str) -> tuple[str, str]:
    """(start, end) keys of a CIDR range; ValueError for a malformed one."""
    network = ipaddress.ip_network(cidr.strip(), strict=False)
    first, last = network[0], network[-1]
    return ip_key(str(first)) or "", ip_key(str(last)) or ""


def account_for_ip(address: str) -> int | None:
    """The account owning the narrowest imported range that contains the address."""
    key = ip_key(address)
    if key is None:
        return None
    match = (
        IpRange.objects.filter(start__lte=key, end__gte=key)
        .order_by("-start")
        .values_list("account_id", flat=True)
        .first()
    )
    return match
