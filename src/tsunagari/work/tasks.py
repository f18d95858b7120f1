"""Celery tasks: one per call of a registered batch function, nothing more."""

from __future__ import annotations

from celery import shared_task

from tsunagari.work.registry import runners


@shared_task(name="tsunagari.work.run_kind")
def run_kind(name: str) -> int:
    """Run one batch of work kind `name` (it claims its own rows); how many items it did."""
    runner = runners().get(name)
    if runner is None:
        raise LookupError(f"no work kind {name!r} is registered in this process")
    return runner()
