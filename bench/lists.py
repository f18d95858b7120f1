"""`tsunagari bench lists`: how fast the contact and account pages answer at scale.

Each page is requested through the whole Django stack (middleware, session, view, template)
as a logged-in administrator; the baseline is the default contact list's work done by hand: one
SQL query for the 50 newest live contacts with their account names, and the capped count.
The dashboard is measured as it runs beside a worker: its snapshot is taken first, as the
worker's `core.dashboard` kind does (and that recount is timed on its own).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.test import Client

from bench.common import BenchError, database_version, log, percentile, prepared_dataset, timed
from tsunagari.core import dashboard
from tsunagari.core import services as core_services
from tsunagari.core.models import User
from tsunagari.core.roles import Role
from tsunagari.crm.choices import LifecycleStage
from tsunagari.crm.models import Account, Contact
from tsunagari.crm.queries import COUNT_CAP, PAGE_SIZE

DEFAULT_CONTACTS = 1_000_000
REPEAT = 30
WARMUP = 3
ADMIN = "bench-admin"
# The most common family name, as people type it in the search box; stored readings are katakana.
KANA_QUERY = "サトウ"
EMAIL_QUERY = "t.sato"


def _admin_client() -> Client:
    user = User.objects.filter(username=ADMIN).first()
    if user is None:
        user = core_services.user_create(
            username=ADMIN, password=secrets.token_urlsafe(24), role=Role.ADMIN
        )
    host = next((h for h in settings.ALLOWED_HOSTS if h != "*" and not h.startswith(".")), None)
    client = Client(HTTP_HOST=host) if host else Client()
    client.force_login(user)
    return client


def _pages() -> list[tuple[str, str, dict]]:
    """(label, path, query) of each page measured, chosen from the data set itself."""
    owner = (
        Contact.objects.filter(owner__isnull=False)
        .values("owner")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("owner", flat=True)
        .first()
    )
    account_prefix = (
        Account.objects.order_by("id").values_list("name_key", flat=True).first() or "東和"
    )[:2]
    contact = (
        Contact.objects.filter(lifecycle_stage=LifecycleStage.CUSTOMER, deleted_at=None)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
        or Contact.objects.order_by("-id").values_list("id", flat=True).first()
    )
    biggest_account = (
        Contact.objects.filter(account__isnull=False)
        .values("account")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("account", flat=True)
        .first()
    )
    queries = [
        ("/", {}),  # the dashboard, where everyone lands
        ("/contacts/", {}),
        ("/contacts/", {"q": KANA_QUERY}),
        ("/contacts/", {"q": EMAIL_QUERY}),
        ("/contacts/", {"stage": LifecycleStage.MQL.value}),
        ("/contacts/", {"sort": "name"}),
        ("/contacts/", {"page": "50"}),
        ("/contacts/", {"owner": str(owner)}),
        ("/accounts/", {}),
        ("/accounts/", {"q": account_prefix}),
        ("/accounts/", {"lifecycle": "customer"}),
        (f"/contacts/{contact}/", {}),
        (f"/accounts/{biggest_account}/", {}),
    ]
    pages = []
    for path, query in queries:
        label = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
        pages.append((label, path, query))
    return pages


def _baseline() -> None:
    """The default contact list by hand: 50 newest live contacts with account names, and count."""
    contact, account = Contact._meta, Account._meta
    quote = connection.ops.quote_name
    c, a = quote(contact.db_table), quote(account.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id, c.family_name, c.given_name, c.family_name_kana, c.given_name_kana, "
            f"c.email, c.title, c.department, c.lifecycle_stage, c.email_consent, "
            f"c.last_activity_at, c.created_at, c.owner_id, a.id, a.name "
            f"FROM {c} c LEFT JOIN {a} a ON a.id = c.account_id "
            f"WHERE c.deleted_at IS NULL ORDER BY c.id DESC LIMIT %s",
            [PAGE_SIZE],
        )
        rows = cursor.fetchall()
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {c} WHERE deleted_at IS NULL LIMIT %s) t",
            [COUNT_CAP + 1],
        )
        cursor.fetchone()
    if not rows:
        raise BenchError("the baseline query found no contacts")


def run(*, contacts: int, fresh: bool, database: str) -> dict:
    with prepared_dataset(contacts, fresh) as dataset:
        client = _admin_client()
        pages = _pages()
        # What the worker does every minute (one snapshot row); a database with at most
        # EXACT_UP_TO live contacts has none and its dashboard counts on every view.
        recount = timed(dashboard.dashboard_recount, repeat=3, warmup=0)
        log(f"dashboard recount (the worker's): p50 {percentile(recount, 50) * 1000:.1f} ms")
        figures: dict[str, dict[str, float]] = {}
        samples_of: dict[str, list[float]] = {}
        for label, path, query in pages:

            def get(path=path, query=query, label=label) -> None:
                response = client.get(path, query, secure=settings.SECURE_SSL_REDIRECT)
                if response.status_code != 200:
                    raise BenchError(f"GET {label} answered {response.status_code}, not 200")

            samples = timed(get, repeat=REPEAT, warmup=WARMUP)
            samples_of[label] = samples
            figures[label] = {
                "p50_ms": round(percentile(samples, 50) * 1000, 2),
                "p95_ms": round(percentile(samples, 95) * 1000, 2),
            }
            log(f"{label}: p50 {figures[label]['p50_ms']} ms, p95 {figures[label]['p95_ms']} ms")
        baseline = timed(_baseline, repeat=REPEAT, warmup=WARMUP)
        log(f"baseline (raw SQL): p50 {percentile(baseline, 50) * 1000:.2f} ms")
        slowest = max(figures, key=lambda label: figures[label]["p50_ms"])
        # The ratio compares like with like: the default contact list against its hand-written SQL.
        seconds = sum(samples_of["/contacts/"])
        baseline_seconds = sum(baseline)
        return {
            "bench": "lists",
            "database": database,
            "database_version": database_version(),
            "n": contacts,
            "seconds": round(seconds, 4),
            "baseline_seconds": round(baseline_seconds, 4),
            "ratio": round(seconds / baseline_seconds, 2),
            "p50_ms": figures[slowest]["p50_ms"],
            "p95_ms": figures[slowest]["p95_ms"],
            "slowest": slowest,
            "pages": figures,
            "repeat": REPEAT,
            "all_pages_seconds": round(sum(sum(s) for s in samples_of.values()), 3),
            "dashboard_recount_ms": round(percentile(recount, 50) * 1000, 2),
            "dataset_build_seconds": dataset.build_seconds,
            "dataset_built_now": dataset.built_now,
        }
