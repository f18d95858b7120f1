"""Generated accounts: Japanese companies with readings, 法人番号, domains, size, place, owner."""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from tsunagari.core.text import corporate_number_check_digit, normalize_company_name
from tsunagari.crm.choices import AbmTier, AccountLifecycle, Industry
from tsunagari.demo import vocabulary as v

DOMAIN_SUFFIX = ".example"
# Fields of the account rows below, in order (see writer.TableWriter).
ACCOUNT_FIELDS = (
    "id",
    "name",
    "name_kana",
    "name_key",
    "corporate_number",
    "industry",
    "employee_count",
    "annual_revenue",
    "capital",
    "prefecture",
    "address",
    "phone",
    "owner",
    "lifecycle",
    "abm_tier",
    "is_target",
    "created_at",
    "updated_at",
)
DOMAIN_FIELDS = ("account", "domain")

_INDUSTRIES = [industry.value for industry in v.INDUSTRY_WEIGHTS]
_PUBLIC = Industry.PUBLIC.value
_INDUSTRY_CUM = list(itertools.accumulate(v.INDUSTRY_WEIGHTS.values()))
_PLACE_CUM = list(itertools.accumulate(p.weight for p in v.PLACES))
_PROSPECT, _CUSTOMER = AccountLifecycle.PROSPECT.value, AccountLifecycle.CUSTOMER.value
_LIFECYCLES = (_PROSPECT, _CUSTOMER, AccountLifecycle.PARTNER.value, AccountLifecycle.FORMER.value)
# Mostly prospects; big companies are customers more often. Keyed by "300 people or more".
_LIFECYCLE_CUM = {
    False: list(itertools.accumulate((80, 10, 3, 6))),
    True: list(itertools.accumulate((80, 18, 3, 6))),
}
_TIERS = (AbmTier.TIER1.value, AbmTier.TIER2.value, AbmTier.TIER3.value)
_TIER_CUM = list(itertools.accumulate((15, 35, 50)))
# Family-name companies (佐藤工業, 鈴木商事) are as Japanese as any stem.
_STEMS = v.COMPANY_STEMS + v.FAMILY_NAMES


@dataclass
class Uniques:
    """Values that must stay unique across the whole data set and what the database holds."""

    corporate_numbers: set[str] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    company_names: set[str] = field(default_factory=set)


@dataclass
class AccountSet:
    """What contacts need to know about the generated accounts; lists run parallel, by age."""

    ids: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)  # epoch seconds, ascending
    cum_weights: list[float] = field(default_factory=list)  # how many contacts each draws
    domains: list[str] = field(default_factory=list)
    owners: list[int | None] = field(default_factory=list)
    lifecycles: list[str] = field(default_factory=list)
    phone_areas: list[tuple[str, int]] = field(default_factory=list)


def _pick(rng: random.Random, cum: list[float]) -> int:
    return bisect.bisect(cum, rng.random() * cum[-1])


def _employees(rng: random.Random) -> int:
    # Long tail: median about 80 people, a few per cent above 1,000.
    n = max(1, min(300_000, round(rng.lognormvariate(math.log(80), 1.5))))
    if n >= 1000:
        return round(n, -2)
    if n >= 100:
        return round(n, -1)
    return n


def _capital(rng: random.Random, employees: int, revenue: int, legal: str) -> int:
    if legal == "有限会社":
        return rng.choice((3_000_000, 3_000_000, 5_000_000, 10_000_000))
    if legal in ("合同会社", "一般財団法人"):
        return rng.choice((1_000_000, 3_000_000, 5_000_000, 10_000_000))
    if employees < 20:
        return rng.choice((1_000_000, 3_000_000, 5_000_000, 10_000_000, 10_000_000, 20_000_000))
    if employees < 300:
        # Many stay at or below ¥100M, the line of the SME tax rules.
        return rng.choice((10_000_000, 20_000_000, 30_000_000, 50_000_000, 90_000_000, 100_000_000))
    return max(100_000_000, int(round(revenue * rng.uniform(0.02, 0.08), -8)))


def corporate_number(rng: random.Random, prefecture: str, kind: str, used: set[str]) -> str:
    """A valid, unused 法人番号: check digit + registry office + company type + serial number."""
    while True:
        base = f"{prefecture}{rng.randrange(100):02d}{kind}{rng.randrange(1_000_000):06d}"
        number = f"{corporate_number_check_digit(base)}{base}"
        if number not in used:
            used.add(number)
            return number


def _domain(stem: v.Word, word: v.Word, place: v.Place, used: set[str]) -> str:
    base = f"{stem.romaji}-{word.romaji}"
    candidates = (base, base.replace("-", ""), f"{base}-{place.romaji}")
    for candidate in candidates:
        if candidate + DOMAIN_SUFFIX not in used:
            break
    else:
        candidate = next(
            f"{base}{n}" for n in itertools.count(2) if f"{base}{n}{DOMAIN_SUFFIX}" not in used
        )
    domain = candidate + DOMAIN_SUFFIX
    used.add(domain)
    return domain


