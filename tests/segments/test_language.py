"""Bad definitions are rejected at save time with a message naming the condition; nothing runs."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tsunagari.crm.models import CustomField
from tsunagari.segments import language
from tsunagari.segments.language import DefinitionError, validate
from tsunagari.segments.models import Segment
from tsunagari.segments.services import segment_save

pytestmark = pytest.mark.django_db

EXAMPLE = {
    "and": [
        {"field": "account.industry", "op": "eq", "value": "manufacturing"},
        {"field": "account.employee_count", "op": "gte", "value": 300},
        {"field": "contact.department", "op": "contains", "value": "情報システム"},
        {
            "activity": "page_view",
            "where": [{"field": "path", "op": "contains", "value": ["/pricing", "/case-study"]}],
            "count": {"op": "at_least", "value": 3},
            "when": {"last_days": 30},
        },
        {"field": "contact.email_consent", "op": "eq", "value": "opt_in"},
        {"field": "contact.lifecycle_stage", "op": "neq", "value": "sql"},
    ]
}


def problems(definition, **kwargs) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        validate(definition, **kwargs)
    return caught.value.problems


def test_the_schema_is_a_valid_json_schema_and_accepts_the_issue_example():
    jsonschema.Draft202012Validator.check_schema(language.SCHEMA)
    jsonschema.validate(EXAMPLE, language.SCHEMA)
    validate(EXAMPLE)


def test_an_unknown_field_is_named_with_the_path_of_its_condition(english):
    found = problems(
        {"and": [EXAMPLE["and"][0], {"field": "contact.shoe_size", "op": "eq", "value": 1}]}
    )
    assert found == [("and[1]", "Unknown field “contact.shoe_size”.")]


def test_an_operator_of_another_type_is_rejected(english):
    [(_path, message)] = problems(
        {"field": "account.employee_count", "op": "contains", "value": "3"}
    )
    assert "cannot be used with" in message


def test_an_incomplete_condition_asks_for_its_value(english):
    [(path, message)] = problems({"and": [{"field": "contact.department", "op": "contains"}]})
    assert path == "and[0]" and "Enter a value" in message


def test_a_malformed_node_is_reported_not_raised(english):
    [(_path, message)] = problems({"and": [{"field": "contact.department"}]})
    assert "incomplete or malformed" in message


def test_a_thousand_levels_deep_tree_is_rejected_without_recursion(english):
    node: dict = {"field": "contact.do_not_contact", "op": "is_true"}
    for _ in range(1000):
        node = {"not": node}
    [(_path, message)] = problems(node)
    assert "nested more than" in message


def test_too_many_conditions_are_rejected(english):
    leaf = {"field": "contact.do_not_contact", "op": "is_true"}
    [(_path, message)] = problems({"or": [leaf] * (language.MAX_NODES + 1)})
    assert "more than" in message


def test_absurd_windows_and_reversed_dates_are_rejected(english):
    [(_p, m1)] = problems({"activity": "page_view", "when": {"last_days": 100000}})
    [(_p, m2)] = problems(
        {"activity": "page_view", "when": {"from": "2026-05-01", "to": "2026-01-01"}}
    )
    [(_p, m3)] = problems({"field": "contact.created_at", "op": "after", "value": "0001-01-01"})
    [(_p, m4)] = problems({"activity": "page_view", "count": {"op": "at_least", "value": 10**9}})
    assert "between 1 and" in m1 and "start date is after" in m2 and "YYYY-MM-DD" in m3
    assert "count must be" in m4


def test_unknown_activity_and_a_filter_it_does_not_offer_are_rejected(english):
    [(_p, m1)] = problems({"activity": "telepathy"})
    [(_p, m2)] = problems(
        {"activity": "email_opened", "where": [{"field": "path", "op": "eq", "value": "/"}]}
    )
    assert "Unknown activity" in m1 and "cannot filter this activity" in m2


def test_a_deleted_custom_field_is_rejected(english):
    field = CustomField.objects.create(
        object_type="contact", key="budget", label="予算", field_type="number"
    )
    definition = {"field": "contact.custom.budget", "op": "gte", "value": 100}
    validate(definition)
    field.is_active = False
    field.save()
    [(_p, message)] = problems(definition)
    assert "does not exist or was deleted" in message


def test_a_choice_outside_the_vocabulary_is_rejected(english):
    [(_p, message)] = problems({"field": "account.industry", "op": "eq", "value": "piracy"})
    assert "is not a choice" in message


def test_segments_referring_to_each_other_in_a_cycle_are_rejected(english):
    a = Segment.objects.create(name="A", definition={})
    b = Segment.objects.create(name="B", definition={"in_segment": a.pk})
    [(_p, message)] = problems({"in_segment": b.pk}, segment_id=a.pk)
    assert "cycle" in message
    [(_p, message)] = problems({"in_segment": a.pk}, segment_id=a.pk)
    assert "cycle" in message


def test_a_missing_segment_is_rejected(english):
    [(_p, message)] = problems({"in_segment": 999999})
    assert "does not exist" in message


def test_saving_a_bad_definition_changes_nothing(english, marketer):
    segment = segment_save(
        segment=Segment(kind=Segment.Kind.DYNAMIC),
        name="製造業",
        definition=EXAMPLE,
        actor=marketer,
    )
    with pytest.raises(DefinitionError):
        segment_save(segment=segment, name="壊す", definition={"field": "nope", "op": "eq"})
    segment.refresh_from_db()
    assert segment.name == "製造業" and segment.definition == EXAMPLE


def test_the_documented_schema_file_matches_the_code():
    from pathlib import Path

    documented = Path(__file__).resolve().parents[2] / "docs" / "segments.schema.json"
    assert json.loads(documented.read_text()) == json.loads(json.dumps(language.SCHEMA))
