"""The scoring benchmark, briefly: it runs, and its scores agree with its hand-written baseline."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

# Bench databases live on the server by name, beside the demo tests' cached data sets: run in
# the same xdist worker as those (scripts/test.sh uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("bench-datasets")


def test_the_scoring_benchmark_prints_its_figures():
    env = {
        **os.environ,
        "TSUNAGARI_BENCH_SCORING_TOUCHES": "3000",
        "TSUNAGARI_DATA_DIR": str(settings.DATA_DIR),
    }
    result = subprocess.run(
        [sys.executable, "-m", "tsunagari.cli", "bench", "scoring", "--contacts", "300"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "scoring" and figures["incremental_touches"] == 3000
    for key in ("incremental_s", "recompute_s", "baseline_seconds", "ratio"):
        assert figures[key] > 0
    assert figures["ledger_rows"] > 0
