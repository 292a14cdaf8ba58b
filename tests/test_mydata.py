"""A person's own data (issue 18, 个人信息保护法 art. 45): the caregiver sees and downloads
everything the system holds about them, nobody else gets it, an administrator producing it is
recorded, and corrections go to the institution and come back with an answer."""

from __future__ import annotations

import json
import re
import subprocess
import unicodedata
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from lms import mydata
from lms.auth.models import User
from lms.core import notifications
from lms.core.actors import DEMO
from lms.core.clock import local_today, utc_now
from lms.core.errors import DomainError, PermissionDenied
from lms.core.models import AuditLog, Notification, StateEvent
from lms.core.states import InvalidTransition
from lms.extensions import db
from lms.learning.models import StudySegment
from lms.registry import service as registry
from lms.registry.models import StaffRecord
from lms.scheduling.models import Attendance, Booking
from lms.subsidies.models import SubsidyClaim
from tests.access import _learning_world
from tests.conftest import PASSWORD, login, make_app
from tests.helpers import statements_sent

ACCOUNT = "6222021234567890123"  # the claim's account in tests/access.py


def _sign_in(client, world, role):
    user = world.users[role]
    identifier = user.username or db.session.get(type(world.staff), user.person_id).mobile
    assert login(client, identifier, PASSWORD).status_code == 302, role
    return client


@pytest.fixture()
def full(world):
    """The caregiver with one of every kind of record: an employment, certificates (issued and
    external), a ledger entry with its external evidence, online study, an enrolment, a booking
    and an attendance, an exam registration with a paper, a subsidy claim, a health check, a ban
    that has ended, an on-site identity check, a message, a correction request, and an
    institution administrator who saw the full identity number and looked them up."""
    ids = _learning_world(world)
    staff, inst_admin = world.staff, world.users["inst_admin"]
    booking = db.session.get(Booking, ids["booking_id"])
    db.session.add(Attendance(session_id=booking.session_id, person_id=staff.id, status="present",
                              checked_in_at=utc_now()))
    now = utc_now()
    db.session.add(StudySegment(person_id=staff.id, lesson_id=ids["lesson_id"], seconds=600,
                                started_at=now - timedelta(minutes=10), ended_at=now,
                                rule_version="t", token="t" * 32))
    db.session.add(StaffRecord(person_id=staff.id, kind="health_check",
                               issued_on=local_today() - timedelta(days=30), result="fit",
                               issuer="玄武区妇幼保健院", document_no="JK-7",
                               organisation_id=world.inst.id))
    registry.record_ban(DEMO, id_number=staff.id_number, name=staff.name, kind="term",
                        starts_on=local_today() - timedelta(days=800),
                        ends_on=local_today() - timedelta(days=70), reason="旧案：违反职业道德")
    notifications.notify(world.users["caregiver"].id, "subsidy.approved", ref="BT2026000001")
    registry.reveal_id_number(inst_admin, staff)
    registry.find_staff_member(inst_admin, world.inst, staff.id_number)
    db.session.commit()
    return ids


def _screen_counts(html: str) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r'id="count-([a-z_]+)">(\d+)<', html)}


