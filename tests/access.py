"""Who may do what, and the world they do it in: the HTTP access matrix (every route, as every
role) and the service-level access test (every state-changing service, as every role) both read
MATRIX and build their objects here, so the two doors are checked against one answer."""

import io
from datetime import date

from PIL import Image
from sqlalchemy import select

from lms.core.clock import local_today, utc_now
from lms.extensions import db
from lms.ledger.models import LedgerEntry
from lms.registry import service
from lms.scheduling import service as scheduling
from tests.conftest import import_test_course
from tests.factories import venue as base_venue

ROLES = ["anon", "caregiver", "caregiver_other", "inst_admin", "inst_admin_other", "base_staff",
         "hr_reviewer", "regulator", "regulator_other", "regulator_city", "admin"]
EVERYONE = set(ROLES)
SIGNED_IN = EVERYONE - {"anon"}
INST_VIEWERS = {"inst_admin", "regulator", "regulator_city", "admin"}  # world.inst is in 玄武区
INST_MANAGERS = {"inst_admin", "admin"}
REGULATORS = {"regulator", "regulator_other", "regulator_city"}
CAREGIVERS = {"caregiver", "caregiver_other"}
BASE_RUNNERS = {"base_staff", "admin"}  # world.base's own staff
#: the issuing base, administrators, and regulators of the base's district (玄武区)
CERT_MANAGERS = BASE_RUNNERS | {"regulator", "regulator_city"}
#: inspectors of world.inst's district (玄武区): its regulator and the city-wide one
INSPECTORS = {"regulator", "regulator_city"}

