"""The registry of work kinds: each app registers a function that runs a batch of its due work.

The worker knows none of the apps; apps register here from their AppConfig.ready().
A runner claims its own rows with a compare-and-set and returns how many it processed.
"""

from __future__ import annotations

from collections.abc import Callable

Runner = Callable[[], int]

_RUNNERS: dict[str, Runner] = {}


def register(name: str, runner: Runner) -> None:
    if name in _RUNNERS and _RUNNERS[name] is not runner:
        raise ValueError(f"work kind {name!r} is already registered")
    _RUNNERS[name] = runner


def runners() -> dict[str, Runner]:
    return dict(_RUNNERS)