def test_the_download_holds_every_kind_of_record_and_matches_the_screen(client, world, full):
    _sign_in(client, world, "caregiver")
    page = client.get("/my/data")
    assert page.status_code == 200
    html = page.get_data(as_text=True)

    response = client.get("/my/data.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith("attachment")
    data = json.loads(response.get_data(as_text=True))
    assert data["format"] == "lms.mydata" and data["schema_version"] == mydata.SCHEMA_VERSION

    # every section has the world's record, and the page counts what the file holds
    empty = [s for s in mydata.SECTIONS if not data[s]]
    assert empty == []
    assert data["counts"] == {s: len(data[s]) for s in mydata.SECTIONS}
    assert _screen_counts(html) == data["counts"]

    person = data["person"]
    assert person["id_number"] == world.staff.id_number  # it is theirs: in full
    assert person["name"] == "张晓雯" and person["birth_date"] == "1990-03-07"
    assert person["mobile"] == "13912345678" and person["photo_on_file"] is False
    assert data["employments"][0]["organisation"] == world.inst.name
    assert data["employments"][0]["post"] == "nursery_carer"
    assert {"JK-2026-001"} <= {q["certificate_no"] for q in data["qualifications"]}
    cert = data["certificates"][0]
    assert cert["number"] and cert["status"] == "valid"
    entry = data["ledger_entries"][0]
    assert Decimal(entry["hours"]) == 2 and "平台" in entry["evidence"] and "e.pdf" in entry["evidence"]
    assert Decimal(data["ledger_totals"][0]["hours"]) == 2
    assert data["study"][0]["seconds"] == 600
    assert data["bookings"][0]["training_base"] == world.base.name
    assert data["attendances"][0]["status"] == "present"
    exam = data["exam_registrations"][0]
    assert Decimal(exam["theory_score"]) == 90 and Decimal(exam["practical_score"]) == 90
    assert exam["attempt"]["started_at"].endswith("Z")
    claim = data["subsidy_claims"][0]
    assert claim["bank_account"] == ACCOUNT and Decimal(claim["amount"]) > 0
    assert claim["certificate_number"] == cert["number"]
    assert data["staff_records"][0]["document_no"] == "JK-7"
    assert data["bans"][0]["reason"] == "旧案：违反职业道德" and data["bans"][0]["ends_on"]
    assert data["identity_checks"][0]["result"] == "mismatch"
    assert any(n["kind"] == "subsidy.approved" and "BT2026000001" in n["text"]
               for n in data["notifications"])
    assert data["corrections"][0]["message"] == "号码有误"
    # dates ISO 8601, times in UTC with a Z
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", data["generated_at"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", data["employments"][0]["start_date"])

    # the bank account is masked on the screen, whole in the person's own file
    assert ACCOUNT not in html and ACCOUNT[-4:] in html
    # the download is recorded
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "mydata.downloaded",
        AuditLog.actor_id == world.users["caregiver"].id)) == 1


def test_who_saw_the_identity_number_names_the_person_and_the_institution(world, full):
    data = mydata.my_data(world.users["caregiver"], world.staff)
    views = data["id_number_views"]
    actions = [v["action"] for v in views]
    assert actions == ["registry.id_number_viewed", "registry.staff_lookup"]
    admin = world.users["inst_admin"]
    assert all(v["who"] == admin.display_name and v["organisation"] == world.inst.name
               for v in views)
    # a lookup of someone else by the same institution is not theirs to see
    registry.find_staff_member(admin, world.inst, world.staff_other.id_number)
    assert len(mydata.my_data(world.users["caregiver"], world.staff)["id_number_views"]) == 2


