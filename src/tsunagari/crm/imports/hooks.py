"""What apps above crm add to an import: the touches it can record, and per-batch hooks.

crm cannot import the apps above it (tracking, events…). They register here from their
AppConfig.ready(): the kinds of touch the import page offers ("a touch for every row": the
trade show where the cards were collected), and functions called inside each batch's
transaction with the contacts that batch created or updated, so that whatever a hook writes
commits or rolls back with the rows themselves (a crash neither loses nor doubles it).
"""

from __future__ import annotations

from collections.abc import Callable

from tsunagari.crm.models import ImportJob

# hook(job, contact_ids): the ids in row order, each once; called for contact imports only.
AfterBatch = Callable[[ImportJob, list[int]], None]

_TOUCH_KINDS: dict[str, str] = {}  # key → label (often a lazy translation)
_AFTER_BATCH: list[AfterBatch] = []


def register_touch_kinds(kinds: list[tuple[str, str]]) -> None:
    """Offer these (key, label) kinds of touch on the import page; registering again is harmless.

    A label may be a lazy translation: it is shown in the language of each request.
    """
    for key, label in kinds:
        _TOUCH_KINDS[key] = label


def touch_kinds() -> list[tuple[str, str]]:
    """The registered (key, label) kinds, in the order they were registered."""
    return list(_TOUCH_KINDS.items())


def register_after_batch(hook: AfterBatch) -> None:
    """Call hook(job, contact_ids) inside each batch's transaction of every contact import."""
    if hook not in _AFTER_BATCH:
        _AFTER_BATCH.append(hook)


def after_batch(job: ImportJob, contact_ids: list[int]) -> None:
    """Run every registered hook; inside the batch's transaction, so an error rolls it back."""
    for hook in _AFTER_BATCH:
        hook(job, contact_ids)
