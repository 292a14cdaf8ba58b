"""Staff roster import (花名册): what an institution admin sees when uploading an .xlsx.

Every row is checked first and reported by Excel row number and column; nothing is stored
unless every row is valid. Hostile files get a clear message and leave the server running.
"""

from __future__ import annotations

import io
import os
import zipfile
from datetime import date, timedelta

import openpyxl
import pytest
import xlsxwriter
from flask_babel import force_locale
from sqlalchemy import func, select

from lms.auth.models import User
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.core.errors import DomainError
from lms.core.excel import write_xlsx
from lms.core.models import AuditLog, District
from lms.extensions import db
from lms.registry import roster, service
from lms.registry.models import Employment, Person
from tests.conftest import login
from tests.factories import credit_code, id_number
from tests.helpers import statements_sent

#: the staff columns; the optional health-check and criminal-record columns follow them
#: (tests/registry/test_staff_records.py)
HEADERS = [names[0] for names in roster.COLUMNS.values()][:6]
assert HEADERS == ["姓名", "身份证号", "手机号", "岗位", "入职日期", "是否直接管理人员"]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘"
GIVEN = ["晓雯", "静", "秀英", "丽娟", "子涵", "雨桐", "建华", "海燕", "佳怡", "婷婷", "思琪",
         "桂兰", "玉梅", "志强", "梦瑶", "欣怡", "春梅", "红霞", "文静", "美玲"]


@pytest.fixture(autouse=True)
def _english():
    # assertions read the English messages, whatever catalogues are compiled
    with force_locale("en"):
        yield


# --- builders ------------------------------------------------------------------------------


def pid(n: int) -> str:
    """A valid identity number, unique for each n; born 1975-1984 for n < 10000."""
    return id_number("320104", f"{1975 + n // 1000}0{1 + n % 9}15", n % 1000)


def pname(n: int) -> str:
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n // len(SURNAMES)) % len(GIVEN)]


def mobile(n: int) -> str:
    return f"137{n:08d}"


def person_row(n: int, post="保育员", start="2024-03-01", manager="否", *, phone=True):
    return [pname(n), pid(n), mobile(n) if phone else "", post, start, manager]


def xlsx(rows, headers=HEADERS) -> bytes:
    """A roster as an institution would fill in the template (text ID and mobile columns)."""
    return write_xlsx(headers, rows, text_columns={1, 2})


def raw_xlsx(cells: dict[tuple[int, int], object]) -> bytes:
    """A workbook written cell by cell, numbers as numbers (what Excel does by default)."""
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False})
    sheet = workbook.add_worksheet()
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    for (r, c), value in cells.items():
        if isinstance(value, float | int) and not isinstance(value, bool):
            sheet.write_number(r, c, value)
        elif isinstance(value, date):
            sheet.write_datetime(r, c, value, date_format)
        else:
            sheet.write_string(r, c, str(value))
    workbook.close()
    return out.getvalue()


def grid(rows: list[list]) -> dict[tuple[int, int], object]:
    return {(r, c): v for r, row in enumerate(rows) for c, v in enumerate(row) if v != ""}


def counts() -> tuple[int, int, int]:
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (Person, Employment, User))


def run(world, data: bytes, **kw) -> roster.RosterResult:
    return roster.import_roster(world.users["inst_admin"], world.inst, data, **kw)


def only_error(result) -> roster.RowError:
    assert len(result.errors) == 1, [(e.row, e.column, e.message) for e in result.errors]
    assert result.batch_id is None and not result.ok
    return result.errors[0]


def person(number: str) -> Person | None:
    return db.session.scalar(select(Person).where(Person.id_number == number))


# --- a valid roster -----------------------------------------------------------------------


def test_valid_roster_registers_people_and_posts_accounts_come_with_passwords(world):
    before = counts()
    data = xlsx([
        person_row(1),
        person_row(1, post="育婴员"),  # the same person holds a second post
        person_row(2, post="专职负责人"),  # a director is always the direct manager
        person_row(3, manager="是", phone=False),
    ])
    result = run(world, data)
    assert result.ok and result.errors == []
    assert (result.rows, result.employments) == (4, 4)
    assert (result.persons_created, result.persons_linked, result.accounts_created) == (3, 0, 3)
    db.session.commit()
    # no accounts yet: they are made when the institution issues the one-time passwords
    assert counts() == (before[0] + 3, before[1] + 4, before[2])

    first = person(pid(1))
    assert first.name == pname(1) and first.mobile == mobile(1)
    assert first.birth_date == date(1975, 2, 15) and first.gender == "male"  # 17th digit 1
    assert person(pid(3)).mobile is None
    employments = db.session.scalars(
        select(Employment).where(Employment.import_batch == result.batch_id)).all()
    assert len(employments) == 4
    assert {e.organisation_id for e in employments} == {world.inst.id}
    assert sorted(e.post for e in employments if e.person_id == first.id) == [
        "infant_carer", "nursery_carer"]
    assert all(e.start_date == date(2024, 3, 1) and e.end_date is None for e in employments)
    managers = {e.person.id_number for e in employments if e.is_direct_manager}
    assert managers == {pid(2), pid(3)}
    roster.issue_batch_passwords(world.users["inst_admin"], world.inst, result.batch_id)
    users = db.session.scalars(select(User).where(
        User.person_id.in_([person(pid(n)).id for n in (1, 2, 3)]))).all()
    assert len(users) == 3
    assert all(u.role == "caregiver" and u.password_hash and u.must_change_password
               and u.is_enabled for u in users)
    audit = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "registry.roster_imported")).one()
    assert audit.details["batch"] == result.batch_id and audit.details["rows"] == 4

    # the same file again: every row is already there, and nothing is stored twice
    again = run(world, data)
    assert again.batch_id is None and not again.ok
    assert [(e.row, e.column) for e in again.errors] == [(r, "post") for r in (2, 3, 4, 5)]
    assert all("already holds this post" in e.message for e in again.errors)
    # the accounts were made when the one-time passwords were issued above
    assert counts() == (before[0] + 3, before[1] + 4, before[2] + 3)


