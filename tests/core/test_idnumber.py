"""Identity numbers, mobiles, credit codes and names: every rule, each failure in words."""

from datetime import date

import pytest

from lms.core.idnumber import (
    CreditCodeError,
    IdNumberError,
    MobileError,
    PersonNameError,
    id_facts,
    mask_id_number,
    normalise_credit_code,
    normalise_id_number,
    normalise_mobile,
    normalise_name,
)
from tests.factories import credit_code, id_number

GOOD = "11010519491231002X"


@pytest.mark.parametrize("typed", [
    "11010519491231002x",            # lower-case x
    "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits and X
    "110105 19491231 002X",          # spaces
    " 110105\t19491231002X\n",       # tabs and newlines
    "\u200b11010519491231002X",      # zero-width space
    "\ufeff11010519491231002X\u200d",  # BOM and zero-width joiner
    "110105\u00a019491231002X",      # no-break space
    "\u202a11010519491231002X\u202c",  # bidi embedding marks
])
def test_normalises_what_people_type(typed):
    assert normalise_id_number(typed) == GOOD


@pytest.mark.parametrize("typed, words", [
    ("", "Enter the identity number"),
    ("1101051949123100", "18 characters; this one has 16"),
    ("110105491231002", "old 15-digit number"),
    ("11010519491231002Y", "last character must be a digit or X"),
    ("1101051949123A002X", "first 17 characters must be digits"),
    ("99010519491231002X", "first two digits (99) are not a province code"),
    ("00010519491231002X", "first two digits (00) are not a province code"),
    ("11000019491231002X", "Digits 3 to 6 (0000)"),
    ("11010519491331002X", "Digits 7 to 14 (19491331) are not a real date of birth"),
    ("11010519490230002X", "Digits 7 to 14 (19490230)"),
    ("110105189912310021", "not plausible"),
    ("110105194912310021", "check character is wrong: the last character should be X"),
    ("3.50783199603247E+17", "scientific notation"),
])
def test_each_failure_says_which_part_is_wrong(app, typed, words):
    with pytest.raises(IdNumberError) as err:
        normalise_id_number(typed)
    assert words in str(err.value)


def test_a_number_typed_as_a_float_is_rejected_not_repaired(app):
    with pytest.raises(IdNumberError) as err:
        normalise_id_number(3.50783199603247e17)
    assert "lost digits" in str(err.value)


def test_future_birth_date_is_rejected(app):
    future = id_number("320102", f"{date.today().year + 1}0101", 2)
    with pytest.raises(IdNumberError, match="not plausible"):
        normalise_id_number(future)


@pytest.mark.parametrize("prefix", ["81", "82", "83", "71", "65", "54"])
def test_all_real_province_codes_are_accepted(prefix):
    number = id_number(prefix + "0101", "19900101", 3)
    assert normalise_id_number(number) == number


@pytest.mark.parametrize("region", ["810000", "820000", "830000"])
def test_residence_permit_numbers_are_accepted(region):
    number = id_number(region, "19900101", 3)
    assert normalise_id_number(number) == number


def test_facts_derived_from_the_number():
    facts = id_facts("11010519491231002x")
    assert facts.birth_date == date(1949, 12, 31)
    assert facts.gender == "female"  # 17th digit 2 is even
    assert facts.province == "北京市"
    male = id_facts(id_number("320102", "19900307", 1))
    assert male.gender == "male"


def test_masking_keeps_only_prefix_and_last_four():
    assert mask_id_number(GOOD) == "1101**********002X"
    assert GOOD[4:14] not in mask_id_number(GOOD)


@pytest.mark.parametrize("typed, expected", [
    ("13912345678", "13912345678"), ("139 1234 5678", "13912345678"),
    ("+86 139-1234-5678", "13912345678"), ("１３９１２３４５６７８", "13912345678"),
    (13912345678.0, "13912345678"),
])
def test_mobile_normalised(typed, expected):
    assert normalise_mobile(typed) == expected


@pytest.mark.parametrize("typed, words", [
    ("1391234567", "11 digits"), ("12912345678", "starts with 13 to 19"),
    ("1391234567a", "11 digits"),
])
def test_mobile_errors(app, typed, words):
    with pytest.raises(MobileError, match=words):
        normalise_mobile(typed)


