"""`tsunagari bench journeys`: step executions per second of the journey engine.

On a throw-away copy of the generated data set, 100,000 contacts (TSUNAGARI_BENCH_JOURNEY_ENROL)
are enrolled in a 5-step journey with its wait compressed to zero — add a tag, wait 0, branch
on the grade, update a field (one of two, by branch), remove the tag — and the worker's
registered `journeys.steps` runner is called until nothing is due: every claim, step group,
transition and commit the worker does, in this process (the inline executor). No email is in
the journey, so email delivery is excluded, as the issue asks.

On PostgreSQL the same journey is then run again for the same contacts with the Celery
executor: 2 real `celery -A tsunagari worker` processes (TSUNAGARI_BENCH_JOURNEY_CELERY_WORKERS)
on a Redis broker (TSUNAGARI_BENCH_BROKER_URL, redis://127.0.0.1:6379/14 by default), started
before the clock starts and torn down afterwards (also when the bench fails or is interrupted;
they die with this process). This process sends them the task the dispatcher of
`tsunagari worker` sends (`tsunagari.work.run_kind("journeys.steps")`), keeping a few batches in
flight, until every step has run. TSUNAGARI_BENCH_JOURNEY_CELERY=0 leaves that leg out.

The baseline is the same run's raw cost of the state transitions alone: for the same number of
enrolments, per step one hand-written UPDATE marking the runs done, one INSERT … SELECT of the
next runs and one UPDATE moving the enrolments, over the whole set at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bench.common import BenchError, database_version, log, prepared_dataset
from tsunagari.crm.models import LIVE, Contact
from tsunagari.journeys import engine, services
from tsunagari.journeys.models import Enrolment, Journey, StepRun
from tsunagari.work.executors import RUN_KIND
from tsunagari.work.registry import runners

DEFAULT_CONTACTS = 1_000_000
ENROL = int(os.environ.get("TSUNAGARI_BENCH_JOURNEY_ENROL", "100000"))
STEPS = 5
CELERY = os.environ.get("TSUNAGARI_BENCH_JOURNEY_CELERY", "1") != "0"
CELERY_WORKERS = int(os.environ.get("TSUNAGARI_BENCH_JOURNEY_CELERY_WORKERS", "2"))
BROKER_URL = os.environ.get("TSUNAGARI_BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
# Batches kept in flight: one running and one waiting per worker process, so a worker never
# idles while this process hears of its last result.
IN_FLIGHT_PER_WORKER = 2

GRAPH = {
    "start": "tag",
    "steps": {
        "tag": {"type": "tags", "add": ["ベンチ"], "next": "wait"},
        "wait": {"type": "wait", "mode": "duration", "minutes": 0, "next": "grade"},
        "grade": {
            "type": "branch",
            "conditions": [{"kind": "grade", "op": "in", "value": ["A", "B"]}],
            "yes": "title",
            "no": "department",
        },
        "title": {"type": "update_field", "field": "title", "value": "重点", "next": "untag"},
        "department": {
            "type": "update_field",
            "field": "department",
            "value": "育成",
            "next": "untag",
        },
        "untag": {"type": "tags", "remove": ["ベンチ"]},
    },
}


def _journey(name: str) -> Journey:
    journey = services.journey_create(name=name, graph=GRAPH)
    return services.journey_publish(journey=journey)


def _engine_run(ids: list[int]) -> tuple[float, int]:
    journey = _journey("bench: engine")
    engine.enrol(journey, ids)
    runner = runners()["journeys.steps"]
    log(f"running {len(ids) * STEPS:,} step executions through the worker's runner")
    started = time.perf_counter()
    done = 0
    while True:
        n = runner()
        if not n:
            break
        done += n
        if done % 50_000 < n:
            log(f"  {done:,} steps, {done / (time.perf_counter() - started):,.0f}/s")
    seconds = time.perf_counter() - started
    _check(journey, ids, done)
    return seconds, done


def _baseline(ids: list[int]) -> float:
    """The state transitions alone, in hand-written set-based SQL over all enrolments at once."""
    journey = _journey("bench: baseline")
    engine.enrol(journey, ids)
    q = connection.ops.quote_name
    runs, enrolments = q(StepRun._meta.db_table), q(Enrolment._meta.db_table)
    order = ["tag", "wait", "grade", "title", "untag"]
    started = time.perf_counter()
    for index, key in enumerate(order):
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {runs} SET status = 'done', done_at = %s, outcome = 'done' "
                "WHERE journey_id = %s AND step_key = %s AND status = 'ready'",
                [now, journey.pk, key],
            )
            if index + 1 < len(order):
                nxt = order[index + 1]
                cursor.execute(
                    f"INSERT INTO {runs} (enrolment_id, journey_id, contact_id, step_key, visit, "
                    "status, due_at, claim, attempts, outcome, last_error) "
                    "SELECT enrolment_id, journey_id, contact_id, %s, 0, 'ready', %s, "
                    "'', 0, '', '' "
                    f"FROM {runs} WHERE journey_id = %s AND step_key = %s",
                    [nxt, now, journey.pk, key],
                )
                cursor.execute(
                    f"UPDATE {enrolments} SET step_key = %s "
                    "WHERE journey_id = %s AND status = 'active'",
                    [nxt, journey.pk],
                )
            else:
                cursor.execute(
                    f"UPDATE {enrolments} SET status = 'completed', ended_at = %s, step_key = '' "
                    "WHERE journey_id = %s AND status = 'active'",
                    [now, journey.pk],
                )
    seconds = time.perf_counter() - started
    if Enrolment.objects.filter(journey=journey, status="completed").count() != len(ids):
        raise BenchError("the baseline did not complete every enrolment")
    return seconds


def _check(journey: Journey, ids: list[int], done: int) -> None:
    completed = Enrolment.objects.filter(journey=journey, status="completed").count()
    if completed != len(ids) or done != len(ids) * STEPS:
        raise BenchError(f"{completed} of {len(ids)} completed, {done} steps run")


def _database_url() -> str:
    """DATABASE_URL of the data set in use (the throw-away copy), for the Celery workers."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "postgres")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def _broker_down(url: str) -> str:
    """Why the broker cannot be reached ('' when it answers)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 2):
            return ""
    except OSError as exc:
        return f"{url}: {exc}"


def _die_with_parent() -> None:
    """In the worker child: SIGTERM when the bench process dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def _celery_workers(count: int, queue: str) -> Iterator[object]:
    """`count` real Celery worker processes on this data set; yields the configured app."""
    from tsunagari.celery import app

    app.conf.update(broker_url=BROKER_URL, result_backend=BROKER_URL)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "TSUNAGARI_EXECUTOR": "celery",
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_RESULT_BACKEND": BROKER_URL,
        "TSUNAGARI_CELERY_QUEUE": queue,
        "TSUNAGARI_DATA_DIR": str(settings.DATA_DIR),
        "TSUNAGARI_JOURNEY_BATCH": str(engine.batch_size()),
    }
    workers: list[subprocess.Popen] = []
    # The workers' stderr, shown if one of them fails to start.
    with tempfile.TemporaryFile("w+") as logs:
        try:
            for index in range(count):
                command = [sys.executable, "-m", "celery", "-A", "tsunagari", "worker"]
                command += ["--pool", "solo", "-Q", queue, "-n", f"bench{index}-{queue}@%h"]
                command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
                workers.append(
                    subprocess.Popen(
                        [*command, "-l", "WARNING"],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=logs,
                        start_new_session=True,
                        preexec_fn=_die_with_parent,
                    )
                )
            deadline = time.monotonic() + 120
            while True:
                dead = [w.pid for w in workers if w.poll() is not None]
                if dead:
                    logs.seek(0)
                    raise BenchError(
                        f"Celery worker(s) {dead} exited at start:\n{logs.read()[-3000:]}"
                    )
                names = {n for r in app.control.ping(timeout=1.0) for n in r if queue in n}
                if len(names) >= count:
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"only {len(names)} of {count} Celery workers answered")
            log(f"{count} Celery worker processes ready on {BROKER_URL}, queue {queue}")
            yield app
        finally:
            for worker in workers:  # warm shutdown: a worker finishes its batch, then exits
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            for worker in workers:
                try:
                    worker.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
            log(f"Celery workers stopped (exit codes {[w.returncode for w in workers]})")