def test_the_pdf_reads_as_the_persons_data(client, world, full, tmp_path):
    _sign_in(client, world, "caregiver")
    response = client.get("/my/data.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    path = tmp_path / "mine.pdf"
    path.write_bytes(response.data)
    text = unicodedata.normalize("NFKC", subprocess.run(
        ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout)
    number = db.session.get(SubsidyClaim, full["claim_id"]).certificate.number
    assert "张晓雯" in text
    assert number in text
    assert world.staff.id_number in text
    assert "JK-2026-001" in text


def test_nobody_else_gets_it(client, world, full):
    with pytest.raises(PermissionDenied):
        mydata.my_data(world.users["caregiver_other"], world.staff)
    with pytest.raises(PermissionDenied):
        mydata.export(world.users["inst_admin"], world.staff, "json")
    _sign_in(client, world, "caregiver_other")
    for url in (f"/persons/{world.staff.id}/data", f"/persons/{world.staff.id}/data.json",
                f"/persons/{world.staff.id}/data.pdf"):
        assert client.get(url).status_code == 403, url
    # their own page shows their own data only
    html = client.get("/my/data").get_data(as_text=True)
    assert world.staff_other.name in html and world.staff.name not in html


def test_an_administrator_producing_it_is_recorded_and_the_person_sees_it(client, world, full):
    admin = world.users["admin"]
    _sign_in(client, world, "admin")
    response = client.get(f"/persons/{world.staff.id}/data.json")
    assert response.status_code == 200
    assert json.loads(response.data)["person"]["id_number"] == world.staff.id_number
    records = db.session.execute(select(AuditLog.action, AuditLog.object_id).where(
        AuditLog.actor_id == admin.id, AuditLog.action.like("mydata.%"))).all()
    assert sorted(records) == [("mydata.downloaded", str(world.staff.id)),
                               ("mydata.produced", str(world.staff.id))]
    views = mydata.my_data(world.users["caregiver"], world.staff)["id_number_views"]
    assert views[-1]["action"] == "mydata.produced" and views[-1]["who"] == admin.display_name


def _open_request(world) -> mydata.CorrectionRequest:
    return db.session.scalar(select(mydata.CorrectionRequest).where(
        mydata.CorrectionRequest.person_id == world.staff.id).order_by(
        mydata.CorrectionRequest.id.desc()))


def test_a_correction_goes_to_the_institution_and_the_answer_comes_back(client, world):
    caregiver, inst_admin = world.users["caregiver"], world.users["inst_admin"]
    _sign_in(client, world, "caregiver")
    response = client.post("/my/data/corrections", data={
        "section": "employments", "subject": "入职日期", "message": "入职日期应为2024年2月1日"})
    assert response.status_code == 302
    request = _open_request(world)
    assert request.organisation_id == world.inst.id and request.message == "入职日期应为2024年2月1日"
    told = db.session.scalars(select(Notification).where(
        Notification.kind == "mydata.correction_requested")).all()
    assert [n.user_id for n in told] == [inst_admin.id]  # not the other institution's admin

    institution = client.application.test_client()
    _sign_in(institution, world, "inst_admin")
    listing = institution.get("/corrections").get_data(as_text=True)
    assert "入职日期应为2024年2月1日" in listing and world.staff.name in listing
    other = client.application.test_client()
    _sign_in(other, world, "inst_admin_other")
    assert "入职日期应为2024年2月1日" not in other.get("/corrections").get_data(as_text=True)
    assert other.post(f"/corrections/{request.id}", data={
        "action": "complete", "reply": "x"}).status_code == 403

    assert institution.post(f"/corrections/{request.id}", data={
        "action": "complete", "reply": "已更正为2024年2月1日"}).status_code == 302
    db.session.expire_all()
    request = _open_request(world)
    assert request.state == "done" and request.answered_by_id == inst_admin.id
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == caregiver.id, Notification.kind == "mydata.correction_answered")) == 1

    page = client.get("/my/data").get_data(as_text=True)
    assert "已更正为2024年2月1日" in page
    assert str(mydata.CorrectionState.DONE.title) in page
    trail = mydata.my_data(caregiver, world.staff)["corrections"][0]["trail"]
    assert [(t["action"], t["state"]) for t in trail] == [("create", "open"), ("complete", "done")]
    assert trail[1]["by"] == inst_admin.display_name
    # answered once: a second answer is refused
    with pytest.raises(InvalidTransition):
        mydata.answer_correction(inst_admin, request, "decline", "再次")


def test_bad_input_is_refused_and_nothing_is_half_saved(client, world):
    _sign_in(client, world, "caregiver")
    for form in ({"section": "person", "message": "   "}, {"section": "nonsense", "message": "错"},
                 {"section": "person", "message": "错" * (mydata.MESSAGE_MAX + 1)},
                 {"section": "person", "message": "错", "organisation": str(world.inst_other.id)}):
        response = client.post("/my/data/corrections", data=form, follow_redirects=True)
        assert response.status_code == 200
        assert "alert-danger" in response.get_data(as_text=True), form
    assert db.session.scalar(select(func.count()).select_from(mydata.CorrectionRequest)) == 0
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "mydata.correction_requested")) == 0

    with pytest.raises(DomainError):
        mydata.request_correction(world.users["caregiver"], world.staff, section="person",
                                  subject="", message="")
    request = mydata.request_correction(world.users["caregiver"], world.staff, section="person",
                                        subject="手机", message="号码错了")
    db.session.commit()
    with pytest.raises(DomainError):
        mydata.answer_correction(world.users["inst_admin"], request, "decline", "  ")
    db.session.rollback()
    assert _open_request(world).state == "open"
    assert db.session.scalar(select(func.count()).select_from(StateEvent).where(
        StateEvent.object_type == "correction_requests")) == 1  # its creation only
    with pytest.raises(PermissionDenied):  # for someone else
        mydata.request_correction(world.users["caregiver"], world.staff_other, section="person",
                                  subject="", message="改")


