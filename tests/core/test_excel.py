"""lms.core.excel: writing .xlsx, and refusing every kind of wrong, empty, malformed or
hostile upload before python-calamine sees it (some of them abort the process otherwise).

Pure functions: no app and no database are needed; a tiny Flask app only renders the lazy
messages."""

from __future__ import annotations

import io
import random
import struct
import time
import zipfile
import zlib

import flask
import flask_babel
import openpyxl
import pytest
import xlsxwriter

from lms.core.errors import DomainError
from lms.core.excel import ExcelError, Limits, inspect_xlsx, read_rows, write_xlsx

# --- helpers ----------------------------------------------------------------------------------

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_NS_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'


def _workbook(*sheets: tuple[str, str]) -> str:
    items = "".join(
        f'<sheet name="{name}" sheetId="{i}" r:id="{rid}"/>'
        for i, (name, rid) in enumerate(sheets, start=1)
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><workbook {_NS} {_NS_R}><sheets>{items}</sheets></workbook>'


def _rels(*targets: tuple[str, str]) -> str:
    items = "".join(
        f'<Relationship Id="{rid}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="{target}"/>'
        for rid, target in targets
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{items}</Relationships>'
    )


def _sheet(sheet_data: str, head: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f"<worksheet {_NS} {_NS_R}>{head}<sheetData>{sheet_data}</sheetData></worksheet>"
    )


def _zip(members: list[tuple[str, str | bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members:
            zf.writestr(name, content)
    return out.getvalue()


def _xlsx(sheet_data: str, head: str = "", extra: list | None = None) -> bytes:
    """A minimal workbook built by hand, its only sheet holding ``sheet_data``."""
    return _zip([
        ("[Content_Types].xml", _CONTENT_TYPES),
        ("_rels/.rels", _ROOT_RELS),
        ("xl/workbook.xml", _workbook(("Sheet1", "rId1"))),
        ("xl/_rels/workbook.xml.rels", _rels(("rId1", "worksheets/sheet1.xml"))),
        ("xl/worksheets/sheet1.xml", _sheet(sheet_data, head)),
        *(extra or []),
    ])


def _patch_entry(data: bytes, name: str, *, file_size: int, crc: int | None = None) -> bytes:
    """Rewrite the uncompressed size (and CRC) that the central directory and the local header
    declare for ``name``: a lying ZIP."""
    out = bytearray(data)
    encoded = name.encode()
    pos = out.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", out, pos + 28)[0]
        if bytes(out[pos + 46 : pos + 46 + name_len]) == encoded:
            local = struct.unpack_from("<I", out, pos + 42)[0]
            struct.pack_into("<I", out, pos + 24, file_size)
            struct.pack_into("<I", out, local + 22, file_size)
            if crc is not None:
                struct.pack_into("<I", out, pos + 16, crc)
                struct.pack_into("<I", out, local + 14, crc)
        pos = out.find(b"PK\x01\x02", pos + 4)
    return bytes(out)


@pytest.fixture(scope="module")
def babel_app():
    app = flask.Flask(__name__)
    flask_babel.Babel(app)
    return app


def _message(babel_app, err: pytest.ExceptionInfo) -> str:
    with babel_app.app_context():
        return str(err.value)


# --- writing and reading back -----------------------------------------------------------------


def test_round_trip_keeps_chinese_text_and_a_text_id_column(babel_app):
    data = write_xlsx(
        ["姓名", "身份证号", "年龄", "入职日期"],
        [["张三", "11010519491231002X", 30, None], ["李四", "350783199603247000", 25.5, ""]],
        text_columns={1},
        column_widths={0: 12, 1: 22},
    )
    rows = read_rows(data)
    assert rows == [
        (1, ["姓名", "身份证号", "年龄", "入职日期"]),
        (2, ["张三", "11010519491231002X", 30.0, ""]),
        (3, ["李四", "350783199603247000", 25.5, ""]),
    ]

    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert ws.title == "Sheet1"
    assert ws.freeze_panes == "A2"
    assert ws["A1"].font.b and ws["B1"].font.b
    assert ws["B2"].number_format == "@" and ws["B2"].data_type == "s"
    # the whole column is text, so what a user types further down stays text too
    assert ws.column_dimensions["B"].number_format == "@"
    assert ws.column_dimensions["B"].width == pytest.approx(22, abs=1)


def test_numbers_written_to_a_text_column_become_text():
    data = write_xlsx(["编号", "电话"], [[1, 13800138000], [2.0, 13900139000.0]], text_columns={1})
    assert read_rows(data)[1:] == [(2, [1.0, "13800138000"]), (3, [2.0, "13900139000"])]


def test_a_number_typed_id_comes_back_as_a_float_the_caller_can_spot():
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = wb.add_worksheet()
    ws.write_string(0, 0, "身份证号")
    ws.write_number(1, 0, 350783199603247000)  # what Excel stores when the ID was typed as a number
    wb.close()
    (_, header), (_, [value]) = read_rows(out.getvalue())
    assert header == ["身份证号"]
    assert isinstance(value, float)
    assert value == pytest.approx(3.50783199603247e17)


def test_formula_like_strings_are_written_as_inert_text():
    cases = ["=1+1", "=cmd|' /C calc'!A0", "+SUM(A1:A2)", "@x", "-2+3", "\t=1"]
    data = write_xlsx(["备注", "号"], [[c, c] for c in cases] + [["a=1", "-"]], text_columns={1})
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    for row, text in enumerate(cases, start=2):
        for column in (1, 2):
            cell = ws.cell(row=row, column=column)
            # a string, and one a spreadsheet would not evaluate even after a trip through CSV
            assert cell.data_type == "s"
            assert cell.value == "'" + text
    assert ws.cell(row=8, column=1).value == "a=1"  # only a formula's first character counts
    assert ws.cell(row=8, column=2).value == "'-"
    assert [values for _, values in read_rows(data)[1:3]] == [
        ["'=1+1", "'=1+1"], ["'=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"]]


def test_money_is_written_as_a_number_with_two_decimals():
    from decimal import Decimal

    ws = openpyxl.load_workbook(io.BytesIO(write_xlsx(["金额"], [[Decimal("1500.50")]]))).active
    assert ws["A2"].value == 1500.5 and ws["A2"].number_format == "#,##0.00"


def test_notes_go_to_a_second_sheet_and_dates_stay_dates():
    import datetime as dt

    data = write_xlsx(["日期", "时间"], [[dt.date(2024, 5, 6), dt.datetime(2024, 5, 6, 8, 30)]],
                      notes=["第一行说明", "第二行说明"])
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["Sheet1", "说明"]
    assert [c.value for c in wb["说明"]["A"]] == ["第一行说明", "第二行说明"]
    assert read_rows(data)[1] == (2, [dt.date(2024, 5, 6), dt.datetime(2024, 5, 6, 8, 30)])


def test_leading_empty_rows_keep_their_excel_row_numbers():
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = wb.add_worksheet()
    ws.write_string(2, 1, "表头")  # B3
    ws.write_number(4, 1, 7)  # B5
    wb.close()
    assert read_rows(out.getvalue()) == [
        (1, ["", ""]), (2, ["", ""]), (3, ["", "表头"]), (4, ["", ""]), (5, ["", 7.0])]


# --- files that are not spreadsheets ----------------------------------------------------------


def test_empty_file(babel_app):
    with pytest.raises(ExcelError) as err:
        read_rows(b"")
    assert "empty" in _message(babel_app, err)


def test_random_bytes(babel_app):
    noise = random.Random(42).randbytes(4096)
    with pytest.raises(ExcelError) as err:
        read_rows(noise)
    assert "not an .xlsx file" in _message(babel_app, err)


def test_csv_is_not_an_xlsx(babel_app):
    with pytest.raises(ExcelError) as err:
        read_rows("姓名,身份证号\n张三,11010519491231002X\n".encode())
    assert "not an .xlsx file" in _message(babel_app, err)


def test_old_xls_and_encrypted_workbooks_ask_for_xlsx(babel_app):
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    with pytest.raises(ExcelError) as err:
        read_rows(ole2)
    message = _message(babel_app, err)
    assert "save it as .xlsx" in message and "password" in message


def test_zip_without_a_workbook(babel_app):
    with pytest.raises(ExcelError) as err:
        read_rows(_zip([("readme.txt", "hello"), ("word/document.xml", "<w/>")]))
    assert "not an Excel workbook" in _message(babel_app, err)


def test_workbook_without_a_worksheet(babel_app):
    data = _zip([("_rels/.rels", _ROOT_RELS), ("xl/workbook.xml", _workbook())])
    with pytest.raises(ExcelError) as err:
        read_rows(data)
    assert "does not contain a worksheet" in _message(babel_app, err)


def test_truncated_zip(babel_app):
    data = _xlsx('<row r="1"><c r="A1"><v>1</v></c></row>')
    with pytest.raises(ExcelError):
        read_rows(data[: len(data) // 2])


def test_file_larger_than_the_limit(babel_app):
    data = _xlsx('<row r="1"><c r="A1"><v>1</v></c></row>')
    with pytest.raises(ExcelError) as err:
        inspect_xlsx(data, Limits(max_file_bytes=len(data) - 1))
    assert "larger than" in _message(babel_app, err)


def test_zip_level_encryption_is_refused():
    data = bytearray(_xlsx('<row r="1"><c r="A1"><v>1</v></c></row>'))
    pos = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, pos + 8, struct.unpack_from("<H", data, pos + 8)[0] | 1)
    with pytest.raises(ExcelError):
        inspect_xlsx(bytes(data))


def test_member_names_differing_only_in_case_are_refused():
    data = _xlsx('<row r="1"><c r="A1"><v>1</v></c></row>',
                 extra=[("XL/worksheets/SHEET1.xml", _sheet('<row r="9"><c r="Z9"><v>1</v></c></row>'))])
    with pytest.raises(ExcelError):
        inspect_xlsx(data)


def test_calamine_failures_become_excel_errors_without_a_traceback(babel_app):
    data = _xlsx('<row r="1"><c r="$A$1"><v>1</v></c></row>')  # passes inspection, calamine refuses
    inspect_xlsx(data)
    with pytest.raises(ExcelError) as err:
        read_rows(data)
    assert _message(babel_app, err).startswith("The file could not be read as a spreadsheet: ")
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert isinstance(err.value, DomainError)


# --- hostile sheets: refused before calamine sees them ----------------------------------------


def test_one_cell_at_xfd1048576_is_refused_in_process(babel_app):
    # calamine would try to allocate a 1,048,576 x 16,384 grid (512 GiB) and abort the process
    data = _xlsx('<row r="1"><c r="A1"><v>1</v></c></row>'
                 '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
    assert len(data) < 5 * 1024
    with pytest.raises(ExcelError) as err:
        read_rows(data)
    assert "more than 200000 rows" in _message(babel_app, err)
    # still here: the process survived
    with pytest.raises(ExcelError) as err:
        read_rows(_xlsx('<row r="1"><c r="A1"><v>1</v></c><c r="XFD1"><v>1</v></c></row>'))
    assert "more than 50 columns" in _message(babel_app, err)


def test_a_huge_dimension_alone_is_refused():
    data = _xlsx('<row r="1"><c r="A1"><v>1</v></c></row>', head='<dimension ref="A1:XFD1048576"/>')
    with pytest.raises(ExcelError):
        inspect_xlsx(data)


@pytest.mark.parametrize("cell", [
    "<c r='XFD1'><v>1</v></c>",  # single quotes
    '<c r = "XFD1"><v>1</v></c>',  # spaces around "="
    '<c\tr\n=\t"XFD1"><v>1</v></c>',  # other whitespace
    '<c r="xfd1"><v>1</v></c>',  # lower case
    '<x:c xmlns:x="urn:x" r="XFD1"><v>1</v></x:c>',  # namespace prefix
    '<c s="0" r="A0000000001048576"><v>1</v></c>',  # leading zeros
    '<c r="A4294967297"><v>1</v></c>',  # wraps round to A1 in calamine's 32-bit parser
])
def test_far_references_are_found_however_they_are_spelt(cell):
    with pytest.raises(ExcelError):
        inspect_xlsx(_xlsx(f'<row r="1">{cell}</row>'))


def test_a_huge_shared_string_count_is_refused_in_process():
    # calamine reserves uniqueCount strings before reading them: 4e9 x 24 bytes aborts
    sst = ('<?xml version="1.0" encoding="UTF-8"?>'
           f'<sst {_NS} count="1" uniqueCount="4000000000"><si><t>hi</t></si></sst>')
    data = _xlsx('<row r="1"><c r="A1" t="s"><v>0</v></c></row>',
                 extra=[("xl/sharedStrings.xml", sst)])
    with pytest.raises(ExcelError):
        read_rows(data)
    honest = _xlsx('<row r="1"><c r="A1" t="s"><v>0</v></c></row>',
                   extra=[("xl/sharedStrings.xml", sst.replace("4000000000", "1"))])
    assert read_rows(honest) == [(1, ["hi"])]


def test_absurdly_long_references_are_refused_not_crashed_on():
    with pytest.raises(ExcelError):
        inspect_xlsx(_xlsx('<row r="1"><c r="A' + "9" * 5000 + '"><v>1</v></c></row>'))
    with pytest.raises(ExcelError):
        inspect_xlsx(_xlsx('<row r="1"><c r="' + "Z" * 5000 + '1"><v>1</v></c></row>'))


def test_cells_without_references_cannot_run_past_the_column_limit(babel_app):
    # no r attributes: calamine puts each cell right of the previous one
    row = "<row>" + "<c><v>1</v></c>" * 51 + "</row>"
    with pytest.raises(ExcelError) as err:
        inspect_xlsx(_xlsx(row))
    assert "more than 50 columns" in _message(babel_app, err)
    inspect_xlsx(_xlsx(("<row>" + "<c><v>1</v></c>" * 50 + "</row>") * 3))


def test_a_fake_row_end_hidden_in_an_attribute_is_not_believed():
    row = "<row>" + '<c a="</row>"><v>1</v></c>' * 60 + "</row>"
    with pytest.raises(ExcelError):
        inspect_xlsx(_xlsx(row))


def test_unusual_but_valid_spellings_are_read():
    # .NET's Open XML SDK writes prefixed names; some writers leave out r or use ' quotes
    prefixed = ('<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>甲</x:t></x:is></x:c>'
                "<x:c r='B1'><x:v>2</x:v></x:c></x:row>"
                "<x:row><x:c><x:v>3</x:v></x:c><x:c/><x:c><x:v>4</x:v></x:c></x:row>")
    data = _zip([
        ("[Content_Types].xml", _CONTENT_TYPES),
        ("_rels/.rels", _ROOT_RELS),
        ("xl/workbook.xml", _workbook(("Sheet1", "rId1"))),
        ("xl/_rels/workbook.xml.rels", _rels(("rId1", "worksheets/sheet1.xml"))),
        ("xl/worksheets/sheet1.xml",
         f'<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
         f"<x:sheetData>{prefixed}</x:sheetData></x:worksheet>"),
    ])
    assert read_rows(data) == [(1, ["甲", 2.0, ""]), (2, [3.0, "", 4.0])]


def test_only_real_markup_counts_comments_are_ignored():
    # a comment that merely looks like a far cell is harmless: calamine ignores it
    data = _xlsx('<row r="1"><c r="A1"><v>1</v></c></row><!-- see also row 99 -->')
    assert read_rows(data) == [(1, [1.0])]


def test_the_first_sheet_is_found_through_the_workbook_relationships():
    # sheet1.xml is harmless, but the workbook's first sheet is evil.xml: that one is scanned
    data = _zip([
        ("[Content_Types].xml", _CONTENT_TYPES),
        ("_rels/.rels", _ROOT_RELS),
        ("xl/workbook.xml", _workbook(("Evil", "rId7"), ("Nice", "rId1"))),
        ("xl/_rels/workbook.xml.rels", _rels(("rId1", "worksheets/sheet1.xml"),
                                             ("rId7", "/xl/worksheets/evil.xml"))),
        ("xl/worksheets/sheet1.xml", _sheet('<row r="1"><c r="A1"><v>1</v></c></row>')),
        ("xl/worksheets/evil.xml", _sheet('<row r="1"><c r="XFD1048576"><v>1</v></c></row>')),
    ])
    with pytest.raises(ExcelError):
        inspect_xlsx(data)


def test_the_workbook_folder_named_by_the_package_relationships_is_scanned():
    # calamine 0.37 reads the workbook from the folder of the officeDocument target
    package_rels = _ROOT_RELS.replace('Target="xl/workbook.xml"', 'Target="other/book.xml"')
    sst = f'<sst {_NS} uniqueCount="4000000000"><si><t>hi</t></si></sst>'
    members = [
        ("[Content_Types].xml", _CONTENT_TYPES),
        ("_rels/.rels", package_rels),
        ("xl/workbook.xml", _workbook(("Nice", "rId1"))),
        ("xl/_rels/workbook.xml.rels", _rels(("rId1", "worksheets/sheet1.xml"))),
        ("xl/worksheets/sheet1.xml", _sheet('<row r="1"><c r="A1"><v>1</v></c></row>')),
        ("other/workbook.xml", _workbook(("Evil", "rId1"))),
        ("other/_rels/workbook.xml.rels", _rels(("rId1", "worksheets/sheet1.xml"))),
    ]
    far_cell = _sheet('<row r="1"><c r="XFD1048576"><v>1</v></c></row>')
    with pytest.raises(ExcelError):
        read_rows(_zip([*members, ("other/worksheets/sheet1.xml", far_cell)]))
    near_cell = _sheet('<row r="1"><c r="A1" t="s"><v>0</v></c></row>')
    with pytest.raises(ExcelError):  # aborts the process if calamine gets it
        read_rows(_zip([*members, ("other/worksheets/sheet1.xml", near_cell),
                        ("other/sharedStrings.xml", sst)]))


def test_zip_bomb_is_refused_from_the_directory_alone(babel_app, tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("xl/workbook.xml", _workbook(("Sheet1", "rId1")))
        zf.writestr("xl/_rels/workbook.xml.rels", _rels(("rId1", "worksheets/sheet1.xml")))
        block = b"<row><c><v>1</v></c></row>" * 40_000  # ~1 MB
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            for _ in range(400):  # ~400 MB, never held in memory
                member.write(block)
    data = path.read_bytes()
    assert len(data) < 2 * 1024 * 1024

    started = time.perf_counter()
    with pytest.raises(ExcelError) as err:
        read_rows(data)
    assert time.perf_counter() - started < 5  # no inflating: a few milliseconds in practice
    assert "unpacks to far more data" in _message(babel_app, err)


def test_compression_ratio_bound_applies_below_the_size_bounds(babel_app):
    data = _xlsx('<row r="1"><c r="A1"><v>1</v></c></row>',
                 extra=[("xl/media/blank.bin", bytes(20 * 1024 * 1024))])
    with pytest.raises(ExcelError) as err:
        inspect_xlsx(data)
    assert "unpacks to far more data" in _message(babel_app, err)
    inspect_xlsx(data, Limits(max_ratio=10_000))


def test_a_member_whose_declared_size_lies_is_refused():
    sheet = _sheet('<row r="1"><c r="A1"><v>1</v></c></row>'
                   '<row r="9"><c r="XFD1048576"><v>1</v></c></row>')
    data = _zip([
        ("[Content_Types].xml", _CONTENT_TYPES),
        ("_rels/.rels", _ROOT_RELS),
        ("xl/workbook.xml", _workbook(("Sheet1", "rId1"))),
        ("xl/_rels/workbook.xml.rels", _rels(("rId1", "worksheets/sheet1.xml"))),
        ("xl/worksheets/sheet1.xml", sheet),
    ])
    honest_prefix = sheet[: sheet.index('<row r="9"')].encode()
    # smaller size, original CRC: the CRC check fails
    with pytest.raises(ExcelError):
        read_rows(_patch_entry(data, "xl/worksheets/sheet1.xml", file_size=len(honest_prefix)))
    # smaller size and a CRC that matches the declared prefix: the inflated byte count gives
    # it away, and the far cell behind the declared end is seen anyway
    lying = _patch_entry(data, "xl/worksheets/sheet1.xml", file_size=len(honest_prefix),
                         crc=zlib.crc32(honest_prefix))
    with pytest.raises(ExcelError):
        read_rows(lying)


def test_more_rows_than_the_limit(babel_app):
    rows = "".join(f'<row r="{i}"><c r="A{i}"><v>{i}</v></c></row>' for i in range(1, 12))
    with pytest.raises(ExcelError) as err:
        read_rows(_xlsx(rows), Limits(max_rows=10))
    assert _message(babel_app, err) == "The sheet has more than 10 rows."
    assert len(read_rows(_xlsx(rows), Limits(max_rows=11))) == 11


def test_more_columns_than_the_limit(babel_app):
    data = write_xlsx([f"列{i}" for i in range(6)], [["x"] * 6])
    with pytest.raises(ExcelError) as err:
        read_rows(data, Limits(max_columns=5))
    assert _message(babel_app, err) == "The sheet has more than 5 columns."
    assert len(read_rows(data, Limits(max_columns=6))) == 2


# --- size ---------------------------------------------------------------------------------------


def test_100k_rows_are_inspected_and_read():
    cells = ("<c r=\"A{i}\" t=\"inlineStr\"><is><t>员工{i}</t></is></c>"
             "<c r=\"B{i}\" t=\"inlineStr\"><is><t>110105194912{i:06d}</t></is></c>"
             "<c r=\"C{i}\"><v>138{i:08d}</v></c><c r=\"D{i}\"><v>{i}</v></c>"
             "<c r=\"E{i}\" t=\"inlineStr\"><is><t>女</t></is></c><c r=\"F{i}\"><v>45000</v></c>"
             "<c r=\"G{i}\" t=\"inlineStr\"><is><t>保育员</t></is></c><c r=\"H{i}\"><v>1</v></c>")
    sheet_data = "".join(
        f'<row r="{i}" spans="1:8">' + cells.format(i=i) + "</row>" for i in range(1, 100_001))
    data = _xlsx(sheet_data, head='<dimension ref="A1:H100000"/>')

    started = time.perf_counter()
    inspect_xlsx(data)
    inspected = time.perf_counter() - started
    started = time.perf_counter()
    rows = read_rows(data)
    read = time.perf_counter() - started
    print(f"\n100k x 8: {len(data) / 1e6:.1f} MB zipped; inspect {inspected:.2f} s, "
          f"read_rows (inspect + calamine) {read:.2f} s")
    assert len(rows) == 100_000
    assert rows[-1] == (100_000, ["员工100000", "110105194912100000", 13800100000.0, 100000.0,
                                  "女", 45000.0, "保育员", 1.0])
