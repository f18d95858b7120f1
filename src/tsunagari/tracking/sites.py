"""Which origins may send to the collect endpoint: a small cache refreshed every few seconds."""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass

from django.db import connection

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
        self._reloading = threading.Lock()

    def get(self, origin: str) -> SiteRules | None:
        # One thread reloads; the others go on with the sites they have — except before the
        # first load, when there is nothing to go on with.
        if self._stale() and self._reloading.acquire(blocking=not self._loaded_at):
            try:
                if self._stale():
                    self.reload()
            finally:
                self._reloading.release()
        return self._sites.get(origin)

    def _stale(self) -> bool:
        return time.monotonic() - self._loaded_at > _TTL_SECONDS

    def reload(self) -> None:
        sites = {
            s.origin: SiteRules(
                s.pk, s.origin, s.consent_mode, s.honour_dnt, s.record_bots, s.identify_secret
            )
            for s in TrackedSite.objects.filter(is_active=True)
        }
        if not connection.in_atomic_block:
            # The collect fast path runs outside Django's request cycle, which would close a
            # request thread's connection: without this, each of the server's threads would
            # keep one open (and PostgreSQL refuses clients beyond max_connections).
            connection.close()
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
