"""Institution pages as an institution admin sees them, and the registry commands."""

from datetime import date

from sqlalchemy import func, select

from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.core.models import AuditLog
from lms.extensions import db
from lms.registry import service
from lms.registry.models import Ban, Employment, Person
from tests.factories import id_number
from tests.helpers import statements_sent


def test_staff_list_masks_searches_and_pages(client, world, login_as):
    for seq in range(30):
        service.add_staff(DEMO, world.inst, id_number=id_number("320104", "19900101", seq * 2),
                          name=f"王{'甲乙丙丁戊己庚辛壬癸'[seq % 10]}{'一二三'[seq // 10]}",
                          post="nursery_carer", start_date=date(2025, 1, 1))
    db.session.commit()
    login_as("inst_admin")
    page = client.get(f"/institutions/{world.inst.id}/staff").get_data(as_text=True)
    assert "31 records" in page
    assert world.staff.id_number not in page
    assert world.staff.id_number[:4] + "*" * 10 + world.staff.id_number[-4:] in page
    second = client.get(f"/institutions/{world.inst.id}/staff?page=2").get_data(as_text=True)
    assert second.count('data-label="Name"') == 6
    found = client.get(f"/institutions/{world.inst.id}/staff?q=张晓").get_data(as_text=True)
    assert "张晓雯" in found and "王甲一" not in found
    by_tail = client.get(f"/institutions/{world.inst.id}/staff?q=5678").get_data(as_text=True)
    assert "张晓雯" in by_tail and "1 record" in by_tail


def test_find_by_identity_number_is_posted(client, world, login_as):
    login_as("inst_admin")
    response = client.post(f"/institutions/{world.inst.id}/staff/find",
                           data={"id_number": world.staff.id_number.lower()})
    assert response.headers["Location"] == f"/institutions/{world.inst.id}/staff/{world.staff.id}"
    elsewhere = client.post(f"/institutions/{world.inst.id}/staff/find",
                            data={"id_number": world.staff_other.id_number}, follow_redirects=True)
    assert "Nobody with this identity number" in elsewhere.get_data(as_text=True)


def test_add_staff_shows_the_one_time_password_once(client, world, login_as):
    login_as("inst_admin")
    number = id_number("320104", "19950505", 4)
    page = client.post(f"/institutions/{world.inst.id}/staff/new", data={
        "id_number": number, "name": "刘婷婷", "mobile": "13600001111", "post": "infant_carer",
        "start_date": "2026-09-01"}).get_data(as_text=True)
    assert "刘婷婷 is registered as Infant carer" in page
    password = page.split('id="initial-password">')[1].split("<")[0]
    assert len(password) == 10
    person = db.session.scalar(select(Person).where(Person.id_number == number))
    detail = client.get(f"/institutions/{world.inst.id}/staff/{person.id}").get_data(as_text=True)
    assert password not in detail and number not in detail


def test_add_staff_errors_stay_beside_the_field(client, world, login_as):
    login_as("inst_admin")
    number = id_number("320104", "19950505", 6)
    bad = number[:-1] + ("1" if number[-1] != "1" else "2")
    page = client.post(f"/institutions/{world.inst.id}/staff/new", data={
        "id_number": bad, "name": "刘婷婷", "post": "infant_carer",
        "start_date": "2026-09-01"}).get_data(as_text=True)
    assert 'id="id_number-error"' in page and "check character is wrong" in page
    assert db.session.scalar(select(func.count(Person.id))) == 2


def test_banned_number_typed_with_lower_case_x_is_refused(client, world, login_as):
    number = next(n for n in (id_number("320106", "19870303", s) for s in range(2, 400, 2))
                  if n.endswith("X"))
    service.record_ban(DEMO, id_number=number, name="某某", kind="lifetime",
                       starts_on=date(2025, 1, 1), ends_on=None, reason="虐待婴幼儿")
    db.session.commit()
    login_as("inst_admin")
    page = client.post(f"/institutions/{world.inst.id}/staff/new", data={
        "id_number": number.lower(), "name": "某某", "post": "nursery_carer",
        "start_date": "2026-09-01"}).get_data(as_text=True)
    assert "banned from working in childcare for life" in page
    assert db.session.scalar(select(func.count(Person.id)).where(Person.id_number == number)) == 0


def test_end_employment_from_the_detail_page(client, world, login_as):
    login_as("inst_admin")
    employment = world.staff.employments[0]
    client.post(f"/institutions/{world.inst.id}/employments/{employment.id}/end",
                data={"end_date": local_today().isoformat(), "reason": "合同到期"})
    db.session.expire_all()
    assert db.session.get(Employment, employment.id).end_date == local_today()
    page = client.get(f"/institutions/{world.inst.id}/staff?ended=1").get_data(as_text=True)
    assert "张晓雯" in page and "left" in page
    assert "张晓雯" not in client.get(f"/institutions/{world.inst.id}/staff").get_data(as_text=True)


def test_revealing_the_full_number_is_logged(client, world, login_as):
    login_as("inst_admin")
    page = client.post(f"/institutions/{world.inst.id}/staff/{world.staff.id}/reveal")
    assert world.staff.id_number in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "registry.id_number_viewed")) == 1


def test_every_role_has_a_home_page_that_says_what_needs_doing(client, world, login_as):
    for name, words in [("inst_admin", "What needs doing"), ("regulator", "What needs doing"),
                        ("admin", "Persons in the registry"), ("base_staff", "The next seven days"),
                        ("hr_reviewer", "Claims to review")]:
        login_as(name)
        assert words in client.get("/").get_data(as_text=True), name
        client.post("/logout")
    login_as(world.staff.mobile)
    page = client.get("/").get_data(as_text=True)
    assert "Your posts" in page and "Not certified" in page