def test_registered_person_is_linked_keeps_account_and_gets_new_mobile(world):
    staff = world.staff
    caregiver = world.users["caregiver"]
    before = counts()
    result = run(world, xlsx([[staff.name, staff.id_number.lower(), "13600000001", "育婴员",
                               "2025-01-01", "否"]]))
    assert result.ok
    assert (result.persons_created, result.persons_linked, result.accounts_created) == (0, 1, 0)
    db.session.commit()
    assert counts() == (before[0], before[1] + 1, before[2])
    db.session.refresh(staff)
    assert staff.mobile == "13600000001"  # the roster's mobile updates the record
    db.session.refresh(caregiver)
    assert caregiver.password_hash is not None  # the existing account is left as it was


# --- all or nothing --------------------------------------------------------------------------


def test_one_bad_row_stores_nothing_and_names_row_column_and_reason(world):
    wrong = pid(4)[:17] + ("0" if pid(4)[17] != "0" else "1")
    expected = pid(4)[17]
    before = counts()
    persons_before = set(db.session.scalars(select(Person.id_number)))
    result = run(world, xlsx([person_row(1), person_row(2), [pname(4), wrong, mobile(4),
                                                            "保育员", "2024-03-01", "否"],
                              person_row(5)]))
    error = only_error(result)
    assert error.row == 4  # the header is row 1, so the third staff row is Excel row 4
    assert error.column == "id_number" and error.column_title == "Identity number"
    assert "check character is wrong" in error.message
    assert f"should be {expected}" in error.message
    assert counts() == before
    assert set(db.session.scalars(select(Person.id_number))) == persons_before
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "registry.roster_imported")) == 0


def test_every_problem_is_listed_in_row_then_column_order(world):
    result = run(world, xlsx([
        ["", "11010519491231002", "12345", "园长", "2024-02-30", "也许"],
        person_row(1),
        [pname(2), "990104197501150029", mobile(2), "保育员", "2024-03-01", ""],
    ]))
    found = [(e.row, e.column) for e in result.errors]
    assert found == [(2, "name"), (2, "id_number"), (2, "mobile"), (2, "post"),
                     (2, "start_date"), (2, "direct_manager"), (4, "id_number")]
    messages = [e.message for e in result.errors]
    assert messages[0] == "Enter the name."
    assert "18 characters; this one has 17" in messages[1]
    assert "must be 11 digits" in messages[2]
    assert messages[3] == "Unknown post: 园长."
    assert messages[4] == "Enter the start date as YYYY-MM-DD."
    assert messages[5] == "Write 是 or 否."
    assert "(99) are not a province code" in messages[6]
    assert result.batch_id is None and person(pid(1)) is None


# --- identity numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("typed, reason", [
    ("320104750215001", "old 15-digit number"),
    ("32010419750215001", "18 characters; this one has 17"),
    ("3201041975021500X5", "first 17 characters must be digits"),
    ("32010419750215001A", "last character must be a digit or X"),
    ("000104197502150015", "(00) are not a province code"),
    ("320000197502150015", "Digits 3 to 6 (0000) are not a city and county code"),
    ("320104197502300015", "Digits 7 to 14 (19750230) are not a real date of birth"),
    ("320104209901010015", "date of birth (20990101) is not plausible"),
    ("320104197502150010", "check character is wrong"),
])
def test_identity_number_problems_say_which_part_is_wrong(world, typed, reason):
    error = only_error(run(world, xlsx([[pname(1), typed, "", "保育员", "2024-03-01", "否"]])))
    assert (error.row, error.column) == (2, "id_number")
    assert reason in error.message


def test_identity_number_typed_as_an_excel_number_is_refused_never_repaired(world):
    number = pid(7)
    assert number[17] != "X"
    before = counts()
    data = raw_xlsx(grid([HEADERS, [pname(7), float(number), float(mobile(7)), "保育员",
                                    "2024-03-01", "否"]]))
    error = only_error(run(world, data))
    assert (error.row, error.column) == (2, "id_number")
    assert "lost digits" in error.message and "as text" in error.message
    assert counts() == before
    # nothing near the number was stored (numbers are encrypted: compared after decryption)
    assert not [n for n in db.session.scalars(select(Person.id_number)) if n[:12] == number[:12]]


