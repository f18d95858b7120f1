"""The personalisation language: sandboxed, fallbacks, escaping, errors with their line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagari.mail.compose import ComplianceError
from tsunagari.mail.models import Template
from tsunagari.mail.render import (
    Safe,
    TemplateSyntaxError,
    compile_template,
    render,
    sanitise_html,
    text_from_html,
)
from tsunagari.mail.services import template_save

CONTEXT = {
    "contact": {"family_name": "佐藤", "given_name": ""},
    "account": {"name": "A&B 株式会社"},
}


def test_variables_fallbacks_and_escaping():
    compiled = compile_template(
        '{{ contact.family_name }} {{contact.given_name|default:"様"}} / {{ account.name }}'
    )
    assert render(compiled, CONTEXT, escape=False) == "佐藤 様 / A&B 株式会社"
    assert render(compiled, CONTEXT, escape=True) == "佐藤 様 / A&amp;B 株式会社"
    assert render(compile_template("{{ footer }}"), {"footer": Safe("<p>x</p>")}, escape=True) == (
        "<p>x</p>"
    )


def test_a_dunder_or_unknown_path_reaches_nothing():
    compiled = compile_template("{{ contact.__class__ }}{{ account.__dict__ }}")
    assert render(compiled, {"contact": {"__class__": "x"}}, escape=False) == ""


def test_an_unknown_variable_renders_empty_with_a_warning():
    compiled = compile_template("こんにちは\n{{ contact.password }}{{ settings.secret_key }}!")
    assert render(compiled, {"contact": {"password": "x"}}, escape=False) == "こんにちは\n!"
    assert len(compiled.warnings) == 2 and compiled.warnings[0].startswith("line 2:")


@pytest.mark.parametrize(
    "source, line",
    [
        ("ok\n{{ contact.family_name ", 2),
        ("a\nb\n{{ contact..family_name }}", 3),
        ("{{ contact.family_name|upper }}", 1),
        ("x\n{{ contact.family_name|default }}", 2),
        ("{% for x in y %}\n{{ }}", 2),
        ("{{ contact.family_name() }}", 1),
    ],
)
def test_syntax_errors_name_their_line(source, line):
    with pytest.raises(TemplateSyntaxError) as error:
        compile_template(source)
    assert error.value.line == line


@given(st.text(max_size=200))
def test_any_input_either_compiles_or_raises_a_syntax_error(source):
    try:
        compiled = compile_template(source)
    except TemplateSyntaxError:
        return
    assert isinstance(render(compiled, CONTEXT, escape=True), str)


def test_html_is_sanitised_and_a_text_part_is_made_from_it():
    dirty = (
        '<p onclick="x()">Hi</p><script>alert(1)</script><a href="javascript:alert(1)">bad</a>'
        '<a href="https://example.jp/a">good</a><style>p{color:red}</style>'
    )
    clean = sanitise_html(dirty)
    assert "onclick" not in clean and "<script" not in clean and "javascript:" not in clean
    assert "<style>" in clean
    text = text_from_html(clean)
    assert "Hi" in text and "good ( https://example.jp/a )" in text and "color" not in text


@pytest.mark.django_db
def test_a_marketing_template_without_the_required_content_cannot_be_saved(sender):
    with pytest.raises(ComplianceError) as error:
        template_save(template=Template(name="x", subject="s", html="<p>no footer</p>"))
    assert "unsubscribe_url" in error.value.problems[0]
    assert not Template.objects.exists()
    template_save(
        template=Template(
            name="ok",
            subject="s",
            html=(
                "<p>{{ sender.name }} {{ sender.postal_address }} {{ sender.complaints_contact }}"
                ' <a href="{{ unsubscribe_url }}">配信停止</a></p>'
            ),
        )
    )
    template_save(
        template=Template(name="tx", subject="s", html="<p>x</p>", kind=Template.Kind.TRANSACTIONAL)
    )
    assert Template.objects.count() == 2


@pytest.mark.django_db
def test_a_syntax_error_is_refused_on_save_with_its_line(sender):
    with pytest.raises(ComplianceError) as error:
        template_save(template=Template(name="x", subject="s", html="{{ footer }}\n\n{{ oops"))
    assert "3" in error.value.problems[0]
