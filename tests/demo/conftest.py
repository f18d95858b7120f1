"""A small demo data set, generated for a test at a fixed `as_of` so its times are known."""

from __future__ import annotations

import datetime as dt

import pytest

from tsunagari.demo import generate

AS_OF = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
SMALL = 400


@pytest.fixture
def demo_counts(db) -> dict:
    return generate(contacts=SMALL, seed=7, as_of=AS_OF)
