"""The pages benchmark on a tiny data set: it runs, measures, and leaves the test database alone."""

from __future__ import annotations

import json
from io import StringIO

import bench.pages
import pytest
from bench.common import forget_dataset
from django.core.management import call_command
from django.db import connection

from tsunagari.pages.models import ContentSlot, FormSubmission

# Bench databases live on the server by name, beside the other benchmarks' cached data sets.
pytestmark = pytest.mark.xdist_group("bench-datasets")


@pytest.fixture
def bench_cache(transactional_db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    yield
    forget_dataset(150)


def test_the_pages_benchmark_prints_its_figures(bench_cache, monkeypatch):
    monkeypatch.setattr(bench.pages, "REPEAT", 5)
    monkeypatch.setattr(bench.pages, "WARMUP", 1)
    monkeypatch.setattr(bench.pages, "SUBMISSIONS", 3)
    monkeypatch.setattr(bench.pages, "VISITORS", 50)
    out = StringIO()
    call_command("bench", "pages", "--contacts", "150", "--fresh", stdout=out, stderr=StringIO())
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["bench"] == "pages" and result["n"] == 150
    assert result["database"] == connection.vendor
    assert result["p50_ms"] > 0 and result["submit_p50_ms"] > 0 and result["ratio"] > 0
    assert result["submit_identify_p50_ms"] > 0 and result["asset_report_90d_seconds"] > 0
    # The benchmark wrote to a throw-away copy, not to the test database.
    assert not ContentSlot.objects.exists() and not FormSubmission.objects.exists()
