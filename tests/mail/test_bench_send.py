"""The send benchmark end to end, briefly: a small data set, every recipient once, figures out."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

# Bench databases live on the server by name, beside the demo tests' cached data sets: run in
# the same xdist worker as those (scripts/test.sh uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("bench-datasets")


def test_the_send_benchmark_delivers_to_everyone_once_and_prints_its_figures():
    env = {
        **os.environ,
        "TSUNAGARI_BENCH_SEND_RECIPIENTS": "150",
        "TSUNAGARI_DATA_DIR": str(settings.DATA_DIR),
    }
    result = subprocess.run(
        [sys.executable, "-m", "tsunagari.cli", "bench", "send", "--contacts", "400"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "send" and figures["recipients"] == figures["sent"] > 0
    assert figures["duplicates"] == 0 and figures["lost"] == 0
    for key in ("messages_per_s", "render_only_per_s", "ceiling_messages_per_s", "ratio"):
        assert figures[key] > 0
