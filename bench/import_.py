"""Import benchmark: N Japanese contacts in a CP932 CSV, imported through the real service path.

`tsunagari bench import --contacts N` calls run(); the figure is the time from upload to the
last batch committed (import_create → import_preview → import_start → import_run), against
a raw executemany of the same rows into a scratch table in the same database.
"""

from __future__ import annotations

import csv
import io
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from bench.common import BenchError, database_version, log
from tsunagari.crm import imports
from tsunagari.crm.choices import Industry
from tsunagari.crm.models import Account, AccountDomain, Contact, ImportJob
from tsunagari.demo import vocabulary as v
from tsunagari.demo.companies import corporate_number

DEFAULT_CONTACTS = 100_000
# Bump when the rows change, so that a cached file of the old generator is not reused.
GENERATOR_VERSION = 1
# Every generated domain ends with this, so that the benchmark finds and removes its own rows.
DOMAIN_SUFFIX = ".bench.example"
HEADERS = [
    "メールアドレス",
    "姓",
    "名",
    "セイ",
    "メイ",
    "会社名",
    "法人番号",
    "ホームページ",
    "部署",
    "役職",
    "電話番号",
    "都道府県",
    "業種",
    "従業員数",
]
# The 業種 column as Japanese lists write it (JSIC major groups).
_INDUSTRY_TEXT = {
    Industry.AGRICULTURE: "農業，林業",
    Industry.MINING: "建設業",
    Industry.MANUFACTURING: "製造業",
    Industry.UTILITIES: "電気・ガス・熱供給・水道業",
    Industry.IT: "情報通信業",
    Industry.TRANSPORT: "運輸業，郵便業",
    Industry.TRADE: "卸売業，小売業",
    Industry.FINANCE: "金融業，保険業",
    Industry.REAL_ESTATE: "不動産業，物品賃貸業",
    Industry.PROFESSIONAL: "学術研究，専門・技術サービス業",
    Industry.HOSPITALITY: "宿泊業，飲食サービス業",
    Industry.EDUCATION: "教育，学習支援業",
    Industry.MEDICAL: "医療，福祉",
    Industry.SERVICES: "サービス業（他に分類されないもの）",
    Industry.PUBLIC: "公務",
}
_EMAIL_FORMS = ("{g}.{f}", "{f}.{g}", "{i}.{f}", "{f}", "{g}_{f}")
_EMPLOYEES = (12, 45, 80, 150, 300, 1200, 3400, 8000)


def _weighted(rng: random.Random, items: Sequence[Any], weights: Sequence[float]) -> Any:
    return rng.choices(items, weights)[0]


def _companies(rng: random.Random, count: int) -> list[dict[str, str]]:
    """Companies from the demo's vocabulary: stem + business word, a place, most with a 法人番号."""
    industries = list(v.INDUSTRY_WEIGHTS)
    industry_weights = list(v.INDUSTRY_WEIGHTS.values())
    place_weights = [place.weight for place in v.PLACES]
    numbers: set[str] = set()
    names: set[str] = set()
    companies = []
    for _index in range(count):
        industry = _weighted(rng, industries, industry_weights)
        place = _weighted(rng, v.PLACES, place_weights)
        _city, area, exchange_digits = rng.choice(place.cities)
        stem, word = rng.choice(v.COMPANY_STEMS), rng.choice(v.BUSINESS_WORDS[industry])
        core, serial = f"{stem.text}{word.text}", 1
        while f"{core}{serial}" in names:
            serial += 1
        names.add(f"{core}{serial}")
        suffix = str(serial) if serial > 1 else ""
        legal = rng.random()
        if legal < 0.4:
            name = f"株式会社{core}{suffix}"
        elif legal < 0.9:
            name = f"{core}{suffix}株式会社"
        else:
            name = f"{core}{suffix}合同会社"
        with_number = rng.random() < 0.7
        companies.append(
            {
                "name": name,
                "number": corporate_number(rng, place.code, "01", numbers) if with_number else "",
                "domain": f"{stem.romaji}-{word.romaji}{suffix}{DOMAIN_SUFFIX}",
                "prefecture": place.name,
                "industry": _INDUSTRY_TEXT[industry],
                "employees": f"{rng.choice(_EMPLOYEES):,}",
                "area": area,
                "exchange_digits": str(exchange_digits),
            }
        )
    return companies


def _phone(rng: random.Random, company: dict[str, str]) -> str:
    """A mobile, or a direct line in the company's area (exchanges 5–8 exist under every area
    code, as the demo's numbers), written as people write them."""
    if rng.random() < 0.3:
        return f"0{rng.choice('789')}0-{rng.randint(1000, 9999)}-{rng.randrange(10_000):04d}"
    digits = int(company["exchange_digits"])
    exchange = f"{rng.randint(5, 8)}{rng.randrange(10 ** (digits - 1)):0{digits - 1}d}"
    return f"0{company['area']}-{exchange}-{rng.randrange(10_000):04d}"


