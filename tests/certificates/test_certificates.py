"""Certificates: issuing for passed results, numbers and codes, one live certificate per type
and level, the PDF, status changes, and the public verification page."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from datetime import UTC, date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect

from lms.certificates import service
from lms.certificates.models import Certificate
from lms.core.actors import CLI, DEMO
from lms.core.clock import local_today, utc_now
from lms.core.errors import DomainError, PermissionDenied
from lms.extensions import db
from lms.learning.models import Enrolment
from lms.registry import service as registry
from lms.registry.models import Qualification, QualificationType
from tests.certificates.helpers import next_week, result, sitting
from tests.conftest import login
from tests.factories import id_number
from tests.helpers import at_once, statements_sent


def test_a_passed_result_gets_a_numbered_certificate_the_registry_knows(world, passed):
    sitting, good, bad = passed
    assert not registry.satisfies_post(world.staff, "nursery_carer").satisfied
    cert = service.issue(world.users["base_staff"], good)
    assert re.fullmatch(rf"BYS-{local_today().year}-{world.base.id:04d}-000001", cert.number)
    assert len(cert.verify_code) == 20 and cert.verify_code not in cert.number
    assert cert.level == 5 and cert.expires_on is None and cert.status == "valid"
    record = db.session.get(Qualification, cert.qualification_id)
    assert record.source == "issued" and record.certificate_no == cert.number
    assert registry.satisfies_post(world.staff, "nursery_carer").satisfied
    with pytest.raises(DomainError, match="not a pass"):
        service.issue(world.users["base_staff"], bad)
    with pytest.raises(DomainError, match="already issued for this result"):
        service.issue(world.users["base_staff"], good)
    with pytest.raises(PermissionDenied, match="Only the training base that held the exam"):
        service.issue(world.users["inst_admin"], good)


def test_a_batch_is_shown_first_and_issued_only_when_confirmed(client, world, passed, login_as):
    sitting, good, bad = passed
    login_as("base_staff")
    page = client.get(f"/exams/{sitting.id}/certificates").get_data(as_text=True)
    assert world.staff.name in page.split("Will not get one")[0]
    assert "The result is not a pass" in page.split("Will not get one")[1]
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0
    done = client.post(f"/exams/{sitting.id}/certificates", data={"registration": [good.id, bad.id]},
                       follow_redirects=True).get_data(as_text=True)
    assert "1 certificates issued." in done
    assert db.session.scalar(select(Certificate.person_id)) == world.staff.id


def _candidates(world, course, count):
    people = []
    for n in range(count):
        person = registry.add_staff(
            DEMO, world.inst, id_number=id_number("320102", "19910101", 100 + n),
            name="候选" + "甲乙丙丁戊己"[n], post="nursery_carer",
            start_date=date(2025, 1, 1)).employment.person
        db.session.add(Enrolment(person_id=person.id, course_id=course.id, completed_at=utc_now()))
        people.append(person)
    return people


def test_a_batch_checks_each_result_by_the_single_rule_and_numbers_its_certificates_in_a_row(
        world, course):
    staff = world.users["base_staff"]
    good, failed, banned, holder, also_good = _candidates(world, course, 5)
    held = sitting(world, starts=next_week() + timedelta(days=1))
    results = [result(world, held, person, "80" if person is not failed else "40", "80")
               for person in (good, failed, banned, holder, also_good)]
    # since registering, the holder got this certificate at another sitting of the same base
    service.issue(staff, result(world, sitting(world), holder, "80", "80"))
    registry.record_ban(DEMO, id_number=banned.id_number, name=banned.name, kind="lifetime",
                        starts_on=local_today(), ends_on=None, reason="虐童")
    db.session.commit()

    with statements_sent() as statements:
        plan = service.batch_plan(held)
    # read for all the results at once: the results, the ban gate, certificates by result,
    # certificates held (not a query per result)
    assert len(statements) <= 5, statements
    assert [r.person_id for r in plan.ready] == [good.id, also_good.id]
    # the batch's reasons are the rule's, word for word, as one result issued alone gets them
    assert {r.person_id: reasons for r, reasons in plan.refused} == {
        r.person_id: service.reasons_not_to_issue(r) for r in results if r not in plan.ready}
    assert [len(reasons) for _r, reasons in plan.refused] == [1, 1, 1]

    issued = service.issue_batch(staff, held, [r.id for r in results])
    year, base = local_today().year, f"{world.base.id:04d}"
    # the holder's took 000001: the batch's two numbers follow, one after the other
    assert [c.number for c in issued] == [f"BYS-{year}-{base}-000002", f"BYS-{year}-{base}-000003"]
    assert [c.person_id for c in issued] == [good.id, also_good.id]
    later = result(world, sitting(world, starts=next_week() + timedelta(days=2)), failed, "90", "90")
    assert service.issue(staff, later).number == f"BYS-{year}-{base}-000004"
    # and a result issued is refused the next time, by the batch as by the single rule
    again = service.batch_plan(held)
    assert again.ready == [] and all(reasons for _r, reasons in again.refused)


def test_one_live_certificate_per_type_and_level_even_when_two_issuers_click_at_once(app, world, course):
    db.session.add(Enrolment(person_id=world.staff.id, course_id=course.id, completed_at=utc_now()))
    first = result(world, sitting(world), world.staff, "80", "80")
    second = result(world, sitting(world, starts=next_week() + timedelta(days=1)), world.staff, "80", "80")
    db.session.commit()
    def click(registration_id, go):
        from lms.auth.models import User
        from lms.exams.models import Registration
        staff = db.session.scalar(select(User).where(User.username == "base_staff"))
        registration = db.session.get(Registration, registration_id)
        registration.sitting.organisation  # noqa: B018 - load before the race
        db.session.commit()
        go()
        service.issue(staff, registration)
        db.session.commit()
        return "issued"

    outcomes = [str(o) for o in at_once(app, click, [first.id, second.id], timeout=30)]
    assert sorted(outcomes) == ["The person already holds this certificate at this level.", "issued"]
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 1


def test_the_pdf_carries_the_chinese_name_and_the_number(world, passed, tmp_path, app):
    sitting, good, _bad = passed
    cert = service.issue(world.users["base_staff"], good)
    db.session.commit()
    data = service.pdf(world.users["base_staff"], cert)
    assert service.pdf(CLI, cert) is data  # kept, not made again
    path = tmp_path / "cert.pdf"
    path.write_bytes(data)
    text = unicodedata.normalize("NFKC", subprocess.run(
        ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout)
    assert "张晓雯" in text and cert.number in text and "保育师" in text
    assert f"/verify/{cert.verify_code}" in text


def test_status_changes_are_recorded_and_the_registry_follows(world, passed, app):
    sitting, good, _bad = passed
    cert = service.issue(world.users["base_staff"], good)
    regulator = world.users["regulator"]
    with pytest.raises(DomainError, match="Give the reason"):
        service.change_status(regulator, cert, "suspend", "")
    service.change_status(regulator, cert, "suspend", "投诉调查中")
    assert not registry.satisfies_post(world.staff, "nursery_carer").satisfied
    with pytest.raises(DomainError, match="Suspend is not possible while it is Suspended"):
        service.change_status(regulator, cert, "suspend", "again")
    service.change_status(regulator, cert, "reinstate", "调查结束")
    assert registry.satisfies_post(world.staff, "nursery_carer").satisfied
    number = cert.number
    service.reissue(world.users["base_staff"], cert, "遗失补发")
    assert cert.number == number and cert.version == 2 and cert.pdf is None
    with pytest.raises(PermissionDenied):
        service.change_status(world.users["regulator_other"], cert, "revoke", "not mine")
    service.change_status(world.users["admin"], cert, "revoke", "以欺骗手段取得")
    assert [(e.action, e.authority) for e in service.history(cert)] == [
        ("create", "issuer"), ("suspend", "regulator"), ("reinstate", "regulator"),
        ("reissue", "issuer"), ("revoke", "admin")]
    with pytest.raises(DomainError, match="not possible while it is Revoked"):
        service.reissue(world.users["admin"], cert, "x")


def test_public_verification_shows_validity_and_a_masked_identity(app, client, world, passed):
    sitting, good, _bad = passed
    cert = service.issue(world.users["base_staff"], good)
    db.session.commit()
    page = client.get(f"/verify/{cert.verify_code}").get_data(as_text=True)
    assert 'id="verdict"' in page and "Valid" in page and cert.number in page
    assert "张*雯" in page and world.staff.name not in page and world.staff.id_number not in page
    assert world.staff.id_number[-4:] in page
    by_code = client.post("/verify", data={"q": cert.verify_code}).get_data(as_text=True)
    assert "张*雯" in by_code
    by_number = client.post("/verify", data={"q": cert.number.lower(), "name": world.staff.name})
    assert by_number.status_code == 200 and "张*雯" in by_number.get_data(as_text=True)
    assert client.get("/verify/not-a-real-code-at-all").status_code == 404
    assert client.post("/verify", data={"q": "BYS-2026-0001-999999", "name": "张晓雯"}).status_code == 404
    service.change_status(world.users["admin"], cert, "revoke", "撤销")
    db.session.commit()
    assert "Revoked" in client.get(f"/verify/{cert.verify_code}").get_data(as_text=True)


def test_verification_is_rate_limited(app, world, passed):
    other = app.test_client()
    statuses = [other.post("/verify", data={"q": f"X{n}"}, environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code
                for n in range(32)]
    assert statuses[0] == 404 and statuses[-1] == 429


def test_holders_download_their_own_certificates_only(app, world, passed):
    sitting, good, _bad = passed
    cert = service.issue(world.users["base_staff"], good)
    db.session.commit()
    mine = app.test_client()
    login(mine, world.staff.mobile)
    assert cert.number in mine.get("/my/certificates").get_data(as_text=True)
    pdf = mine.get(f"/certificates/{cert.id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    other = app.test_client()
    login(other, world.staff_other.mobile)
    assert other.get(f"/certificates/{cert.id}/pdf").status_code == 403


def test_an_administrator_corrects_a_types_data(client, world, login_as):
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    assert (qtype.occupation_code, qtype.number_prefix, qtype.validity_months) == ("4-10-01-03", "BYS", None)
    login_as("admin")
    form = {"type_id": qtype.id, "name_zh": "保育师", "name_en": "Nursery teacher",
            "occupation_code": "4-10-01-03", "validity_months": "60", "number_prefix": "bys"}
    assert client.post("/admin/certificate-types", data=form).status_code == 302
    db.session.refresh(qtype)
    assert qtype.validity_months == 60 and qtype.number_prefix == "BYS"
    bad = client.post("/admin/certificate-types", data={**form, "occupation_code": "4-10"},
                      follow_redirects=True).get_data(as_text=True)
    assert "An occupation code looks like 4-10-01-03." in bad


def test_the_render_command_makes_missing_pdfs_two_at_a_time(app, world, passed):
    from lms.certificates.cli import render_command

    sitting, good, _bad = passed
    cert = service.issue(world.users["base_staff"], good)
    db.session.commit()
    outcome = app.test_cli_runner().invoke(render_command, ["--workers", "2"])
    assert outcome.exit_code == 0 and "1 PDFs made" in outcome.output
    db.session.expire_all()
    assert db.session.get(Certificate, cert.id).pdf.startswith(b"%PDF")
    again = app.test_cli_runner().invoke(render_command)
    assert "every certificate has its PDF" in again.output


def test_the_holder_opens_the_certificates_page_from_my_certificates(app, world, cert):
    holder = app.test_client()
    login(holder, world.staff.mobile)
    listing = holder.get("/my/certificates").get_data(as_text=True)
    assert f'href="/certificates/{cert.id}"' in listing
    page = holder.get(f"/certificates/{cert.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and cert.number in text and 'id="download"' in text
    assert 'id="status-form"' not in text and 'id="regrade-form"' not in text
    other = app.test_client()
    login(other, world.staff_other.mobile)
    assert other.get(f"/certificates/{cert.id}").status_code == 403


@pytest.mark.parametrize(("locale", "title"), [("zh_Hans_CN", "保育师"), ("zh_Hant_TW", "保育師"),
                                               ("en", "Nursery teacher")])
def test_type_names_follow_the_readers_language(app, world, cert, locale, title):
    holder = app.test_client()
    login(holder, world.staff.mobile)
    holder.set_cookie("lms_lang", locale)
    page = holder.get(f"/certificates/{cert.id}").get_data(as_text=True)
    shown = page.split('id="cert-type">')[1].split("</dd>")[0]
    assert title in shown
    if locale != "zh_Hans_CN":
        assert "保育师" not in shown.replace("(保育师)", "")


@pytest.mark.parametrize("hour_minute", [(0, 30), (7, 30)])
def test_a_certificate_issued_at_any_hour_carries_the_citys_date(world, passed, hour_minute):
    """Just after midnight and before 08:00 in Beijing a UTC server is still on the day before:
    the certificate, its number's year and the registry record take the city's date."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    import time_machine

    _sitting, good, _bad = passed
    moment = datetime(2027, 1, 1, *hour_minute, tzinfo=ZoneInfo("Asia/Shanghai"))
    # a UTC destination: time-machine would otherwise set the process's TZ to Beijing
    with time_machine.travel(moment.astimezone(UTC), tick=False):
        cert = service.issue(world.users["base_staff"], good)
    assert cert.issued_on == date(2027, 1, 1) and cert.number.startswith("BYS-2027-")
    assert db.session.get(Qualification, cert.qualification_id).issued_on == date(2027, 1, 1)


def test_lists_of_certificates_leave_the_pdfs_in_the_database(world, cert):
    """A person's certificates (their status, the API) are listed without reading and
    decrypting each stored PDF; the download still gets it."""
    made = service.pdf(world.users["base_staff"], cert)
    db.session.commit()  # expires everything loaded
    listed = service.of_person(world.staff.id)
    assert [c.id for c in listed] == [cert.id]
    assert "pdf" not in sa_inspect(listed[0]).dict  # not read with the list
    assert service.pdf(world.users["base_staff"], listed[0]) == made