#: endpoint -> roles that may use it on the world's objects (world.inst, world.staff)
MATRIX = {
    "core.home": EVERYONE,
    "core.healthz": EVERYONE,
    "core.set_language": EVERYONE,
    "core.settings_page": {"admin"},
    "core.audit_log": {"admin"},
    "core.readyz": EVERYONE,
    # world's job: a roster import inst_admin started (its starter and administrators see it)
    "jobs.detail": {"inst_admin", "admin"},
    "jobs.status": {"inst_admin", "admin"},
    "jobs.failed": {"admin"},
    # only the user who asked, with the scope it was made for (the world's job has no file
    # yet: the one who asked is let through and told 404)
    "jobs.download": {"inst_admin"},
    "auth.login": EVERYONE,
    "auth.logout": SIGNED_IN,
    "auth.change_password": SIGNED_IN,
    "auth.users": {"admin"},
    "auth.new_user": {"admin"},
    "auth.reset_password": {"admin"},
    "auth.set_enabled": {"admin"},
    "auth.second_factor_code": EVERYONE,
    "auth.second_factor_setup": SIGNED_IN,
    "auth.forget_devices": SIGNED_IN,
    "auth.reset_second_factor": {"admin"},
    "auth.security_events": {"admin"},
    "registry.staff_list": INST_VIEWERS,
    "registry.staff_find": INST_VIEWERS,
    "registry.staff_new": INST_MANAGERS,
    "registry.staff_detail": INST_VIEWERS,
    "registry.staff_reveal": INST_VIEWERS,
    "registry.staff_photo": INST_VIEWERS,
    "registry.staff_photo_upload": INST_MANAGERS,
    "registry.staff_password": INST_MANAGERS,
    "registry.employment_end": INST_MANAGERS,
    "registry.direct_manager_set": INST_MANAGERS,
    "registry.qualification_new": INST_MANAGERS,
    "registry.roster_import": INST_MANAGERS,
    "registry.roster_template": INST_MANAGERS,
    "registry.roster_passwords": INST_MANAGERS,
    "registry.my_record": {"caregiver", "caregiver_other"},
    "registry.my_photo": {"caregiver", "caregiver_other"},
    "registry.lookup": REGULATORS | {"admin"},
    "registry.person_detail": {"regulator", "regulator_city", "admin"},
    "registry.person_reveal": {"regulator", "regulator_city", "admin"},
    "registry.person_photo": {"regulator", "regulator_city", "admin"},
    "registry.institutions": REGULATORS | {"admin"},  # redirects to the compliance dashboard
    "compliance.dashboard": REGULATORS | {"admin", "inst_admin", "inst_admin_other"},
    "compliance.district": {"regulator", "regulator_city", "admin"},  # 玄武区
    "compliance.export_city": {"regulator_city", "admin"},
    "compliance.export_district": {"regulator", "regulator_city", "admin"},
    "compliance.refresh_now": {"admin"},
    "compliance.institution": INST_VIEWERS,
    "compliance.export_institution": INST_VIEWERS,
    "compliance.person": INST_VIEWERS,  # world.staff: the institution's current staff
    "registry.organisations": {"admin"},
    "registry.post_requirements": {"admin"},
    "registry.post_requirement_delete": {"admin"},
    "ledger.my_hours": CAREGIVERS,
    "ledger.staff_hours": INST_VIEWERS,
    "ledger.person_hours": {"regulator", "regulator_city", "admin"},
    "ledger.reverse_entry": {"admin"},
    "ledger.external_hours": {"inst_admin", "inst_admin_other", "admin"},
    "ledger.evidence": {"inst_admin", "regulator", "regulator_city", "admin"},
    "ledger.external_record": {"inst_admin", "regulator", "regulator_city", "admin"},
    "ledger.external_queue": REGULATORS | {"admin"},
    "ledger.external_decide": {"regulator", "regulator_city", "admin"},
    "catalog.asset": SIGNED_IN,
    "catalog.media": SIGNED_IN,
    "learning.catalogue": SIGNED_IN,
    "learning.course_detail": SIGNED_IN,
    "learning.enrol": CAREGIVERS,
    "learning.my_courses": CAREGIVERS,
    "learning.study": CAREGIVERS,
    "learning.study_start": CAREGIVERS,
    "learning.heartbeat": CAREGIVERS,
    "learning.idle": CAREGIVERS,
    "learning.answer": CAREGIVERS,
    "learning.self_check": CAREGIVERS,
    "learning.lesson_evidence": {"regulator", "regulator_city", "admin"},
    "core.notifications_page": SIGNED_IN,
    "scheduling.calendar": BASE_RUNNERS,
    "scheduling.session_new": BASE_RUNNERS,
    "scheduling.session_edit": BASE_RUNNERS,
    "scheduling.resources": BASE_RUNNERS,
    "scheduling.session_cancel": BASE_RUNNERS,
    "scheduling.session_close": BASE_RUNNERS,
    "scheduling.attendance_mark": BASE_RUNNERS,
    "scheduling.trainer_qr": BASE_RUNNERS,
    "scheduling.trainer_qr_json": BASE_RUNNERS,
    "scheduling.sign_in_sheet": BASE_RUNNERS,
    "scheduling.upcoming": EVERYONE,
    "scheduling.feed": EVERYONE,
    "scheduling.session_detail": SIGNED_IN,
    "scheduling.book": CAREGIVERS,
    "scheduling.booking_cancel": {"caregiver", "base_staff", "admin"},
    "scheduling.my_sessions": CAREGIVERS,
    "scheduling.attend": CAREGIVERS,
    "exams.sittings": BASE_RUNNERS,
    "exams.sitting_new": BASE_RUNNERS,
    "exams.sitting_detail": BASE_RUNNERS,
    "exams.practical_score": {"base_staff"},  # the sitting's examiner
    "exams.my_exams": CAREGIVERS,
    "exams.paper": CAREGIVERS,
    "exams.paper_start": CAREGIVERS,
    "exams.hand_in": CAREGIVERS,
    "exams.withdraw": BASE_RUNNERS,
    "exams.save_answer": {"caregiver"},  # the candidate whose paper it is
    "certificates.issue_batch": BASE_RUNNERS,
    "certificates.detail": CERT_MANAGERS | {"caregiver"},  # and the holder, nobody else
    "certificates.change_status": CERT_MANAGERS,
    "certificates.download": CERT_MANAGERS | {"caregiver"},  # and the holder, nobody else
    "certificates.regrade": BASE_RUNNERS,  # the issuing base, an administrator
    "certificates.mine": CAREGIVERS,
    "certificates.verify": EVERYONE,
    "certificates.verify_code": EVERYONE,
    "certificates.types": {"admin"},
    "registry.qualification_scan": {"inst_admin", "regulator", "regulator_city", "admin"},
    "registry.qualification_check": {"regulator", "regulator_city"},
    # world.inst employs world.staff now; the caregiver is world.staff
    "registry.staff_record_new": INST_MANAGERS,
    "registry.staff_record_scan": {"inst_admin", "regulator", "regulator_city", "admin", "caregiver"},
    "subsidies.mine": CAREGIVERS,
    "subsidies.claim_new": {"caregiver"},  # the certificate's holder
    # the claimant, the base that confirms it, the HR bureau, administrators (read only)
    "subsidies.claim": {"caregiver", "base_staff", "hr_reviewer", "admin"},
    "subsidies.act": {"caregiver", "base_staff", "hr_reviewer"},
    "subsidies.objection_new": {"hr_reviewer"},
    "subsidies.objection_resolve": {"hr_reviewer"},
    "subsidies.base_claims": BASE_RUNNERS,
    "subsidies.sitting_claims": BASE_RUNNERS,
    "subsidies.review": {"hr_reviewer"},
    "subsidies.export": {"hr_reviewer"},
    "subsidies.notices": EVERYONE,
    "subsidies.notice": EVERYONE,
    "subsidies.standards": {"admin"},
    "subsidies.objection_contact": {"admin"},
    # --- enforcement: inspections, 人证合一 checks, credit feed (the task is in 玄武区) ---
    "enforcement.inspections_home": REGULATORS,
    "enforcement.inspection_items": REGULATORS,
    "enforcement.inspectors": REGULATORS,
    "enforcement.inspector_affiliation": INSPECTORS,
    "enforcement.inspection_task_new": REGULATORS,
    "enforcement.inspection_task": INSPECTORS,
    "enforcement.inspection_task_draw": INSPECTORS,
    "enforcement.inspection_task_act": INSPECTORS,
    "enforcement.inspection_task_verify": INSPECTORS,
    "enforcement.inspection_visit": INSPECTORS,
    "enforcement.inspection_find": INSPECTORS,
    "enforcement.inspection_check": INSPECTORS,
    "enforcement.inspection_result": INSPECTORS,
    "enforcement.inspection_check_photo": INSPECTORS,
    "enforcement.follow_ups": REGULATORS,
    "enforcement.follow_up_resolve": INSPECTORS,
    "enforcement.not_inspected": REGULATORS,
    "enforcement.credit_feed": {"regulator_city"},  # full identity numbers: see credit_feed.py
    "enforcement.public_inspections": EVERYONE,
    "enforcement.public_plan": EVERYONE,
    "enforcement.public_task": EVERYONE,
    "enforcement.public_results": EVERYONE,
    "api.clients": {"admin"},
    "api.issue_token": {"admin"},
    "api.revoke_token": {"admin"},
    # the API's document, its reference page and its problem types' pages are public
    "api.v1.openapi": EVERYONE,
    "api.v1.reference": EVERYONE,
    "api.v1.problem": EVERYONE,
    **{endpoint: set() for endpoint in (
        "api.v1.person_status", "api.v1.institution_compliance", "api.v1.district_compliance",
        "api.v1.certificate", "api.v1.bans", "api.v1.certificate_status")},
    # bans: the world's ban was imposed in 玄武区 (its regulators and the city's act on it)
    "enforcement.ban_list": REGULATORS,
    "enforcement.ban_new": REGULATORS,
    "enforcement.ban_detail": {"regulator", "regulator_city"},
    "enforcement.ban_evidence": {"regulator", "regulator_city"},
    "enforcement.ban_lift_request": {"regulator", "regulator_city"},
    # the one who asked reaches the form and is told a second regulator decides (four eyes)
    "enforcement.ban_lift_decide": {"regulator", "regulator_city"},
    # --- a person's own data (lms/mydata.py): the person; an administrator on request ---
    "mydata.mine": CAREGIVERS,
    "mydata.mine_json": CAREGIVERS,
    "mydata.mine_pdf": CAREGIVERS,
    "mydata.correction_new": CAREGIVERS,
    "mydata.person_data": {"caregiver", "admin"},  # world.staff is the caregiver
    "mydata.person_json": {"caregiver", "admin"},
    "mydata.person_pdf": {"caregiver", "admin"},
    "mydata.corrections": {"inst_admin", "inst_admin_other", "admin"},
    "mydata.correction_answer": {"inst_admin"},  # the request went to world.inst
    "mydata.produce": {"admin"},
}

