"""The segments benchmark end to end on a tiny data set: its figures and their agreement."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

# Bench databases live on the server by name, beside the demo tests' cached data sets: run in
# the same xdist worker as those (scripts/test.sh uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("bench-datasets")


def test_the_segments_benchmark_prints_every_figure_the_issue_names():
    env = {**os.environ, "TSUNAGARI_DATA_DIR": str(settings.DATA_DIR)}
    result = subprocess.run(
        [sys.executable, "-m", "tsunagari.cli", "bench", "segments", "--contacts", "1500"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "segments" and figures["n"] == 1500
    names = [row["name"] for row in figures["segments"]]
    assert names == [
        "field",
        "behaviour_window",
        "nested_or_accounts",
        "negated_behaviour",
        "segment_of_segment",
        "issue_example",
    ]
    for row in figures["segments"]:
        assert {"count_s", "materialize_s", "baseline_s", "ratio"} <= row.keys()
        assert {"refresh_s", "baseline_refresh_s", "refresh_ratio"} <= row.keys()
        assert row["count_s"] > 0 and row["baseline_s"] > 0 and row["ratio"] > 0
    assert figures["max_count_s"] == max(r["count_s"] for r in figures["segments"])
    assert figures["max_materialize_s"] == max(r["materialize_s"] for r in figures["segments"])
    assert figures["max_ratio"] >= max(r["ratio"] for r in figures["segments"])
