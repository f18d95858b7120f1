from hypothesis import given
from hypothesis import strategies as st

from tsunagari.core.text import (
    corporate_number_check_digit,
    is_valid_corporate_number,
    normalize_company_name,
    normalize_domain,
    normalize_email,
    normalize_text,
)


def test_it_accepts_the_national_tax_agencys_own_corporate_number():
    assert is_valid_corporate_number("7000012050002")


def test_it_rejects_a_corporate_number_with_a_wrong_check_digit():
    assert not is_valid_corporate_number("8000012050002")


def test_it_rejects_corporate_numbers_that_are_not_thirteen_ascii_digits():
    assert not is_valid_corporate_number("700001205000")
    assert not is_valid_corporate_number("７０００012050002")
    assert not is_valid_corporate_number("70000120500O2")


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_every_base_with_its_check_digit_is_valid(base):
    assert is_valid_corporate_number(f"{corporate_number_check_digit(base)}{base}")


def test_company_names_match_whatever_legal_form_marker_and_width_they_use():
    keys = {
        normalize_company_name(name)
        for name in (
            "株式会社つながり",
            "つながり株式会社",
            "㈱つながり",
            "(株)つながり",
            "（株）つながり",
            "株式会社 つながり",
        )
    }
    assert keys == {"つながり"}


def test_english_company_suffixes_and_case_are_folded():
    assert normalize_company_name("ACME Co., Ltd.") == normalize_company_name("Acme Inc.") == "acme"


def test_full_width_and_half_width_text_normalise_the_same():
    assert normalize_text("ＡＢＣ　ｶﾌﾞｼｷ") == normalize_text("abc カブシキ")


def test_emails_and_domains_are_normalised():
    assert normalize_email("  Taro.Sato@Example.CO.JP ") == "taro.sato@example.co.jp"
    assert normalize_domain("https://www.Example.co.jp/about?x=1") == "example.co.jp"
    assert normalize_domain("hanako@sub.example.jp") == "sub.example.jp"