def test_identity_number_written_as_integer_by_another_tool_is_refused(world):
    # openpyxl writes the full 18 digits into the cell, but a spreadsheet number is a double
    workbook = openpyxl.Workbook()
    workbook.active.append(HEADERS)
    workbook.active.append([pname(8), int(pid(8)), int(mobile(8)), "保育员", "2024-03-01", "否"])
    out = io.BytesIO()
    workbook.save(out)
    error = only_error(run(world, out.getvalue()))
    assert error.column == "id_number" and "lost digits" in error.message


@pytest.mark.parametrize("typed", ["3.20104E+17", "3.20104e+17", "3.20104197501E17"])
def test_identity_number_in_scientific_notation_text_is_refused(world, typed):
    error = only_error(run(world, xlsx([[pname(9), typed, mobile(9), "保育员", "2024-03-01",
                                         "否"]])))
    assert error.column == "id_number"
    assert "scientific notation" in error.message and "as text" in error.message


def test_mobile_typed_as_number_is_accepted(world):
    data = raw_xlsx(grid([HEADERS, [pname(10), pid(10), float(mobile(10)), "保育员",
                                    "2024-03-01", "否"]]))
    assert run(world, data).ok
    assert person(pid(10)).mobile == mobile(10)


def _x_number() -> tuple[int, str]:
    n = next(n for n in range(100, 400) if pid(n).endswith("X"))
    return n, pid(n)


def test_lower_case_x_full_width_digits_and_invisible_characters_are_one_person(world):
    n, number = _x_number()
    full_width = "".join(chr(ord(ch) + 0xFEE0) if ch.isdigit() else ch for ch in number)
    typed = [
        number.lower(),
        "\u200b" + full_width[:6] + "\u3000" + full_width[6:].lower() + "\ufeff",
        " " + number[:6] + " " + number[6:14] + "\u00a0" + number[14:] + "\u200d ",
    ]
    rows = [[pname(n), t, mobile(n), post, "2024-03-01", "否"]
            for t, post in zip(typed, ["保育员", "育婴员", "卫生保健员"], strict=True)]
    rows[1][0] = "\u200b" + pname(n)  # a zero-width space pasted into the name too
    result = run(world, xlsx(rows))
    assert result.ok, [(e.row, e.message) for e in result.errors]
    assert (result.persons_created, result.employments, result.accounts_created) == (1, 3, 1)
    stored = person(number)
    assert stored.id_number == number and stored.name == pname(n)
    assert len(stored.employments) == 3


def test_registered_number_under_another_name_is_refused(world):
    staff = world.staff
    error = only_error(run(world, xlsx([["张小文", staff.id_number, "", "育婴员", "2024-03-01",
                                         "否"]])))
    assert (error.row, error.column) == (2, "name")
    assert "registered under a different name" in error.message


def test_same_person_and_post_twice_in_the_file_names_the_earlier_row(world):
    result = run(world, xlsx([person_row(1), person_row(2), person_row(3),
                              person_row(2, start="2024-05-01")]))
    error = only_error(result)
    assert (error.row, error.column) == (5, "id_number")
    assert "The same person and post already appear in row 3." == error.message
    assert person(pid(1)) is None


def test_two_names_for_one_number_in_the_file_names_the_earlier_row(world):
    result = run(world, xlsx([person_row(1), [pname(2), pid(1), "", "育婴员", "2024-03-01",
                                              "否"]]))
    error = only_error(result)
    assert (error.row, error.column) == (3, "name")
    assert "Row 2 gives another name" in error.message


def test_one_mobile_for_two_people_is_refused(world):
    result = run(world, xlsx([person_row(1), person_row(2),
                              [pname(3), pid(3), mobile(1), "保育员", "2024-03-01", "否"]]))
    error = only_error(result)
    assert (error.row, error.column) == (4, "mobile")
    assert "Row 2 gives this mobile number to another person" in error.message


def test_mobile_of_someone_else_in_the_registry_is_refused(world):
    # 13912345678 is the mobile of the staff member already registered
    error = only_error(run(world, xlsx([[pname(1), pid(1), "139-1234-5678", "保育员",
                                         "2024-03-01", "否"]])))
    assert (error.row, error.column) == (2, "mobile")
    assert "belongs to another person in the registry" in error.message


def test_two_mobiles_for_one_person_are_flagged_not_dropped(world):
    result = run(world, xlsx([person_row(1), [pname(1), pid(1), "13600000009", "育婴员",
                                              "2024-03-01", "否"]]))
    error = only_error(result)
    assert (error.row, error.column) == (3, "mobile")
    assert "Row 2 gives this person another mobile number" in error.message
    # the same mobile again, or none, on the person's other rows is fine
    assert run(world, xlsx([person_row(1), person_row(1, post="育婴员"),
                            person_row(1, post="卫生保健员", phone=False)])).ok
    assert person(pid(1)).mobile == mobile(1)


