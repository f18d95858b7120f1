"""Reading the touchpoint stream in order, in batches, exactly once per consumer.

A consumer is a name and a function that handles a batch of touchpoints. Its position is a
row in ConsumerCursor. A batch is read, handled and the cursor advanced in ONE transaction:
if the handler fails, nothing it wrote and no cursor move survives, and the batch is read
again next time; if it succeeds, the cursor has moved with its writes. Reading is a range
scan on the primary key from the cursor, never a scan of the table.

Ids become visible in increasing order because every insert goes through
tracking.services.touchpoints_append, which serialises writers (SQLite has one writer by
design; PostgreSQL takes an advisory lock until commit).

Scoring, segments and journeys register here (an explicit registry, not signals); the worker
runs every registered consumer.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from tsunagari.tracking.models import ConsumerCursor, Touchpoint

Handler = Callable[[list[Touchpoint]], None]

_CONSUMERS: dict[str, Handler] = {}


def register(name: str, handler: Handler) -> None:
    if name in _CONSUMERS and _CONSUMERS[name] is not handler:
        raise ValueError(f"consumer {name!r} is already registered")
    _CONSUMERS[name] = handler


def unregister(name: str) -> None:
    _CONSUMERS.pop(name, None)


def registered() -> dict[str, Handler]:
    return dict(_CONSUMERS)


def consume_batch(name: str, handler: Handler, *, limit: int = 1000) -> int:
    """Hand the next `limit` touchpoints after the cursor to `handler`; how many it got."""
    with transaction.atomic():
        ConsumerCursor.objects.get_or_create(name=name)
        # On PostgreSQL the row lock makes a second worker wait instead of reading the same
        # batch; on SQLite the IMMEDIATE transaction already serialises writers.
        cursor = ConsumerCursor.objects.select_for_update().get(name=name)
        touches = Touchpoint.objects.filter(pk__gt=cursor.position).order_by("pk")
        # A handler naming the fields it reads (`touch_fields`, with "pk") gets light rows
        # (named tuples) instead of models: building a thousand models costs more than most
        # handlers' SQL.
        fields = getattr(handler, "touch_fields", None)
        if fields:
            touches = touches.values_list(*fields, named=True)
        batch = list(touches[:limit])
        if not batch:
            return 0
        handler(batch)
        ConsumerCursor.objects.filter(pk=cursor.pk).update(position=batch[-1].pk)
        return len(batch)


def run_consumers(*, limit: int = 1000) -> int:
    """One batch for every registered consumer (the worker's job for the stream)."""
    return sum(consume_batch(name, handler, limit=limit) for name, handler in registered().items())
