"""The ingest benchmark end to end, briefly: a real server, a SIGKILL mid-run, nothing lost."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

# Bench databases live on the server by name, beside the demo tests' cached data sets: run in
# the same xdist worker as those (scripts/test.sh uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("bench-datasets")


@pytest.mark.parametrize("server", ["collect", "serve"])
def test_the_ingest_benchmark_loses_no_acknowledged_hit_across_a_crash(server):
    env = {
        **os.environ,
        "TSUNAGARI_BENCH_INGEST_SECONDS": "4",
        "TSUNAGARI_BENCH_INGEST_SERVER": server,
        "TSUNAGARI_DATA_DIR": str(settings.DATA_DIR),
    }
    result = subprocess.run(
        [sys.executable, "-m", "tsunagari.cli", "bench", "ingest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "ingest" and figures["server_restarts"] == 1
    assert figures["server"] == server
    assert figures["acked"] > 0 and figures["lost"] == 0
    assert figures["stored"] >= figures["acked"]
    assert figures["events_per_s"] > 0 and figures["ceiling_events_per_s"] > 0
    # Latency is measured on a schedule after the crash, apart from the saturated run.
    assert figures["latency_rate_per_s"] > 0 and figures["latency_achieved_per_s"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert 0 < figures["saturated_p50_ms"] <= figures["saturated_p99_ms"]
    # Where the CPU went while the rate was held (this machine is Linux).
    cpu = figures["cpu_us_per_request"]
    assert cpu["server"] > 0 and cpu["load_generator"] > 0
    if figures["database"] == "postgresql":
        assert cpu["database"] > 0
