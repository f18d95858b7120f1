"""`tsunagari bench journeys`: step executions per second of the journey engine.

On a throw-away copy of the generated data set, 100,000 contacts (TSUNAGARI_BENCH_JOURNEY_ENROL)
are enrolled in a 5-step journey with its wait compressed to zero — add a tag, wait 0, branch
on the grade, update a field (one of two, by branch), remove the tag — and the worker's
registered `journeys.steps` runner is called until nothing is due: every claim, step group,
transition and commit the worker does, in this process (the inline executor). No email is in
the journey, so email delivery is excluded, as the issue asks.

The baseline is the same run's raw cost of the state transitions alone: for the same number of
enrolments, per step one hand-written UPDATE marking the runs done, one INSERT … SELECT of the
next runs and one UPDATE moving the enrolments, over the whole set at once.

Celery with 2 worker processes is not measured by this module yet (see docs/journeys.md).
"""

from __future__ import annotations

import os
import time

from django.db import connection, transaction
from django.utils import timezone

from bench.common import BenchError, database_version, log, prepared_dataset
from tsunagari.crm.models import LIVE, Contact
from tsunagari.journeys import engine, services
from tsunagari.journeys.models import Enrolment, Journey, StepRun
from tsunagari.work.registry import runners

DEFAULT_CONTACTS = 1_000_000
ENROL = int(os.environ.get("TSUNAGARI_BENCH_JOURNEY_ENROL", "100000"))
STEPS = 5

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
    completed = Enrolment.objects.filter(journey=journey, status="completed").count()
    if completed != len(ids) or done != len(ids) * STEPS:
        raise BenchError(f"{completed} of {len(ids)} completed, {done} steps run")
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
        log(f"engine: {steps / seconds:,.0f} steps/s ({seconds:.2f} s)")
        baseline_s = _baseline(ids)
        log(f"baseline: {steps / baseline_s:,.0f} steps/s ({baseline_s:.2f} s)")
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
            "dataset_build_seconds": dataset.build_seconds,
            "dataset_built_now": dataset.built_now,
        }
