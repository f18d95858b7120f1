"""`tsunagari bench scoring`: live scoring of 100,000 new touchpoints, and a full recompute.

On a throw-away copy of the generated data set, six behaviour rules like a marketer writes
them (a capped pricing page, a demo page, whitepaper downloads, forms that expire, seminar
attendance, email clicks that halve every 30 days) score every contact:

- recompute: the worker's full recompute (ledger emptied, every rule's rows and decay steps
  written by INSERT … SELECT, indexes built again, the scores' upsert), against the
  baseline — one hand-written SQL statement computing the same per-contact sums straight
  from the touchpoints into a table;
- incremental: 100,000 new touchpoints appended to the stream and read by the scoring
  consumer in its batches of 1,000 (ledger rows, cap counts, score refresh of the contacts
  that earned points), against the same hand-written sum over those touchpoints alone.

The baseline's sums are checked against the scores written, so both measure the same work.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time

from django.db import connection, transaction
from django.utils import timezone

from bench.common import BenchError, database_version, log, prepared_dataset
from tsunagari.scoring import engine, jobs
from tsunagari.scoring.models import BehaviourRule, ContactScore, LedgerEntry, MqlSettings
from tsunagari.tracking.consumers import consume_batch
from tsunagari.tracking.models import ConsumerCursor, Touchpoint
from tsunagari.tracking.services import touchpoints_append_many
from tsunagari.tracking.vocabulary import Type

DEFAULT_CONTACTS = 1_000_000
# The suite's short run sets fewer new touches (tests/scoring/test_bench_scoring.py).
NEW_TOUCHES = int(os.environ.get("TSUNAGARI_BENCH_SCORING_TOUCHES", "100000"))
HALF_LIFE_DAYS = 30

RULES = [
    dict(name="料金ページ", touch_type=Type.PAGE_VIEW, url_pattern="/pricing", points=10,
         cap_count=3, cap_period="ever"),
    dict(name="デモページ", touch_type=Type.PAGE_VIEW, url_pattern="/demo", points=40),
    dict(name="資料ダウンロード", touch_type=Type.DOWNLOAD, points=25),
    dict(name="フォーム送信", touch_type=Type.FORM_SUBMITTED, points=30, decay="expire",
         decay_days=180),
    dict(name="セミナー参加", touch_type=Type.SEMINAR_ATTENDED, points=20),
    dict(name="メールクリック", touch_type=Type.EMAIL_CLICKED, points=5, decay="half_life",
         decay_days=HALF_LIFE_DAYS),
]  # fmt: skip


def _age_half_lives(now_param: str) -> str:
    """SQL for how many whole half-lives have passed since occurred_at (vendor-specific)."""
    if connection.vendor == "postgresql":
        return (
            f"FLOOR(EXTRACT(EPOCH FROM ({now_param}::timestamptz - occurred_at)) "
            f"/ {HALF_LIFE_DAYS * 86400})::int"
        )
    return f"CAST((julianday({now_param}) - julianday(occurred_at)) / {HALF_LIFE_DAYS} AS INTEGER)"


def _baseline_sql(where: str) -> str:
    """The six rules as one aggregate over the touchpoints: same caps, expiry and halving."""
    tp = connection.ops.quote_name(Touchpoint._meta.db_table)
    machine = (
        "(properties -> 'machine') IS NULL OR (properties -> 'machine') = 'false'::jsonb"
        if connection.vendor == "postgresql"
        else "JSON_EXTRACT(properties, '$.machine') IS NULL "
        "OR JSON_EXTRACT(properties, '$.machine') = 0"
    )
    k = _age_half_lives("%s")
    return (
        "SELECT contact_id, SUM(p) FROM ("
        " SELECT contact_id, CASE"
        "  WHEN type = 'page_view' AND path = '/pricing' THEN (CASE WHEN ROW_NUMBER() OVER"
        "   (PARTITION BY contact_id, (type = 'page_view' AND path = '/pricing') ORDER BY id)"
        "   <= 3 THEN 10 ELSE 0 END)"
        "  WHEN type = 'page_view' AND path = '/demo' THEN 40"
        "  WHEN type = 'download' THEN 25"
        "  WHEN type = 'form_submitted' THEN (CASE WHEN occurred_at > %s THEN 30 ELSE 0 END)"
        "  WHEN type = 'seminar_attended' THEN 20"
        f"  WHEN type = 'email_clicked' THEN (CASE WHEN {k} > 3 THEN 0 ELSE 5 / (1 << {k}) END)"
        "  ELSE 0 END AS p"
        f" FROM {tp} WHERE contact_id IS NOT NULL AND NOT is_bot AND ({machine})"
        "  AND type IN ('page_view', 'download', 'form_submitted', 'seminar_attended',"
        f"   'email_clicked') AND {where}"
        ") s GROUP BY contact_id HAVING SUM(p) <> 0"
    )


def _baseline(where: str, params: list, now: dt.datetime) -> tuple[float, dict[int, int]]:
    """Run the hand-written aggregate into a table; (seconds, sums read back)."""
    stamp = connection.ops.adapt_datetimefield_value(now)
    form_cutoff = connection.ops.adapt_datetimefield_value(now - dt.timedelta(days=180))
    sql = _baseline_sql(where)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_scoring_baseline")
        began = time.perf_counter()
        cursor.execute(
            f"CREATE TABLE bench_scoring_baseline AS {sql}",
            [form_cutoff, stamp, stamp, *params],
        )
        seconds = time.perf_counter() - began
        cursor.execute("SELECT * FROM bench_scoring_baseline")
        sums = dict(cursor.fetchall())
        cursor.execute("DROP TABLE bench_scoring_baseline")
    return seconds, sums


def _check(sums: dict[int, int], scores: dict[int, int], what: str) -> None:
    live = {k: v for k, v in scores.items() if v}
    if live != sums:
        diff = [k for k in set(live) | set(sums) if live.get(k) != sums.get(k)][:5]
        raise BenchError(
            f"{what}: scores and the baseline disagree ({len(live)} vs {len(sums)} contacts; "
            f"e.g. {[(k, live.get(k), sums.get(k)) for k in diff]})"
        )


def _set_up() -> None:
    with transaction.atomic():
        LedgerEntry.objects.all()._raw_delete(LedgerEntry.objects.db)
        ContactScore.objects.all().delete()
        BehaviourRule.objects.all().delete()
        for fields in RULES:
            BehaviourRule.objects.create(**fields)
        # Scores only: MQL hand-offs are a separate, per-contact step the bench leaves out.
        MqlSettings.objects.update_or_create(
            pk=1, defaults={"score_enabled": False, "hand_raise_forms": [], "bant_enabled": False}
        )
        last = Touchpoint.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        ConsumerCursor.objects.update_or_create(name=engine.CONSUMER, defaults={"position": last})


def _append_new_touches(count: int, now: dt.datetime) -> tuple[int, int]:
    """`count` new touches like the recent ones, appended to the stream; (first id, last id)."""
    rng = random.Random(1)
    last = Touchpoint.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    templates = list(
        Touchpoint.objects.filter(contact__isnull=False, pk__gt=max(last - count * 3, 0))
        .order_by("pk")
        .values("contact_id", "account_id", "type", "channel", "path", "url", "title", "properties")
    )
    if not templates:
        raise BenchError("the data set has no touchpoints to model new ones on")
    rows = []
    for i in range(count):
        t = templates[rng.randrange(len(templates))]
        rows.append(
            Touchpoint(
                **t,
                # A minute of traffic per thousand touches (each distinct time is one
                # last-activity UPDATE when appended).
                occurred_at=now - dt.timedelta(minutes=(count - i) // 1000),
                received_at=now,
                source="bench",
            )
        )
    for start in range(0, count, 5000):
        with transaction.atomic():
            touchpoints_append_many(rows[start : start + 5000])
    return last + 1, Touchpoint.objects.order_by("-pk").values_list("pk", flat=True).first()


def run(*, contacts: int, fresh: bool, database: str) -> dict:
    with prepared_dataset(contacts, fresh, writable=True) as dataset:
        _set_up()
        now = timezone.now()
        log("full recompute")
        began = time.perf_counter()
        with transaction.atomic():
            rows = engine.recompute(now=now)
        recompute_s = time.perf_counter() - began
        log(f"recompute: {rows:,} ledger rows in {recompute_s:.2f} s")
        baseline_s, sums = _baseline("1 = 1", [], now)
        log(f"baseline aggregate: {baseline_s:.2f} s")
        _check(sums, dict(ContactScore.objects.values_list("contact_id", "behaviour")), "recompute")

        log(f"appending {NEW_TOUCHES:,} new touchpoints")
        first, last = _append_new_touches(NEW_TOUCHES, timezone.now())
        began = time.perf_counter()
        handled = 0
        while n := consume_batch(engine.CONSUMER, jobs.handle_touchpoints, limit=1000):
            handled += n
        incremental_s = time.perf_counter() - began
        if handled != last - first + 1:
            raise BenchError(f"the consumer handled {handled:,} of {last - first + 1:,} touches")
        log(f"incremental: {handled:,} touches in {incremental_s:.2f} s")
        recomputed_at, now = now, timezone.now()
        inc_baseline_s, inc_sums = _baseline("id >= %s AND id <= %s", [first, last], now)
        # Points that expired while the bench ran drop out by the scheduled sweep, as in the
        # product (a run at 1M takes long enough for some forms' and clicks' points to expire).
        with transaction.atomic():
            engine.sweep_expired(since=recomputed_at, now=now)
        log(f"incremental baseline: {inc_baseline_s:.2f} s")
        # The whole stream again, to check live scores after the new touches.
        _unused, all_sums = _baseline("1 = 1", [], now)
        _check(all_sums, dict(ContactScore.objects.values_list("contact_id", "behaviour")), "live")
        return {
            "bench": "scoring",
            "database": database,
            "database_version": database_version(),
            "n": contacts,
            "touchpoints": dataset.counts.get("touchpoints"),
            "ledger_rows": rows,
            "seconds": round(recompute_s, 3),
            "recompute_s": round(recompute_s, 3),
            "baseline_seconds": round(baseline_s, 3),
            "ratio": round(recompute_s / baseline_s, 2),
            "incremental_touches": handled,
            "incremental_s": round(incremental_s, 3),
            "incremental_baseline_s": round(inc_baseline_s, 3),
            "incremental_ratio": round(incremental_s / inc_baseline_s, 2),
            "incremental_contacts": len(inc_sums),
            "dataset_build_seconds": dataset.build_seconds,
            "dataset_built_now": dataset.built_now,
        }
