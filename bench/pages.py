"""`tsunagari bench pages`: dynamic content decisions and form submissions at scale.

The dynamic content figure is one `/p/slots.json` request through the whole Django stack
(middleware, origin check, rules, the decision touchpoint written) for a known visitor,
against a slot whose variants use a segment, lifecycle + behaviour score, industry and
target-account rules. Its baseline is the work a decision cannot avoid, by hand: the visitor
with contact, account and score in one SQL query, the contact's current memberships, and
the decision's touchpoint appended in its own transaction.
The form figure is one submission through `form_submit` (validate, upsert contact and
account, consent, touchpoint) for a new address each time; the second form figure is the same
from a browser that had already viewed HISTORY pages anonymously, so the submission also
identifies the visitor and attaches that history to the contact.
The content asset report is timed last, for ASSETS assets on the data set's own pages, over
30 and 90 days.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets

from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from bench.common import BenchError, database_version, log, percentile, prepared_dataset, timed
from tsunagari.crm.models import Contact
from tsunagari.pages import protection, services
from tsunagari.pages.dynamic import slot_cache
from tsunagari.pages.models import ContentAsset, ContentSlot, FormField, SlotVariant
from tsunagari.pages.presentation import present
from tsunagari.pages.queries import asset_report
from tsunagari.pages.submissions import SubmitContext, form_submit
from tsunagari.scoring.models import ContactScore
from tsunagari.segments.models import Membership, Segment
from tsunagari.tracking.models import Touchpoint, TrackedSite, Visitor
from tsunagari.tracking.services import touchpoints_append_many
from tsunagari.tracking.sites import site_cache

DEFAULT_CONTACTS = 1_000_000
REPEAT = 300
WARMUP = 10
SUBMISSIONS = 100
HISTORY = 10  # anonymous page views of each visitor who then submits
# URL prefixes of the demo site's pages (tsunagari.demo.touchpoints), one asset each.
ASSETS = (
    "/blog/ma-basics",
    "/blog/",
    "/pricing",
    "/whitepaper/",
    "/case-studies/",
    "/products/",
    "/seminar/",
    "/whitepaper/manu",
)
SITE = "https://www.tsunagari-demo.example"
VISITORS = 2000
ORIGIN = "https://bench.example.co.jp"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


def _setup(rng: random.Random) -> tuple[list[str], Segment]:
    """Visitors of known contacts, a segment holding a tenth of them, the slot and a site."""
    TrackedSite.objects.get_or_create(origin=ORIGIN, defaults={"name": "bench"})
    site_cache.reload()
    top = Contact.objects.order_by("-id").values_list("id", flat=True).first()
    if not top:
        raise BenchError("the data set has no contacts")
    chosen = sorted({rng.randint(1, top) for _ in range(VISITORS)})
    live = list(Contact.objects.filter(pk__in=chosen).values_list("pk", flat=True))
    now = timezone.now()
    visitors = [
        Visitor(uid=secrets.token_hex(16), contact_id=pk, first_seen=now, last_seen=now)
        for pk in live
    ]
    Visitor.objects.bulk_create(visitors, batch_size=500)
    segment = Segment.objects.create(name="bench: dynamic content")
    Membership.objects.bulk_create(
        [Membership(segment=segment, contact_id=pk, entered_at=now) for pk in live[::10]],
        batch_size=500,
    )
    ContactScore.objects.bulk_create(
        [ContactScore(contact_id=pk, behaviour=rng.randint(0, 120), grade="B") for pk in live],
        batch_size=500,
        ignore_conflicts=True,
    )
    slot = ContentSlot.objects.create(key="bench-hero", name="bench", default_html="<p>x</p>")
    rules = [
        ("expo", {"segments": [segment.pk]}),
        ("mql", {"lifecycle": ["mql"], "min_behaviour": 50}),
        ("maker", {"industry": ["manufacturing"]}),
        ("abm", {"target_account": True, "abm_tiers": [1, 2]}),
    ]
    for position, (key, rule) in enumerate(rules):
        SlotVariant.objects.create(
            slot=slot, key=key, html=f"<p>{key}</p>", rules=rule, position=position
        )
    slot_cache.reload()
    return [v.uid for v in visitors], segment


def _baseline(uid: str) -> None:
    visitor, contact, account, score = (
        Visitor._meta.db_table,
        Contact._meta.db_table,
        "crm_account",
        ContactScore._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT v.id, c.id, c.lifecycle_stage, a.industry, a.abm_tier, a.is_target, "
            f"s.behaviour, s.grade FROM {visitor} v LEFT JOIN {contact} c ON c.id = v.contact_id "
            f"LEFT JOIN {account} a ON a.id = c.account_id "
            f"LEFT JOIN {score} s ON s.contact_id = c.id WHERE v.uid = %s",
            [uid],
        )
        row = cursor.fetchone()
        cursor.execute(
            f"SELECT segment_id FROM {Membership._meta.db_table} "
            f"WHERE contact_id = %s AND exited_at IS NULL",
            [row[1]],
        )
        cursor.fetchall()
    with transaction.atomic():
        touchpoints_append_many(
            [
                Touchpoint(
                    contact_id=row[1],
                    visitor_id=row[0],
                    type="custom_event",
                    occurred_at=timezone.now(),
                    properties={"event": "dynamic_content", "slot": "x", "variant": "y"},
                )
            ]
        )


def _anonymous_visitors(count: int) -> list[str]:
    """Visitors with HISTORY anonymous page views each, as a browser has before a form."""
    now = timezone.now()
    visitors = [
        Visitor(uid=secrets.token_hex(16), first_seen=now, last_seen=now) for _ in range(count)
    ]
    with transaction.atomic():
        Visitor.objects.bulk_create(visitors, batch_size=500)
        touchpoints_append_many(
            [
                {
                    "visitor_id": v.pk,
                    "type": "page_view",
                    "occurred_at": now - dt.timedelta(minutes=HISTORY - i),
                    "url": f"{ORIGIN}/blog/{i}",
                    "path": f"/blog/{i}",
                }
                for v in visitors
                for i in range(HISTORY)
            ]
        )
    return [v.uid for v in visitors]


def _submission_samples(rng: random.Random, *, with_history: bool) -> list[float]:
    form = services.form_create(name="bench: whitepaper")
    form.min_fill_seconds = 0
    form.save()
    for target in ("company", "family_name", "department"):
        services.field_save(field=FormField(form=form, kind="field", target=target))
    services.field_save(
        field=FormField(form=form, kind="consent", target="newsletter"), consent_text="同意します"
    )
    names = {f.target: f.name for f in form.fields.all()}
    counter = iter(range(10**9))
    uids = iter(_anonymous_visitors(SUBMISSIONS + 3) if with_history else [])

    def submit() -> None:
        protection.ip_limiter.reset()
        protection.form_limiter.reset()
        n = next(counter)
        visitor = next(uids, "")
        token = present(form, contact=None, origin=ORIGIN, visitor=visitor).token
        data = {
            names["email"]: f"bench{n}-{rng.randint(0, 10**9)}@bench-{n % 97}.example.co.jp",
            names["company"]: f"ベンチ商事{n % 97}",
            names["family_name"]: "山田",
            names["department"]: "営業部",
            names["newsletter"]: "1",
        }
        result = form_submit(
            form=form, data=data, ctx=SubmitContext(ip="10.0.0.1", origin=ORIGIN, token=token)
        )
        if not result.ok:
            raise BenchError(f"a bench submission was refused: {result.errors}")
        if visitor and result.submission.visitor.contact_id != result.submission.contact_id:
            raise BenchError("a bench submission did not identify its visitor")

    return timed(submit, repeat=SUBMISSIONS, warmup=3)


def _asset_report_samples() -> dict[int, list[float]]:
    kinds = [k for k, _label in ContentAsset.Kind.choices]
    for i, prefix in enumerate(ASSETS):
        ContentAsset.objects.create(
            key=f"bench-{i}", name=prefix, kind=kinds[i % 3], url_pattern=SITE + prefix + "*"
        )
    return {
        days: timed(lambda d=days: asset_report(days=d), repeat=3, warmup=1) for days in (30, 90)
    }


def run(*, contacts: int, fresh: bool, database: str) -> dict:
    rng = random.Random(7)
    with prepared_dataset(contacts, fresh, writable=True) as dataset:
        log("setting up visitors, a segment, scores and a slot")
        with transaction.atomic():
            uids, _segment = _setup(rng)
        host = next((h for h in settings.ALLOWED_HOSTS if h != "*" and not h.startswith(".")), None)
        client = Client(HTTP_HOST=host) if host else Client()
        picks = iter(rng.choice(uids) for _ in range(REPEAT + WARMUP + 10))

        def decide() -> None:
            protection.ip_limiter_slots.reset()
            response = client.get(
                "/p/slots.json",
                {"k": "bench-hero", "v": next(picks)},
                headers={"Origin": ORIGIN, "User-Agent": CHROME},
            )
            if response.status_code != 200 or "bench-hero" not in response.json():
                raise BenchError(f"slots answered {response.status_code}")

        samples = timed(decide, repeat=REPEAT, warmup=WARMUP)
        baseline_uids = iter(rng.choice(uids) for _ in range(REPEAT + WARMUP + 10))
        baseline = timed(lambda: _baseline(next(baseline_uids)), repeat=REPEAT, warmup=WARMUP)
        log(
            f"dynamic content: p50 {percentile(samples, 50) * 1000:.2f} ms, "
            f"p95 {percentile(samples, 95) * 1000:.2f} ms; "
            f"baseline p50 {percentile(baseline, 50) * 1000:.2f} ms"
        )
        submissions = _submission_samples(rng, with_history=False)
        log(
            f"form submission: p50 {percentile(submissions, 50) * 1000:.2f} ms, "
            f"p95 {percentile(submissions, 95) * 1000:.2f} ms"
        )
        identified = _submission_samples(rng, with_history=True)
        log(
            f"form submission identifying a visitor with {HISTORY} page views: "
            f"p50 {percentile(identified, 50) * 1000:.2f} ms, "
            f"p95 {percentile(identified, 95) * 1000:.2f} ms"
        )
        reports = _asset_report_samples()
        for days, samples_of_days in reports.items():
            log(f"asset report, {days} days: p50 {percentile(samples_of_days, 50):.2f} s")
        return {
            "bench": "pages",
            "database": database,
            "database_version": database_version(),
            "n": contacts,
            "seconds": round(sum(samples), 4),
            "baseline_seconds": round(sum(baseline), 4),
            "ratio": round(sum(samples) / sum(baseline), 2),
            "p50_ms": round(percentile(samples, 50) * 1000, 2),
            "p95_ms": round(percentile(samples, 95) * 1000, 2),
            "submit_p50_ms": round(percentile(submissions, 50) * 1000, 2),
            "submit_p95_ms": round(percentile(submissions, 95) * 1000, 2),
            "submit_identify_p50_ms": round(percentile(identified, 50) * 1000, 2),
            "submit_identify_p95_ms": round(percentile(identified, 95) * 1000, 2),
            "asset_report_30d_seconds": round(percentile(reports[30], 50), 3),
            "asset_report_90d_seconds": round(percentile(reports[90], 50), 3),
            "repeat": REPEAT,
            "submissions": SUBMISSIONS,
            "dataset_build_seconds": dataset.build_seconds,
            "dataset_built_now": dataset.built_now,
        }
