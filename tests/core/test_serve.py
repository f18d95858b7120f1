"""`tsunagari serve` for real: a subprocess on a free port, on its own SQLite file."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="serves a fresh SQLite data dir of its own"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def _wait_until_up(port: int, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            if _get(port, "/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("tsunagari serve did not answer within 90 s")


def test_serve_migrates_creates_the_admin_serves_pages_and_stops_cleanly(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["TSUNAGARI_DATA_DIR"] = str(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "tsunagari.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_until_up(port, process)
        status, body = _get(port, "/login/")
        assert status == 200 and b'name="password"' in body
        # Static files come from the same process (whitenoise).
        assert _get(port, "/static/tsunagari/app.css")[0] == 200
        database = sqlite3.connect(tmp_path / "tsunagari.sqlite3")
        [(admins,)] = database.execute("SELECT count(*) FROM core_user WHERE role = 'admin'")
        assert admins == 1
        # The web process answers keep-alive requests on one connection (browsers reuse them).
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for _ in range(3):
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            assert response.status == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert "username: admin" in output and "Embedded worker running." in output
    # Nothing of the server is left behind: its process group is gone.
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)


def test_serve_refuses_several_processes_with_the_embedded_worker(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["TSUNAGARI_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "tsunagari.cli", "serve", "--processes", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--no-worker" in result.stderr
