from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from collections import defaultdict

import pytest
from django.db import IntegrityError, connection

from tests.demo.conftest import AS_OF, SMALL
from tsunagari.core.models import Team, User
from tsunagari.core.text import is_valid_corporate_number, normalize_company_name
from tsunagari.crm.choices import LifecycleStage
from tsunagari.crm.models import (
    Account,
    AccountDomain,
    ConsentRecord,
    Contact,
    LifecycleTransition,
    Tag,
)
from tsunagari.crm.services import derived_email_consent, name_keys
from tsunagari.crm.validation import clean_email, clean_phone
from tsunagari.demo import DemoError, crm_reset, generate
from tsunagari.demo import generator as demo_generator
from tsunagari.demo.indexes import JOURNAL, restore_dropped_indexes
from tsunagari.tracking.models import Touchpoint

KATAKANA = re.compile(r"[\u30a0-\u30ffー]+")


def _snapshot() -> dict[str, list]:
    return {
        "accounts": list(Account.objects.order_by("id").values_list()),
        "domains": list(AccountDomain.objects.order_by("id").values_list("account", "domain")),
        "contacts": list(Contact.objects.order_by("id").values_list()),
        "transitions": list(LifecycleTransition.objects.order_by("id").values_list()),
        "consents": list(ConsentRecord.objects.order_by("id").values_list()),
        "tags": list(Contact.tags.through.objects.order_by("id").values_list("contact", "tag")),
        "touchpoints": list(Touchpoint.objects.order_by("id").values_list()),
    }


def test_the_same_seed_gives_the_same_data(db):
    crm_reset()  # ids from 1, whatever earlier tests left in PostgreSQL's sequences
    generate(contacts=300, seed=3, as_of=AS_OF)
    first = _snapshot()
    crm_reset()
    generate(contacts=300, seed=3, as_of=AS_OF)
    assert _snapshot() == first
    crm_reset()
    generate(contacts=300, seed=4, as_of=AS_OF)
    assert _snapshot()["contacts"] != first["contacts"]


def test_worker_processes_build_the_same_rows(transactional_db, monkeypatch):
    # Small chunks so that 3 chunks go through one spawned worker process.
    monkeypatch.setattr(demo_generator, "CHUNK", 100)
    crm_reset()
    generate(contacts=300, seed=5, as_of=AS_OF, workers=0)
    in_process = _snapshot()
    crm_reset()
    generate(contacts=300, seed=5, as_of=AS_OF, workers=1)
    assert _snapshot() == in_process


def test_it_reports_what_it_wrote(demo_counts):
    assert demo_counts["contacts"] == Contact.objects.count() == SMALL
    assert demo_counts["accounts"] == Account.objects.count() == SMALL // 8
    assert demo_counts["transitions"] == LifecycleTransition.objects.count()
    assert demo_counts["consents"] == ConsentRecord.objects.count()
    assert demo_counts["tag_links"] == Contact.tags.through.objects.count()
    assert demo_counts["touchpoints"] == Touchpoint.objects.count() > SMALL


def test_corporate_numbers_are_valid_and_unique(demo_counts):
    numbers = list(Account.objects.values_list("corporate_number", flat=True))
    assert all(n and is_valid_corporate_number(n) for n in numbers)
    assert len(set(numbers)) == len(numbers)


def test_every_account_has_a_reading_a_key_and_one_unique_domain(demo_counts):
    for name, kana, key in Account.objects.values_list("name", "name_kana", "name_key"):
        assert KATAKANA.fullmatch(kana), kana
        assert key == normalize_company_name(name)
        assert re.search(r"株式会社|有限会社|合同会社|一般財団法人", name)
    domains = list(AccountDomain.objects.values_list("domain", flat=True))
    assert len(domains) == len(set(domains)) == Account.objects.count()
    # Reserved for documentation (RFC 2606): demo mail can never reach a real company.
    assert all(d.endswith(".example") and d.isascii() for d in domains)


def test_emails_are_valid_unique_and_at_the_account_domain(demo_counts):
    domains = dict(AccountDomain.objects.values_list("account", "domain"))
    emails = []
    for email, account in Contact.objects.exclude(email=None).values_list("email", "account"):
        assert clean_email(email) == email
        host = email.split("@")[1]
        assert host == domains[account] if account else host.startswith("example.")
        emails.append(email)
    assert len(emails) == len(set(emails)) > SMALL * 0.95


def test_names_have_readings_and_search_keys(demo_counts):
    for contact in Contact.objects.all():
        assert contact.family_name and contact.given_name
        assert KATAKANA.fullmatch(contact.family_name_kana)
        assert KATAKANA.fullmatch(contact.given_name_kana)
        assert (contact.name_key, contact.kana_key) == name_keys(
            contact.family_name,
            contact.given_name,
            contact.family_name_kana,
            contact.given_name_kana,
        )


def test_phone_numbers_are_valid_japanese_numbers_in_e164(demo_counts):
    phones = [*Account.objects.values_list("phone", flat=True)]
    phones += Contact.objects.exclude(phone="").values_list("phone", flat=True)
    assert phones
    for phone in phones:
        assert phone.startswith("+81")
        assert clean_phone(phone) == phone


