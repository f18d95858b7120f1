"""In-process token-bucket rate limits for the public endpoints (tracking, forms).

Each web process keeps its own buckets: with N processes behind a balancer a client gets up
to N times the rate, which is still a hard ceiling on a flood from one address.
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """`allow(key)` is True while `key` stays within `rate` events per second, bursts of `burst`."""

    def __init__(self, *, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > self.max_keys:
                self._forget_full(now)
            return allowed

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: they hold no information."""
        full_after = self.burst / self.rate
        self._buckets = {
            key: value for key, value in self._buckets.items() if now - value[1] < full_after
        }

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
