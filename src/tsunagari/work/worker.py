"""The worker loop behind `tsunagari worker` and the worker embedded in `tsunagari serve`."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from tsunagari.core.db import refresh_planner_statistics
from tsunagari.work import executors

log = logging.getLogger(__name__)


def run_once() -> int:
    """One round of every registered kind of work, on the configured executor (executors.py)."""
    return executors.run_once()


# With Celery, how often the dispatcher looks for finished batches while some are in flight.
CELERY_POLL_SECONDS = 0.05


# How often the worker refreshes the SQLite planner's statistics (after imports and growth).
STATISTICS_EVERY_SECONDS = 3600.0


def run_forever(stop: threading.Event, idle_sleep: float = 1.0) -> None:
    statistics_due = time.monotonic() + STATISTICS_EVERY_SECONDS
    while not stop.is_set():
        close_old_connections()
        if time.monotonic() >= statistics_due:
            refresh_planner_statistics()
            statistics_due = time.monotonic() + STATISTICS_EVERY_SECONDS
        processed = run_once()
        if processed == 0:
            celery_busy = settings.TSUNAGARI_EXECUTOR == "celery" and executors.dispatcher().busy
            stop.wait(min(idle_sleep, CELERY_POLL_SECONDS) if celery_busy else idle_sleep)
    close_old_connections()


def start_in_thread() -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(stop,), name="tsunagari-worker", daemon=True
    )
    thread.start()
    return thread, stop