def test_banned_identity_number_is_refused(world):
    service.record_ban(DEMO, id_number=pid(2), name=pname(2), kind="lifetime",
                       starts_on=local_today() - timedelta(days=30), ends_on=None,
                       reason="虐待婴幼儿")
    # a term ban that has ended no longer refuses
    service.record_ban(DEMO, id_number=pid(3), name=pname(3), kind="term",
                       starts_on=date(2020, 1, 1), ends_on=local_today() - timedelta(days=1),
                       reason="旧处罚")
    db.session.commit()
    before = counts()
    result = run(world, xlsx([person_row(1), person_row(2), person_row(3)]))
    error = only_error(result)
    assert (error.row, error.column) == (3, "id_number")
    assert "banned from working in childcare" in error.message
    assert "for life" in error.message  # the same words as adding one staff member
    assert counts() == before
    assert run(world, xlsx([person_row(1), person_row(3)])).ok


def test_person_under_sixteen_on_the_start_date_is_refused(world):
    young = id_number("320104", f"{local_today().year - 15}0101", 8)
    error = only_error(run(world, xlsx([["王小明", young, "", "保安员",
                                         local_today().isoformat(), "否"]])))
    assert (error.row, error.column) == (2, "start_date") and "under 16" in error.message


# --- posts, dates and the direct-manager flag ------------------------------------------------


def test_posts_by_chinese_name_alias_or_code_and_unknown_post(world):
    result = run(world, xlsx([person_row(1, post="保育师"), person_row(2, post="security"),
                              person_row(3, post=" 育 婴 员 "), person_row(4, post="园长")]))
    error = only_error(result)
    assert (error.row, error.column, error.message) == (5, "post", "Unknown post: 园长.")
    result = run(world, xlsx([person_row(1, post="保育师"), person_row(2, post="security"),
                              person_row(3, post=" 育 婴 员 ")]))
    assert result.ok
    posts = dict(db.session.execute(select(Person.id_number, Employment.post).join(
        Employment, Employment.person_id == Person.id).where(
        Employment.import_batch == result.batch_id)).all())
    assert posts == {pid(1): "nursery_carer", pid(2): "security", pid(3): "infant_carer"}


def test_start_date_formats_that_are_accepted(world):
    rows = [
        [pname(1), pid(1), "", "保育员", date(2024, 3, 1), "否"],  # a date cell
        [pname(2), pid(2), "", "保育员", "2024/3/1", "否"],
        [pname(3), pid(3), "", "保育员", "2024年3月1日", "否"],
        [pname(4), pid(4), "", "保育员", "2024-03-01", "否"],
        [pname(5), pid(5), "", "保育员", "2024.03.01", "否"],
        [pname(6), pid(6), "", "保育员", 45352, "否"],  # the date serial, formatted General
        [pname(7), pid(7), "", "保育员", "２０２４－０３－０１", "否"],  # full-width
    ]
    result = run(world, raw_xlsx(grid([HEADERS, *rows])))
    assert result.ok, [(e.row, e.message) for e in result.errors]
    starts = set(db.session.scalars(select(Employment.start_date).where(
        Employment.import_batch == result.batch_id)))
    assert starts == {date(2024, 3, 1)}


@pytest.mark.parametrize("typed, message", [
    ("2024-02-30", "Enter the start date as YYYY-MM-DD."),
    ("01/03/2024", "Enter the start date as YYYY-MM-DD."),
    ("下周一", "Enter the start date as YYYY-MM-DD."),
    ("", "Enter the start date as YYYY-MM-DD."),
    ("1950-01-01", "The start date 1950-01-01 is more than 60 years ago."),
    ((local_today() + timedelta(days=400)).isoformat(), "is more than a year ahead."),
])
def test_bad_start_date_is_refused(world, typed, message):
    error = only_error(run(world, xlsx([person_row(1, start=typed)])))
    assert (error.row, error.column) == (2, "start_date")
    assert message in error.message


def test_direct_manager_flag(world):
    flags = ["是", "否", "Y", "n", "yes", "", "√", "TRUE", 1, 0]
    rows = [person_row(n, manager=flag) for n, flag in enumerate(flags, 1)]
    result = run(world, raw_xlsx(grid([HEADERS, *rows])))
    assert result.ok, [(e.row, e.message) for e in result.errors]
    managers = dict(db.session.execute(select(Person.id_number, Employment.is_direct_manager)
                                       .join(Employment.person)).all())
    expected = [True, False, True, False, True, False, True, True, True, False]
    assert [managers[pid(n)] for n in range(1, len(flags) + 1)] == expected


def test_unclear_direct_manager_flag_is_refused(world):
    error = only_error(run(world, xlsx([person_row(1, manager="也许")])))
    assert (error.row, error.column, error.message) == (2, "direct_manager", "Write 是 or 否.")


# --- the sheet's layout ------------------------------------------------------------------------