#: the JSON API answers a bearer token, never a session: every role (signed in or not) gets 401
#: here; tests/api checks each endpoint for each token scope
TOKEN_AUTHENTICATED = {endpoint for endpoint in MATRIX if endpoint.startswith("api.v1.")
                       and endpoint not in {"api.v1.openapi", "api.v1.reference", "api.v1.problem"}}


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 260), (120, 160, 200)).save(out, "JPEG")
    return out.getvalue()


def _values(world, rule_id, extra):
    return {
        "org_id": world.inst.id, "person_id": world.staff.id,
        "employment_id": world.staff.employments[0].id,
        "user_id": world.users["caregiver"].id, "rule_id": rule_id, "batch": "no-such-batch",
        "code": "en", "slug": "not-found", "district_id": world.xuanwu.id, **extra,
    }


def _learning_world(world) -> dict:
    """A course the caregiver is enrolled in, a ledger entry, an external record."""
    from decimal import Decimal

    from lms.learning import service as learning
    from lms.ledger import service as ledger

    course = import_test_course()
    learning.enrol(world.users["caregiver"], world.staff, course)
    record = ledger.record_external(world.users["inst_admin"], world.staff, year=local_today().year,
                                    category="skills", hours=Decimal("2"), provider="平台",
                                    reference="R-1", evidence_name="e.pdf", evidence=b"%PDF-1.4 x")
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.source_ref == str(record.id)))
    session, booking = _session_world(world, course)
    sitting, registration, item = _exam_world(world, course)
    return {"course_id": course.id, "lesson_id": course.lessons[0].id, "entry_id": entry.id,
            "record_id": record.id, "path": "images/steps.svg", "filename": "TT-101/clip.mp4",
            "base_id": world.base.id, "session_id": session.id, "booking_id": booking.id,
            "token": scheduling.feed_token(person=world.staff), "sitting_id": sitting.id,
            "registration_id": registration.id, "item_id": item.id,
            **_certificate_values(world, sitting, registration),
            "qualification_id": _external_certificate(world).id,
            "staff_record_id": _staff_record(world).id, **_inspection_values(world),
            **_api_values(world), **_ban_values(world), "job_id": _job(world).id,
            **_mydata_values(world)}