def generate_rows(contacts: int) -> list[list[str]]:
    """The same N rows for a given N on every machine (random.Random(42)), about 20 a company."""
    rng = random.Random(42)
    companies = _companies(rng, max(1, contacts // 20))
    departments = [name for name, _weight in v.DEPARTMENTS]
    department_weights = [weight for _name, weight in v.DEPARTMENTS]
    titles = [title for title, _weight, _seniority in v.TITLES]
    title_weights = [weight for _title, weight, _seniority in v.TITLES]
    rows: list[list[str]] = []
    used: set[str] = set()
    for _index in range(contacts):
        company = rng.choice(companies)
        family = _weighted(rng, v.FAMILY_NAMES, v.FAMILY_WEIGHTS)
        given = rng.choice(v.GIVEN_NAMES)
        local = rng.choice(_EMAIL_FORMS).format(f=family.romaji, g=given.romaji, i=given.romaji[0])
        email, n = f"{local}@{company['domain']}", 1
        while email in used:
            n += 1
            email = f"{local}{n}@{company['domain']}"
        used.add(email)
        rows.append(
            [
                email,
                family.text,
                given.text,
                family.kana,
                given.kana,
                company["name"],
                company["number"],
                f"https://www.{company['domain']}/",
                _weighted(rng, departments, department_weights),
                _weighted(rng, titles, title_weights),
                _phone(rng, company),
                company["prefecture"],
                company["industry"],
                company["employees"],
            ]
        )
    return rows


def _data_file(contacts: int, *, fresh: bool) -> tuple[Path, list[list[str]]]:
    """The CSV as Excel in Japan saves it (CP932, CRLF), cached by size; `fresh` rebuilds it."""
    path = Path(settings.DATA_DIR) / "bench" / f"import-{contacts}-v{GENERATOR_VERSION}.csv"
    if path.exists() and not fresh:
        log(f"using {path}")
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode("cp932"), newline="")))
        return path, rows[1:]
    log(f"generating {contacts:,} contacts into {path}")
    rows = generate_rows(contacts)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a half-written file is never taken for the data set.
    partial = path.with_suffix(".partial")
    partial.write_bytes(buffer.getvalue().encode("cp932"))
    partial.replace(path)
    return path, rows


def _cleanup() -> None:
    """Remove what earlier runs of this benchmark imported (only rows on its own domains)."""
    contacts = Contact.objects.filter(email__endswith=DOMAIN_SUFFIX)
    Contact.tags.through.objects.filter(contact__in=contacts).delete()
    contacts.delete()
    account_ids = list(
        AccountDomain.objects.filter(domain__endswith=DOMAIN_SUFFIX).values_list(
            "account_id", flat=True
        )
    )
    Account.objects.filter(pk__in=account_ids).delete()
    for job in ImportJob.objects.filter(file_name__startswith="bench-import-"):
        (Path(settings.UPLOAD_DIR) / job.stored_path).unlink(missing_ok=True)
        job.delete()


def _baseline(rows: list[list[str]]) -> float:
    """Seconds for a plain executemany of the same rows into a scratch table: the ceiling."""
    columns = len(HEADERS)
    table = "bench_import_scratch"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(
            f"CREATE TABLE {table} ({', '.join(f'c{i} varchar(300)' for i in range(columns))})"
        )
    try:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * columns)})", rows)
        return time.perf_counter() - started
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {table}")


def run(*, contacts: int = DEFAULT_CONTACTS, fresh: bool = False, database: str = "") -> dict:
    """Import `contacts` new contacts and return the figures; the database is Django's default.

    `database` is the name reported (the vendor of the connection when empty). The imported
    rows are removed afterwards, so that every run measures the same work: creating them all.
    """
    path, rows = _data_file(contacts, fresh=fresh)
    _cleanup()
    log(f"importing {contacts:,} rows ({path.stat().st_size / 1e6:.1f} MB)")
    started = time.perf_counter()
    job = imports.import_create(
        path_or_bytes=path,
        file_name=f"bench-import-{contacts}.csv",
        object_type="contact",
        user=None,
    )
    preview = imports.import_preview(job=job, mapping=job.mapping)
    previewed = time.perf_counter()
    log(f"dry run: {preview.would_create:,} to create in {previewed - started:.1f} s")
    imports.import_start(job=job, mapping=job.mapping, consent_basis="", user=None)
    job = imports.import_run(job_id=job.pk)
    seconds = time.perf_counter() - started
    log(f"imported: {job.status}, {job.created_count:,} created in {seconds:.1f} s")
    if job.status != ImportJob.Status.DONE:
        raise BenchError(f"the import ended {job.status}: {job.failure}")
    accounts = Account.objects.filter(domains__domain__endswith=DOMAIN_SUFFIX).count()
    _cleanup()
    log("baseline: executemany into a scratch table")
    baseline = _baseline(rows)
    return {
        "bench": "import",
        "database": database or connection.vendor,
        "database_version": database_version(),
        "n": contacts,
        "seconds": round(seconds, 3),
        "baseline_seconds": round(baseline, 3),
        "ratio": round(seconds / baseline, 2),
        "rows_per_s": round(contacts / seconds),
        "preview_seconds": round(previewed - started, 3),
        "run_seconds": round(seconds - (previewed - started), 3),
        "created": job.created_count,
        "skipped": job.skipped_count,
        "accounts": accounts,
    }