def test_navigation_shows_what_the_role_can_do(client, world, login_as):
    login_as("inst_admin")
    page = client.get("/").get_data(as_text=True)
    assert "Roster import" in page and "Audit log" not in page and "Registry lookup" not in page
    client.post("/logout")
    login_as("admin")
    page = client.get("/").get_data(as_text=True)
    assert "Audit log" in page and "Settings" in page and "Roster import" not in page


def test_ban_command(app, world):
    runner = app.test_cli_runner()
    number = id_number("320106", "19870303", 8)
    result = runner.invoke(args=["registry", "ban", "--id-number", number.lower(), "--name", "某某",
                                 "--kind", "lifetime", "--reason", "虐待婴幼儿",
                                 "--decision", "宁卫监罚〔2026〕1号"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Ban).where(Ban.id_number == number)) is not None
    bad = runner.invoke(args=["registry", "ban", "--id-number", "123", "--name", "x",
                              "--kind", "term", "--reason", "x"])
    assert bad.exit_code != 0 and "18 characters" in bad.output


def _count_statements(client, url):
    with statements_sent() as sent:
        assert client.get(url).status_code == 200
    return len(sent)


def test_list_pages_do_not_query_per_row(client, world, login_as):
    login_as("inst_admin")
    url = f"/institutions/{world.inst.id}/staff"
    for warm in (url, "/"):
        _count_statements(client, warm)  # the post rules and settings, then cached
    few = _count_statements(client, url)
    home_few = _count_statements(client, "/")
    for seq in range(20):
        service.add_staff(DEMO, world.inst, id_number=id_number("320104", "19900101", seq * 2),
                          name="王" + "甲乙丙丁戊己庚辛壬癸"[seq % 10] + "一二"[seq // 10],
                          post="nursery_carer", start_date=date(2025, 1, 1))
    db.session.commit()
    assert _count_statements(client, url) == few
    assert _count_statements(client, "/") == home_few


def test_institution_list_queries_do_not_grow_with_institutions(client, world, login_as):
    """The list of institutions is the compliance district table now (issue 14): read from the
    snapshots, in a number of queries that does not grow with the institutions."""
    from lms.compliance import rollups
    from tests.factories import credit_code

    rollups.refresh(DEMO)
    db.session.commit()
    login_as("regulator_city")
    assert client.get("/registry/institutions").headers["Location"] == "/compliance"
    url = f"/compliance/districts/{world.gulou.id}"
    _count_statements(client, url)  # the targets' settings, then cached
    few = _count_statements(client, url)
    for n in range(10, 16):
        org = service.create_organisation(DEMO, kind="institution", name=f"托育园{n}",
                                          district=world.gulou, credit_code=credit_code(n))
        service.add_staff(DEMO, org, id_number=id_number("320106", "19900101", n * 2),
                          name="李" + "甲乙丙丁戊己庚辛"[n % 8], post="nursery_carer",
                          start_date=date(2025, 1, 1))
    rollups.refresh(DEMO)
    db.session.commit()
    assert _count_statements(client, url) == few
    page = client.get(url).get_data(as_text=True)
    assert "托育园15" in page and "0.0%" in page


def test_institution_issues_a_one_time_password_to_its_staff(app, client, world, login_as):
    # the caregiver never changed the one-time password they were given; the institution is
    # their only current employer
    world.users["caregiver"].must_change_password = True
    db.session.commit()
    login_as("inst_admin")
    page = client.post(f"/institutions/{world.inst.id}/staff/{world.staff.id}/password")
    password = page.get_data(as_text=True).split('id="initial-password">')[1].split("<")[0]
    other = app.test_client()
    response = other.post("/login", data={"identifier": world.staff.mobile, "password": password})
    assert response.headers["Location"] == "/account/password"
    # not for another institution's staff
    foreign = client.post(f"/institutions/{world.inst.id}/staff/{world.staff_other.id}/password")
    assert foreign.status_code == 403


def test_external_certificates_with_a_scan_checked_by_a_regulator(app, client, world, login_as):
    import io

    from lms.registry.models import Qualification, QualificationType
    from tests.conftest import login

    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "health_cert"))
    login_as("inst_admin")
    url = f"/institutions/{world.inst.id}/staff/{world.staff.id}/qualifications"
    form = {"qualification_type_id": qtype.id, "certificate_no": "JK-2026-001", "issuer": "玄武区疾控中心",
            "issued_on": "2026-03-01", "expires_on": "2027-03-01"}
    bad = client.post(url, data={**form, "scan": (io.BytesIO(b"MZ not a scan"), "x.pdf")},
                      content_type="multipart/form-data").get_data(as_text=True)
    assert "The scan must be a PDF, JPEG or PNG file." in bad
    assert db.session.scalar(select(Qualification)) is None  # nothing half-saved
    client.post(url, data={**form, "scan": (io.BytesIO(b"%PDF-1.4 health"), "scan.pdf")},
                content_type="multipart/form-data")
    record = db.session.scalar(select(Qualification))
    assert record.source == "external" and record.checked_at is None
    assert client.get(f"/registry/qualifications/{record.id}/scan").data == b"%PDF-1.4 health"
    regulator = app.test_client()
    login(regulator, "regulator")
    page = regulator.get(f"/registry/persons/{world.staff.id}").get_data(as_text=True)
    assert "not checked yet" in page and "Mark checked" in page
    regulator.post(f"/registry/qualifications/{record.id}/check")
    db.session.refresh(record)
    assert record.checked_at is not None and record.checked_by_id == world.users["regulator"].id
    other = app.test_client()
    login(other, "regulator_other")
    assert other.post(f"/registry/qualifications/{record.id}/check").status_code == 403
