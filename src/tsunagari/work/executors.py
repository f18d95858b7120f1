"""Where batches run: in this process (inline) or on Celery workers (celery).

Every kind of work is a registered batch function that claims its own rows with a
compare-and-set and a lease (work/claims.py), so running a batch twice, on two machines, or
after a lost message is safe: the rows are the source of truth, a Celery message only says
"run a batch of kind K now". The dispatcher (`tsunagari worker`) keeps a few batches of each
kind in flight and sends another when one finishes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings

from tsunagari.work.registry import runners

log = logging.getLogger(__name__)

# A batch not heard of for this long is forgotten (its worker died; acks_late redelivers it
# and the rows' leases make any rerun safe), so the kind is dispatched again.
IN_FLIGHT_TIMEOUT_SECONDS = float(settings.TSUNAGARI_CELERY_LOST_SECONDS)
RUN_KIND = "tsunagari.work.run_kind"  # the task in tsunagari/work/tasks.py


def run_inline() -> int:
    """Run every registered kind of work once, here; the number of items processed in all."""
    done = 0
    for name, runner in runners().items():
        try:
            done += runner()
        except Exception:
            # One kind failing must not stop the others; its rows stay claimable under lease.
            log.exception("work kind %s failed", name)
    return done


@dataclass
class _Sent:
    result: object  # celery.result.AsyncResult
    at: float


@dataclass
class CeleryDispatcher:
    """Keeps up to `parallel` batches of each kind running on Celery workers."""

    parallel: int = 4
    in_flight: dict[str, list[_Sent]] = field(default_factory=dict)

    def run_once(self) -> int:
        """Collect finished batches and send new ones; items processed by those that finished.

        A kind with nothing in flight gets one batch (a probe); a kind whose finished batches
        did work is topped up to `parallel` batches. An idle system so sends one message per
        kind per poll, and a busy kind spreads over several Celery workers.
        """
        done = 0
        now = time.monotonic()
        for name in runners():
            waiting, worked = [], 0
            for sent in self.in_flight.get(name, []):
                if sent.result.ready():
                    if sent.result.successful():
                        worked += int(sent.result.result or 0)
                    else:
                        log.error(
                            "work kind %s failed on a Celery worker: %r", name, sent.result.result
                        )
                    sent.result.forget()
                elif now - sent.at > IN_FLIGHT_TIMEOUT_SECONDS:
                    log.warning(
                        "work kind %s: a batch sent %.0f s ago never finished", name, now - sent.at
                    )
                else:
                    waiting.append(sent)
            done += worked
            target = self.parallel if worked else 1
            while len(waiting) < target:
                waiting.append(_Sent(self._send(name), now))
            self.in_flight[name] = waiting
        return done

    @staticmethod
    def _send(name: str):
        from tsunagari.celery import app

        return app.send_task(RUN_KIND, (name,), queue=settings.CELERY_TASK_DEFAULT_QUEUE)

    def drain(self, timeout: float = 600.0) -> int:
        """Run batches of every kind until none finds work (`worker --once`); items done."""
        deadline = time.monotonic() + timeout
        total, kinds = 0, list(runners())
        while kinds:
            sent = {name: self._send(name) for name in kinds}
            kinds = []
            for name, result in sent.items():
                try:
                    worked = int(result.get(timeout=max(0.1, deadline - time.monotonic())) or 0)
                except Exception:
                    log.exception("work kind %s failed", name)
                    worked = 0
                finally:
                    result.forget()
                total += worked
                if worked:
                    kinds.append(name)
        return total

    @property
    def busy(self) -> bool:
        return any(self.in_flight.values())


_dispatcher: CeleryDispatcher | None = None


def dispatcher() -> CeleryDispatcher:
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = CeleryDispatcher(parallel=max(1, settings.TSUNAGARI_CELERY_PARALLEL))
    return _dispatcher


def run_until_idle() -> int:
    """What `tsunagari worker --once` does: run what is due, then return."""
    if settings.TSUNAGARI_EXECUTOR == "celery":
        return dispatcher().drain()
    return run_inline()


def run_once() -> int:
    """One round of the configured executor (TSUNAGARI_EXECUTOR)."""
    if settings.TSUNAGARI_EXECUTOR == "celery":
        return dispatcher().run_once()
    return run_inline()