def fixed_phone(rng: random.Random, area: str, exchange_digits: int) -> str:
    """A valid Japanese fixed-line number in E.164 (exchanges 5–8 exist under every area code)."""
    rest = rng.randrange(10 ** (exchange_digits - 1))
    return f"+81{area}{rng.randint(5, 8)}{rest:0{exchange_digits - 1}d}{rng.randrange(10_000):04d}"


def make_accounts(
    rng: random.Random,
    *,
    ids: list[int],
    first: int,
    total: int,
    start: int,
    end: int,
    field_sales: list[int],
    uniques: Uniques,
    timestamp: Callable[[int], str],
    into: AccountSet,
) -> tuple[list[tuple], list[tuple]]:
    """Rows of accounts and domains for `ids`, numbers `first`… of `total` made in this run.

    Creation times run from `start` to `end` (epoch seconds), denser early on: a CRM starts with
    an imported customer list. The facts contacts need are appended to `into`.
    """
    accounts, domains = [], []
    for i, account_id in enumerate(ids, start=first):
        created = start + int((end - start) * ((i + rng.random()) / total) ** 2)
        industry = _INDUSTRIES[_pick(rng, _INDUSTRY_CUM)]
        place = v.PLACES[_pick(rng, _PLACE_CUM)]
        city, area, exchange_digits = rng.choice(place.cities)
        employees = _employees(rng)

        if industry == _PUBLIC:
            legal, legal_first, kind = "一般財団法人", True, "05"
        elif employees < 30 and (r := rng.random()) < 0.23:
            legal, legal_first, kind = (
                ("有限会社", False, "02") if r < 0.15 else ("合同会社", False, "03")
            )
            employees = min(employees, 50)
        else:
            legal, legal_first, kind = "株式会社", rng.random() < 0.4, "01"

        words = v.BUSINESS_WORDS[industry]
        regions = v.REGION_WORDS.get(place.code, ())
        for _attempt in range(4):
            stem = rng.choice(_STEMS)
            word = rng.choice(words)
            region = rng.choice(regions) if regions and rng.random() < 0.25 else None
            core = f"{region.text if region else ''}{stem.text}{word.text}"
            if core not in uniques.company_names:
                break
        uniques.company_names.add(core)
        name = f"{legal}{core}" if legal_first else f"{core}{legal}"
        kana = f"{region.kana if region else ''}{stem.kana}{word.kana}"

        revenue = int(
            round(employees * v.REVENUE_PER_EMPLOYEE[industry] * rng.lognormvariate(0, 0.35), -6)
        )
        capital = _capital(rng, employees, revenue, legal)
        lifecycle = _LIFECYCLES[_pick(rng, _LIFECYCLE_CUM[employees >= 300])]
        target_chance = 0.25 if employees >= 1000 else 0.10 if employees >= 300 else 0.01
        is_target = rng.random() < target_chance
        tier = _TIERS[_pick(rng, _TIER_CUM)] if is_target else AbmTier.NONE.value
        owned = is_target or lifecycle != _PROSPECT or rng.random() < 0.15
        owner = rng.choice(field_sales) if owned and field_sales else None

        address = (
            f"{place.name}{city}{rng.choice(v.TOWNS)}{rng.randint(1, 5)}丁目"
            f"{rng.randint(1, 30)}番{rng.randint(1, 20)}号"
        )
        if rng.random() < 0.6:
            address += f" {rng.choice(_STEMS).text}{rng.choice(v.BUILDINGS)} {rng.randint(2, 15)}階"
        domain = _domain(stem, word, place, uniques.domains)
        updated = created + int((end - created) * rng.random() * 0.5)

        accounts.append(
            (
                account_id,
                name,
                kana,
                normalize_company_name(name),
                corporate_number(rng, place.code, kind, uniques.corporate_numbers),
                industry,
                employees,
                revenue,
                capital,
                place.code,
                address,
                fixed_phone(rng, area, exchange_digits),
                owner,
                lifecycle,
                tier,
                is_target,
                timestamp(created),
                timestamp(updated),
            )
        )
        domains.append((account_id, domain))

        weight = employees**0.55 * (3 if is_target else 1)
        weight *= 1.5 if lifecycle == _CUSTOMER else 1
        into.ids.append(account_id)
        into.created.append(created)
        into.cum_weights.append((into.cum_weights[-1] if into.cum_weights else 0) + weight)
        into.domains.append(domain)
        into.owners.append(owner)
        into.lifecycles.append(lifecycle)
        into.phone_areas.append((area, exchange_digits))
    return accounts, domains
