"""Claiming a row of due work safely on SQLite and PostgreSQL: compare-and-set with a lease."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone


def claim_one(
    model: type[models.Model],
    *,
    pk: int,
    ready: Q,
    running_status: str,
    lease: timedelta,
) -> bool:
    """Take row `pk` if it still matches `ready`; True only for the one worker whose UPDATE won.

    The UPDATE both checks and takes the row, so two workers (or two machines) racing for it
    cannot both succeed; the lease lets another worker retake it if this one dies.
    """
    now = timezone.now()
    touched = model._default_manager.filter(ready, pk=pk).update(
        status=running_status, lease_until=now + lease, attempts=models.F("attempts") + 1
    )
    return touched == 1


def due(ready_status: str, running_status: str) -> Q:
    """Rows waiting to run, or running under a lease that has expired (a dead worker's)."""
    now = timezone.now()
    return Q(status=ready_status) | Q(status=running_status, lease_until__lt=now)
