import pytest
from django.db import IntegrityError

from tests.crm.factories import make_account, make_contact
from tsunagari.crm import services
from tsunagari.crm.choices import ConsentAction, ConsentChannel, ConsentMethod, ConsentState
from tsunagari.crm.models import (
    Account,
    ConsentRecord,
    Contact,
    ContactMerge,
    LifecycleTransition,
)

pytestmark = pytest.mark.django_db


def test_a_new_contact_records_its_first_stage_with_the_actor(marketer):
    contact = services.contact_save(
        contact=Contact(email="a@example.jp", lifecycle_stage="lead"), actor=marketer
    )
    transition = LifecycleTransition.objects.get(contact=contact)
    assert (transition.from_stage, transition.to_stage, transition.actor) == ("", "lead", marketer)


def test_a_contact_is_linked_to_the_one_account_owning_its_email_domain():
    account = make_account(domains=("tsunagari.co.jp",))
    assert make_contact("hanako@TSUNAGARI.co.jp").account == account


def test_a_domain_shared_by_two_accounts_links_nothing():
    make_account("A社", domains=("group.jp",))
    make_account("B社", domains=("group.jp",))
    assert make_contact("x@group.jp").account is None


def test_free_mail_addresses_are_never_linked_to_a_company():
    make_account(domains=("gmail.com",))
    assert make_contact("someone@gmail.com").account is None


def test_two_live_contacts_cannot_share_an_email():
    make_contact("dup@example.jp")
    with pytest.raises(IntegrityError):
        make_contact("dup@example.jp")


def test_a_deleted_contacts_address_can_be_used_again_and_restoring_then_refuses():
    old = make_contact("dup@example.jp")
    services.contact_delete(contact=old)
    make_contact("dup@example.jp")
    with pytest.raises(services.CrmError):
        services.contact_restore(contact=old)


def test_a_lifecycle_change_is_recorded_with_who_and_why(marketer):
    contact = make_contact()
    services.contact_set_lifecycle(
        contact=contact, to_stage="mql", actor=marketer, rule="manual", reason="資料請求"
    )
    contact.refresh_from_db()
    latest = contact.transitions.first()
    assert contact.lifecycle_stage == "mql"
    assert (latest.from_stage, latest.to_stage, latest.reason) == ("lead", "mql", "資料請求")


def test_setting_the_same_stage_records_nothing():
    contact = make_contact()
    assert services.contact_set_lifecycle(contact=contact, to_stage="lead") is None
    assert contact.transitions.count() == 1


def test_an_unknown_stage_is_refused_and_changes_nothing():
    contact = make_contact()
    with pytest.raises(services.CrmError):
        services.contact_set_lifecycle(contact=contact, to_stage="hot")
    contact.refresh_from_db()
    assert contact.lifecycle_stage == "lead"


def _consent(contact, action, method=ConsentMethod.FORM, **extra):
    return services.consent_record(
        contact=contact, channel=ConsentChannel.EMAIL, action=action, method=method, **extra
    )


def test_consent_is_appended_and_the_latest_record_decides():
    contact = make_contact()
    _consent(contact, ConsentAction.OPT_IN, consent_text="ニュースレターを受け取る")
    assert contact.email_consent == ConsentState.OPT_IN
    _consent(contact, ConsentAction.OPT_OUT, method=ConsentMethod.EMAIL_LINK)
    contact.refresh_from_db()
    assert contact.email_consent == ConsentState.OPT_OUT
    assert ConsentRecord.objects.filter(contact=contact).count() == 2


def test_a_consent_record_cannot_be_rewritten():
    record = _consent(make_contact(), ConsentAction.OPT_IN)
    record.action = ConsentAction.OPT_OUT
    with pytest.raises(ValueError):
        record.save()


def test_a_topic_opt_out_does_not_change_the_channel_state():
    contact = make_contact()
    _consent(contact, ConsentAction.OPT_IN)
    _consent(contact, ConsentAction.OPT_OUT, topic="seminar")
    contact.refresh_from_db()
    assert contact.email_consent == ConsentState.OPT_IN


def test_merging_contacts_keeps_every_piece_of_history(marketer):
    account = make_account()
    keep = make_contact("keep@example.jp", family_name="佐藤", given_name="", tags=["展示会"])
    drop = make_contact(
        "old@example.jp",
        given_name="太郎",
        department="情報システム部",
        account=account,
        tags=["セミナー"],
    )
    services.contact_set_lifecycle(contact=drop, to_stage="mql", reason="score")
    _consent(drop, ConsentAction.OPT_IN)

    merged = services.contact_merge(keep=keep, drop=drop, actor=marketer)

    assert merged.given_name == "太郎" and merged.department == "情報システム部"
    assert merged.account == account
    assert merged.email == "keep@example.jp"
    assert set(merged.tags.values_list("name", flat=True)) == {"展示会", "セミナー"}
    assert merged.transitions.count() == 3
    assert merged.email_consent == ConsentState.OPT_IN
    drop.refresh_from_db()
    assert drop.deleted_at is not None and drop.email is None
    snapshot = ContactMerge.objects.get(kept=merged).snapshot
    assert snapshot["email"] == "old@example.jp"


def test_a_contact_cannot_be_merged_with_itself():
    contact = make_contact()
    with pytest.raises(services.CrmError):
        services.contact_merge(keep=contact, drop=contact)


def test_merging_accounts_moves_contacts_domains_and_the_corporate_number():
    keep = make_account("つながり", domains=("tsunagari.jp",))
    drop = make_account(
        "株式会社つながり",
        domains=("tsunagari.co.jp",),
        corporate_number="7000012050002",
        employee_count=300,
    )
    person = make_contact("p@tsunagari.co.jp")
    assert person.account == drop

    merged = services.account_merge(keep=keep, drop=drop)

    person.refresh_from_db()
    assert person.account == merged
    assert merged.corporate_number == "7000012050002" and merged.employee_count == 300
    assert set(merged.domains.values_list("domain", flat=True)) == {
        "tsunagari.jp",
        "tsunagari.co.jp",
    }
    assert Account.objects.get(pk=drop.pk).deleted_at is not None
