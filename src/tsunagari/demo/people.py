"""Generated contacts with their lifecycle history, consent records and BANT, chunk by chunk."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable

from tsunagari.crm.choices import (
    AccountLifecycle,
    BantBudget,
    BantTiming,
    ConsentAction,
    ConsentChannel,
    ConsentMethod,
    ConsentState,
    LifecycleStage,
)
from tsunagari.crm.services import name_keys
from tsunagari.demo import vocabulary as v
from tsunagari.demo.companies import AccountSet, fixed_phone
from tsunagari.demo.context import ContactChunk, ContactFacts, DemoContext, Staff

CONTACT_FIELDS = (
    "id",
    "email",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "name_key",
    "kana_key",
    "title",
    "department",
    "buying_role",
    "phone",
    "account",
    "owner",
    "lifecycle_stage",
    "lifecycle_changed_at",
    "bant_budget",
    "bant_budget_at",
    "bant_budget_source",
    "bant_authority_at",
    "bant_authority_source",
    "bant_need",
    "bant_need_at",
    "bant_need_source",
    "bant_timing",
    "bant_timing_at",
    "bant_timing_source",
    "email_consent",
    "do_not_contact",
    "created_at",
    "updated_at",
    "last_activity_at",
)
TRANSITION_FIELDS = ("contact", "from_stage", "to_stage", "occurred_at", "actor", "rule", "reason")
CONSENT_FIELDS = (
    "contact",
    "channel",
    "topic",
    "action",
    "method",
    "basis",
    "source",
    "consent_text",
    "ip_address",
    "recorded_at",
    "recorded_by",
)

DAY = 86_400


class S:
    """Stage values as plain strings: the generator compares them a few million times."""

    SUBSCRIBER = LifecycleStage.SUBSCRIBER.value
    LEAD = LifecycleStage.LEAD.value
    MQL = LifecycleStage.MQL.value
    SQL = LifecycleStage.SQL.value
    OPPORTUNITY = LifecycleStage.OPPORTUNITY.value
    CUSTOMER = LifecycleStage.CUSTOMER.value
    NURTURE = LifecycleStage.NURTURE.value
    DISQUALIFIED = LifecycleStage.DISQUALIFIED.value


# Current stage by the account's lifecycle: nobody is a customer of a company that is not one.
_STAGES = (S.SUBSCRIBER, S.LEAD, S.MQL, S.SQL, S.OPPORTUNITY, S.CUSTOMER, S.NURTURE, S.DISQUALIFIED)
_STAGE_WEIGHTS = {
    AccountLifecycle.PROSPECT.value: (24, 45, 9, 4, 3, 0, 9, 6),
    AccountLifecycle.CUSTOMER.value: (10, 30, 8, 5, 7, 30, 7, 3),
    AccountLifecycle.PARTNER.value: (20, 50, 8, 4, 3, 0, 10, 5),
    AccountLifecycle.FORMER.value: (15, 35, 8, 4, 3, 5, 25, 5),
    "": (40, 45, 0, 0, 0, 0, 5, 10),  # no account: a personal address
}
_STAGE_CUM = {k: list(itertools.accumulate(w)) for k, w in _STAGE_WEIGHTS.items()}

# How people reach their current stage: the stages they went through, creation first.
_PATHS: dict[str, tuple[tuple[float, tuple[str, ...]], ...]] = {
    S.SUBSCRIBER: ((1, (S.SUBSCRIBER,)),),
    S.LEAD: ((75, (S.LEAD,)), (25, (S.SUBSCRIBER, S.LEAD))),
    S.MQL: ((75, (S.LEAD, S.MQL)), (25, (S.SUBSCRIBER, S.LEAD, S.MQL))),
    S.SQL: ((85, (S.LEAD, S.MQL, S.SQL)), (15, (S.LEAD, S.SQL))),
    S.OPPORTUNITY: (
        (70, (S.LEAD, S.MQL, S.SQL, S.OPPORTUNITY)),
        (30, (S.LEAD, S.SQL, S.OPPORTUNITY)),
    ),
    S.CUSTOMER: (
        (35, (S.LEAD, S.MQL, S.SQL, S.OPPORTUNITY, S.CUSTOMER)),
        (35, (S.LEAD, S.SQL, S.OPPORTUNITY, S.CUSTOMER)),
        (30, (S.CUSTOMER,)),  # imported with the customer list
    ),
    S.NURTURE: (
        (40, (S.LEAD, S.MQL, S.NURTURE)),
        (35, (S.LEAD, S.MQL, S.SQL, S.NURTURE)),
        (25, (S.LEAD, S.MQL, S.SQL, S.OPPORTUNITY, S.NURTURE)),
    ),
    S.DISQUALIFIED: (
        (60, (S.LEAD, S.DISQUALIFIED)),
        (25, (S.LEAD, S.MQL, S.DISQUALIFIED)),
        (15, (S.LEAD, S.MQL, S.SQL, S.DISQUALIFIED)),
    ),
}
_PATH_CUM = {
    stage: list(itertools.accumulate(w for w, _ in paths)) for stage, paths in _PATHS.items()
}
# People in an active stage got there recently: an MQL left for a year would have been recycled.
_LAST_STEP_WITHIN = {S.MQL: 60 * DAY, S.SQL: 90 * DAY, S.OPPORTUNITY: 180 * DAY}

_ORIGINS = ("form", "import", "ui", "api")  # the creation transition's rule
_ORIGIN_CUM = list(itertools.accumulate((50, 40, 7, 3)))
_OPT_IN_CHANCE = {"form": 0.85, "import": 0.70, "api": 0.50, "ui": 0.0}
_OPT_IN_METHOD = {
    "form": ConsentMethod.FORM.value,
    "import": ConsentMethod.BUSINESS_CARD.value,
    "api": ConsentMethod.API.value,
}
_EMAIL_LINK, _VERBAL = ConsentMethod.EMAIL_LINK.value, ConsentMethod.VERBAL.value
_UNKNOWN = ConsentState.UNKNOWN.value
_STATE_IN, _STATE_OUT = ConsentState.OPT_IN.value, ConsentState.OPT_OUT.value
_BUDGETS, _TIMINGS = tuple(BantBudget.values), tuple(BantTiming.values)
_BANT_CHANCE = {S.MQL: 0.35, S.SQL: 0.8, S.OPPORTUNITY: 0.9, S.CUSTOMER: 0.7, S.NURTURE: 0.5}
_DOC_NETS = ("192.0.2", "198.51.100", "203.0.113")  # RFC 5737: never a real visitor
_EMAIL = ConsentChannel.EMAIL.value
_OPT_IN, _OPT_OUT = ConsentAction.OPT_IN.value, ConsentAction.OPT_OUT.value
_PERSONAL_DOMAINS = ("example.com", "example.net", "example.org")

_FAMILY_CUM = list(itertools.accumulate(v.FAMILY_WEIGHTS))
_DEPARTMENTS = [d for d, _ in v.DEPARTMENTS]
_DEPARTMENT_CUM = list(itertools.accumulate(w for _, w in v.DEPARTMENTS))
_TITLE_CUM = list(itertools.accumulate(w for _, w, _ in v.TITLES))
_ROLE_CUM = {
    level: (tuple(str(r) for r, _ in roles), list(itertools.accumulate(w for _, w in roles)))
    for level, roles in v.BUYING_ROLES_BY_SENIORITY.items()
}
_EMAIL_PATTERNS = ("{i}.{f}", "{g}.{f}", "{f}.{g}", "{f}-{i}", "{f}{i}", "{i}{f}", "{f}", "{g}{f}")
_EMAIL_CUM = list(itertools.accumulate((40, 25, 10, 5, 5, 5, 5, 5)))


def _pick(rng: random.Random, cum: list[float]) -> int:
    return bisect.bisect(cum, rng.random() * cum[-1])


_name_keys_cache: dict[tuple[int, int], tuple[str, str]] = {}


def _keys(family: int, given: int) -> tuple[str, str]:
    """name_keys of a name from the tables; there are only 10,000 of them, so each is made once."""
    key = (family, given)
    keys = _name_keys_cache.get(key)
    if keys is None:
        f, g = v.FAMILY_NAMES[family], v.GIVEN_NAMES[given]
        keys = _name_keys_cache[key] = name_keys(f.text, g.text, f.kana, g.kana)
    return keys


def _email(rng: random.Random, family: v.Word, given: v.Word, domain: str) -> str:
    """t.sato@domain or another usual form; `resolve_emails` makes it unique later."""
    f, g = family.romaji, given.romaji
    if domain in _PERSONAL_DOMAINS:
        return f"{g}.{f}{rng.randint(1, 999)}@{domain}"
    return _EMAIL_PATTERNS[_pick(rng, _EMAIL_CUM)].format(f=f, g=g, i=g[0]) + "@" + domain


def resolve_emails(chunk: ContactChunk, used: set[str]) -> None:
    """Make the chunk's addresses unique against `used`: the next usual form, then a number.

    Chunks are generated independently (in parallel), so this runs afterwards, in chunk order.
    """
    rows = chunk.contacts
    for position, (row, names) in enumerate(zip(rows, chunk.email_names, strict=True)):
        email = row[1]
        if email is None:
            continue
        if email in used:
            f, g = v.FAMILY_NAMES[names[0]].romaji, v.GIVEN_NAMES[names[1]].romaji
            base, _, host = email.partition("@")
            others = (p.format(f=f, g=g, i=g[0]) + "@" + host for p in _EMAIL_PATTERNS)
            email = next((e for e in others if e not in used), None) or _numbered(base, host, used)
            rows[position] = (row[0], email, *row[2:])
        used.add(email)


def _numbered(base: str, host: str, used: set[str]) -> str:
    n = 2
    while f"{base}{n}@{host}" in used:
        n += 1
    return f"{base}{n}@{host}"


def _mobile(rng: random.Random) -> str:
    return f"+81{rng.choice(('90', '80', '70'))}{rng.randint(1, 9)}{rng.randrange(10**7):07d}"


def _ip(rng: random.Random) -> str:
    return f"{rng.choice(_DOC_NETS)}.{rng.randint(1, 254)}"


def _later(rng: random.Random, since: int, end: int) -> int:
    """A time strictly between `since` and `end` (which lies at least an hour after `since`)."""
    return since + 1 + int((end - since) * rng.uniform(0.1, 0.99))


def _learned(
    rng: random.Random, timestamp: Callable[[int], str], since: int, end: int
) -> tuple[str, str]:
    """When and from where a BANT fact was learned."""
    return timestamp(since + int((end - since) * rng.random())), rng.choice(v.BANT_SOURCES)


def _stage_times(rng: random.Random, created: int, end: int, stage: str, steps: int) -> list[int]:
    """When the person entered each stage of their path: creation, then within the last year."""
    times = [created]
    if steps:
        # Created at least an hour before `end`, so up to five steps a minute apart fit.
        low = max(created + 60, end - 365 * DAY)
        last_low = max(low, end - _LAST_STEP_WITHIN.get(stage, 365 * DAY))
        last = last_low + int((end - 600 - last_low) * rng.random())
        times += sorted(low + int((last - low) * rng.random()) for _ in range(steps - 1))
        times.append(last)
        for j in range(1, len(times)):  # strictly increasing, whatever the draw
            times[j] = max(times[j], times[j - 1] + 60)
    return times


def _add_transitions(
    rng: random.Random,
    rows: list[tuple],
    contact_id: int,
    path: tuple[str, ...],
    times: list[int],
    created_text: str,
    origin: str,
    owner: int | None,
    account_owner: int | None,
    staff: Staff,
    ts: Callable[[int], str],
) -> None:
    """The lifecycle history rows, each with the rule and the person that moved it."""
    inside, marketing = staff.inside_sales, staff.marketing
    previous = ""
    for to_stage, at in zip(path, times, strict=True):
        actor = None
        if not previous:
            rule, reason = origin, "created"
            if origin == "ui":
                actor = owner or (rng.choice(marketing) if marketing else None)
        elif to_stage == S.LEAD:
            rule, reason = "form", "フォーム送信"
        elif to_stage == S.MQL:
            rule, reason = "scoring:MQL", "スコアが閾値に到達"
        elif to_stage == S.SQL:
            rule, reason = "handoff", "インサイドセールスが商談化を確認"
            actor = owner if path[-1] == S.SQL else (rng.choice(inside) if inside else None)
        elif to_stage == S.OPPORTUNITY:
            rule, reason = "sales", "初回提案"
            actor = account_owner or owner
        elif to_stage == S.CUSTOMER:
            rule, reason = "deal:won", "受注"
            actor = account_owner or owner
        elif to_stage == S.NURTURE:
            rule, reason = "recycle", rng.choice(v.NURTURE_REASONS)
            actor = rng.choice(inside) if inside else None
        else:
            rule, reason = "disqualify", rng.choice(v.DISQUALIFY_REASONS)
            actor = rng.choice(inside) if inside else None
        when = created_text if at == times[0] else ts(at)
        rows.append((contact_id, previous, to_stage, when, actor, rule, reason))
        previous = to_stage


def _add_consents(
    rng: random.Random,
    rows: list[tuple],
    contact_id: int,
    path: tuple[str, ...],
    origin: str,
    owner: int | None,
    created: int,
    created_text: str,
    staff: Staff,
    end: int,
    ts: Callable[[int], str],
) -> tuple[str, int, int]:
    """Consent records: an opt-in as the person arrived (form, business card), a few opt-outs.

    Returns the email consent state they add up to, when the person opted in and when they
    opted out (0: never).
    """
    inside, marketing = staff.inside_sales, staff.marketing
    newsletter = path[0] == S.SUBSCRIBER
    if rng.random() < (0.97 if newsletter else _OPT_IN_CHANCE[origin]):
        if origin == "form":
            source = "ニュースレター登録" if newsletter else rng.choice(v.FORMS)
            details = ("", source, v.FORM_CONSENT_TEXT, _ip(rng), None)
        elif origin == "import":
            recorder = owner or (rng.choice(marketing) if marketing else None)
            details = (v.CARD_CONSENT_BASIS, rng.choice(v.CARD_EVENTS), "", None, recorder)
        else:
            details = ("", "パートナー連携API", v.FORM_CONSENT_TEXT, None, None)
        basis, source, text, ip, recorder = details
        method = _OPT_IN_METHOD[origin]
        rows.append(
            (
                contact_id,
                _EMAIL,
                "",
                _OPT_IN,
                method,
                basis,
                source,
                text,
                ip,
                created_text,
                recorder,
            )
        )
        if rng.random() >= 0.06:
            return _STATE_IN, created, 0
        opted_out_at = _later(rng, created, end)
        rows.append(
            (
                contact_id,
                _EMAIL,
                "",
                _OPT_OUT,
                _EMAIL_LINK,
                "",
                "配信停止リンク",
                "",
                _ip(rng),
                ts(opted_out_at),
                None,
            )
        )
        return _STATE_OUT, created, opted_out_at
    if rng.random() >= 0.02:
        return _UNKNOWN, 0, 0
    opted_out_at = _later(rng, created, end)
    recorder = rng.choice(inside) if inside else None
    rows.append(
        (
            contact_id,
            _EMAIL,
            "",
            _OPT_OUT,
            _VERBAL,
            "",
            "電話で配信停止の依頼",
            "",
            None,
            ts(opted_out_at),
            recorder,
        )
    )
    return _STATE_OUT, 0, opted_out_at


def _bant(
    rng: random.Random,
    stage: str,
    buying_role: str,
    since: int,
    end: int,
    ts: Callable[[int], str],
) -> list:
    """The eleven BANT columns, in CONTACT_FIELDS order: learned after `since`, mostly late."""
    bant: list = [""] * 11
    if rng.random() < _BANT_CHANCE.get(stage, 0.03):
        if rng.random() < 0.7:
            bant[0] = rng.choice(_BUDGETS)
            bant[1], bant[2] = _learned(rng, ts, since, end)
        if buying_role:
            bant[3], bant[4] = _learned(rng, ts, since, end)
        if rng.random() < 0.8:
            bant[5] = rng.choice(v.BANT_NEEDS)
            bant[6], bant[7] = _learned(rng, ts, since, end)
        if rng.random() < 0.7:
            bant[8] = rng.choice(_TIMINGS)
            bant[9], bant[10] = _learned(rng, ts, since, end)
    for k in (1, 3, 6, 9):  # times not learned are NULL, not ""
        if bant[k] == "":
            bant[k] = None
    return bant


def make_contacts(
    rng: random.Random,
    *,
    number: int,
    ids: list[int],
    first: int,
    total: int,
    start: int,
    accounts: AccountSet,
    context: DemoContext,
) -> ContactChunk:
    """Chunk `number`: contacts for `ids`, numbers `first`… of `total` made in this run.

    Creation times rise with the id from `start` to an hour before `end`, as they do when people
    arrive one by one; every later time of a contact (stage changes, consent, activity) falls
    between its creation and `end`.
    """
    chunk = ContactChunk(number=number)
    end, ts, staff = context.end, context.timestamp, context.staff
    slot = (end - 3600 - start) / total
    inside, field_sales = staff.inside_sales, staff.field_sales
    for i, contact_id in enumerate(ids, start=first):
        created = start + int((i + rng.random()) * slot)
        created_text = ts(created)

        # The account: any one already created by then, bigger ones drawing more people.
        account_index = None
        if rng.random() >= 0.03 and accounts.ids:
            known = max(1, bisect.bisect(accounts.created, created))
            account_index = bisect.bisect(
                accounts.cum_weights, rng.random() * accounts.cum_weights[known - 1]
            )
        if account_index is None:
            account_id = account_owner = None
            lifecycle, domain = "", rng.choice(_PERSONAL_DOMAINS)
        else:
            account_id = accounts.ids[account_index]
            account_owner = accounts.owners[account_index]
            lifecycle = accounts.lifecycles[account_index]
            domain = accounts.domains[account_index]

        fi = _pick(rng, _FAMILY_CUM)
        gi = rng.randrange(len(v.GIVEN_NAMES))
        family, given = v.FAMILY_NAMES[fi], v.GIVEN_NAMES[gi]
        name_key, kana_key = _keys(fi, gi)
        email = None if rng.random() < 0.01 else _email(rng, family, given, domain)

        title, _, seniority = v.TITLES[_pick(rng, _TITLE_CUM)]
        department = (
            rng.choice(("", "", "経営企画部"))
            if seniority == 4
            else _DEPARTMENTS[_pick(rng, _DEPARTMENT_CUM)]
        )
        roles, role_cum = _ROLE_CUM[seniority]
        buying_role = roles[_pick(rng, role_cum)]
        phone = ""
        if rng.random() < 0.55:
            if account_index is not None and rng.random() < 0.6:
                phone = fixed_phone(rng, *accounts.phone_areas[account_index])
            else:
                phone = _mobile(rng)

        stage = _STAGES[_pick(rng, _STAGE_CUM[lifecycle])]
        path = _PATHS[stage][_pick(rng, _PATH_CUM[stage])][1]
        origin = "form" if path[0] == S.SUBSCRIBER else _ORIGINS[_pick(rng, _ORIGIN_CUM)]
        if path == (S.CUSTOMER,):
            origin = "import"

        if stage == S.SQL:
            owner = rng.choice(inside) if inside else None
        elif stage in (S.OPPORTUNITY, S.CUSTOMER):
            owner = account_owner or (rng.choice(field_sales) if field_sales else None)
        elif (stage == S.MQL and rng.random() < 0.7) or (stage == S.NURTURE and rng.random() < 0.3):
            owner = rng.choice(inside) if inside else None
        else:
            owner = account_owner if rng.random() < 0.2 else None

        times = _stage_times(rng, created, end, stage, len(path) - 1)
        changed = times[-1]
        _add_transitions(
            rng,
            chunk.transitions,
            contact_id,
            path,
            times,
            created_text,
            origin,
            owner,
            account_owner,
            staff,
            ts,
        )
        consent, opted_in_at, opted_out_at = _UNKNOWN, 0, 0
        if email is not None:
            consent, opted_in_at, opted_out_at = _add_consents(
                rng,
                chunk.consents,
                contact_id,
                path,
                origin,
                owner,
                created,
                created_text,
                staff,
                end,
                ts,
            )
        bant = _bant(rng, stage, buying_role, times[1] if len(times) > 1 else created, end, ts)

        active = rng.random() < (0.7 if stage in (S.SUBSCRIBER, S.DISQUALIFIED) else 0.92)
        last_activity = None
        if active:
            last_activity = max(changed, created + int((end - created) * (1 - rng.random() ** 2)))
        do_not_contact = rng.random() < (0.2 if consent == _STATE_OUT else 0.004)
        updated = max(changed, opted_out_at)

        chunk.contacts.append(
            (
                contact_id,
                email,
                family.text,
                given.text,
                family.kana,
                given.kana,
                name_key,
                kana_key,
                title,
                department,
                buying_role,
                phone,
                account_id,
                owner,
                stage,
                ts(changed),
                *bant,
                consent,
                do_not_contact,
                created_text,
                ts(updated),
                ts(last_activity) if last_activity is not None else None,
            )
        )
        chunk.email_names.append((fi, gi))
        chunk.facts.append(
            ContactFacts(
                contact_id,
                account_id,
                owner,
                origin,
                stage,
                created,
                changed,
                last_activity,
                consent,
                opted_in_at,
                opted_out_at,
            )
        )
    return chunk


def tag_links(rng: random.Random, chunk: ContactChunk, context: DemoContext) -> list[tuple]:
    """(contact, tag) rows: how people arrived (名刺交換, newsletter) and a few interests."""
    rows = []
    tag_ids = context.tag_ids
    interests = [tag_ids[name] for name in v.TAGS]
    card, newsletter = tag_ids["名刺交換"], tag_ids["ニュースレター購読"]
    for facts in chunk.facts:
        tags = set()
        if facts.origin == "import" and rng.random() < 0.5:
            tags.add(card)
        if facts.stage == S.SUBSCRIBER and rng.random() < 0.6:
            tags.add(newsletter)
        if rng.random() < 0.3:
            tags.update(rng.sample(interests, rng.randint(1, 2)))
        rows.extend((facts.id, tag) for tag in sorted(tags))
    return rows
