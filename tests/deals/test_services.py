"""Deal services: validation, stage moves, history, touchpoints and the contact's lifecycle."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.crm.factories import make_account, make_contact
from tsunagari.crm.models import Contact, LifecycleTransition
from tsunagari.crm.services import account_merge, contact_delete, contact_merge
from tsunagari.deals import services
from tsunagari.deals.models import Deal, DealStageChange
from tsunagari.scoring.models import Handoff
from tsunagari.tracking.models import Touchpoint

pytestmark = pytest.mark.django_db


def _new(account, contact=None, **extra) -> Deal:
    extra.setdefault("name", "生産管理システム導入")
    extra.setdefault("amount", 1_200_000)
    return services.deal_create(account=account, primary_contact=contact, **extra)


def _stage(contact: Contact) -> str:
    return Contact.objects.get(pk=contact.pk).lifecycle_stage


def test_a_new_deal_makes_its_contact_an_opportunity_with_history_and_a_touch(
    account, contact, rep
):
    deal = _new(account, contact, owner=rep, actor=rep, campaign="dx-seminar")
    assert (deal.stage, deal.amount, deal.closed_at) == ("qualification", Decimal(1_200_000), None)
    change = DealStageChange.objects.get(deal=deal)
    assert (change.from_stage, change.to_stage, change.actor) == ("", "qualification", rep)
    assert _stage(contact) == "opportunity"
    transition = LifecycleTransition.objects.filter(contact=contact).first()
    assert (transition.from_stage, transition.to_stage, transition.rule) == (
        "sql",
        "opportunity",
        "deals:open",
    )
    touch = Touchpoint.objects.get(contact=contact, type="deal_created")
    assert touch.channel == "system" and touch.account_id == account.pk
    assert touch.properties["deal_id"] == deal.pk and touch.properties["amount"] == "1200000.00"
    assert touch.properties["campaign"] == "dx-seminar"
    assert Touchpoint.objects.filter(contact=contact, type="stage_changed").count() == 1


def test_a_customer_stays_a_customer_when_a_new_deal_opens(account):
    customer = make_contact("boss@yamada.co.jp", account=account, lifecycle_stage="customer")
    _new(account, customer)
    assert _stage(customer) == "customer"
    assert not LifecycleTransition.objects.filter(contact=customer, rule="deals:open").exists()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "  "}, "name"),
        ({"amount": -1}, "amount"),
        ({"amount": "百万円"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"amount": "1e20"}, "amount"),
        ({"stage": "maybe"}, "stage"),
        ({"stage": "lost"}, "lost_reason"),
        ({"stage": "lost", "lost_reason": "bored"}, "lost_reason"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_changes_nothing(account, contact, values, field):
    with pytest.raises(services.DealError) as refused:
        _new(account, contact, **values)
    assert field in refused.value.message_dict and refused.value.message_dict[field][0]
    assert not Deal.objects.exists() and not DealStageChange.objects.exists()
    assert not Touchpoint.objects.filter(type__startswith="deal_").exists()
    assert _stage(contact) == "sql"


def test_the_account_is_required_and_the_primary_contact_must_work_there(account, contact):
    with pytest.raises(services.DealError) as refused:
        _new(None, None)
    assert "account" in refused.value.message_dict
    elsewhere = make_contact("ichiro@other.co.jp", account=make_account("他社株式会社"))
    with pytest.raises(services.DealError) as refused:
        _new(account, elsewhere)
    assert "primary_contact" in refused.value.message_dict
    contact_delete(contact=contact)
    with pytest.raises(services.DealError):
        _new(account, contact)
    assert not Deal.objects.exists()


def test_won_closes_the_deal_and_makes_the_contact_a_customer(account, contact, rep):
    deal = _new(account, contact)
    won = services.deal_move_stage(deal=deal, to_stage="won", actor=rep)
    assert won.stage == "won" and won.closed_at is not None and won.close_date is not None
    assert _stage(contact) == "customer"
    assert Touchpoint.objects.filter(contact=contact, type="deal_won").count() == 1
    history = list(
        deal.stage_changes.order_by("occurred_at", "id").values_list("to_stage", flat=True)
    )
    assert history == ["qualification", "won"]
    # Reopening clears the close; the customer is not demoted.
    reopened = services.deal_move_stage(deal=deal, to_stage="negotiation", actor=rep)
    assert reopened.closed_at is None and _stage(contact) == "customer"


def test_lost_needs_a_reason_and_recycles_the_contact_to_nurture(account, contact, rep):
    deal = _new(account, contact, stage="proposal")
    with pytest.raises(services.DealError) as refused:
        services.deal_move_stage(deal=deal, to_stage="lost", actor=rep)
    assert "lost_reason" in refused.value.message_dict
    assert Deal.objects.get(pk=deal.pk).stage == "proposal" and _stage(contact) == "opportunity"
    Handoff.objects.create(
        contact=contact, criterion="score", assigned_at=deal.created_at, due_at=deal.created_at
    )
    lost = services.deal_move_stage(
        deal=deal, to_stage="lost", lost_reason="competitor", lost_note="A社に決定", actor=rep
    )
    assert (lost.lost_reason, lost.lost_note) == ("competitor", "A社に決定")
    assert lost.closed_at is not None
    assert _stage(contact) == "nurture"
    recycle = LifecycleTransition.objects.filter(contact=contact, to_stage="nurture").get()
    assert recycle.rule == "scoring:recycle" and "A社に決定" in recycle.reason
    assert Handoff.objects.get(contact=contact).status == Handoff.Status.RECYCLED
    touch = Touchpoint.objects.get(contact=contact, type="deal_lost")
    assert touch.properties["reason"] == "competitor"
    last = deal.stage_changes.first()
    assert (last.from_stage, last.to_stage) == ("proposal", "lost") and "A社に決定" in last.note
    # Reopened: the contact is an opportunity again, and the loss reason is cleared.
    reopened = services.deal_move_stage(deal=deal, to_stage="qualification", actor=rep)
    assert (reopened.closed_at, reopened.lost_reason) == (None, "")
    assert _stage(contact) == "opportunity"


def test_a_lost_deal_does_not_recycle_a_contact_with_another_open_deal_or_a_customer(
    account, contact
):
    first, second = _new(account, contact), _new(account, contact, name="保守契約")
    services.deal_move_stage(deal=first, to_stage="lost", lost_reason="price")
    assert _stage(contact) == "opportunity"
    services.deal_move_stage(deal=second, to_stage="lost", lost_reason="timing")
    assert _stage(contact) == "nurture"
    customer = make_contact("boss@yamada.co.jp", account=account, lifecycle_stage="customer")
    upsell = _new(account, customer)
    services.deal_move_stage(deal=upsell, to_stage="lost", lost_reason="no_budget")
    assert _stage(customer) == "customer"


def test_a_deal_without_a_primary_contact_touches_no_one(account):
    deal = _new(account)
    services.deal_move_stage(deal=deal, to_stage="won")
    assert (
        not Touchpoint.objects.exists()
        and not LifecycleTransition.objects.filter(rule__startswith="deals").exists()
    )


def test_moving_to_the_same_stage_records_nothing(account, contact):
    deal = _new(account, contact)
    services.deal_move_stage(deal=deal, to_stage="qualification")
    assert deal.stage_changes.count() == 1


def test_update_changes_fields_and_routes_the_stage_through_the_move(account, contact, colleague):
    deal = _new(account, contact)
    updated = services.deal_update(
        deal=deal,
        changes={
            "amount": "3500000",
            "primary_contact": colleague,
            "stage": "quote",
            "note": "見積提出",
        },
    )
    assert (updated.amount, updated.primary_contact_id, updated.stage) == (
        Decimal(3_500_000),
        colleague.pk,
        "quote",
    )
    assert deal.stage_changes.first().note == "見積提出"
    assert _stage(colleague) == "opportunity"


def test_a_refused_update_changes_nothing(account, contact):
    deal = _new(account, contact)
    for changes in (
        {"amount": -5, "name": "変更"},
        {"name": "変更", "stage": "lost"},  # lost without a reason
        {"colour": "red"},
    ):
        with pytest.raises(services.DealError):
            services.deal_update(deal=deal, changes=changes)
    fresh = Deal.objects.get(pk=deal.pk)
    assert (fresh.name, fresh.amount, fresh.stage) == (deal.name, deal.amount, "qualification")
    assert fresh.stage_changes.count() == 1


def test_a_deal_created_won_or_lost_is_closed_at_once(account, contact):
    won = _new(account, contact, stage="won")
    assert won.closed_at is not None and _stage(contact) == "customer"
    assert list(
        Touchpoint.objects.filter(contact=contact, type__startswith="deal_")
        .order_by("id")
        .values_list("type", flat=True)
    ) == ["deal_created", "deal_won"]


def test_merging_contacts_moves_their_deals(account, contact):
    twin = make_contact("taro.yamada@yamada.co.jp", account=account)
    deal = _new(account, twin)
    contact_merge(keep=contact, drop=twin)
    assert Deal.objects.get(pk=deal.pk).primary_contact_id == contact.pk


def test_merging_accounts_moves_their_deals(account, contact):
    twin = make_account(name="山田製作所 (重複)")
    deal = _new(twin)
    account_merge(keep=account, drop=twin)
    assert Deal.objects.get(pk=deal.pk).account_id == account.pk


def test_a_contact_who_moved_company_does_not_block_the_deal_but_a_new_link_is_checked(
    account, contact, colleague
):
    deal = _new(account, contact)
    Contact.objects.filter(pk=contact.pk).update(account=make_account("転職先株式会社"))
    updated = services.deal_update(deal=deal, changes={"name": "導入（第2期）"})
    assert updated.name == "導入（第2期）"
    services.deal_move_stage(deal=deal, to_stage="proposal")
    # The edit form sends the primary contact back unchanged: accepted.
    services.deal_update(deal=deal, changes={"primary_contact": contact, "amount": 2})
    stranger = make_contact("x@elsewhere.co.jp", account=make_account("他社株式会社"))
    with pytest.raises(services.DealError) as refused:
        services.deal_update(deal=deal, changes={"primary_contact": stranger, "amount": 1})
    assert "primary_contact" in refused.value.message_dict
    assert Deal.objects.get(pk=deal.pk).amount == 2
    moved = services.deal_update(deal=deal, changes={"primary_contact": colleague})
    assert moved.primary_contact_id == colleague.pk