def test_mobile_optional_unless_required(app):
    assert normalise_mobile("") is None
    with pytest.raises(MobileError, match="Enter the mobile"):
        normalise_mobile("", required=True)


def test_credit_codes(app):
    code = credit_code(5)
    assert normalise_credit_code(code.lower()) == code
    broken = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(CreditCodeError, match="check character"):
        normalise_credit_code(broken)
    with pytest.raises(CreditCodeError, match="18 characters"):
        normalise_credit_code(code[:-2])
    with pytest.raises(CreditCodeError, match="cannot contain"):
        normalise_credit_code(code[:10] + "IOSVZ" + code[15:])


@pytest.mark.parametrize("typed, expected", [
    ("张晓雯", "张晓雯"), ("欧阳·娜娜", "欧阳·娜娜"), ("阿依古丽•买买提", "阿依古丽·买买提"),
    ("陳美華", "陳美華"), ("བཀྲ་ཤིས་", "བཀྲ་ཤིས་"), ("  Mary   Smith ", "Mary Smith"),
    ("张\u200b晓雯", "张晓雯"), ("ᠪᠠᠶᠠᠷ", "ᠪᠠᠶᠠᠷ"),
])
def test_names_in_any_script(typed, expected):
    assert normalise_name(typed) == expected


@pytest.mark.parametrize("typed, words", [
    ("", "Enter the name"), ("张3", "cannot contain"), ("<script>", "cannot contain"),
    ("名" * 61, "too long"),
])
def test_name_errors(app, typed, words):
    with pytest.raises(PersonNameError, match=words):
        normalise_name(typed)


# --- digits of other scripts (issue 12): only ASCII 0-9 and a final X ever pass -------------

import sys  # noqa: E402
import unicodedata  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: every code point Unicode calls a decimal digit that NFKC does not turn into ASCII 0-9
FOREIGN_DIGITS = [chr(c) for c in range(sys.maxunicode + 1)
                  if unicodedata.category(chr(c)) == "Nd"
                  and not unicodedata.normalize("NFKC", chr(c)).isascii()]


def _with_foreign_digit(number: str, digit: str, position: int) -> str:
    """`number` with the digit at `position` written in `digit`'s script (same value)."""
    assert number[position].isascii() and number[position].isdigit()
    value = int(number[position])
    base = ord(digit) - unicodedata.decimal(digit)
    return number[:position] + chr(base + value) + number[position + 1:]


def test_there_are_hundreds_of_foreign_digits():
    assert len(FOREIGN_DIGITS) > 500
    assert "\u0663" in FOREIGN_DIGITS and "\u0969" in FOREIGN_DIGITS  # Arabic-Indic, Devanagari
    assert "３" not in FOREIGN_DIGITS  # full-width: NFKC makes it ASCII, which is fine


@pytest.mark.parametrize("position", [0, 9, 16])
def test_every_foreign_digit_is_refused_in_an_identity_number(position):
    number = "110105194912310021"  # digits only at the tested positions
    for digit in FOREIGN_DIGITS:
        typed = _with_foreign_digit(number, digit, position)
        with pytest.raises(IdNumberError, match="only the digits 0-9 and a final X"):
            normalise_id_number(typed)


def test_every_foreign_digit_is_refused_in_a_mobile_number():
    for digit in FOREIGN_DIGITS:
        for position in (2, 10):
            typed = _with_foreign_digit("13912345678", digit, position)
            with pytest.raises(MobileError, match="only the digits 0-9"):
                normalise_mobile(typed)


@given(digit=st.sampled_from(FOREIGN_DIGITS), positions=st.sets(st.integers(0, 16), min_size=1),
       noise=st.sampled_from(["", " ", "\u200b", "\u3000"]))
def test_no_mix_of_foreign_digits_ever_normalises(digit, positions, noise):
    typed = GOOD
    for position in sorted(positions):
        typed = _with_foreign_digit(typed, digit, position)
    with pytest.raises(IdNumberError):
        normalise_id_number(noise + typed + noise)
    with pytest.raises(IdNumberError):
        normalise_id_number(typed.lower())


def test_the_refusal_names_the_character():
    with pytest.raises(IdNumberError) as err:
        normalise_id_number("١١0105194912310021")
    assert "U+0661" in str(err.value)
