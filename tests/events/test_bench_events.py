"""The events benchmark on a tiny data set: it runs, measures, leaves the test database alone."""

from __future__ import annotations

import json
from io import StringIO

import bench.events
import pytest
from bench.common import forget_dataset
from django.core.management import call_command
from django.db import connection

from tsunagari.events.models import Event, Registration

# Bench databases live on the server by name, beside the other benchmarks' cached data sets.
pytestmark = pytest.mark.xdist_group("bench-datasets")


@pytest.fixture
def bench_cache(transactional_db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    yield
    forget_dataset(150)


def test_the_events_benchmark_prints_its_figures(bench_cache, monkeypatch):
    monkeypatch.setattr(bench.events, "REGISTRANTS", 100)
    monkeypatch.setattr(bench.events, "REPEAT", 3)
    monkeypatch.setattr(bench.events, "CHECKINS", 5)
    out = StringIO()
    call_command("bench", "events", "--contacts", "150", "--fresh", stdout=out, stderr=StringIO())
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["bench"] == "events" and result["n"] == 150
    assert result["registrants"] == 100
    assert result["database"] == connection.vendor
    assert result["report_p50_ms"] > 0 and result["checkin_p50_ms"] > 0 and result["ratio"] > 0
    # The benchmark wrote to a throw-away copy, not to the test database.
    assert not Event.objects.exists() and not Registration.objects.exists()