def test_lifecycle_history_leads_to_the_current_stage(demo_counts):
    history = defaultdict(list)
    for row in LifecycleTransition.objects.order_by("occurred_at", "id").values_list(
        "contact", "from_stage", "to_stage", "occurred_at"
    ):
        history[row[0]].append(row[1:])
    for contact in Contact.objects.all():
        steps = history[contact.pk]
        assert steps, contact.pk
        assert steps[0][0] == "" and steps[0][2] == contact.created_at
        for (_, to_stage, at), (from_stage, _, later) in itertools.pairwise(steps):
            assert from_stage == to_stage and later > at
        assert steps[-1][1] == contact.lifecycle_stage
        assert steps[-1][2] == contact.lifecycle_changed_at
        assert contact.created_at <= contact.lifecycle_changed_at < AS_OF
        if contact.last_activity_at:
            assert contact.lifecycle_changed_at <= contact.last_activity_at <= AS_OF


def test_it_spreads_contacts_over_two_years_and_the_stages(demo_counts):
    created = sorted(Contact.objects.values_list("created_at", flat=True))
    assert created == list(Contact.objects.order_by("id").values_list("created_at", flat=True))
    assert AS_OF - created[0] > dt.timedelta(days=700)
    assert AS_OF - created[-1] < dt.timedelta(days=10)
    stages = set(Contact.objects.values_list("lifecycle_stage", flat=True))
    assert {LifecycleStage.SUBSCRIBER, LifecycleStage.LEAD, LifecycleStage.MQL} <= stages
    leads = Contact.objects.filter(lifecycle_stage__in=["subscriber", "lead"]).count()
    assert leads > SMALL / 2


def test_consent_state_is_what_the_records_say(demo_counts):
    states = set()
    for pk, state in Contact.objects.values_list("pk", "email_consent"):
        assert derived_email_consent(pk) == state
        states.add(state)
    assert states == {"opt_in", "opt_out", "unknown"}


def test_staff_users_have_no_password_and_there_is_no_admin(demo_counts):
    staff = User.objects.all()
    assert staff.count() == 10
    assert not any(user.has_usable_password() for user in staff)
    assert not staff.filter(role="admin").exists()
    assert not staff.filter(is_superuser=True).exists()
    assert Team.objects.count() == 2
    owners = Contact.objects.exclude(owner=None).count()
    assert 0 < owners < SMALL
    assert Tag.objects.exists()


def test_appending_keeps_every_unique_value_unique(db):
    generate(contacts=200, seed=1, as_of=AS_OF)
    generate(contacts=200, seed=1, as_of=AS_OF)
    assert Contact.objects.count() == 400
    emails = list(Contact.objects.exclude(email=None).values_list("email", flat=True))
    numbers = list(Account.objects.values_list("corporate_number", flat=True))
    domains = list(AccountDomain.objects.values_list("domain", flat=True))
    for values in (emails, numbers, domains):
        assert len(values) == len(set(values))
    assert User.objects.count() == 10


def test_it_refuses_an_empty_data_set(db):
    with pytest.raises(DemoError):
        generate(contacts=0)


def _indexes(model=Contact) -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {name for name, info in constraints.items() if info["index"]}


def _foreign_keys(model) -> set[tuple[str, tuple]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {
        (tuple(info["columns"]), info["foreign_key"])
        for info in constraints.values()
        if info["foreign_key"]
    }


def test_loading_without_indexes_builds_them_again(db):
    before = {model: (_indexes(model), _foreign_keys(model)) for model in (Contact, Touchpoint)}
    generate(contacts=100, seed=2, as_of=AS_OF, drop_indexes=True)
    assert {model: (_indexes(model), _foreign_keys(model)) for model in before} == before
    assert len(before[Touchpoint][0]) == 4 and len(before[Touchpoint][1]) == 4
    with connection.cursor() as cursor:
        assert JOURNAL not in connection.introspection.table_names(cursor)


def test_a_load_that_breaks_a_foreign_key_fails_loudly(db, monkeypatch):
    # Foreign keys are checked once after a load without indexes, not row by row.
    def dangling(rng, chunk, context):
        return [(10**9, context.tag_ids["名刺交換"])]  # a tag on a contact that does not exist

    extras = [
        dataclasses.replace(extra, rows=dangling) if extra.name == "tag_links" else extra
        for extra in demo_generator.CHUNK_EXTRAS
    ]
    monkeypatch.setattr(demo_generator, "CHUNK_EXTRAS", tuple(extras))
    with pytest.raises(IntegrityError):
        generate(contacts=20, seed=2, as_of=AS_OF, drop_indexes=True)
    # Without the wrong row, the foreign key (on PostgreSQL, still to be restored) is whole.
    Contact.tags.through.objects.filter(contact_id=10**9).delete()
    restore_dropped_indexes(connection)
    assert ("contact_id",) in {columns for columns, _ in _foreign_keys(Contact.tags.through)}


def test_indexes_dropped_by_a_killed_load_are_built_by_the_next_run(db):
    before = _indexes()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {quote(JOURNAL)} (name varchar(200) PRIMARY KEY, statement text)"
        )
        cursor.execute(
            f"INSERT INTO {quote(JOURNAL)} VALUES (%s, %s)",
            [
                "crm_contact_lc",
                "CREATE INDEX crm_contact_lc_again ON crm_contact (lifecycle_stage)",
            ],
        )
    assert restore_dropped_indexes(connection) == 1
    assert _indexes() == before | {"crm_contact_lc_again"}
