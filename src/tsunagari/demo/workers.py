"""The worker-process side of generation: set Django up, then build chunks of contacts.

Workers are spawned, not forked (a fork would share the parent's open database connection), so
they import this module before Django is set up: it imports models only inside its functions.
"""

from __future__ import annotations

from tsunagari.demo.companies import AccountSet
from tsunagari.demo.context import ContactChunk, DemoContext

# What this process builds chunks from, set once by `start`.
_shared: tuple[int, AccountSet, DemoContext] | None = None


def start(seed: int, accounts: AccountSet, context: DemoContext) -> None:
    """Initialise a worker (or this process, when generating without workers)."""
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    global _shared
    _shared = (seed, accounts, context)


def build_chunk(number: int, ids: list[int], first: int, total: int, start: int) -> ContactChunk:
    """Contacts of chunk `number` and the rows of every extra (tags, …) made from them."""
    from tsunagari.demo.generator import CHUNK_EXTRAS, random_stream
    from tsunagari.demo.people import make_contacts

    if _shared is None:
        raise RuntimeError("demo.workers.start must run before build_chunk")
    seed, accounts, context = _shared
    chunk = make_contacts(
        random_stream(seed, "contacts", number),
        number=number,
        ids=ids,
        first=first,
        total=total,
        start=start,
        accounts=accounts,
        context=context,
    )
    for extra in CHUNK_EXTRAS:
        rng = random_stream(seed, extra.name, number)
        chunk.extras[extra.name] = extra.rows(rng, chunk, context)
    return chunk
