"""The journeys benchmark, briefly: it runs every step for everyone and prints its figures —
inline on the database in use, and on PostgreSQL also on 2 real Celery worker processes."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

# Bench databases live on the server by name, beside the demo tests' cached data sets: run in
# the same xdist worker as those (scripts/test.sh uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("bench-datasets")


def test_the_journeys_benchmark_prints_its_figures(request):
    postgres = connection.vendor == "postgresql"
    if postgres:
        redis_url = request.getfixturevalue("redis_url")  # skipped (or failed in CI) without
    env = {
        **os.environ,
        "TSUNAGARI_BENCH_JOURNEY_ENROL": "200",
        "TSUNAGARI_DATA_DIR": str(settings.DATA_DIR),
    }
    if postgres:
        env["TSUNAGARI_BENCH_BROKER_URL"] = redis_url.rsplit("/", 1)[0] + "/15"
    result = subprocess.run(
        [sys.executable, "-m", "tsunagari.cli", "bench", "journeys", "--contacts", "300"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "journeys" and figures["enrolled"] == 200
    assert figures["steps"] == 1000  # five steps for each of the 200
    for key in ("steps_per_s", "baseline_steps_per_s", "seconds", "baseline_seconds", "ratio"):
        assert figures[key] > 0
    legs = {leg["executor"]: leg for leg in figures["legs"]}
    assert set(legs) == ({"inline", "celery"} if postgres else {"inline"})
    for leg in legs.values():
        assert leg["steps"] == 1000 and leg["database"] == figures["database"]
        for key in ("steps_per_s", "baseline_steps_per_s", "ratio"):
            assert leg[key] > 0
    if postgres:
        assert legs["celery"]["workers"] == 2 and not figures["celery_skipped"]
        # The workers were torn down: no process of this benchmark's Celery queue is left.
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert legs["celery"]["queue"] not in ps
    else:
        assert "PostgreSQL" in figures["celery_skipped"]
