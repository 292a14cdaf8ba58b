"""Health checks (健康证明) and certificates of no criminal record (无犯罪记录证明): what an
institution records for its staff, who sees them, how they stand, and the roster's columns.

Dates are counted from the city's today (lms.core.clock.local_today): the suite runs with the
clock moved to 00:30 and 07:30 Beijing time, when a server in UTC is still on yesterday.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
import xlsxwriter
from babel.dates import format_date
from flask_babel import force_locale
from PIL import Image
from sqlalchemy import func, select

from lms.core import settings
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.core.errors import DomainError, PermissionDenied
from lms.core.excel import write_xlsx
from lms.core.models import AuditLog
from lms.extensions import db
from lms.registry import roster, service
from lms.registry.models import Employment, Person, StaffRecord, StaffRecordScan
from tests.factories import id_number
from tests.helpers import statements_sent

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (200, 220, 240)).save(out, "PNG")
    return out.getvalue()


def day(value: date) -> str:
    """A date as the English pages write it (the `day` filter)."""
    return format_date(value, "medium", locale="en")


def count(model=StaffRecord) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def records_url(world) -> str:
    return f"/institutions/{world.inst.id}/staff/{world.staff.id}/records"


def staff_url(world) -> str:
    return f"/institutions/{world.inst.id}/staff/{world.staff.id}"


def health_form(**overrides) -> dict:
    data = {"kind": "health_check", "issued_on": (local_today() - timedelta(days=30)).isoformat(),
            "result": "fit", "issuer": "南京市玄武区妇幼保健所", "document_no": "TJ-2026-0001"}
    data.update(overrides)
    return data


def record(world, person=None, *, kind="health_check", issued_on=None, result="fit", org=None,
           actor=None, **kw) -> StaffRecord:
    return service.record_staff_record(
        actor or world.users["inst_admin"], org or world.inst, person or world.staff, kind=kind,
        issued_on=issued_on or local_today(), result=result if kind == "health_check" else None,
        issuer=kw.pop("issuer", "玄武区妇幼保健所"), **kw)


# --- recording on the staff page ---------------------------------------------------------------


def test_institution_records_a_health_check_with_its_scan_on_the_staff_page(client, world,
                                                                          login_as):
    login_as("inst_admin")
    page = client.get(staff_url(world)).get_data(as_text=True)
    assert "Health check and record of no criminal record" in page
    assert page.count(">missing<") == 2  # neither kind recorded yet
    assert f'action="{records_url(world)}"' in page

    checked = local_today()  # the city's today, even while the server's UTC date is yesterday
    response = client.post(records_url(world), data={
        **health_form(issued_on=checked.isoformat(), document_no="tj-2026-0001"),
        "scan": (io.BytesIO(png()), "体检.png")}, content_type="multipart/form-data")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(staff_url(world))

    stored = db.session.scalars(select(StaffRecord)).one()
    assert (stored.person_id, stored.organisation_id, stored.kind, stored.issued_on,
            stored.result, stored.issuer, stored.document_no) == (
        world.staff.id, world.inst.id, "health_check", checked, "fit", "南京市玄武区妇幼保健所",
        "TJ-2026-0001")
    assert stored.recorded_by_id == world.users["inst_admin"].id
    assert db.session.get(StaffRecordScan, stored.id).content_type == "image/png"
    audit = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "registry.staff_record_added")).one()
    assert audit.actor_id == world.users["inst_admin"].id

    page = client.get(staff_url(world)).get_data(as_text=True)
    assert "Health check recorded." in page
    assert ">up to date<" in page and f"valid until {day(service.add_months(checked, 12) - timedelta(days=1))}" in page
    assert page.count(">missing<") == 1  # the certificate of no criminal record
    scan = client.get(f"/registry/staff-records/{stored.id}/scan")
    assert scan.status_code == 200 and scan.mimetype == "image/png" and scan.data == png()
    assert "sandbox" in scan.headers["Content-Security-Policy"]


def test_certificate_of_no_criminal_record_has_no_result(client, world, login_as):
    login_as("inst_admin")
    issued = local_today() - timedelta(days=400)
    response = client.post(records_url(world), data={
        "kind": "no_criminal_record", "issued_on": issued.isoformat(), "result": "",
        "issuer": "南京市公安局玄武分局", "document_no": ""})
    assert response.status_code == 302
    stored = db.session.scalars(select(StaffRecord)).one()
    assert stored.kind == "no_criminal_record" and stored.result is None
    page = client.get(staff_url(world)).get_data(as_text=True)
    # it does not lapse: still current more than a year on
    assert "Certificate of no criminal record" in page and ">up to date<" in page


def _too_old() -> str:
    return (service.years_before(local_today(), 10) - timedelta(days=1)).isoformat()


@pytest.mark.parametrize(("change", "message"), [
    ({"issued_on": lambda: (local_today() + timedelta(days=1)).isoformat()}, "is in the future"),
    ({"issued_on": _too_old}, "is more than 10 years ago"),
    ({"result": ""}, "Give the health check&#39;s result: fit or not fit."),
    ({"kind": "no_criminal_record"}, "A certificate of no criminal record has no result"),
    ({"issuer": "  "}, "Enter who issued it"),
    ({"scan": lambda: (io.BytesIO(b"GIF89a not a scan"), "scan.gif")},
     "The scan must be a PDF, JPEG or PNG file."),
    ({"scan": lambda: (io.BytesIO(PDF + b"0" * (5 * 1024 * 1024)), "big.pdf")},
     "The scan is larger than 5 MB."),
])
def test_each_problem_is_shown_on_the_form_and_nothing_is_stored(client, world, login_as,
                                                                 change, message):
    login_as("inst_admin")
    data = health_form(**{k: v() if callable(v) else v for k, v in change.items()})
    response = client.post(records_url(world), data=data, content_type="multipart/form-data")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page
    assert "invalid-feedback" in page and "<details class=\"card mb-3\" open>" in page
    assert count() == 0 and count(StaffRecordScan) == 0


# --- who may record, who may see -------------------------------------------------------------


def test_an_institution_that_does_not_employ_the_person_is_refused(client, world, login_as):
    # another institution, through its own address: 403
    login_as("inst_admin_other")
    response = client.post(f"/institutions/{world.inst_other.id}/staff/{world.staff.id}/records",
                           data=health_form())
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        record(world, actor=world.users["inst_admin_other"], org=world.inst_other)
    # a system actor passes the gate but not the rule
    with pytest.raises(DomainError, match="does not employ"):
        record(world, actor=DEMO, org=world.inst_other)
    assert count() == 0


def test_a_former_employer_neither_records_nor_sees_the_records(client, world, login_as):
    kept = record(world, scan=PDF)
    employment = db.session.scalars(select(Employment).where(
        Employment.person_id == world.staff.id)).one()
    service.end_employment(DEMO, employment, local_today(), "离职")
    db.session.commit()
    login_as("inst_admin")
    page = client.get(staff_url(world))
    assert page.status_code == 200  # the history stays visible
    assert "Health check and record of no criminal record" not in page.get_data(as_text=True)
    assert client.post(records_url(world), data=health_form()).status_code == 403
    assert client.get(f"/registry/staff-records/{kept.id}/scan").status_code == 403
    assert count() == 1


@pytest.mark.parametrize(("who", "status"), [
    ("inst_admin", 200), ("regulator", 200), ("regulator_city", 200), ("admin", 200),
    ("caregiver", 200),  # the person themself
    ("caregiver_other", 403), ("inst_admin_other", 403), ("regulator_other", 403),
    ("base_staff", 403), ("hr_reviewer", 403),
])
def test_scan_is_served_only_to_those_who_may_see_the_record(client, world, login_as, who,
                                                             status):
    stored = record(world, scan=PDF)
    db.session.commit()
    login_as(world.staff.mobile if who == "caregiver" else
             world.staff_other.mobile if who == "caregiver_other" else who)
    response = client.get(f"/registry/staff-records/{stored.id}/scan")
    assert response.status_code == status
    if status == 200:
        assert response.data == PDF and response.mimetype == "application/pdf"


def test_a_record_without_a_scan_has_no_scan_to_serve(client, world, login_as):
    stored = record(world)
    db.session.commit()
    login_as("inst_admin")
    assert client.get(f"/registry/staff-records/{stored.id}/scan").status_code == 404


def test_staff_records_read_is_scoped(world):
    record(world)
    assert len(service.staff_records(world.users["regulator"], world.staff)) == 1
    assert len(service.staff_records(world.users["caregiver"], world.staff)) == 1
    for outsider in ("regulator_other", "inst_admin_other", "caregiver_other", "hr_reviewer"):
        with pytest.raises(PermissionDenied):
            service.staff_records(world.users[outsider], world.staff)


def test_regulator_sees_the_records_read_only(client, world, login_as):
    record(world, issued_on=local_today() - timedelta(days=500))
    db.session.commit()
    login_as("regulator")
    page = client.get(f"/registry/persons/{world.staff.id}").get_data(as_text=True)
    lapsed = service.add_months(local_today() - timedelta(days=500), 12)
    assert f"lapsed on {day(lapsed)}" in page
    assert "/records" not in page and "Record a health check" not in page


def test_the_person_sees_their_own_records(client, world, login_as):
    record(world)
    db.session.commit()
    login_as(world.staff.mobile)
    page = client.get("/me").get_data(as_text=True)
    assert "Health check and record of no criminal record" in page and ">up to date<" in page


# --- how records stand -------------------------------------------------------------------------


def test_page_lists_newest_first_with_lapsed_unfit_superseded_and_missing(client, world,
                                                                        login_as):
    today = local_today()
    record(world, issued_on=today - timedelta(days=800), issuer="老医院")
    record(world, issued_on=today - timedelta(days=20), result="unfit", issuer="新医院")
    db.session.commit()
    login_as("inst_admin")
    page = client.get(staff_url(world)).get_data(as_text=True)
    section = page[page.index('id="staff-records"'):]
    assert section.index(">missing<") < section.index("新医院") < section.index("老医院")
    assert "not fit for work with children" in section
    assert "superseded by a newer record" in section


def test_a_shorter_validity_set_for_the_district_lapses_a_check_sooner(client, world, login_as):
    checked = local_today() - timedelta(days=200)
    record(world, issued_on=checked)
    db.session.commit()
    login_as("inst_admin")
    assert ">up to date<" in client.get(staff_url(world)).get_data(as_text=True)
    settings.set_setting(DEMO, "registry.health_check_valid_months", "6", local_today(),
                         district_id=world.xuanwu.id)
    db.session.commit()
    page = client.get(staff_url(world)).get_data(as_text=True)
    assert f"lapsed on {day(service.add_months(checked, 6))}" in page


@pytest.mark.parametrize(("issued", "months", "lapses"), [
    (date(2026, 3, 10), 12, date(2027, 3, 10)),
    (date(2024, 2, 29), 12, date(2025, 3, 1)),  # no 29 February next year: 1 March
    (date(2024, 2, 29), 48, date(2028, 2, 29)),
    (date(2025, 12, 31), 2, date(2026, 3, 1)),
    (date(2025, 8, 31), 6, date(2026, 3, 1)),
    (date(2025, 1, 15), 12, date(2026, 1, 15)),
])
def test_health_check_lapses_on(issued, months, lapses):
    check = SimpleNamespace(issued_on=issued, kind="health_check", result="fit")
    assert service.health_check_lapses_on(check, months) == lapses
    if months == 12:
        assert service.health_check_lapses_on(check) == lapses
    assert service.staff_record_state(check, lapses - timedelta(days=1), months) == "current"
    assert service.staff_record_state(check, lapses, months) == "lapsed"


def test_states_of_unfit_missing_and_certificates():
    today = date(2026, 6, 1)
    unfit = SimpleNamespace(issued_on=date(2026, 5, 1), kind="health_check", result="unfit")
    certificate = SimpleNamespace(issued_on=date(2016, 6, 2), kind="no_criminal_record",
                                  result=None)
    assert service.staff_record_state(unfit, today) == "unfit"
    assert service.staff_record_state(None, today) == "missing"
    assert service.staff_record_state(certificate, today) == "current"


def test_the_validity_is_a_dated_setting_defaulting_to_twelve_months(world):
    assert service.health_check_valid_months(world.xuanwu.id) == 12
    settings.set_setting(DEMO, "registry.health_check_valid_months", "24",
                         local_today() + timedelta(days=10))
    assert service.health_check_valid_months(world.xuanwu.id) == 12
    assert service.health_check_valid_months(world.xuanwu.id,
                                             local_today() + timedelta(days=10)) == 24


# --- the latest of each kind, for thousands of people -----------------------------------------


def test_latest_staff_records_picks_the_newest_of_each_kind_in_one_query(world):
    today = local_today()
    other = world.staff_other
    record(world, issued_on=today - timedelta(days=400), issuer="旧")
    newest = record(world, issued_on=today - timedelta(days=10), issuer="新")
    record(world, issued_on=today - timedelta(days=200), result="unfit", issuer="中")
    first = record(world, kind="no_criminal_record", issued_on=today - timedelta(days=300),
                   issuer="公安一")
    same_day = record(world, kind="no_criminal_record", issued_on=today - timedelta(days=300),
                      issuer="公安二")  # entered later on the same date: it wins
    theirs = record(world, other, org=world.inst_other, actor=world.users["inst_admin_other"],
                    issued_on=today - timedelta(days=5), issuer="鼓楼")
    nobody = service.add_staff(DEMO, world.inst, id_number=id_number("320102", "19910101", 8),
                               name="李四", post="nursery_carer",
                               start_date=today).employment.person
    ids = [world.staff.id, other.id, nobody.id, other.id]
    expected = {"mine": newest.id, "same_day": same_day.id, "first": first.id, "theirs": theirs.id}
    db.session.commit()
    db.session.expire_all()

    with statements_sent() as statements:
        latest = service.latest_staff_records(ids)
        mine, theirs_, nobodys = (latest[pid] for pid in ids[:3])
        picked = (mine["health_check"].id, mine["no_criminal_record"].id,
                  {kind: r.id for kind, r in theirs_.items()})
    assert len(statements) == 1, statements
    assert set(latest) == set(ids)
    assert picked == (expected["mine"], expected["same_day"],
                      {"health_check": expected["theirs"]})
    assert expected["same_day"] != expected["first"]
    assert nobodys == {}
    assert service.latest_staff_records([]) == {}


# --- the roster's columns ----------------------------------------------------------------------

STAFF = ["姓名", "身份证号", "手机号", "岗位", "入职日期"]
RECORDS = ["体检日期", "体检结论", "体检机构", "无犯罪记录证明日期", "出具机关"]


def roster_file(rows) -> bytes:
    return write_xlsx([*STAFF, *RECORDS], rows, text_columns={1, 2})


def staff_row(n: int, *records) -> list:
    return [f"王{'一二三四五六七八九'[n - 1]}", id_number("320104", "19900101", 10 + 2 * n),
            f"1370000000{n}", "保育员", "2024-03-01", *records]


@pytest.fixture()
def english():
    with force_locale("en"):
        yield


def test_roster_rows_with_the_new_columns_record_them_with_the_employment(world, english):
    today = local_today()
    checked, issued = today.isoformat(), (today - timedelta(days=90)).isoformat()
    data = roster_file([
        staff_row(1, checked, "合格", "玄武区妇幼保健所", issued, "南京市公安局玄武分局"),
        staff_row(2, checked, "不合格", "玄武医院", "", ""),  # a health check only
        staff_row(3, "", "", "", issued, "南京市公安局玄武分局"),  # a certificate only
        staff_row(4),  # neither: the columns are optional
    ])
    result = roster.import_roster(world.users["inst_admin"], world.inst, data)
    assert result.ok, [(e.row, e.column, e.message) for e in result.errors]
    assert result.staff_records == 4
    stored = {(db.session.get(Person, r.person_id).name, r.kind, r.result, r.issued_on,
               r.organisation_id) for r in db.session.scalars(select(StaffRecord))}
    assert stored == {
        ("王一", "health_check", "fit", today, world.inst.id),
        ("王一", "no_criminal_record", None, today - timedelta(days=90), world.inst.id),
        ("王二", "health_check", "unfit", today, world.inst.id),
        ("王三", "no_criminal_record", None, today - timedelta(days=90), world.inst.id),
    }
    audit = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "registry.roster_imported")).one()
    assert audit.details["staff_records"] == 4


def test_roster_reports_bad_record_cells_by_row_and_column_and_stores_nothing(world, english):
    today = local_today()
    good = today.isoformat()
    data = roster_file([
        staff_row(1, good, "合格", "玄武区妇幼保健所", good, "玄武分局"),
        staff_row(2, "2025-13-40", "合格", "玄武医院", "", ""),
        staff_row(3, good, "良好", "玄武医院", "", ""),
        staff_row(4, (today + timedelta(days=1)).isoformat(), "合格", "玄武医院", "", ""),
        staff_row(5, "", "", "", good, ""),
        staff_row(6, good, "", "玄武医院", "", ""),
    ])
    before = (count(Person), count(Employment), count())
    result = roster.import_roster(world.users["inst_admin"], world.inst, data)
    assert not result.ok
    found = [(e.row, e.column_title, e.message) for e in result.errors]
    assert found == [
        (3, "Health check date", "Enter the date as YYYY-MM-DD."),
        (4, "Health check result", "Unknown result 良好: write 合格 (fit) or 不合格 (not fit)."),
        (5, "Health check date", f"The date {(today + timedelta(days=1)).isoformat()} is in the "
                                 "future."),
        (6, "Certificate of no criminal record: issued by",
         "Enter who issued it: the hospital, or the public-security office."),
        (7, "Health check result", "Give the health check's result: fit or not fit."),
    ]
    assert (count(Person), count(Employment), count()) == before  # nothing half-saved


def test_roster_with_two_posts_for_one_person_records_once_and_flags_a_conflict(world, english):
    today = local_today().isoformat()
    one = staff_row(1, today, "合格", "玄武医院", "", "")
    second_post = [*one[:3], "育婴员", *one[4:]]
    result = roster.import_roster(world.users["inst_admin"], world.inst,
                                  roster_file([one, second_post]))
    assert result.ok and result.employments == 2 and result.staff_records == 1

    two = staff_row(2, today, "合格", "玄武医院", "", "")
    conflicting = [*two[:3], "育婴员", two[4], today, "不合格", "玄武医院", "", ""]
    result = roster.import_roster(world.users["inst_admin"], world.inst,
                                  roster_file([two, conflicting]))
    assert [(e.row, e.column) for e in result.errors] == [(3, "health_date")]


def test_the_template_has_the_optional_columns_and_its_example_imports_them(world, english):
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(roster.template_xlsx())).worksheets[0]
    assert [c.value for c in sheet[1]][6:] == RECORDS
    # the example row is world.staff: the other institution takes her on, with her records
    result = roster.import_roster(world.users["inst_admin_other"], world.inst_other,
                                  roster.template_xlsx())
    assert result.ok and result.staff_records == 2
    assert {r.kind for r in service.staff_records(world.users["inst_admin_other"],
                                                  world.staff)} == {"health_check",
                                                                    "no_criminal_record"}


def test_roster_page_says_how_many_records_it_recorded(client, world, login_as):
    login_as("inst_admin")
    client.set_cookie("lms_lang", "en")
    today = local_today().isoformat()
    response = client.post(f"/institutions/{world.inst.id}/roster", data={
        "file": (io.BytesIO(roster_file([staff_row(1, today, "合格", "玄武医院", today, "玄武分局")])),
                 "roster.xlsx")}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert "Health checks and certificates of no criminal record recorded: 2." in page
    assert count() == 2


# The import skips the record groups of a row whose record cells are all empty without calling
# _row_records (most rows); these prove the short way answers as the rule does.
EMPTY_CELLS = ["", None, " ", "\u3000", "\u200b", "\t\n"]


@pytest.mark.parametrize("cells", [
    ["", "", "", "", ""], [None, None, None, None, None], [" ", "", "\u3000", None, "\u200b"],
    ["", "", "玄武医院", "", ""], ["", "", "", "", " 玄武分局"], ["2025-01-02", "", "", "", ""],
    [0, "", "", "", ""], [0.0, None, None, None, None], ["", "合格", "", "", ""],
    [date(2025, 1, 2), "合格", "玄武医院", "", ""], ["", "", "", date(2025, 1, 2), "玄武分局"],
])
def test_the_short_way_past_empty_record_cells_agrees_with_the_rule(cells, english):
    columns = {key: i for i, key in enumerate(roster.COLUMNS)}
    record_cells = [columns[c] for fields in roster.RECORD_COLUMNS.values()
                    for c in fields.values()]
    values = ["王一", id_number("320104", "19900101", 12), "", "保育员", "2024-03-01", "否", *cells,
              ""]
    assert [values[i] for i in record_cells] == cells
    errors: list = []
    by_rule = roster._row_records(2, values, columns, local_today(), errors)
    short_way = cells.count("") + cells.count(None) == len(cells) or roster._blank_row(cells)
    assert short_way == (by_rule == [] and errors == [])


@pytest.mark.parametrize("value", [*EMPTY_CELLS, "x", " x", "\u200bx", 0, 0.0, False,
                                   date(2025, 1, 2)])
def test_blank_row_is_the_rule_it_replaced(value):
    def rule(values):  # the definition before the loop: all(...) over a generator
        return all(v is None or (isinstance(v, str) and (not v or roster.INVISIBLE.fullmatch(v)))
                   for v in values)

    for values in ([value], [value, ""], ["", value], [None, value, " "], [value, "x"]):
        assert roster._blank_row(values) == rule(values)


def test_a_roster_of_empty_record_cells_of_every_kind_records_nothing(world, english):
    data = raw_xlsx_rows([[*staff_row(n), *cells] for n, cells in enumerate([
        ["", "", "", "", ""], [" ", "\u3000", "\u200b", " ", "\t"]], start=1)])
    result = roster.import_roster(world.users["inst_admin"], world.inst, data)
    assert result.ok, [(e.row, e.column, e.message) for e in result.errors]
    assert (result.employments, result.staff_records) == (2, 0)


def raw_xlsx_rows(rows) -> bytes:
    """The roster with every cell written as given (write_xlsx leaves empty strings out)."""
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = workbook.add_worksheet()
    for c, title in enumerate([*STAFF, *RECORDS]):
        sheet.write_string(0, c, title)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    workbook.close()
    return out.getvalue()