def test_missing_header_columns_are_named(world):
    before = counts()
    data = xlsx([[pname(1), mobile(1), "2024-03-01"]], headers=["姓名", "手机号", "入职日期"])
    with pytest.raises(DomainError) as err:
        run(world, data)
    message = str(err.value)
    assert "Row 1 must be the header row" in message
    assert "Identity number" in message and "Post" in message
    assert "Name" not in message.split(":", 1)[1] and "template" in message
    assert counts() == before


def test_a_title_row_above_the_header_is_reported_as_missing_columns(world):
    data = raw_xlsx(grid([["小橡树托育中心员工花名册"], HEADERS, person_row(1)]))
    with pytest.raises(DomainError, match="Row 1 must be the header row"):
        run(world, data)


def test_other_header_spellings_are_accepted_in_any_order(world):
    headers = [" 岗位 ", "居民身份证号", "Name", "手机号码", "是否专职负责人", "入职日期", "备注"]
    row = ["育婴员", pid(1), pname(1), mobile(1), "否", "2024-03-01", "试用期"]
    result = run(world, xlsx([row], headers=headers))
    assert result.ok
    assert person(pid(1)).mobile == mobile(1)


def test_blank_rows_above_and_between_keep_excel_row_numbers(world):
    cells = grid([[], [], HEADERS, person_row(1), [], person_row(2, start="2024-13-01")])
    error = only_error(run(world, raw_xlsx(cells)))
    assert (error.row, error.column) == (6, "start_date")


def test_empty_sheet(world):
    with pytest.raises(DomainError, match="The sheet is empty"):
        run(world, write_xlsx([], []))


@pytest.mark.parametrize("rows", [[], [["", "", ""]]])
def test_header_without_staff_rows(world, rows):
    with pytest.raises(DomainError, match="header row but no staff rows"):
        run(world, xlsx(rows))


def test_row_of_spaces_counts_as_blank(world):
    result = run(world, xlsx([person_row(1), ["  ", "", "\u3000"], person_row(2)]))
    assert result.ok, [(e.row, e.column, e.message) for e in result.errors]
    assert (result.rows, result.employments) == (2, 2)


def test_row_of_spaces_above_the_header_counts_as_blank(world):
    assert run(world, raw_xlsx(grid([[" "], HEADERS, person_row(1)]))).ok
    with pytest.raises(DomainError, match="header row but no staff rows"):
        run(world, xlsx([[" ", "\u200b", "\u3000"]]))


def test_empty_post_asks_for_the_post(world):
    error = only_error(run(world, xlsx([person_row(1, post="")])))
    assert (error.row, error.column, error.message) == (2, "post", "Enter the post.")


def test_too_many_rows_for_the_limit(world):
    with pytest.raises(DomainError, match="import at most 2 at a time"):
        run(world, xlsx([person_row(1), person_row(2), person_row(3)]), max_rows=2)


NOT_XLSX = {
    "random bytes": (os.urandom(4096), "not an .xlsx file"),
    "csv": ("姓名,身份证号\n张三,320104197501150029\n".encode(), "not an .xlsx file"),
    "xls (OLE2)": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4088), "old Excel (.xls)"),
    "empty": (b"", "The file is empty"),
    "zip without workbook": (None, "not an Excel workbook"),
    "truncated xlsx": (None, "not an .xlsx file"),
}


def _not_xlsx(kind: str) -> bytes:
    data, _ = NOT_XLSX[kind]
    if kind == "zip without workbook":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr("word/document.xml", "<w:document/>")
        return out.getvalue()
    if kind == "truncated xlsx":
        return xlsx([person_row(1)])[:3000]
    return data


@pytest.mark.parametrize("kind", list(NOT_XLSX))
def test_file_that_is_not_an_xlsx_gets_a_clear_error(world, kind):
    before = counts()
    with pytest.raises(DomainError) as err:
        run(world, _not_xlsx(kind))
    assert NOT_XLSX[kind][1] in str(err.value)
    assert counts() == before


def test_only_institutions_take_rosters(world):
    with pytest.raises(DomainError, match="childcare institutions only"):
        roster.import_roster(DEMO, world.base, xlsx([person_row(1)]))


def test_a_few_thousand_rows_with_one_bad_row_at_the_end(world):
    rows = [person_row(n) for n in range(1, 3001)]
    rows[-1][4] = "2024-3-32"
    before = counts()
    error = only_error(run(world, xlsx(rows)))
    assert (error.row, error.column) == (3001, "start_date")
    assert counts() == before
    rows[-1][4] = "2024-3-31"
    result = run(world, xlsx(rows))
    assert result.ok and result.employments == 3000 and result.accounts_created == 3000
    db.session.commit()
    assert counts() == (before[0] + 3000, before[1] + 3000, before[2])