def _celery_run(ids: list[int], queue: str) -> tuple[float, int]:
    """The same journey on `CELERY_WORKERS` Celery worker processes: (seconds, steps run)."""
    journey = _journey("bench: celery")
    engine.enrol(journey, ids)
    with _celery_workers(CELERY_WORKERS, queue) as app:
        log(f"running {len(ids) * STEPS:,} step executions on {CELERY_WORKERS} Celery workers")
        started = time.perf_counter()
        done, in_flight, idle = 0, [], False
        while True:
            while not idle and len(in_flight) < CELERY_WORKERS * IN_FLIGHT_PER_WORKER:
                in_flight.append(app.send_task(RUN_KIND, ("journeys.steps",), queue=queue))
            if not in_flight:
                # Every batch came back empty: finished, unless runs are still due (a batch
                # that found nothing while another's next runs were not yet committed).
                if not StepRun.objects.filter(journey=journey, status="ready").exists():
                    break
                idle = False
                continue
            result = in_flight.pop(0)
            n = int(result.get(timeout=600) or 0)
            result.forget()
            idle = idle or n == 0
            if n and done // 50_000 != (done + n) // 50_000:
                log(f"  {done + n:,} steps, {(done + n) / (time.perf_counter() - started):,.0f}/s")
            done += n
        seconds = time.perf_counter() - started
    _check(journey, ids, done)
    return seconds, done


