"""Real subprocesses on the test's own database: workers killed with SIGKILL, Celery workers.

A test marked `django_db(transaction=True)` commits its rows, so a subprocess pointed at the
same SQLite file or PostgreSQL database sees them.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]

# A worker process as `tsunagari worker` runs it, delivering to the test's SMTP server, with
# short leases so a killed worker's claims come back within seconds; `extra` adds settings.
WORKER_SCRIPT = """
import os, threading, django
os.environ["DJANGO_SETTINGS_MODULE"] = "tsunagari.settings"
django.setup()
from django.conf import settings
settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
settings.EMAIL_HOST = "127.0.0.1"
settings.EMAIL_PORT = int(os.environ["TEST_SMTP_PORT"])
settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
settings.TSUNAGARI_MAIL_LEASE_SECONDS = 2
settings.TSUNAGARI_MAIL_BATCH = 20
{extra}
from tsunagari.work.worker import run_forever
run_forever(threading.Event(), idle_sleep=0.1)
"""


def database_url() -> str:
    """DATABASE_URL of the database this test runs on (its test database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def start_worker(smtp_port: int, *, extra_settings: str = "") -> subprocess.Popen:
    """A worker subprocess on this test's database, sending to the SMTP server on smtp_port."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        TSUNAGARI_DATA_DIR=str(settings.DATA_DIR),
        TEST_SMTP_PORT=str(smtp_port),
        TSUNAGARI_EXECUTOR="inline",
        LOG_LEVEL="WARNING",
    )
    script = WORKER_SCRIPT.format(extra=extra_settings)
    return subprocess.Popen(
        [sys.executable, "-c", script], env=env, cwd=ROOT, stdout=subprocess.DEVNULL
    )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_collector(port: int, **env: str) -> subprocess.Popen:
    """`tsunagari collect` on this test's database, once it answers /healthz."""
    # Its output goes to a file, not a pipe nobody reads while it runs.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tsunagari.cli", "collect", "--port", str(port)],
            env={
                **os.environ,
                "DATABASE_URL": database_url(),
                "TSUNAGARI_DATA_DIR": str(settings.DATA_DIR),
                "LOG_LEVEL": "WARNING",
                **env,
            },
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: its workers stop with it
        )

        def up() -> bool:
            if process.poll() is not None:
                log.seek(0)
                raise AssertionError(f"tsunagari collect exited: {log.read().decode()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                return conn.getresponse().status == 200
            except OSError:
                return False

        wait_until(up, 90, "tsunagari collect to answer")
    return process


def stop_collector(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