def test_blank_mobiles_do_not_split_the_insert_of_persons(world):
    # Regression: an ORM bulk insert leaves None values out, so each change between rows
    # with and without a mobile started a new INSERT group whose RETURNING rows were spliced
    # onto all the earlier ones: quadratic (100k rows, 3% blank mobiles: minutes, not seconds).
    rows = [person_row(n, phone=n % 2 == 0) for n in range(1, 1001)]
    with statements_sent() as sent:
        assert run(world, xlsx(rows)).ok
    statements = [statement for statement in sent
                  if statement.lstrip().upper().startswith("INSERT INTO PERSONS")]
    assert person(pid(1)).mobile is None and person(pid(2)).mobile == mobile(2)
    # SQLite inserts these one row at a time (RETURNING in parameter order); what must not
    # happen is the statement changing shape (with/without the mobile column) row after row
    changes = sum(a != b for a, b in zip(statements, statements[1:], strict=False))
    assert changes <= 2, f"the INSERT INTO persons changed shape {changes} times"


# --- the template ----------------------------------------------------------------------------


def _new_institution():
    district = District(code="320104", name="秦淮区", city="南京市")
    db.session.add(district)
    db.session.flush()
    return service.create_organisation(DEMO, kind="institution", name="小太阳托育园",
                                       district=district, credit_code=credit_code(9),
                                       filing_no="TY-9")


def test_template_as_downloaded_imports_its_example_row():
    org = _new_institution()
    result = roster.import_roster(DEMO, org, roster.template_xlsx())
    assert result.ok and result.persons_created == 1 and result.employments == 1
    example = person("320102199003070025")
    assert example.name == "张晓雯" and example.mobile == "13912345678"


