"""Materialised membership: full refresh, incremental refresh, static lists, hooks, crashes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tests.crm.factories import make_account, make_contact
from tsunagari.crm import services as crm_services
from tsunagari.segments import services
from tsunagari.segments.models import Membership, Segment, SegmentSize
from tsunagari.segments.queries import segment_members
from tsunagari.tracking.consumers import consume_batch
from tsunagari.tracking.models import Touchpoint
from tsunagari.tracking.services import touchpoints_append

pytestmark = pytest.mark.django_db

PRICING_3X = {
    "activity": "page_view",
    "where": [{"field": "path", "op": "contains", "value": ["/pricing", "/case-study"]}],
    "count": {"op": "at_least", "value": 3},
    "when": {"last_days": 30},
}


def dynamic(definition: dict, name: str = "対象") -> Segment:
    return services.segment_save(
        segment=Segment(kind=Segment.Kind.DYNAMIC), name=name, definition=definition
    )


def visit(contact, path: str, *, times: int = 1, days_ago: int = 1) -> None:
    when = timezone.now() - dt.timedelta(days=days_ago)
    with transaction.atomic():
        touchpoints_append(
            [
                Touchpoint(contact=contact, type="page_view", path=path, occurred_at=when)
                for _ in range(times)
            ]
        )


@pytest.fixture
def hook_calls():
    calls: list[tuple[int, list[int], list[int]]] = []

    def hook(segment, entered, exited):
        calls.append((segment.pk, sorted(entered), sorted(exited)))

    services.register_membership_hook(hook)
    yield calls
    services.unregister_membership_hook(hook)


def current(segment: Segment) -> set[int]:
    return set(segment_members(segment).values_list("pk", flat=True))


def test_a_full_refresh_opens_and_closes_stays_and_calls_hooks_after_commit(
    hook_calls, django_capture_on_commit_callbacks
):
    factory = make_account(name="東和製作所", industry="manufacturing", employee_count=500)
    shop = make_account(name="青空商店", industry="trade", employee_count=10)
    a = make_contact("a@towa.jp", account=factory)
    b = make_contact("b@aozora.jp", account=shop)
    segment = dynamic({"field": "account.industry", "op": "eq", "value": "manufacturing"})

    with django_capture_on_commit_callbacks(execute=True):
        result = services.segment_refresh(segment)
    assert (result.entered_count, result.exited_count, result.size) == (1, 0, 1)
    assert current(segment) == {a.pk}
    assert hook_calls == [(segment.pk, [a.pk], [])]

    crm_services.account_save(account=_changed(shop, industry="manufacturing"), domains=())
    crm_services.account_save(account=_changed(factory, industry="it"), domains=())
    with django_capture_on_commit_callbacks(execute=True):
        result = services.segment_refresh(segment)
    assert current(segment) == {b.pk}
    assert hook_calls[-1] == (segment.pk, [b.pk], [a.pk])
    # History keeps a's stay, closed.
    stay = Membership.objects.get(segment=segment, contact=a)
    assert stay.exited_at is not None and stay.source == "refresh"
    segment.refresh_from_db()
    assert segment.member_count == 1 and segment.refreshed_at is not None
    # Today's size row: the size now, and every entry and exit of the day.
    today = SegmentSize.objects.get(segment=segment)
    assert (today.size, today.entered, today.exited) == (1, 2, 1)


def _changed(obj, **fields):
    for key, value in fields.items():
        setattr(obj, key, value)
    return obj


def test_a_second_refresh_with_nothing_changed_changes_nothing(hook_calls):
    make_contact("a@example.jp", department="情報システム部")
    segment = dynamic({"field": "contact.department", "op": "contains", "value": "情報"})
    services.segment_refresh(segment)
    before = list(Membership.objects.values_list("pk", "entered_at", "exited_at"))
    result = services.segment_refresh(segment)
    assert (result.entered_count, result.exited_count) == (0, 0)
    assert list(Membership.objects.values_list("pk", "entered_at", "exited_at")) == before


def test_a_crash_mid_refresh_leaves_the_previous_membership_whole(monkeypatch):
    a = make_contact("a@example.jp", department="情報システム部")
    segment = dynamic({"field": "contact.department", "op": "contains", "value": "情報"})
    services.segment_refresh(segment)
    b = make_contact("b@example.jp", department="情報システム部")
    crm_services.contact_save(contact=_changed(a, department="営業部"))

    def crash(*args, **kwargs):
        raise RuntimeError("power cut after the INSERT and the UPDATE")

    monkeypatch.setattr(services, "_record_size", crash)
    with pytest.raises(RuntimeError):
        services.segment_refresh(segment)
    assert current(segment) == {a.pk}  # neither b's entry nor a's exit survived
    assert Membership.objects.filter(segment=segment).count() == 1
    monkeypatch.undo()
    services.segment_refresh(segment)
    assert current(segment) == {b.pk}


def test_new_touchpoints_move_a_contact_into_a_behaviour_segment_incrementally(hook_calls):
    visitor = make_contact("v@example.jp")
    other = make_contact("o@example.jp")
    segment = dynamic(PRICING_3X)
    services.segment_refresh(segment)
    assert current(segment) == set()
    visit(visitor, "/pricing/enterprise", times=2)
    visit(other, "/blog/x", times=5)
    consume_batch("segments", services.on_touchpoints)
    assert current(segment) == set()  # two pricing visits are not three
    visit(visitor, "/case-study/towa")
    assert consume_batch("segments", services.on_touchpoints) == 1
    assert current(segment) == {visitor.pk}
    assert consume_batch("segments", services.on_touchpoints) == 0


def test_a_profile_change_is_picked_up_by_the_worker_runner():
    contact = make_contact("a@example.jp", department="営業部")
    segment = dynamic({"field": "contact.department", "op": "contains", "value": "情報"})
    services.segment_refresh(segment)
    Segment.objects.filter(pk=segment.pk).update(
        changes_seen_at=timezone.now() - dt.timedelta(minutes=5)
    )
    crm_services.contact_save(contact=_changed(contact, department="情報システム部"))
    services.run_due_refreshes()
    assert current(segment) == {contact.pk}


def test_the_runner_refreshes_a_segment_never_refreshed_and_one_overdue():
    contact = make_contact("a@example.jp", do_not_contact=True)
    segment = dynamic({"field": "contact.do_not_contact", "op": "is_true"})
    assert services.run_due_refreshes() >= 1
    assert current(segment) == {contact.pk}
    segment.refresh_from_db()
    assert segment.refresh_lease_until is None and segment.refresh_seconds is not None


def test_a_behaviour_segment_refresh_closes_exits_and_opens_entries_in_one_pass(
    hook_calls, django_capture_on_commit_callbacks
):
    keen, fading, newcomer = (make_contact(f"{n}@example.jp") for n in ("k", "f", "n"))
    visit(keen, "/pricing", times=3, days_ago=1)
    visit(fading, "/pricing", times=3, days_ago=25)
    segment = dynamic(PRICING_3X)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.segment_refresh(segment)
    assert (first.entered_count, first.exited_count) == (2, 0)
    visit(newcomer, "/case-study/towa", times=3, days_ago=1)
    # Ten days later fading's visits are out of the 30-day window; newcomer's are in.
    later = timezone.now() + dt.timedelta(days=10)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.segment_refresh(segment, now=later)
    assert (result.entered_count, result.exited_count, result.size) == (1, 1, 2)
    assert current(segment) == {keen.pk, newcomer.pk}
    assert hook_calls[-1] == (segment.pk, [newcomer.pk], [fading.pk])
    # The stay that ended is closed at the refresh's time, the other untouched.
    assert Membership.objects.get(segment=segment, contact=fading).exited_at == later
    assert Membership.objects.get(segment=segment, contact=keen).exited_at is None


def test_deleting_a_contact_for_good_deletes_its_stays():
    # No foreign-key constraint in the database: the cascade is Django's.
    contact = make_contact("a@example.jp", do_not_contact=True)
    other = make_contact("b@example.jp", do_not_contact=True)
    segment = dynamic({"field": "contact.do_not_contact", "op": "is_true"})
    services.segment_refresh(segment)
    contact.delete()
    assert list(Membership.objects.values_list("contact_id", flat=True)) == [other.pk]
    segment.delete()
    assert not Membership.objects.exists()


def test_deleted_contacts_leave_on_the_next_refresh():
    contact = make_contact("a@example.jp", do_not_contact=True)
    segment = dynamic({"field": "contact.do_not_contact", "op": "is_true"})
    services.segment_refresh(segment)
    crm_services.contact_delete(contact=contact)
    services.segment_refresh(segment)
    assert current(segment) == set()


def test_static_lists_add_and_remove_once_and_skip_deleted_contacts(
    hook_calls, django_capture_on_commit_callbacks
):
    a, b = make_contact("a@example.jp"), make_contact("b@example.jp")
    gone = make_contact("g@example.jp")
    crm_services.contact_delete(contact=gone)
    segment = services.segment_save(segment=Segment(kind=Segment.Kind.STATIC), name="展示会名刺")
    with django_capture_on_commit_callbacks(execute=True):
        entered = services.static_add(segment, [a.pk, b.pk, gone.pk, a.pk], source="csv:cards.csv")
        again = services.static_add(segment, [a.pk])
    assert sorted(entered) == sorted([a.pk, b.pk]) and again == []
    assert current(segment) == {a.pk, b.pk}
    assert set(Membership.objects.values_list("source", flat=True)) == {"csv:cards.csv"}
    with django_capture_on_commit_callbacks(execute=True):
        assert services.static_remove(segment, [a.pk, 999999]) == [a.pk]
    assert current(segment) == {b.pk}
    assert hook_calls[-1] == (segment.pk, [], [a.pk])
    segment.refresh_from_db()
    assert segment.member_count == 1


def test_static_operations_refuse_dynamic_segments():
    segment = dynamic({})
    with pytest.raises(services.DefinitionError):
        services.static_add(segment, [1])


def test_a_segment_of_a_static_list_and_of_a_dynamic_segment():
    a = make_contact("a@example.jp", department="情報システム部")
    b = make_contact("b@example.jp", department="営業部")
    static = services.segment_save(segment=Segment(kind=Segment.Kind.STATIC), name="VIP")
    services.static_add(static, [a.pk, b.pk])
    it = dynamic({"field": "contact.department", "op": "contains", "value": "情報"}, "情シス")
    both = dynamic({"and": [{"in_segment": static.pk}, {"not": {"in_segment": it.pk}}]})
    assert set(services.compile_filter(both.definition).values_list("pk", flat=True)) == {b.pk}


def test_the_time_limit_stops_a_runaway_query():
    sql = (
        "SELECT pg_sleep(3)"
        if connection.vendor == "postgresql"
        else "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    )
    with (
        pytest.raises(services.SegmentTimeout),
        services.time_limit(0.2),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)


def test_a_preview_counts_and_samples():
    for i in range(12):
        make_contact(f"p{i}@example.jp", department="情報システム部")
    preview = services.segment_preview(
        {"field": "contact.department", "op": "contains", "value": "情報"}
    )
    assert preview.count == 12 and len(preview.sample) == services.SAMPLE_SIZE


def test_account_conditions_grouped_together_keep_their_meaning():
    # AND/OR of account conditions compile to one subquery over accounts; contacts without an
    # account must still fail them, and pass their NOT.
    big_maker = make_account(name="東和製作所", industry="manufacturing", employee_count=500)
    small_maker = make_account(name="小林工業", industry="manufacturing", employee_count=20)
    target_shop = make_account(name="青空商店", industry="trade", employee_count=10)
    target_shop.is_target = True
    crm_services.account_save(account=target_shop, domains=())
    a = make_contact("a@towa.jp", account=big_maker)
    b = make_contact("b@kobayashi.jp", account=small_maker)
    c = make_contact("c@aozora.jp", account=target_shop)
    loner = make_contact("loner@example.jp")
    large_makers_or_targets = {
        "or": [
            {
                "and": [
                    {"field": "account.industry", "op": "eq", "value": "manufacturing"},
                    {"field": "account.employee_count", "op": "gte", "value": 300},
                ]
            },
            {"field": "account.is_target", "op": "is_true"},
        ]
    }

    def matching(definition: dict) -> set[int]:
        return set(services.compile_filter(definition).values_list("pk", flat=True))

    assert matching(large_makers_or_targets) == {a.pk, c.pk}
    assert matching({"not": large_makers_or_targets}) == {b.pk, loner.pk}
    both = {
        "and": [
            {"field": "account.industry", "op": "eq", "value": "manufacturing"},
            {"field": "account.industry", "op": "neq", "value": "trade"},
            {"field": "account.employee_count", "op": "lt", "value": 100},
        ]
    }
    assert matching(both) == {b.pk}
