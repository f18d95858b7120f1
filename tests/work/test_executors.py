"""The two executors: batches run in this process, or on a real Celery worker (Redis, RabbitMQ)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import uuid

import pytest

from tests.processes import database_url
from tsunagari.crm import imports
from tsunagari.crm.models import Contact, ImportJob
from tsunagari.work import executors, registry


@pytest.fixture
def only_these_kinds(monkeypatch):
    monkeypatch.setattr(registry, "_RUNNERS", {})
    return registry.register


def test_inline_runs_every_kind_and_one_failure_does_not_stop_the_others(only_these_kinds):
    ran = []

    def broken() -> int:
        ran.append("broken")
        raise RuntimeError("boom")

    only_these_kinds("a.broken", broken)
    only_these_kinds("b.fine", lambda: ran.append("fine") or 3)
    assert executors.run_inline() == 3
    assert ran == ["broken", "fine"]


def test_an_unknown_executor_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("TSUNAGARI_EXECUTOR", "threads")
    result = subprocess.run(
        [sys.executable, "-c", "import tsunagari.settings"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "use inline or celery" in result.stderr


def test_celery_needs_a_broker(monkeypatch):
    monkeypatch.setenv("TSUNAGARI_EXECUTOR", "celery")
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    result = subprocess.run(
        [sys.executable, "-c", "import tsunagari.settings"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "needs CELERY_BROKER_URL" in result.stderr


def _queued_import(rows: list[list[str]]) -> ImportJob:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    job = imports.import_create(
        path_or_bytes=buffer.getvalue().encode(),
        file_name="list.csv",
        object_type="contact",
        user=None,
    )
    return imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None)


@pytest.fixture(params=["redis", "rabbitmq"])
def celery_env(request, transactional_db) -> dict[str, str]:
    """A real `celery -A tsunagari worker` on this test's database, on a queue of its own.

    Yields the environment under which a `tsunagari worker` dispatches to it.
    """
    broker = request.getfixturevalue(f"{request.param}_url")
    if request.param == "redis":
        broker = broker.rsplit("/", 1)[0] + "/15"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "TSUNAGARI_EXECUTOR": "celery",
        "CELERY_BROKER_URL": broker,
        "TSUNAGARI_CELERY_QUEUE": f"tsunagari-test-{uuid.uuid4().hex[:12]}",
    }
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "tsunagari", "worker", "--pool", "solo"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield env
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        print(output[-3000:])


def _worker_once(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tsunagari.cli", "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_a_celery_worker_runs_the_batches_the_dispatcher_sends(celery_env):
    job = _queued_import(
        [["email", "family_name"], ["a@example.jp", "青木"], ["b@example.jp", "馬場"]]
    )
    assert job.status == ImportJob.Status.QUEUED
    output = _worker_once(celery_env)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, (job.status, output)
    assert set(Contact.objects.values_list("email", flat=True)) == {"a@example.jp", "b@example.jp"}
    processed = int(output.split("processed ")[1].split()[0])
    assert processed >= 1
    # Nothing left: the next round finds no work.
    assert "processed 0" in _worker_once(celery_env)