def test_template_download_is_text_formatted_and_importable(app, world, login_as):
    client = login_as("inst_admin_other")
    client.set_cookie("lms_lang", "en")
    org = world.inst_other
    response = client.get(f"/institutions/{org.id}/roster/template.xlsx")
    assert response.status_code == 200
    assert response.mimetype == ("application/vnd.openxmlformats-officedocument."
                                 "spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.get_data()
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    assert [c.value for c in sheet[1]][:len(HEADERS)] == HEADERS
    for letter in "BC":  # identity number and mobile: typed text stays text
        assert sheet.column_dimensions[letter].number_format == "@"
        assert sheet[f"{letter}2"].number_format == "@" and sheet[f"{letter}2"].data_type == "s"
    assert sheet["B2"].value == "320102199003070025"

    # the example row is the staff member the other institution already has: it links
    page = client.post(f"/institutions/{org.id}/roster",
                       data={"file": (io.BytesIO(data), "roster-template.xlsx")},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert "Imported 1 rows: 0 new persons, 1 already in the registry" in page
    assert db.session.scalar(select(func.count()).select_from(Employment).where(
        Employment.organisation_id == org.id, Employment.person_id == world.staff.id)) == 1


# --- the pages -------------------------------------------------------------------------------


def upload(client, org, data: bytes, filename="roster.xlsx"):
    return client.post(f"/institutions/{org.id}/roster",
                       data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


@pytest.fixture()
def admin(world, login_as):
    client = login_as("inst_admin")
    client.set_cookie("lms_lang", "en")
    return client


def test_page_imports_and_shows_the_counts(world, admin):
    before = counts()
    response = upload(admin, world.inst, xlsx([person_row(1), person_row(2), person_row(3)]))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Imported 3 rows: 3 new persons, 0 already in the registry. 3 people have no " \
        "caregiver account yet" in page
    assert "/passwords" in page
    assert counts() == (before[0] + 3, before[1] + 3, before[2])  # committed


def test_page_lists_problems_by_row_and_column_and_stores_nothing(world, admin):
    before = counts()
    bad = pid(2)[:17] + ("0" if pid(2)[17] != "0" else "1")
    response = upload(admin, world.inst, xlsx([person_row(1), [pname(2), bad, mobile(2),
                                                              "保育员", "2024-03-01", "否"]]))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "1 problem found; nothing was imported." in page
    assert '<td data-label="Row">3</td><td data-label="Column">Identity number</td>' in page
    assert "The check character is wrong" in page
    assert counts() == before


def test_page_shows_cell_text_inert(world, admin):
    page = upload(admin, world.inst, xlsx([person_row(1, post="<script>alert(1)</script>")])
                  ).get_data(as_text=True)
    assert "Unknown post: &lt;script&gt;alert(1)&lt;/script&gt;." in page
    assert "<script>alert(1)" not in page


@pytest.mark.parametrize("kind", ["csv", "xls (OLE2)", "random bytes"])
def test_page_explains_a_file_that_is_not_an_xlsx(world, admin, kind):
    before = counts()
    response = upload(admin, world.inst, _not_xlsx(kind), filename="roster.xlsx")
    assert response.status_code == 200
    assert NOT_XLSX[kind][1] in response.get_data(as_text=True)
    assert counts() == before


def test_page_requires_a_file(world, admin):
    before = counts()
    response = admin.post(f"/institutions/{world.inst.id}/roster", data={},
                          content_type="multipart/form-data")
    assert response.status_code == 200
    assert "Imported" not in response.get_data(as_text=True)
    assert counts() == before


def test_page_honours_the_configured_row_limit(app, world, admin, monkeypatch):
    monkeypatch.setitem(app.config, "ROSTER_MAX_ROWS", 2)  # LMS_ROSTER_MAX_ROWS
    before = counts()
    page = upload(admin, world.inst, xlsx([person_row(n) for n in (1, 2, 3)]))
    assert "The roster has 3 rows; import at most 2 at a time." in page.get_data(as_text=True)
    assert counts() == before


# --- hostile files -----------------------------------------------------------------------------


def test_file_over_the_size_limits(world, admin):
    before = counts()
    big = b"PK\x03\x04" + bytes(21 * 1024 * 1024)
    response = upload(admin, world.inst, big)
    assert response.status_code == 200
    assert "The file is larger than 20 MB." in response.get_data(as_text=True)
    huge = b"PK\x03\x04" + bytes(26 * 1024 * 1024)  # over the request limit itself
    response = upload(admin, world.inst, huge)
    assert response.status_code == 413
    assert "The file is too large." in response.get_data(as_text=True)
    assert counts() == before
    _still_alive(admin, world.inst)



def _still_alive(client, org):
    assert client.get(f"/institutions/{org.id}/roster").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_cell_at_the_last_position_of_a_sheet_is_refused(world, admin):
    before = counts()
    response = upload(admin, world.inst, raw_xlsx({**grid([HEADERS, person_row(1)]),
                                                   (1048575, 16383): "x"}))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "The sheet has more than 200050 rows." in page
    assert counts() == before
    _still_alive(admin, world.inst)


def test_cell_far_to_the_right_is_refused(world, admin):
    response = upload(admin, world.inst, raw_xlsx({**grid([HEADERS, person_row(1)]),
                                                   (1, 16383): "x"}))
    assert response.status_code == 200
    assert "The sheet has more than 50 columns." in response.get_data(as_text=True)
    _still_alive(admin, world.inst)


def _bomb(member_mb: int, level: int | None = None) -> bytes:
    """A real roster whose worksheet is replaced by member_mb MB of zeros."""
    template = zipfile.ZipFile(io.BytesIO(xlsx([person_row(1)])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for info in template.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                with zf.open(info.filename, "w", force_zip64=True) as fh:
                    chunk = bytes(1 << 20)
                    for _ in range(member_mb):
                        fh.write(chunk)
            else:
                zf.writestr(info.filename, template.read(info))
    return out.getvalue()


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    data = _bomb(300)
    assert len(data) < 1024 * 1024  # ~300 KB on the wire
    return data


def test_zip_bomb_is_refused_without_unpacking(world, admin, zip_bomb):
    before = counts()
    response = upload(admin, world.inst, zip_bomb)
    assert response.status_code == 200
    assert "unpacks to far more data than a spreadsheet" in response.get_data(as_text=True)
    assert counts() == before
    _still_alive(admin, world.inst)


def test_small_zip_bomb_is_refused_by_its_compression_ratio(world):
    data = _bomb(20, level=9)  # 20 MB of zeros: under the size limits, far over the ratio
    with pytest.raises(DomainError, match="unpacks to far more data"):
        run(world, data)


# --- initial passwords ---------------------------------------------------------------------------


def _import(world, admin, rows) -> str:
    page = upload(admin, world.inst, xlsx(rows)).get_data(as_text=True)
    assert "Imported" in page, page[:2000]
    return db.session.scalar(select(Employment.import_batch).where(
        Employment.import_batch.is_not(None)).order_by(Employment.id.desc()).limit(1))


def _password_sheet(admin, world, batch) -> list[tuple]:
    response = admin.post(f"/institutions/{world.inst.id}/roster/{batch}/passwords")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Name", "Identity number", "Mobile", "Sign in with", "One-time password")
    return rows[1:]


def _sign_in(app, identifier, password):
    client = app.test_client()  # a fresh browser for each person
    client.set_cookie("lms_lang", "en")
    return login(client, identifier, password)


def test_password_sheet_passwords_sign_in_and_must_be_changed(app, world, admin):
    rows = [person_row(1), person_row(1, post="育婴员"), person_row(2), person_row(3, phone=False)]
    batch = _import(world, admin, rows)
    sheet = _password_sheet(admin, world, batch)
    assert len(sheet) == 3  # one line per person, not per post
    by_name = {line[0]: line for line in sheet}
    numbers = {pname(n): pid(n) for n in (1, 2, 3)}
    assert set(by_name) == set(numbers)
    for name, (_n, masked, phone, sign_in_with, password) in by_name.items():
        number = numbers[name]
        assert masked == number[:4] + "**********" + number[-4:]
        assert number not in str(by_name)  # the sheet never shows a full identity number
        assert len(password) == 10
        identifier = phone or number
        assert sign_in_with == (phone or "identity number")
        response = _sign_in(app, identifier, password)
        assert response.status_code == 302, name
        assert response.headers["Location"].endswith("/account/password")

    # everyone has signed in: there is nothing left to issue
    response = admin.post(f"/institutions/{world.inst.id}/roster/{batch}/passwords")
    assert response.status_code == 302 and response.headers["Location"].endswith("/roster")
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "still waiting for its first sign-in" in page


def test_downloading_the_sheet_again_invalidates_the_first(app, world, admin):
    batch = _import(world, admin, [person_row(1), person_row(2)])
    first = {line[0]: line[4] for line in _password_sheet(admin, world, batch)}
    second = {line[0]: line[4] for line in _password_sheet(admin, world, batch)}
    assert set(first) == set(second) == {pname(1), pname(2)}
    assert first[pname(1)] != second[pname(1)]
    refused = _sign_in(app, mobile(1), first[pname(1)])
    assert refused.status_code == 200
    assert "password is wrong" in refused.get_data(as_text=True)
    assert _sign_in(app, pid(1).lower(), second[pname(1)]).status_code == 302
    # the account already in use is left out of the next sheet
    third = _password_sheet(admin, world, batch)
    assert [line[0] for line in third] == [pname(2)]
    assert _sign_in(app, mobile(1), second[pname(1)]).status_code == 302


def test_password_sheet_leaves_accounts_the_import_did_not_create(app, world, admin):
    # another institution registered this person and handed over a one-time password
    added = service.add_staff(DEMO, world.inst_other, id_number=pid(9), name=pname(9),
                              mobile=mobile(9), post="infant_carer", start_date=date(2024, 1, 1))
    handed_over = added.initial_password
    db.session.commit()
    batch = _import(world, admin, [person_row(1), person_row(9)])  # 1 new, 1 linked
    sheet = _password_sheet(admin, world, batch)
    assert _sign_in(app, mobile(9), handed_over).status_code == 302
    assert [line[0] for line in sheet] == [pname(1)]


def test_another_institutions_admin_cannot_use_the_roster_pages(app, world, admin):
    batch = _import(world, admin, [person_row(1)])
    other = app.test_client()
    assert login(other, "inst_admin_other").status_code == 302
    inst = world.inst.id
    assert other.get(f"/institutions/{inst}/roster").status_code == 403
    assert other.get(f"/institutions/{inst}/roster/template.xlsx").status_code == 403
    before = counts()
    response = other.post(f"/institutions/{inst}/roster",
                          data={"file": (io.BytesIO(xlsx([person_row(5)])), "r.xlsx")},
                          content_type="multipart/form-data")
    assert response.status_code == 403 and counts() == before
    assert other.post(f"/institutions/{inst}/roster/{batch}/passwords").status_code == 403
    # nor through their own institution's address
    response = other.post(f"/institutions/{world.inst_other.id}/roster/{batch}/passwords")
    assert response.status_code == 302
    user = db.session.scalar(select(User).join(Person, Person.id == User.person_id)
                             .where(Person.id_number == pid(1)))
    assert user is None  # no account (and so no password) was issued for the person


def test_signed_out_visitor_is_sent_to_sign_in(world, client):
    response = client.get(f"/institutions/{world.inst.id}/roster")
    assert response.status_code in (302, 401)


# --- the command line -------------------------------------------------------------------------


def _cli(app, path, institution):
    return app.test_cli_runner().invoke(
        args=["registry", "import-roster", str(path), "--institution", str(institution)])


def test_cli_imports_a_good_file(app, world, tmp_path):
    path = tmp_path / "roster.xlsx"
    path.write_bytes(xlsx([person_row(1), person_row(2), person_row(2, post="育婴员")]))
    before = counts()
    result = _cli(app, path, world.inst.id)
    assert result.exit_code == 0, result.output
    assert "imported 3 employments for 小橡树托育中心: 2 new persons" in result.output
    db.session.expire_all()
    assert counts() == (before[0] + 2, before[1] + 3, before[2])


def test_cli_takes_the_credit_code_and_many_rows(app, world, tmp_path):
    path = tmp_path / "roster.xlsx"
    path.write_bytes(xlsx([person_row(n) for n in range(1, 5001)]))
    result = _cli(app, path, world.inst.credit_code.lower())
    assert result.exit_code == 0, result.output
    assert "imported 5000 employments" in result.output


def test_cli_lists_problems_by_row_and_stores_nothing(app, world, tmp_path):
    path = tmp_path / "roster.xlsx"
    bad = pid(3)[:17] + ("0" if pid(3)[17] != "0" else "1")
    path.write_bytes(xlsx([person_row(1), person_row(2, post="园长"),
                           [pname(3), bad, "", "保育员", "2024-03-01", "否"]]))
    before = counts()
    result = _cli(app, path, world.inst.id)
    assert result.exit_code != 0
    assert "row 3 [Post]: Unknown post: 园长." in result.output
    assert "row 4 [Identity number]: The check character is wrong" in result.output
    assert "2 problems; nothing was imported" in result.output
    db.session.expire_all()
    assert counts() == before


def test_cli_refuses_a_file_that_is_not_an_xlsx(app, world, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes(NOT_XLSX["csv"][0])
    before = counts()
    result = _cli(app, path, world.inst.id)
    assert result.exit_code != 0 and "not an .xlsx file" in result.output
    assert counts() == before


def test_cli_unknown_institution(app, world, tmp_path):
    path = tmp_path / "roster.xlsx"
    path.write_bytes(xlsx([person_row(1)]))
    result = _cli(app, path, "99999")
    assert result.exit_code != 0 and "no organisation" in result.output

