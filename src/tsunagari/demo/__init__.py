"""The deterministic Japanese B2B data set behind `tsunagari demo` and the benchmarks.

A plain package, not a Django app: it owns no models and writes through the apps' tables.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GENERATOR_VERSION", "DemoError", "crm_contact_count", "crm_reset", "generate"]


def __getattr__(name: str) -> Any:
    # Re-exported lazily: worker processes import this package before Django is set up in them,
    # and the generator imports models.
    if name in __all__:
        from tsunagari.demo import generator

        return getattr(generator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
