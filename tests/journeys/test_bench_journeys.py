"""The journeys benchmark, briefly: it runs every step for everyone and prints its figures."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

# Bench databases live on the server by name, beside the demo tests' cached data sets: run in
# the same xdist worker as those (scripts/test.sh uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("bench-datasets")


def test_the_journeys_benchmark_prints_its_figures():
    env = {
        **os.environ,
        "TSUNAGARI_BENCH_JOURNEY_ENROL": "200",
        "TSUNAGARI_DATA_DIR": str(settings.DATA_DIR),
    }
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