def _leg(executor: str, database: str, steps: int, seconds: float, baseline_s: float) -> dict:
    return {
        "executor": executor,
        "database": database,
        "workers": CELERY_WORKERS if executor == "celery" else 1,
        "steps": steps,
        "seconds": round(seconds, 3),
        "steps_per_s": round(steps / seconds, 1),
        "baseline_seconds": round(baseline_s, 3),
        "baseline_steps_per_s": round(steps / baseline_s, 1),
        "ratio": round(seconds / baseline_s, 2),
    }


def run(*, contacts: int, fresh: bool, database: str) -> dict:
    with prepared_dataset(contacts, fresh, writable=True) as dataset:
        ids = list(
            Contact.objects.filter(LIVE)
            .order_by("pk")
            .values_list("pk", flat=True)[: min(ENROL, contacts)]
        )
        if not ids:
            raise BenchError("the data set has no contacts")
        log(f"enrolling {len(ids):,} contacts")
        seconds, steps = _engine_run(ids)
        log(f"inline: {steps / seconds:,.0f} steps/s ({seconds:.2f} s)")
        baseline_s = _baseline(ids)
        log(f"baseline: {steps / baseline_s:,.0f} steps/s ({baseline_s:.2f} s)")
        legs = [_leg("inline", database, steps, seconds, baseline_s)]
        celery_skipped = ""
        if not CELERY:
            celery_skipped = "TSUNAGARI_BENCH_JOURNEY_CELERY=0"
        elif connection.vendor != "postgresql":
            celery_skipped = "Celery is measured on PostgreSQL (DATABASE_URL=postgres://…)"
        else:
            celery_skipped = _broker_down(BROKER_URL)
        if celery_skipped:
            log(f"Celery leg not run: {celery_skipped}")
        else:
            queue = f"tsunagari-bench-{uuid.uuid4().hex[:8]}"
            celery_s, celery_steps = _celery_run(ids, queue)
            log(f"celery: {celery_steps / celery_s:,.0f} steps/s ({celery_s:.2f} s)")
            legs.append(
                _leg("celery", database, celery_steps, celery_s, baseline_s) | {"queue": queue}
            )
        return {
            "bench": "journeys",
            "database": database,
            "database_version": database_version(),
            "executor": "inline",
            "n": contacts,
            "enrolled": len(ids),
            "steps": steps,
            "seconds": round(seconds, 3),
            "steps_per_s": round(steps / seconds, 1),
            "baseline_seconds": round(baseline_s, 3),
            "baseline_steps_per_s": round(steps / baseline_s, 1),
            "ratio": round(seconds / baseline_s, 2),
            "legs": legs,
            "celery_skipped": celery_skipped,
            "dataset_build_seconds": dataset.build_seconds,
            "dataset_built_now": dataset.built_now,
        }