def test_without_a_current_institution_the_administrators_answer(world):
    employment = world.staff.employments[0]
    registry.end_employment(DEMO, employment, local_today(), "离职")
    request = mydata.request_correction(world.users["caregiver"], world.staff, section="person",
                                        subject="", message="姓名有误")
    assert request.organisation_id is None
    admins = set(db.session.scalars(select(User.id).where(User.role == "admin")))
    told = set(db.session.scalars(select(Notification.user_id).where(
        Notification.kind == "mydata.correction_requested")))
    assert told == admins
    with pytest.raises(PermissionDenied):
        mydata.answer_correction(world.users["inst_admin"], request, "complete", "好")
    mydata.answer_correction(world.users["admin"], request, "decline", "姓名与身份证一致")
    assert request.state == "declined"


@pytest.mark.parametrize("state", list(mydata.CorrectionState))
@pytest.mark.parametrize("action", list(mydata.CorrectionAction))
def test_the_correction_table(world, state, action):
    request = mydata.request_correction(world.users["caregiver"], world.staff, section="person",
                                        subject="", message="改")
    request.state = state.value
    db.session.flush()
    target = mydata.CORRECTION.transitions.get((state, action))
    if target is None:
        with pytest.raises(InvalidTransition):
            mydata.answer_correction(world.users["inst_admin"], request, action.value, "答复")
    else:
        mydata.answer_correction(world.users["inst_admin"], request, action.value, "答复")
        assert request.state == target.value and request.reply == "答复"


def test_an_administrator_finds_the_person_by_a_form_never_the_address(client, world):
    _sign_in(client, world, "admin")
    assert client.get("/persons/data").status_code == 200
    wrong = client.post("/persons/data", data={"id_number": world.staff.id_number, "name": "别人"})
    assert wrong.status_code == 200 and 'id="produce-result"' in wrong.get_data(as_text=True)
    found = client.post("/persons/data", data={"id_number": world.staff.id_number,
                                               "name": world.staff.name})
    assert found.status_code == 302
    assert found.headers["Location"].endswith(f"/persons/{world.staff.id}/data")
    assert world.staff.id_number not in found.headers["Location"]
    page = client.get(found.headers["Location"])
    assert page.status_code == 200 and world.staff.id_number in page.get_data(as_text=True)
    views = mydata.my_data(world.users["caregiver"], world.staff)["id_number_views"]
    assert [v["action"] for v in views] == ["registry.lookup", "mydata.produced"]


def _queries(app, work) -> int:
    with statements_sent() as sent:
        work()
    return len(sent)


def test_more_records_cost_no_more_queries(app, world, full):
    """A person has at most thousands of rows: each kind is read in one go, never row by row."""
    caregiver = world.users["caregiver"]

    def produce():
        db.session.expire_all()
        mydata.my_data(caregiver, world.staff)

    before = _queries(app, produce)
    for n in range(5):
        db.session.add(StaffRecord(person_id=world.staff.id, kind="no_criminal_record",
                                   issued_on=local_today() - timedelta(days=n), issuer="公安分局",
                                   organisation_id=world.inst.id))
        notifications.notify(caregiver.id, "subsidy.approved", ref=f"BT20260000{n}")
        registry.reveal_id_number(world.users["inst_admin"], world.staff)
        mydata.request_correction(caregiver, world.staff, section="person", subject="",
                                  message=f"改{n}")
    db.session.commit()
    after = _queries(app, produce)
    assert after == before


def test_downloads_are_rate_limited_per_person(world):
    app = make_app(MYDATA_DOWNLOAD_RATE_LIMIT="3 per minute")
    first, second = app.test_client(), app.test_client()
    _sign_in(first, world, "caregiver")
    _sign_in(second, world, "admin")
    codes = [first.get(url).status_code for url in ("/my/data.json", "/my/data.pdf",
                                                     "/my/data.json", "/my/data.json")]
    assert codes == [200, 200, 200, 429]  # one budget for both kinds of file
    assert first.get("/my/data").status_code == 200  # only files count
    assert second.get(f"/persons/{world.staff.id}/data.json").status_code == 200  # its own
