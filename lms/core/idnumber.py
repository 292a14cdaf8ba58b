"""Resident identity numbers (居民身份证号, GB 11643) and other identifiers.

Normalise first (full-width digits, lower-case x, spaces and invisible characters),
then refuse anything but ASCII 0-9 and a final X (digits of other scripts stay digits after
NFKC and would make a second person of one number), then validate part by part so the user learns which part is wrong. python-stdnum's
cn.ric supplies the check character; the birth date is read the way its get_birth_date
reads it; the province table is ours
(stdnum's county table rejects some real numbers, see RECIPES.md).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from stdnum import exceptions as stdnum_exc
from stdnum.cn import ric, uscc

from lms.core.clock import local_today
from lms.core.errors import DomainError

#: GB/T 2260 province-level codes, plus 81/82/83 used by residence permits for
#: Hong Kong, Macao and Taiwan residents.
PROVINCES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
    "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省",
    "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
    "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区", "65": "新疆维吾尔自治区",
    "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区", "83": "台湾地区（居住证）",
}

EARLIEST_BIRTH = date(1900, 1, 1)
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?E\+?\d+$")


class IdNumberError(DomainError):
    """An identity number that is not valid; the message says which part is wrong."""

    default_field = "id_number"


def _invisible_pattern() -> re.Pattern:
    # Spaces of every kind, zero-width and format characters (BOM, ZWSP, LRM, tags, ...) and
    # control characters never belong in an identifier: one character class, built once.
    ranges = [*range(0x10000), *range(0xE0000, 0xE0080)]
    chars = [chr(c) for c in ranges
             if chr(c).isspace() or unicodedata.category(chr(c)) in {"Cf", "Cc", "Zs", "Zl", "Zp"}]
    return re.compile("[" + "".join(re.escape(c) for c in chars) + "]+")


INVISIBLE = _invisible_pattern()


def _strip_invisible(text: str) -> str:
    return INVISIBLE.sub("", text)


def clean(value) -> str:
    """Normalise an identifier as typed: NFKC (full-width -> ASCII), no invisibles, upper-case."""
    if value is None:
        return ""
    text = str(value)
    if text.isascii() and text.isalnum():  # the common case: nothing to normalise
        return text.upper()
    return _strip_invisible(unicodedata.normalize("NFKC", text)).upper()


def _foreign_characters(text: str) -> str:
    """The characters of `text` outside ASCII, as they would be named to a user."""
    seen = dict.fromkeys(ch for ch in text if not ch.isascii())
    return "、".join(f"{ch} (U+{ord(ch):04X})" for ch in list(seen)[:3])


def normalise_id_number(value) -> str:
    """Return the canonical 18-character form or raise IdNumberError saying what is wrong."""
    return parse_id_number(value)[0]


def parse_id_number(value, today: date | None = None) -> tuple[str, date]:
    """The canonical form and the birth date it encodes; IdNumberError says what is wrong."""
    if isinstance(value, float):
        raise IdNumberError(_l("The identity number was stored as a number and has lost digits; "
                               "enter it as text."))
    number = clean(value)
    if not number:
        raise IdNumberError(_l("Enter the identity number."))
    if _SCIENTIFIC.match(number):
        raise IdNumberError(_l("The identity number is in scientific notation (it was typed as a "
                               "number and has lost digits); enter it as text."))
    if not number.isascii():
        # Digits of other scripts (Arabic-Indic, Devanagari, ...) survive NFKC and pass
        # str.isdigit(); accepted, they would make a second person of the same number and
        # walk past the ban gate. Only 0-9 and a final X are ever stored.
        raise IdNumberError(_l("An identity number uses only the digits 0-9 and a final X; "
                               "this one contains %(chars)s.",
                               chars=_foreign_characters(number)))
    if len(number) == 15 and number.isdigit():
        raise IdNumberError(_l("This is an old 15-digit number; enter the 18-character number."))
    if len(number) != 18:
        raise IdNumberError(_l("An identity number has 18 characters; this one has %(n)d.",
                               n=len(number)))
    if not number[:17].isdigit():
        raise IdNumberError(_l("The first 17 characters must be digits."))
    if not (number[17].isdigit() or number[17] == "X"):
        raise IdNumberError(_l("The last character must be a digit or X."))
    if number[:2] not in PROVINCES:
        raise IdNumberError(_l("The first two digits (%(code)s) are not a province code.",
                               code=number[:2]))
    # Residence permits for Hong Kong, Macao and Taiwan residents use 810000/820000/830000.
    if number[2:6] == "0000" and number[:2] not in {"81", "82", "83"}:
        raise IdNumberError(_l("Digits 3 to 6 (%(code)s) are not a city and county code.",
                               code=number[2:6]))
    try:
        # the same reading as stdnum's ric.get_birth_date, without its second clean-up of a
        # number already normalised here (that clean-up dominated a 100,000-row import)
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdNumberError(_l("Digits 7 to 14 (%(digits)s) are not a real date of birth.",
                               digits=number[6:14])) from None
    if born < EARLIEST_BIRTH or born > (today or local_today()):
        raise IdNumberError(_l("The date of birth (%(digits)s) is not plausible.",
                               digits=number[6:14]))
    expected = ric.calc_check_digit(number)
    if number[17] != expected:
        raise IdNumberError(_l("The check character is wrong: the last character should be "
                               "%(expected)s for these first 17 digits; check each digit.",
                               expected=expected))
    return number, born


def is_valid_id_number(value) -> bool:
    try:
        normalise_id_number(value)
    except IdNumberError:
        return False
    return True


@dataclass(frozen=True)
class IdFacts:
    number: str
    birth_date: date
    gender: str  # "male" | "female"
    province: str
    region_code: str


def id_facts(number: str) -> IdFacts:
    """Facts GB 11643 encodes: birth date, gender (odd 17th digit = male), region."""
    number = normalise_id_number(number)
    return IdFacts(
        number=number,
        birth_date=ric.get_birth_date(number),
        gender="male" if int(number[16]) % 2 else "female",
        province=PROVINCES[number[:2]],
        region_code=number[:6],
    )


def mask_id_number(number: str | None) -> str:
    """320102********123X: region prefix and last four only."""
    if not number:
        return ""
    if len(number) < 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


#: 18-character identity numbers (and 15-digit first-generation ones), anywhere in a text
ID_NUMBER_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")


def mask_id_numbers_in(text: str) -> str:
    """Free text (a ban's reason, a correction request) with any identity number in it masked:
    the numbers are encrypted at rest (lms.core.crypto), so none may be stored in clear in a
    text column beside them."""
    return ID_NUMBER_IN_TEXT.sub(lambda m: mask_id_number(m.group(1)), text)


# --- mobile numbers -------------------------------------------------------------------------

#: ASCII digits only (\\d alone also matches other scripts' digits); used with fullmatch
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


class MobileError(DomainError):
    default_field = "mobile"


def normalise_mobile(value, *, required: bool = False) -> str | None:
    """A mainland mobile number: 11 digits starting 13-19; +86 and separators accepted."""
    if isinstance(value, str) and _MOBILE.fullmatch(value):  # already clean
        return value
    if isinstance(value, float):
        if value != int(value):
            raise MobileError(_l("The mobile number must be 11 digits."))
        value = str(int(value))
    text = clean(value).replace("-", "").replace("(", "").replace(")", "")
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    if not text:
        if required:
            raise MobileError(_l("Enter the mobile number."))
        return None
    if not text.isascii():
        raise MobileError(_l("A mobile number uses only the digits 0-9; this one contains "
                             "%(chars)s.", chars=_foreign_characters(text)))
    if not text.isdigit() or len(text) != 11:
        raise MobileError(_l("The mobile number must be 11 digits."))
    if not _MOBILE.fullmatch(text):
        raise MobileError(_l("A mainland mobile number starts with 13 to 19."))
    return text


def mask_mobile(number: str | None) -> str:
    if not number:
        return ""
    return number[:3] + "****" + number[-4:]


# --- unified social credit codes --------------------------------------------------------------


class CreditCodeError(DomainError):
    default_field = "credit_code"


def normalise_credit_code(value, *, required: bool = False) -> str | None:
    """统一社会信用代码 (GB 32100): 18 characters with a check character."""
    text = clean(value)
    if not text:
        if required:
            raise CreditCodeError(_l("Enter the unified social credit code."))
        return None
    if len(text) != 18:
        raise CreditCodeError(_l("A unified social credit code has 18 characters; this one has "
                                 "%(n)d.", n=len(text)))
    try:
        return uscc.validate(text)
    except stdnum_exc.InvalidChecksum:
        raise CreditCodeError(_l("The check character of the unified social credit code is "
                                 "wrong.")) from None
    except stdnum_exc.ValidationError:
        raise CreditCodeError(_l("The unified social credit code contains characters it cannot "
                                 "contain (I, O, S, V and Z are never used).")) from None


_PLAIN_HAN_NAME = re.compile(r"[\u4e00-\u9fff]{1,12}")
_NAME_PUNCTUATION = set("·-.' \u0f0b\u0f0c")  # Tibetan tsheg separates syllables


class PersonNameError(DomainError):
    default_field = "name"


def normalise_name(value) -> str:
    """A person's name in any script: Han (simplified or traditional), minority scripts,
    Latin, with the middle dot (·) of transliterated names. Invisible characters removed."""
    if value is None:
        value = ""
    if isinstance(value, (int, float)):
        raise PersonNameError(_l("The name must be text."))
    if _PLAIN_HAN_NAME.fullmatch(value):  # the common case: two to four Han characters
        return value
    text = unicodedata.normalize("NFC", str(value))
    # Zero-width and other format characters are dropped; the various dots used as
    # separators become the one middle dot U+00B7.
    text = "".join(ch for ch in text if unicodedata.category(ch) not in {"Cf", "Cc"})
    text = re.sub(r"[\u2022\u2027\u30FB\uFF65\u16EB\u2219\u00B7]", "·", text)
    text = " ".join(text.split())
    if not text:
        raise PersonNameError(_l("Enter the name."))
    if len(text) > 60:
        raise PersonNameError(_l("The name is too long (at most 60 characters)."))
    # Letters and combining marks of any script (Tibetan and Mongolian names carry marks).
    if any(not (unicodedata.category(ch)[0] in "LM" or ch in _NAME_PUNCTUATION) for ch in text):
        raise PersonNameError(_l("The name contains characters a name cannot contain."))
    return text


def mask_name(name: str) -> str:
    """张晓雯 -> 张*雯, 王芳 -> 王*, 欧阳·娜娜 -> 欧***娜: enough to compare with a paper."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