def _mydata_values(world) -> dict:
    """The caregiver's request to world.inst to correct their data (lms/mydata.py)."""
    from lms import mydata

    correction = mydata.request_correction(world.users["caregiver"], world.staff,
                                           section="person", subject="手机号", message="号码有误")
    return {"correction_id": correction.id}


def _inspection_values(world) -> dict:
    """An announced inspection task in 玄武区 with world.inst drawn, two inspectors, and a
    mismatch recorded for world.staff with a photo (an open follow-up)."""
    from lms.core.actors import DEMO
    from lms.core.clock import this_year
    from lms.enforcement import inspections

    pool = [inspections.add_inspector(DEMO, world.xuanwu, name=name) for name in ("王检", "李检")]
    task = inspections.create_task(DEMO, world.xuanwu, year=this_year(), title="年度抽查",
                                   draw_count=1)
    inspections.draw(DEMO, task, "access")
    inspections.transition(DEMO, task, "publish")
    visit = task.visits[0]
    check = inspections.record_check(DEMO, visit, world.staff, result="mismatch", note="不符",
                                     photo=_photo())
    return {"task_id": task.id, "visit_id": visit.id, "check_id": check.id,
            "inspector_id": pool[0].id, "year": this_year()}


def _api_values(world) -> dict:
    """An API client with a token (the administrators' page lists, re-issues and revokes)."""
    from datetime import timedelta

    from lms.api import tokens

    issued = tokens.issue_client(world.users["admin"], name="区平台", scope="district",
                                 district=world.xuanwu, expires_on=local_today() + timedelta(days=9))
    return {"client_id": issued.client.id, "token_id": issued.token.id}


def _ban_values(world) -> dict:
    """A ban imposed in 玄武区 on someone not in the registry, with a lift waiting for a second
    regulator (asked by the district's regulator)."""
    from lms.enforcement import service as enforcement
    from lms.registry.models import BanEvidence
    from tests.factories import id_number

    ban = service.record_ban(world.users["regulator"], id_number=id_number("320102", "19800101", 9),
                             name="禁业者", kind="lifetime", starts_on=local_today(), ends_on=None,
                             reason="虐童", decision_ref="玄卫禁〔2026〕9号", category="child_abuse",
                             district_id=world.xuanwu.id)
    db.session.add(BanEvidence(ban_id=ban.id, filename="d.pdf", content_type="application/pdf",
                               data=b"%PDF-1.4 d"))
    request = enforcement.request_lift(world.users["regulator"], ban, "复议撤销")
    return {"ban_id": ban.id, "request_id": request.id}


