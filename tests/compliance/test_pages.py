"""The compliance pages: dashboard, drill-down, filters and bad input, exports that equal the
screen."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook

from lms.compliance import rollups
from lms.core.actors import DEMO
from lms.core.idnumber import mask_id_number
from lms.core.models import Notification
from lms.extensions import db
from lms.registry import service as registry
from tests.compliance.conftest import make_compliant
from tests.factories import credit_code, id_number


@pytest.fixture()
def city(world):
    """Three institutions in 玄武区, one in 鼓楼区; one compliant person; snapshots fresh."""
    extra = registry.create_organisation(DEMO, kind="institution", name="阳光托育园",
                                         district=world.xuanwu, credit_code=credit_code(9))
    for n in range(3):
        registry.add_staff(DEMO, extra, id_number=id_number("320102", "19910101", 20 + n),
                           name="赵" + "甲乙丙"[n], post="health_care", start_date=date(2025, 1, 1))
    make_compliant(world.staff, world.inst)
    rollups.refresh(DEMO)
    db.session.commit()
    world.extra = extra
    return world


def _totals(page: str) -> list[int]:
    row = re.search(r'<tr id="totals"[^>]*>(.*?)</tr>', page, re.S).group(1)
    return [int(x) for x in re.findall(r"<td>(\d+)</td>", row)]


def _row_count(page: str) -> int:
    return int(re.search(r'id="row-count">(\d+)', page).group(1))


def test_the_city_dashboard(city, client, login_as):
    login_as("regulator_city")
    page = client.get("/compliance").get_data(as_text=True)
    assert "玄武区" in page and "鼓楼区" in page and "As of" in page
    assert 'data-chart-kind="bar-target"' in page and 'data-chart-kind="line-trend"' in page
    assert _totals(page) == [5, 1, 1, 1, 1, 0, 0]
    assert 'id="banned-employed">0<' in page
    # the headline comes from the city snapshot: 1 of 5 certified against a 100% target
    assert "1 of 5 people; target 100.0%" in page


def test_drill_down_from_city_to_person(city, client, login_as):
    login_as("regulator_city")
    district = client.get(f"/compliance/districts/{city.xuanwu.id}").get_data(as_text=True)
    assert city.inst.name in district and "阳光托育园" in district and city.inst_other.name not in district
    assert _row_count(district) == 2 and _totals(district)[0] == 4
    inst = client.get(f"/compliance/institutions/{city.extra.id}").get_data(as_text=True)
    assert "Health-care staff training (卫生保健人员培训) missing for post Health-care worker." in inst
    assert mask_id_number(id_number("320102", "19910101", 20)) in inst
    assert id_number("320102", "19910101", 20) not in inst
    person = registry.find_person(id_number("320102", "19910101", 20))
    detail = client.get(f"/compliance/persons/{person.id}").get_data(as_text=True)
    assert 'data-gap="health_missing"' in detail and 'data-gap="record_missing"' in detail


def test_a_district_regulator_lands_on_their_district(city, client, login_as):
    login_as("regulator")
    page = client.get("/compliance").get_data(as_text=True)
    assert "玄武区" in page and city.inst.name in page and city.inst_other.name not in page
    assert client.get(f"/compliance/districts/{city.gulou.id}").status_code == 403
    assert client.get("/compliance/export.xlsx").status_code == 403


@pytest.mark.parametrize("query", [
    "?sort=password&desc=1", "?problem=%3Cscript%3E", "?page=99999999999999999999999",
    "?page=abc", "?page=-4", "?page=500", "?q=" + "长" * 300, "?sort=certified&page=2",
])
def test_bad_filters_give_the_default_page(city, client, login_as, query):
    login_as("regulator_city")
    response = client.get("/compliance" + query)
    assert response.status_code == 200
    assert _row_count(response.get_data(as_text=True)) in (2, 0)
    response = client.get(f"/compliance/institutions/{city.extra.id}" + query.replace(
        "problem", "gap"))
    assert response.status_code == 200


def test_filters_and_sorting(city, client, login_as):
    login_as("regulator_city")
    url = f"/compliance/districts/{city.xuanwu.id}"
    below = client.get(url + "?problem=below_target").get_data(as_text=True)
    assert "阳光托育园" in below and _row_count(below) == 1
    by_people = client.get(url + "?sort=people&desc=1").get_data(as_text=True)
    assert by_people.index("阳光托育园") < by_people.index(city.inst.name)
    assert _row_count(client.get(url + "?problem=banned").get_data(as_text=True)) == 0
    inst = f"/compliance/institutions/{city.extra.id}"
    assert _row_count(client.get(inst + "?gap=record_missing").get_data(as_text=True)) == 3
    assert _row_count(client.get(inst + "?q=赵甲").get_data(as_text=True)) == 1


def test_an_institution_admin_sees_own_staff_and_a_to_do_list(city, client, login_as):
    login_as("inst_admin")
    assert client.get("/compliance").headers["Location"] == f"/compliance/institutions/{city.inst.id}"
    page = client.get(f"/compliance/institutions/{city.inst.id}").get_data(as_text=True)
    assert city.staff.name in page and "Nothing: every staff member is compliant." in page
    assert client.get(f"/compliance/institutions/{city.extra.id}").status_code == 403
    assert client.get(f"/compliance/persons/{city.staff_other.id}").status_code == 403
    home = client.get("/").get_data(as_text=True)
    assert "Compliance to do" in home and "1 of 1 staff members are compliant." in home


def test_the_regulator_home_shows_the_figures_not_one_percentage(city, client, login_as):
    login_as("regulator")
    home = client.get("/").get_data(as_text=True)
    assert "Open the compliance dashboard" in home and "Certified for post" in home


def test_the_dashboard_before_any_refresh_says_so(world, client, login_as):
    login_as("regulator_city")
    page = client.get("/compliance").get_data(as_text=True)
    assert "The figures have not been computed yet." in page


def test_an_administrator_refreshes_now(world, client, login_as):
    login_as("admin")
    response = client.post("/compliance/refresh", follow_redirects=True)
    assert "Figures refreshed: 2 people recomputed." in response.get_data(as_text=True)


# --- exports --------------------------------------------------------------------------------------


def _sheet(data: bytes):
    book = load_workbook(io.BytesIO(data))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    notes = [r[0] for r in book.worksheets[1].iter_rows(values_only=True)]
    return rows[0], rows[1:-1], rows[-1], notes


@pytest.mark.parametrize("query", ["", "?problem=below_target", "?sort=people&desc=1&page=2"])
def test_the_district_export_equals_the_screen(city, client, login_as, query):
    login_as("regulator_city")
    url = f"/compliance/districts/{city.xuanwu.id}"
    screen = client.get(url + query).get_data(as_text=True)
    response = client.get(url + "/export.xlsx" + query)
    assert response.status_code == 200
    _header, rows, totals, notes = _sheet(response.data)
    assert len(rows) == _row_count(screen)
    assert list(totals[1:]) == _totals(screen)
    assert any(n.startswith("Figures as of") for n in notes)


def test_the_city_export_equals_the_screen(city, client, login_as):
    login_as("regulator_city")
    screen = client.get("/compliance").get_data(as_text=True)
    _header, rows, totals, _notes = _sheet(client.get("/compliance/export.xlsx").data)
    assert len(rows) == _row_count(screen) == 2 and list(totals[1:]) == _totals(screen)


def test_the_institution_export_masks_identity_numbers(city, client, login_as):
    login_as("inst_admin")
    data = client.get(f"/compliance/institutions/{city.inst.id}/export.xlsx").data
    header, rows, totals, notes = _sheet(data)
    assert rows[0][1] == mask_id_number(city.staff.id_number)
    assert city.staff.id_number not in str(rows)
    assert totals[0] == "Total" and totals[3] == 1
    assert any(n.startswith("Figures computed at") for n in notes)


def test_an_export_past_the_threshold_is_made_by_a_job_for_its_requester_only(
        city, app, client, login_as, monkeypatch):
    from lms.core import jobs
    from tests.conftest import login

    url = f"/compliance/districts/{city.xuanwu.id}/export.xlsx?sort=people&desc=1"
    login_as("regulator_city")
    direct = _sheet(client.get(url).data)  # 2 rows: under the threshold, the file itself
    monkeypatch.setitem(app.config, "EXPORT_JOB_ROWS", 1)
    # following the link starts nothing: the page says the size, and its button (a POST to the
    # same address, filters and order kept) starts the job
    asked = client.get(url).get_data(as_text=True)
    assert "This export has 2 rows." in asked and 'id="start-export"' in asked
    assert f'action="/compliance/districts/{city.xuanwu.id}/export.xlsx?sort=people&amp;desc=1"' \
        in asked
    assert db.session.scalar(db.select(db.func.count()).select_from(jobs.Job)) == 0
    response = client.post(url)
    assert response.status_code == 302 and "/jobs/" in response.location
    page = client.get(response.location).get_data(as_text=True)
    job = db.session.scalar(db.select(jobs.Job).where(jobs.Job.kind == "compliance.export"))
    assert job.state == "done" and job.created_by_id == city.users["regulator_city"].id
    assert "Download the file" in page and "2 rows" in page
    download = client.get(f"/jobs/{job.id}/download")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].endswith(f"compliance-{city.xuanwu.code}.xlsx")
    made = _sheet(download.data)
    # the job's file is the direct export: same header, rows and totals
    assert made[:3] == direct[:3]
    # the user who asked is told, with the job's page
    assert db.session.scalar(db.select(Notification).where(
        Notification.user_id == job.created_by_id, Notification.kind == "job.done")).link == \
        f"/jobs/{job.id}"
    # nobody else downloads it: not a regulator of the same district, not an administrator
    for other in ("regulator", "admin"):
        stranger = app.test_client()
        login(stranger, other)
        assert stranger.get(f"/jobs/{job.id}/download").status_code == 403
        assert "Download the file" not in stranger.get(f"/jobs/{job.id}").get_data(as_text=True)
    # nor the same account once its scope has changed (the rows were the city's)
    city.users["regulator_city"].district_id = city.gulou.id
    db.session.commit()
    assert client.get(f"/jobs/{job.id}/download").status_code == 403
