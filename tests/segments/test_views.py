"""Segment pages: list, builder round trips, saving, members, static list by hand and CSV."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.crm.factories import make_account, make_contact
from tsunagari.segments import services
from tsunagari.segments.models import Segment

pytestmark = pytest.mark.django_db


def test_the_list_shows_an_empty_state_then_segments_with_sizes(marketer_client, english):
    response = marketer_client.get(reverse("segments:index"))
    assert response.status_code == 200 and b"No segments yet" in response.content
    make_contact("a@example.jp", department="情報システム部")
    segment = services.segment_save(
        segment=Segment(),
        name="情シス",
        definition={"field": "contact.department", "op": "contains", "value": "情報"},
    )
    services.segment_refresh(segment)
    response = marketer_client.get(reverse("segments:index"))
    assert "情シス".encode() in response.content
    assert response.context["rows"][0].segment.member_count == 1


def test_the_list_answers_in_a_fixed_number_of_queries(
    marketer_client, django_assert_max_num_queries
):
    for i in range(5):
        services.segment_save(segment=Segment(), name=f"s{i}", definition={})
    with django_assert_max_num_queries(8):
        assert marketer_client.get(reverse("segments:index")).status_code == 200


def test_read_only_users_see_but_cannot_build(reader_client):
    assert reader_client.get(reverse("segments:index")).status_code == 200
    assert reader_client.get(reverse("segments:create")).status_code == 403
    assert reader_client.post(reverse("segments:builder"), {}).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("segments:index"))
    assert response.status_code == 302 and "login" in response["Location"]


def builder_post(client, data: dict, action: str = ""):
    return client.post(
        reverse("segments:builder"), {**data, "action": action}, HTTP_HX_REQUEST="true"
    )


def test_the_builder_adds_a_condition_and_shows_its_typed_inputs(marketer_client, english):
    response = builder_post(marketer_client, {"n-r-kind": "and"}, "add-field:r")
    assert b'name="n-r_0-field"' in response.content
    # An incomplete condition: a clear message beside it, no count.
    assert b"Complete or correct" in response.content
    response = builder_post(
        marketer_client,
        {"n-r-kind": "and", "n-r_0-kind": "field", "n-r_0-field": "account.employee_count"},
    )
    assert b'type="number"' not in response.content  # no operator yet: no value input
    assert b'value="gte"' in response.content
    response = builder_post(
        marketer_client,
        {
            "n-r-kind": "and",
            "n-r_0-kind": "field",
            "n-r_0-field": "account.employee_count",
            "n-r_0-op": "gte",
        },
    )
    assert b'type="number"' in response.content and b"Enter a value" in response.content


def test_the_builder_counts_and_samples_while_editing(marketer_client):
    factory = make_account(name="東和製作所", industry="manufacturing", employee_count=500)
    make_contact("a@towa.jp", account=factory)
    make_contact("b@example.jp")
    data = {
        "n-r-kind": "and",
        "n-r_0-kind": "field",
        "n-r_0-field": "account.industry",
        "n-r_0-op": "eq",
        "n-r_0-value": "manufacturing",
    }
    response = builder_post(marketer_client, data)
    assert response.context["preview"].count == 1
    assert "東和製作所".encode() in response.content
    # Nesting: a NOT group around it inverts the count.
    data.update({"n-r_0-not": "1"})
    assert builder_post(marketer_client, data).context["preview"].count == 1
    response = builder_post(marketer_client, data, "remove:r_0")
    assert response.context["preview"].count == 2


def test_saving_from_the_builder_stores_the_definition_and_materialises_it(marketer_client):
    make_contact("a@example.jp", do_not_contact=True)
    response = marketer_client.post(
        reverse("segments:create"),
        {
            "name": "連絡不可",
            "kind": "dynamic",
            "n-r-kind": "or",
            "n-r_0-kind": "field",
            "n-r_0-field": "contact.do_not_contact",
            "n-r_0-op": "is_true",
        },
    )
    segment = Segment.objects.get(name="連絡不可")
    assert response.status_code == 302
    assert segment.definition == {"or": [{"field": "contact.do_not_contact", "op": "is_true"}]}
    assert segment.member_count == 1
    page = marketer_client.get(reverse("segments:edit", args=[segment.pk]))
    assert b'value="contact.do_not_contact" selected' in page.content


def test_saving_an_invalid_definition_shows_errors_and_saves_nothing(marketer_client, english):
    response = marketer_client.post(
        reverse("segments:create"),
        {
            "name": "壊れた",
            "kind": "dynamic",
            "n-r-kind": "and",
            "n-r_0-kind": "field",
            "n-r_0-field": "contact.department",
            "n-r_0-op": "contains",
        },
    )
    assert response.status_code == 422 and b"Enter a value" in response.content
    assert not Segment.objects.exists()


def test_a_static_list_by_hand_and_by_csv(marketer_client, english):
    a, b = make_contact("a@example.jp"), make_contact("b@example.jp")
    marketer_client.post(reverse("segments:create"), {"name": "名刺", "kind": "static"})
    segment = Segment.objects.get(name="名刺")
    assert segment.kind == Segment.Kind.STATIC
    response = marketer_client.post(
        reverse("segments:static_add", args=[segment.pk]),
        {"contacts": f"A@example.jp\nnobody@example.jp\n{b.pk}"},
        follow=True,
    )
    assert b"2 added" in response.content and b"nobody@example.jp" in response.content
    csv = SimpleUploadedFile("cards.csv", "氏名,email\n佐藤,a@example.jp\n".encode("cp932"))
    response = marketer_client.post(
        reverse("segments:static_upload", args=[segment.pk]), {"file": csv}, follow=True
    )
    assert b"0 added, 1 already" in response.content
    marketer_client.post(reverse("segments:static_remove", args=[segment.pk]), {"contact": [a.pk]})
    segment.refresh_from_db()
    assert segment.member_count == 1
    detail = marketer_client.get(reverse("segments:detail", args=[segment.pk]))
    assert b"b@example.jp" in detail.content and b"a@example.jp" not in detail.content


def test_a_bad_upload_is_refused_with_a_message(marketer_client, english):
    segment = services.segment_save(segment=Segment(kind=Segment.Kind.STATIC), name="x")
    bad = SimpleUploadedFile("x.csv", b"\xff\xfe\x00\x00\x81")
    response = marketer_client.post(
        reverse("segments:static_upload", args=[segment.pk]), {"file": bad}, follow=True
    )
    assert b"not UTF-8 or Shift_JIS" in response.content


def test_a_segment_used_by_another_cannot_be_deleted(marketer_client, english):
    base = services.segment_save(segment=Segment(), name="base", definition={})
    services.segment_save(segment=Segment(), name="user", definition={"in_segment": base.pk})
    response = marketer_client.post(reverse("segments:delete", args=[base.pk]), follow=True)
    assert b"Used by other segments" in response.content
    base.refresh_from_db()
    assert base.deleted_at is None


def test_the_contact_page_panel_lists_current_and_past_stays(marketer_client, english):
    contact = make_contact("a@example.jp")
    vip = services.segment_save(segment=Segment(kind=Segment.Kind.STATIC), name="VIP")
    old = services.segment_save(segment=Segment(kind=Segment.Kind.STATIC), name="旧リスト")
    services.static_add(vip, [contact.pk])
    services.static_add(old, [contact.pk])
    services.static_remove(old, [contact.pk])
    response = marketer_client.get(reverse("segments:contact_panel", args=[contact.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "VIP" in text and "旧リスト" in text and "left" in text
    assert text.index("VIP") < text.index("旧リスト")  # current stays first