def _job(world):
    """A roster import the institution's administrator started (queued, never run)."""
    from lms.core import jobs

    return jobs.new_job("registry.import_roster", user=world.users["inst_admin"],
                        params={"organisation_id": world.inst.id,
                                "scope": jobs.scope_of(world.users["inst_admin"])})


def _external_certificate(world):
    """A 健康证 the institution recorded for the caregiver, with its scan."""
    from lms.registry.models import QualificationType

    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "health_cert"))
    record = service.add_qualification(world.users["inst_admin"], world.staff, qtype,
                                       issued_on=date(2026, 3, 1), certificate_no="JK-2026-001",
                                       issuer="玄武区疾控中心")
    service.attach_scan(world.users["inst_admin"], record, b"%PDF-1.4 scan")
    return record


def _staff_record(world):
    """The caregiver's health check, recorded by her institution with its scan."""
    return service.record_staff_record(world.users["inst_admin"], world.inst, world.staff,
                                       kind="health_check", issued_on=local_today(), result="fit",
                                       issuer="玄武区妇幼保健院", document_no="TJ-1",
                                       scan=b"%PDF-1.4 scan")


def _certificate_values(world, sitting, registration):
    """The caregiver passed (scores set here) and holds the certificate."""
    from decimal import Decimal

    from lms.certificates import service as certificates
    from lms.exams import service as exams

    registration.theory_score = Decimal(90)
    exams.enter_practical(world.users["base_staff"], registration, "90")
    cert = certificates.issue(world.users["base_staff"], registration)
    return {"cert_id": cert.id, "vcode": cert.verify_code, **_subsidy_values(world, cert)}


def _subsidy_values(world, cert):
    """The caregiver's claim for that certificate, an objection to it, and a notice."""
    from lms.subsidies import service as subsidies
    from lms.subsidies.models import Objection, SubsidyNotice

    claim = subsidies.submit(world.users["caregiver"], cert, bank_name="工商银行",
                             bank_account="6222021234567890123")
    notice = SubsidyNotice(title="公示", starts_on=local_today(), ends_on=local_today())
    db.session.add(notice)
    db.session.flush()
    objection = Objection(claim_id=claim.id, received_on=local_today(), summary="异议")
    db.session.add(objection)
    db.session.flush()
    return {"claim_id": claim.id, "notice_id": notice.id, "objection_id": objection.id}


def _exam_world(world, course):
    """A sitting at world.base that has started, the caregiver registered with a paper open."""
    from datetime import datetime, timedelta

    from lms.exams import service as exams
    from lms.learning.models import Enrolment
    from lms.registry.models import QualificationType

    staff = world.users["base_staff"]
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    starts = datetime.combine(local_today() + timedelta(days=7), datetime.min.time())
    sitting = exams.plan_sitting(staff, world.base, exams.SittingPlan(
        qualification_type=qtype, level=5, starts_at=starts, duration_minutes=60, venue=base_venue(world.base, "考场"),
        examiners=[staff], blueprint={"single": 2}))
    for person in (world.staff, world.staff_other):
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.person_id == person.id))
        if enrolment is None:
            enrolment = Enrolment(person_id=person.id, course_id=course.id)
            db.session.add(enrolment)
        enrolment.completed_at = utc_now()
    registration = exams.register(staff, sitting, world.staff)
    exams.register(staff, sitting, world.staff_other)
    sitting.starts_at = utc_now() - timedelta(minutes=5)  # it has begun
    attempt = exams.start_attempt(world.users["caregiver"], registration)
    return sitting, registration, attempt.items[0]


def _session_world(world, course):
    """A session at world.base next week, with the caregiver booked on it."""
    from datetime import datetime, timedelta

    base_staff = world.users["base_staff"]
    venue = scheduling.add_venue(base_staff, world.base, "一号实训室")
    instructor = scheduling.add_instructor(base_staff, world.base, "李老师")
    starts = datetime.combine(local_today() + timedelta(days=7), datetime.min.time()).replace(hour=9)
    session = scheduling.schedule(base_staff, world.base, scheduling.SessionPlan(
        course=course, kind="practical", venue=venue, instructor=instructor, starts_at=starts,
        ends_at=starts + timedelta(hours=3), capacity=20, class_hours="3"))[0]
    return session, scheduling.book(world.users["caregiver"], world.staff, session)
