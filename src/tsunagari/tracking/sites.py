"""Which origins may send to the collect endpoint: a small cache refreshed every few seconds."""

from __future__ import annotations

import bisect
import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass

from django.db import connection

from tsunagari.crm.models import Account
from tsunagari.tracking.models import IpRange, TrackedSite

log = logging.getLogger(__name__)

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
        self._refresher: threading.Thread | None = None

    def get(self, origin: str) -> SiteRules | None:
        # One thread reloads; the others go on with the sites they have — except before the
        # first load, when there is nothing to go on with. With a refresher thread, never here.
        if (
            self._refresher is None
            and self._stale()
            and self._reloading.acquire(blocking=not self._loaded_at)
        ):
            try:
                if self._stale():
                    self.reload()
            finally:
                self._reloading.release()
        return self._sites.get(origin)

    @property
    def loaded(self) -> bool:
        return self._loaded_at > 0

    def keep_fresh(self) -> None:
        """Reload from a thread of its own from now on, never in `get`.

        For an event loop (the collect server), which must not wait on the database.
        """
        with self._reloading:
            if self._refresher is None:
                self._refresher = threading.Thread(
                    target=self._refresh_forever, name="tsunagari-sites", daemon=True
                )
                self._refresher.start()

    def _refresh_forever(self) -> None:
        while True:
            try:
                self.reload(keep_connection=True)  # this thread's own, used every few seconds
            except Exception:  # the database away for a moment: keep the sites we have
                log.exception("could not reload the tracked sites")
                connection.close()
            time.sleep(_TTL_SECONDS / 2)

    def _stale(self) -> bool:
        return time.monotonic() - self._loaded_at > _TTL_SECONDS

    def reload(self, *, keep_connection: bool = False) -> None:
        sites = {
            s.origin: SiteRules(
                s.pk, s.origin, s.consent_mode, s.honour_dnt, s.record_bots, s.identify_secret
            )
            for s in TrackedSite.objects.filter(is_active=True)
        }
        if not keep_connection and not connection.in_atomic_block:
            # The collect fast path runs outside Django's request cycle, which would close a
            # request thread's connection: without this, each of the server's threads would
            # keep one open (and PostgreSQL refuses clients beyond max_connections).
            connection.close()
        with self._lock:
            self._sites = sites
            self._loaded_at = time.monotonic()


site_cache = _SiteCache()


_V4_MAPPED = 0xFFFF << 32  # ::ffff:0:0/96, where IPv4 addresses sit in IPv6 space


def ip_key(address: str) -> str | None:
    """A sortable text key of an IP address (IPv4 mapped into IPv6 space), None if invalid.

    The C parser, not `ipaddress`: every new visitor's address is looked up, and parsing it
    with `ipaddress` cost more than the rest of the visitor's row.
    """
    try:
        if ":" in address:  # a zone ("fe80::1%eth0") does not change the address
            value = int.from_bytes(
                socket.inet_pton(socket.AF_INET6, address.partition("%")[0]), "big"
            )
        else:
            value = _V4_MAPPED | int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big")
    except (OSError, ValueError, TypeError):
        return None
    return f"{value:039d}"


def range_keys(cidr: str) -> tuple[str, str]:
    """(start, end) keys of a CIDR range; ValueError for a malformed one."""
    network = ipaddress.ip_network(cidr.strip(), strict=False)
    first, last = network[0], network[-1]
    return ip_key(str(first)) or "", ip_key(str(last)) or ""


class _RangeCache:
    """Imported company IP ranges in memory, sorted by start, reloaded every few seconds.

    Every new visitor is looked up (the collect endpoint's writer, forms, dynamic content):
    a query each cost the writer as much as the rest of its batch. A table beyond
    IN_MEMORY_UP_TO ranges is queried instead. Saving or deleting a range here empties the
    cache at once; other processes see it within _TTL_SECONDS.
    """

    IN_MEMORY_UP_TO = 50_000

    def __init__(self) -> None:
        self._ranges: list[tuple[str, str, int]] | None = None  # (start, end, account), sorted
        self._starts: list[str] = []
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def clear(self, **_kwargs) -> None:
        self._loaded_at = 0.0

    def account(self, key: str) -> int | None:
        with self._lock:
            if time.monotonic() - self._loaded_at > _TTL_SECONDS:
                self._reload()
            ranges, starts = self._ranges, self._starts
        if ranges is None:  # too many to hold: ask the database
            return (
                IpRange.objects.filter(start__lte=key, end__gte=key)
                .order_by("-start")
                .values_list("account_id", flat=True)
                .first()
            )
        # The narrowest range holding the address is the one starting last among those that
        # start before it and end after it.
        for i in range(bisect.bisect_right(starts, key) - 1, -1, -1):
            if ranges[i][1] >= key:
                return ranges[i][2]
        return None

    def _reload(self) -> None:
        rows = list(
            IpRange.objects.order_by("start", "pk").values_list("start", "end", "account_id")[
                : self.IN_MEMORY_UP_TO + 1
            ]
        )
        if not connection.in_atomic_block:
            connection.close()  # as in _SiteCache.reload
        if len(rows) > self.IN_MEMORY_UP_TO:
            self._ranges, self._starts = None, []
        else:
            self._ranges, self._starts = rows, [r[0] for r in rows]
        self._loaded_at = time.monotonic()


range_cache = _RangeCache()


def account_for_ip(address: str) -> int | None:
    """The account owning the narrowest imported range that contains the address.

    From ranges cached for seconds: the account may have been deleted meanwhile in another
    process. A writer that stores it checks that it still exists (existing_account_for_ip, or
    one query for a whole batch as the collect writer does).
    """
    key = ip_key(address)
    if key is None:
        return None
    return range_cache.account(key)


def existing_account_for_ip(address: str) -> int | None:
    """account_for_ip, None if that account no longer exists (so a visitor saved with it
    cannot fail its transaction on the foreign key: a form submission must not be lost)."""
    account = account_for_ip(address)
    if account is not None and not Account.objects.filter(pk=account).exists():
        return None
    return account
