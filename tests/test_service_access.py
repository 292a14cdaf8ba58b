"""Every state-changing service, as every role: the service refuses exactly what the HTTP access
matrix refuses (tests/access.py), so a front door that skips the page (the API, the CLI, a job)
meets the same rule. A new service taking an `actor` that is in neither SERVICES nor READS fails
the test, so it cannot ship without deciding who may call it."""

from __future__ import annotations

import ast
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from lms import mydata
from lms.api import tokens as api_tokens
from lms.api.models import ApiClient, ApiToken
from lms.auth import second_factor
from lms.auth import service as auth
from lms.auth.models import Anonymous, User
from lms.auth.tasks import purge_expired_one_time_passwords
from lms.catalog import exam_bank
from lms.catalog import service as catalog
from lms.catalog.models import Course, Lesson
from lms.certificates import service as certificates
from lms.certificates.models import Certificate
from lms.compliance import reminders as compliance_reminders
from lms.compliance import rollups
from lms.compliance import service as compliance
from lms.core import audit_retention, jobs, settings
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.core.errors import DomainError, PermissionDenied
from lms.enforcement import credit_feed, inspections
from lms.enforcement import service as enforcement
from lms.enforcement.models import IdentityCheck, InspectionTask, InspectionVisit, Inspector
from lms.exams import service as exams
from lms.exams.models import AttemptItem, ExamSitting, Registration
from lms.extensions import db
from lms.learning import service as learning
from lms.ledger import service as ledger
from lms.ledger.models import ExternalRecord, LedgerEntry
from lms.registry import roster, venues
from lms.registry import service as registry
from lms.registry.models import (
    Ban,
    BanLiftRequest,
    Employment,
    Person,
    PostRequirement,
    Qualification,
    QualificationType,
)
from lms.scheduling import service as scheduling
from lms.scheduling.models import Booking, TrainingSession
from lms.subsidies import service as subsidies
from lms.subsidies.models import Objection, SubsidyClaim
from tests.access import MATRIX, ROLES, _learning_world
from tests.conftest import FIXTURE_COURSES, FIXTURE_EXAM_BANK, PASSWORD, build_world
from tests.factories import id_number

LMS = Path(__file__).resolve().parent.parent / "lms"
SIGNED_IN_ROLES = [r for r in ROLES if r != "anon"]

#: services that take an actor only to scope what they show, and predicates that write nothing
READS = {
    # the JSON API's answers (lms/api/service.py): each authorises the client's token scope
    "api.person_status", "api.institution_compliance", "api.district_compliance",
    "api.certificate", "api.ban_feed", "api.certificate_feed",
    "ledger.recent_external", "registry.check_runs_base", "registry.controls_person",
    "registry.may_issue_password", "registry.staff_records", "registry.staff_record_lines",
    "registry.staff_record_scan", "subsidies.export_rows", "subsidies.export_xlsx",
    "subsidies.queue", "subsidies.reviewer_summary",
    "enforcement.inspections.districts_of", "registry.employments_seen_by",
    "compliance.scope_for", "compliance.compliance_for", "compliance.person_compliance",
    "compliance.staff_compliance", "compliance.dashboard", "compliance.city_table",
    "compliance.district_table", "compliance.institution_table", "compliance.export_xlsx",
    # a job's progress and result: its starter and administrators; failed jobs: administrators
    "core.jobs.status", "core.jobs.failed_jobs", "registry.roster.result_of",
    # a job's file: only the user who asked, with the scope it was made for
    "core.jobs.output_of", "subsidies.export_count",
    "mydata.corrections_to_answer",
}
#: the gate's own parts: they take the actor to name it or to judge it, not to act
MECHANICS = {"core.actors.is_system", "api.actors.is_api_client", "core.audit.record", "core.permissions.authorize",
             # hands out a one-time password for a service that authorised the actor by its
             # own rule (auth.reset_password, registry.issue_staff_password) and names the actor
             # in the audit record; it is no door of its own
             "auth.issue_one_time_password"}


# --- the world's objects -------------------------------------------------------------------------


class Objects:
    """The rich world's objects (tests/access.py builds them), loaded afresh by name: each call
    runs after the previous one was rolled back."""

    MODELS = {"ban": Ban, "lift_request": BanLiftRequest, "course": Course, "lesson": Lesson, "entry": LedgerEntry, "record": ExternalRecord,
              "session": TrainingSession, "booking": Booking, "sitting": ExamSitting,
              "registration": Registration, "item": AttemptItem, "cert": Certificate,
              "claim": SubsidyClaim, "objection": Objection, "qualification": Qualification,
              "task": InspectionTask, "visit": InspectionVisit, "check": IdentityCheck,
              "inspector": Inspector, "client": ApiClient, "token": ApiToken,
              "correction": mydata.CorrectionRequest}

    def __init__(self, ids: dict):
        self.ids = ids

    def __getattr__(self, name):
        if name not in self.MODELS:
            raise AttributeError(name)
        key = "request_id" if name == "lift_request" else f"{name}_id"
        return db.session.get(self.MODELS[name], self.ids[key])


def _colleague(world) -> Employment:
    """A second current employment at world.inst (a director, added by the demo actor inside
    the call's savepoint), for world.staff's direct manager."""
    return registry.add_staff(DEMO, world.inst, id_number=id_number("320102", "19800505", 8),
                              name="周园长", post="director", start_date=date(2020, 1, 1)).employment


def _me(world, user) -> Person:
    """The caregiver's own person (pages act for the signed-in caregiver); others try world.staff."""
    return db.session.get(Person, user.person_id) if getattr(user, "person_id", None) else world.staff


def _own_registration(world, o, user) -> Registration:
    return exams.registration_of(_me(world, user), o.sitting) or o.registration


def _own_attempt(world, o, user):
    """The page hands in the signed-in candidate's own paper (starting caregiver_other's here);
    everyone else tries the world's open paper."""
    registration = _own_registration(world, o, user)
    return exams.attempt_of(registration) or exams.start_attempt(user, registration)


def _session_plan(world, o, days=14):
    starts = datetime.combine(local_today() + timedelta(days=days), datetime.min.time()).replace(hour=9)
    session = o.session
    return scheduling.SessionPlan(course=o.course, kind="practical", venue=session.venue,
                                  instructor=session.instructor, starts_at=starts,
                                  ends_at=starts + timedelta(hours=3), capacity=20, class_hours="3")


def _sitting_plan(world, o):
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    starts = datetime.combine(local_today() + timedelta(days=21), datetime.min.time()).replace(hour=9)
    examiner = world.users["base_staff"]
    return exams.SittingPlan(qualification_type=qtype, level=5, starts_at=starts,
                             duration_minutes=60, venue=o.sitting.venue, examiners=[examiner],
                             blueprint={"single": 2})


def _roster() -> bytes:
    book = Workbook()
    book.active.append(["姓名", "身份证号", "手机号", "岗位", "入职日期"])
    book.active.append(["李四", id_number("320102", "19920101", 5), "13700000000", "保育员",
                        local_today().isoformat()])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _own_district(world, user):
    """A regulator acts in their own district; the city regulator and everyone else try 玄武区."""
    from lms.core.models import District

    district_id = getattr(user, "district_id", None)
    return db.session.get(District, district_id) if district_id else world.xuanwu


SINCE = datetime(2026, 1, 1)


def _qtype(code="baoyushi") -> QualificationType:
    return db.session.scalar(select(QualificationType).where(QualificationType.code == code))


@dataclass(frozen=True)
class Case:
    #: the MATRIX endpoint that states who may do this on the world's objects, or an explicit set
    expect: str | frozenset
    call: object  # (world, objects, user) -> anything; PermissionDenied means refused


def _only(*roles, why: str) -> frozenset:  # `why` is for the reader of the table
    return frozenset(roles)


ADMIN_ONLY_CLI = _only("admin", why="no page: the CLI (a system actor) or an administrator")
BAN_EFFECTS = _only("regulator", "regulator_other", "regulator_city",
                    why="a ban's effects: enforcement.impose_ban carries them out for the "
                        "regulator whose decision it is (it checks the ban is theirs to impose)")
SYSTEM_ONLY = _only(why="jobs: the scheduler and the CLI (system actors) only")
REGULATORS_AND_ADMIN = {"regulator", "regulator_other", "regulator_city", "admin"}


SERVICES: dict[str, Case] = {
    # --- compliance ---
    "compliance.rollups.refresh": Case(ADMIN_ONLY_CLI, lambda w, o, u: rollups.refresh(u)),
    "compliance.rollups.check": Case(ADMIN_ONLY_CLI, lambda w, o, u: rollups.check(u, 5)),
    # an export: the file, or past EXPORT_JOB_ROWS a job record made for this user
    "compliance.start_export": Case("compliance.export_city", lambda w, o, u: compliance.start_export(
        u, "city", None, filename="compliance-city.xlsx")),
    "compliance.reminders.remind_hours_behind": Case(
        SYSTEM_ONLY, lambda w, o, u: compliance_reminders.remind_hours_behind(u)),
    # --- auth ---
    "auth.create_staff_user": Case("auth.new_user", lambda w, o, u: auth.create_staff_user(
        u, username="newstaff", display_name="新人", role="regulator", district_id=w.xuanwu.id)),
    "auth.create_staff_account": Case("auth.new_user", lambda w, o, u: auth.create_staff_account(
        u, username="newstaff", display_name="新人", role="regulator", district_id=w.xuanwu.id)),
    "auth.reset_password": Case("auth.reset_password", lambda w, o, u:
                                auth.reset_password(u, w.users["hr_reviewer"])),
    "auth.set_enabled": Case("auth.set_enabled", lambda w, o, u:
                             auth.set_enabled(u, w.users["hr_reviewer"], False)),
    # one's own session and password: every signed-in user, for themselves
    "auth.logout": Case("auth.logout", lambda w, o, u: auth.logout(u)),
    "auth.change_password": Case("auth.change_password", lambda w, o, u: auth.change_password(
        u, PASSWORD, "quiet-harbour-lantern-47", "quiet-harbour-lantern-47")),
    # the second factor: one's own, every signed-in user; a reset is an administrator's
    "auth.second_factor.begin_enrolment": Case("auth.second_factor_setup", lambda w, o, u:
                                               second_factor.begin_enrolment(u)),
    "auth.second_factor.confirm_enrolment": Case("auth.second_factor_setup", lambda w, o, u:
                                                 second_factor.confirm_enrolment(u, "000000")),
    "auth.second_factor.new_recovery_codes": Case("auth.second_factor_setup", lambda w, o, u:
                                                  second_factor.new_recovery_codes(u, "000000")),
    "auth.second_factor.forget_devices": Case("auth.forget_devices", lambda w, o, u:
                                              second_factor.forget_devices(u)),
    "auth.second_factor.reset_second_factor": Case("auth.reset_second_factor", lambda w, o, u:
        second_factor.reset_second_factor(u, w.users["hr_reviewer"])),
    "auth.security_events": Case("auth.security_events", lambda w, o, u:
                                 auth.security_events(u, auth.EventFilter())),
    "auth.purge_expired": Case(ADMIN_ONLY_CLI, lambda w, o, u: auth.purge_expired(u)),
    # --- core ---
    "core.audit_retention.purge_audit_log": Case(ADMIN_ONLY_CLI, lambda w, o, u:
                                                 audit_retention.purge_audit_log(u)),
    "core.jobs.recover_stalled": Case(ADMIN_ONLY_CLI, lambda w, o, u: jobs.recover_stalled(u)),
    "core.settings.set_setting": Case("core.settings_page", lambda w, o, u: settings.set_setting(
        u, "subsidies.second_approval_threshold", "5000", local_today())),
    # --- api: clients and tokens ---
    "api.tokens.issue_client": Case("api.clients", lambda w, o, u: api_tokens.issue_client(
        u, name="新平台", scope="city", district=None, expires_on=local_today() + timedelta(days=5))),
    "api.tokens.issue_token": Case("api.issue_token", lambda w, o, u: api_tokens.issue_token(
        u, o.client, local_today() + timedelta(days=5))),
    "api.tokens.revoke_token": Case("api.revoke_token", lambda w, o, u:
                                    api_tokens.revoke_token(u, o.token)),
    # --- registry ---
    "registry.record_ban": Case(_only(*REGULATORS_AND_ADMIN, why="the row the gate reads: the ban "
                                      "pages record it through enforcement.impose_ban (regulators); "
                                      "administrators and the CLI record a decision alone"),
                                lambda w, o, u: registry.record_ban(
                                    u, id_number=w.staff.id_number, name=w.staff.name,
                                    kind="lifetime", starts_on=local_today(), ends_on=None,
                                    reason="虐童", decision_ref="D-1")),
    "registry.end_employments_for_ban": Case(BAN_EFFECTS, lambda w, o, u:
                                             registry.end_employments_for_ban(
                                                 u, w.staff.id, local_today(), "禁业")),
    "registry.get_or_create_person": Case(
        _only("inst_admin", "inst_admin_other", "admin",
              why="any institution may put a new person in the registry; employing them is "
                  "add_staff's rule, scoped to the institution"),
        lambda w, o, u: registry.get_or_create_person(
            u, id_number=id_number("320102", "19950505", 3), name="王五", mobile="13600000000")),
    "registry.update_contact": Case("registry.staff_new", lambda w, o, u: registry.update_contact(
        u, w.staff, "13911112222")),
    "registry.reveal_id_number": Case("registry.staff_reveal", lambda w, o, u:
                                      registry.reveal_id_number(u, w.staff)),
    "registry.set_photo": Case("registry.staff_photo_upload", lambda w, o, u: registry.set_photo(
        u, w.staff, b"not a photo")),
    "registry.lookup_person": Case("registry.lookup", lambda w, o, u: registry.lookup_person(
        u, w.staff.id_number, w.staff.name)),
    "registry.find_staff_member": Case("registry.staff_find", lambda w, o, u:
                                       registry.find_staff_member(u, w.inst, w.staff.id_number)),
    "registry.ensure_account": Case("registry.staff_password", lambda w, o, u:
                                    registry.ensure_account(u, w.staff)),
    "registry.issue_staff_password": Case("registry.staff_password", lambda w, o, u:
                                          registry.issue_staff_password(u, w.inst, w.staff)),
    "registry.create_organisation": Case("registry.organisations", lambda w, o, u:
                                         registry.create_organisation(
                                             u, kind="institution", name="新托育园",
                                             district=w.xuanwu, credit_code="", filing_no="",
                                             address="")),
    "registry.add_staff": Case("registry.staff_new", lambda w, o, u: registry.add_staff(
        u, w.inst, id_number=id_number("320102", "19930303", 4), name="赵六",
        mobile="13500000000", post="nursery_carer", start_date=local_today())),
    "registry.end_employment": Case("registry.employment_end", lambda w, o, u:
                                    registry.end_employment(
                                        u, db.session.scalar(select(Employment).where(
                                            Employment.person_id == w.staff.id)),
                                        local_today(), "离职")),
    "registry.set_direct_manager": Case("registry.direct_manager_set", lambda w, o, u:
                                        registry.set_direct_manager(
                                            u, w.staff.employments[0], _colleague(w), local_today())),
    "registry.add_post_requirement": Case("registry.post_requirements", lambda w, o, u:
                                          registry.add_post_requirement(
                                              u, "security_guard", _qtype(), 5)),
    "registry.remove_post_requirement": Case("registry.post_requirement_delete", lambda w, o, u:
                                             registry.remove_post_requirement(u, db.session.scalar(
                                                 select(PostRequirement).limit(1)))),
    "registry.add_qualification": Case("registry.qualification_new", lambda w, o, u:
                                       registry.add_qualification(
                                           u, w.staff, _qtype("health_cert"),
                                           issued_on=local_today(), certificate_no="JK-2",
                                           issuer="疾控中心")),
    "registry.update_qualification_type": Case("certificates.types", lambda w, o, u:
                                               registry.update_qualification_type(
                                                   u, _qtype(), name_zh="保育师", name_en="Nursery",
                                                   occupation_code="", validity_months=None,
                                                   number_prefix="BY")),
    "registry.attach_scan": Case("registry.qualification_new", lambda w, o, u:
                                 registry.attach_scan(u, o.qualification, b"%PDF-1.4 scan")),
    "registry.mark_checked": Case("registry.qualification_check", lambda w, o, u:
                                  registry.mark_checked(u, o.qualification)),
    "registry.record_staff_record": Case("registry.staff_record_new", lambda w, o, u:
                                         registry.record_staff_record(
                                             u, w.inst, w.staff, kind="health_check",
                                             issued_on=local_today(), result="fit",
                                             issuer="玄武区妇幼保健院")),
    "registry.roster.import_roster": Case("registry.roster_import", lambda w, o, u:
                                          roster.import_roster(u, w.inst, _roster())),
    "registry.roster.start_import": Case("registry.roster_import", lambda w, o, u:
                                         roster.start_import(u, w.inst, _roster())),
    "auth.tasks.purge_expired_one_time_passwords": Case(
        ADMIN_ONLY_CLI, lambda w, o, u: purge_expired_one_time_passwords(u)),
    "registry.roster.issue_batch_passwords": Case("registry.roster_passwords", lambda w, o, u:
                                                  roster.issue_batch_passwords(u, w.inst, "b-1")),
    "registry.venues.add_venue": Case("scheduling.resources", lambda w, o, u:
                                      venues.add_venue(u, w.base, "二号实训室")),
    "registry.venues.reserve_venue": Case("scheduling.session_new", lambda w, o, u:
                                          venues.reserve_venue(
                                              u, o.session.venue, datetime(2030, 1, 1, 9),
                                              datetime(2030, 1, 1, 10), use="session",
                                              holder_id=999, title="x")),
    "registry.venues.release_venue": Case("scheduling.session_cancel", lambda w, o, u:
                                          venues.release_venue(u, w.base, use="session",
                                                               holder_id=o.session.id)),
    # --- ledger ---
    "ledger.credit": Case(_only("admin", why="a correction is an administrator's (as "
                                "ledger.reverse_entry); sessions and external hours are "
                                "credited through their own services"),
                          lambda w, o, u: ledger.credit(
                              u, w.staff, year=o.entry.year, category=o.entry.category,
                              hours=-o.entry.hours, source_type="correction",
                              source_ref=f"reverses:{o.entry.id}", reverses=o.entry,
                              reason="更正")),
    "ledger.reverse": Case("ledger.reverse_entry", lambda w, o, u: ledger.reverse(u, o.entry, "错")),
    "ledger.identify_for_external": Case("ledger.external_hours", lambda w, o, u:
                                         ledger.identify_for_external(
                                             u, w.staff.id_number, w.staff.name)),
    "ledger.record_external": Case(
        _only("inst_admin", "admin", why="the page (ledger.external_hours) is every "
              "institution's; recording for world.staff is its employer's or an administrator's"),
        lambda w, o, u: ledger.record_external(
            u, w.staff, year=local_today().year, category="ethics", hours=Decimal("1"),
            provider="平台", reference="R-2", evidence_name="e.pdf", evidence=b"%PDF-1.4 y")),
    "ledger.decide_external": Case("ledger.external_decide", lambda w, o, u:
                                   ledger.decide_external(u, o.record, "confirm")),
    # --- catalog ---
    "catalog.import_courses": Case(ADMIN_ONLY_CLI, lambda w, o, u:
                                   catalog.import_courses(u, FIXTURE_COURSES)),
    "catalog.exam_bank.import_exam_banks": Case(ADMIN_ONLY_CLI, lambda w, o, u:
                                                exam_bank.import_exam_banks(u, FIXTURE_EXAM_BANK)),
    # --- learning (the pages act for the signed-in caregiver's own person) ---
    "learning.cancel_enrolments_for_ban": Case(BAN_EFFECTS, lambda w, o, u:
                                               learning.cancel_enrolments_for_ban(u, w.staff.id, "禁业")),
    "learning.enrol": Case("learning.enrol", lambda w, o, u: learning.enrol(u, _me(w, u), o.course)),
    "learning.start_study": Case("learning.study_start", lambda w, o, u:
                                 learning.start_study(u, _me(w, u), o.lesson)),
    "learning.heartbeat": Case("learning.heartbeat", lambda w, o, u:
                               learning.heartbeat(u, _me(w, u).id, "no-token", 1)),
    "learning.report_idle": Case("learning.idle", lambda w, o, u:
                                 learning.report_idle(u, _me(w, u).id, "no-token")),
    "learning.answer_challenge": Case("learning.answer", lambda w, o, u:
                                      learning.answer_challenge(u, _me(w, u).id, "no-token", "A")),
    "learning.submit_self_check": Case("learning.self_check", lambda w, o, u:
                                       learning.submit_self_check(u, _me(w, u), o.lesson, {})),
    # --- scheduling ---
    "scheduling.add_instructor": Case("scheduling.resources", lambda w, o, u:
                                      scheduling.add_instructor(u, w.base, "王老师")),
    "scheduling.schedule": Case("scheduling.session_new", lambda w, o, u:
                                scheduling.schedule(u, w.base, _session_plan(w, o))),
    "scheduling.reschedule": Case("scheduling.session_edit", lambda w, o, u:
                                  scheduling.reschedule(u, o.session, _session_plan(w, o, 8))),
    "scheduling.cancel_session": Case("scheduling.session_cancel", lambda w, o, u:
                                      scheduling.cancel_session(u, o.session, "讲师病了")),
    "scheduling.book": Case("scheduling.book", lambda w, o, u:
                            scheduling.book(u, _me(w, u), o.session)),
    "scheduling.cancel_bookings_for_ban": Case(BAN_EFFECTS, lambda w, o, u:
                                               scheduling.cancel_bookings_for_ban(u, w.staff.id, "禁业")),
    "scheduling.cancel_booking": Case("scheduling.booking_cancel", lambda w, o, u:
                                      scheduling.cancel_booking(u, o.booking)),
    "scheduling.check_in": Case("scheduling.attend", lambda w, o, u:
                                scheduling.check_in(u, _me(w, u), o.session, "no-code")),
    "scheduling.mark": Case("scheduling.attendance_mark", lambda w, o, u:
                            scheduling.mark(u, o.session, w.staff, "present", "扫码失败")),
    "scheduling.close_session": Case("scheduling.session_close", lambda w, o, u:
                                     scheduling.close_session(u, o.session)),
    # --- exams ---
    "exams.plan_sitting": Case("exams.sitting_new", lambda w, o, u:
                               exams.plan_sitting(u, w.base, _sitting_plan(w, o))),
    "exams.register": Case("exams.sitting_detail", lambda w, o, u:
                           exams.register(u, o.sitting, w.staff)),
    "exams.withdraw_for_ban": Case(BAN_EFFECTS, lambda w, o, u: exams.withdraw_for_ban(
        u, w.staff.id, "禁业")),
    "exams.withdraw": Case("exams.withdraw", lambda w, o, u: exams.withdraw(u, o.registration, "病假")),
    "exams.start_attempt": Case("exams.paper_start", lambda w, o, u:
                                exams.start_attempt(u, _own_registration(w, o, u))),
    "exams.save_answer": Case("exams.save_answer", lambda w, o, u:
                              exams.save_answer(u, o.item, ["A"])),
    "exams.hand_in": Case("exams.hand_in", lambda w, o, u: exams.hand_in(u, _own_attempt(w, o, u))),
    # --- certificates ---
    "certificates.issue": Case("certificates.issue_batch", lambda w, o, u: certificates.issue(
        u, exams.registration_of(w.staff_other, o.sitting))),
    "certificates.start_issue_batch": Case("certificates.issue_batch", lambda w, o, u:
                                           certificates.start_issue_batch(u, o.sitting, [])),
    "certificates.issue_batch": Case("certificates.issue_batch", lambda w, o, u:
                                     certificates.issue_batch(u, o.sitting, [])),
    "certificates.change_status": Case("certificates.change_status", lambda w, o, u:
                                       certificates.change_status(u, o.cert, "suspend", "核查")),
    "certificates.suspend_for_ban": Case(BAN_EFFECTS, lambda w, o, u:
                                         certificates.suspend_for_ban(u, w.staff.id, "禁业")),
    "certificates.reissue": Case("certificates.change_status", lambda w, o, u:
                                 certificates.reissue(u, o.cert, "遗失")),
    "certificates.regrade": Case("certificates.regrade", lambda w, o, u: certificates.regrade(
        u, o.cert, practical="95", reason="复核")),
    # the PDF is made once and kept: the download page's rule
    "certificates.pdf": Case("certificates.download", lambda w, o, u: certificates.pdf(u, o.cert)),
    "certificates.render_many": Case(
        _only(why="commits as it goes: the command line (a system actor) only"),
        lambda w, o, u: certificates.render_many(u, [o.cert.id], workers=1)),
    # --- subsidies ---
    "subsidies.set_standard": Case("subsidies.standards", lambda w, o, u: subsidies.set_standard(
        u, _qtype(), 5, "1500", local_today())),
    "subsidies.set_objection_contact": Case("subsidies.objection_contact", lambda w, o, u:
                                            subsidies.set_objection_contact(u, w.hr, "电话 12333")),
    "subsidies.submit": Case("subsidies.claim_new", lambda w, o, u: subsidies.submit(
        u, o.cert, bank_name="工商银行", bank_account="6222021234567890123")),
    "subsidies.submit_for_sitting": Case("subsidies.sitting_claims", lambda w, o, u:
                                         subsidies.submit_for_sitting(
                                             u, o.sitting, [o.cert.id], bank_name="工商银行",
                                             bank_account="6222021234567890123")),
    # one service, the claim page's actions: each action has its own people (subsidies.act's
    # row is their union, and administrators, who see the page but act on no claim)
    "subsidies.transition:confirm": Case(_only("base_staff", why="the base's own word"),
                                         lambda w, o, u: subsidies.transition(u, o.claim, "confirm")),
    "subsidies.transition:withdraw": Case(_only("caregiver", why="the claimant"),
                                          lambda w, o, u: subsidies.transition(u, o.claim, "withdraw")),
    "subsidies.transition:approve": Case("subsidies.review", lambda w, o, u:
                                         subsidies.transition(u, o.claim, "approve")),
    "subsidies.reject_claims_for_ban": Case(BAN_EFFECTS, lambda w, o, u:
                                            subsidies.reject_claims_for_ban(u, w.staff.id, "禁业")),
    "subsidies.approve_many": Case("subsidies.review", lambda w, o, u:
                                   subsidies.approve_many(u, [o.claim.id])),
    "subsidies.confirm_many": Case(_only("base_staff", why="the base's own word (the base's "
                                         "claims page; an administrator sees it, confirms none)"),
                                   lambda w, o, u: subsidies.confirm_many(u, [o.claim.id])),
    "subsidies.publish": Case("subsidies.review", lambda w, o, u:
                              subsidies.publish(u, [o.claim.id], title="公示")),
    "subsidies.pay_many": Case("subsidies.review", lambda w, o, u: subsidies.pay_many(
        u, [o.claim.id], payment_ref="P-1", paid_on=local_today())),
    "subsidies.record_objection": Case("subsidies.objection_new", lambda w, o, u:
                                       subsidies.record_objection(u, o.claim, "异议", local_today())),
    "subsidies.resolve_objection": Case("subsidies.objection_resolve", lambda w, o, u:
                                        subsidies.resolve_objection(
                                            u, o.objection, upheld=False, resolution="不成立")),
    # --- enforcement: inspections, 人证合一 checks, credit feed ---
    "enforcement.inspections.add_item": Case("enforcement.inspection_items", lambda w, o, u:
                                             inspections.add_item(u, _own_district(w, u),
                                                                  name="持证上岗", draw_percent=10)),
    "enforcement.inspections.items_for": Case("enforcement.inspection_items", lambda w, o, u:
                                              inspections.items_for(u)),
    "enforcement.inspections.add_inspector": Case("enforcement.inspectors", lambda w, o, u:
                                                  inspections.add_inspector(
                                                      u, _own_district(w, u), name="赵检")),
    "enforcement.inspections.inspectors_for": Case("enforcement.inspectors", lambda w, o, u:
                                                   inspections.inspectors_for(u)),
    "enforcement.inspections.add_affiliation": Case("enforcement.inspector_affiliation",
                                                    lambda w, o, u: inspections.add_affiliation(
                                                        u, o.inspector, w.inst)),
    "enforcement.inspections.create_task": Case("enforcement.inspection_task_new", lambda w, o, u:
                                                inspections.create_task(
                                                    u, _own_district(w, u), year=2026,
                                                    title="抽查", draw_count=1)),
    "enforcement.inspections.tasks_for": Case("enforcement.inspections_home", lambda w, o, u:
                                              inspections.tasks_for(u)),
    "enforcement.inspections.home_summary": Case("enforcement.inspections_home", lambda w, o, u:
                                                 inspections.home_summary(u)),
    "enforcement.inspections.draw": Case("enforcement.inspection_task_draw", lambda w, o, u:
                                         inspections.draw(u, o.task, "again")),
    "enforcement.inspections.transition": Case("enforcement.inspection_task_act", lambda w, o, u:
                                               inspections.transition(u, o.task, "close")),
    "enforcement.inspections.find_for_check": Case("enforcement.inspection_find", lambda w, o, u:
                                                   inspections.find_for_check(
                                                       u, o.visit, id_number=w.staff.id_number)),
    "enforcement.inspections.check_sheet": Case("enforcement.inspection_check", lambda w, o, u:
                                                inspections.check_sheet(u, o.visit, w.staff)),
    "enforcement.inspections.record_check": Case("enforcement.inspection_check", lambda w, o, u:
                                                 inspections.record_check(
                                                     u, o.visit, w.staff, result="match")),
    "enforcement.inspections.record_visit_result": Case(
        "enforcement.inspection_result", lambda w, o, u: inspections.record_visit_result(
            u, o.visit, outcome="compliant")),
    "enforcement.inspections.follow_ups": Case("enforcement.follow_ups", lambda w, o, u:
                                               inspections.follow_ups(u)),
    "enforcement.inspections.resolve_follow_up": Case("enforcement.follow_up_resolve",
                                                      lambda w, o, u: inspections.resolve_follow_up(
                                                          u, o.check, "已处理")),
    "enforcement.inspections.not_inspected": Case("enforcement.not_inspected", lambda w, o, u:
                                                  inspections.not_inspected(u)),
    "enforcement.credit_feed.credit_feed": Case("enforcement.credit_feed", lambda w, o, u:
                                                credit_feed.credit_feed(u, SINCE)),
    "enforcement.credit_feed.all_rows": Case("enforcement.credit_feed", lambda w, o, u:
                                             list(credit_feed.all_rows(u, SINCE, "bans"))),
    "enforcement.credit_feed.export": Case("enforcement.credit_feed", lambda w, o, u:
                                           credit_feed.export(u, SINCE, "bans", "csv")),
    # --- enforcement: bans ---
    "enforcement.impose_ban": Case("enforcement.ban_new", lambda w, o, u: enforcement.impose_ban(
        u, **_ban_form(w))),
    "enforcement.impose": Case("enforcement.ban_new", lambda w, o, u: enforcement.impose(
        u, **_ban_form(w))),
    "enforcement.look_up_for_ban": Case("enforcement.ban_new", lambda w, o, u:
                                        enforcement.look_up_for_ban(u, w.staff.id_number)),
    "enforcement.direct_managers": Case("enforcement.ban_new", lambda w, o, u:
                                        enforcement.direct_managers(u, w.staff.id_number, None)),
    "enforcement.request_lift": Case("enforcement.ban_lift_request", lambda w, o, u:
                                     enforcement.request_lift(u, o.ban, "复议撤销", annul=True)),
    # the one who asked is let through the gate and refused by four eyes (a DomainError)
    "enforcement.decide_lift": Case("enforcement.ban_lift_decide", lambda w, o, u:
                                    enforcement.decide_lift(u, o.lift_request, True, "同意")),
    "subsidies.start_export": Case("subsidies.export", lambda w, o, u: subsidies.start_export(
        u, subsidies.QueueFilter())),
    "subsidies.report_ended_notices": Case(SYSTEM_ONLY,
                                           lambda w, o, u: subsidies.report_ended_notices(u)),
    "enforcement.expire_term_bans": Case(SYSTEM_ONLY, lambda w, o, u: enforcement.expire_term_bans(u)),
    "enforcement.rescreen": Case(SYSTEM_ONLY, lambda w, o, u: enforcement.rescreen(u)),
    # --- a person's own data: world.staff is the caregiver's own person ---
    "mydata.my_data": Case("mydata.person_json", lambda w, o, u: mydata.my_data(u, w.staff)),
    "mydata.export": Case("mydata.person_json", lambda w, o, u: mydata.export(u, w.staff, "json")),
    "mydata.request_correction": Case(_only("caregiver", why="the person, for their own data"),
                                      lambda w, o, u: mydata.request_correction(
                                          u, w.staff, section="person", subject="",
                                          message="改")),
    "mydata.answer_correction": Case("mydata.correction_answer", lambda w, o, u:
                                     mydata.answer_correction(u, o.correction, "complete", "好")),
}


def _ban_form(world) -> dict:
    """An impose form for someone not in the registry (any regulator may ban them)."""
    return {"id_number": id_number("320102", "19800101", 12), "name": "王某", "kind": "lifetime",
            "ends_on": None, "category": "ethics", "authority": "卫健委", "decision_no": "D-2",
            "decision_date": local_today(), "incident_date": None, "reason": "违反职业道德",
            "evidence": b"%PDF-1.4 d"}

# --- discovery -----------------------------------------------------------------------------------


def _discovered() -> set[str]:
    """Every public module-level function in lms/ whose first parameter is `actor`, named
    package[.module].function (a package's service.py is the package itself)."""
    found = set()
    for path in sorted(LMS.rglob("*.py")):
        if path.stem in {"views", "forms", "models", "cli"}:
            continue  # front doors and tables: they pass the actor on, they are not the door
        parts = list(path.relative_to(LMS).with_suffix("").parts)
        if parts[-1] in {"service", "__init__"}:
            parts.pop()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                params = node.args.posonlyargs + node.args.args
                if params and params[0].arg == "actor":
                    found.add(".".join([*parts, node.name]))
    return found


def test_every_service_taking_an_actor_is_classified():
    services = {name.partition(":")[0] for name in SERVICES}
    found = _discovered()
    listed = services | READS | MECHANICS
    assert not (services & READS), "a service is either a read or a write"
    assert found - listed == set(), (
        f"new services taking an actor: add them to SERVICES (state-changing: who may call them) "
        f"or READS: {sorted(found - listed)}")
    assert listed - found == set(), f"listed but gone: {sorted(listed - found)}"


def test_discovery_finds_a_new_service(tmp_path, monkeypatch):
    fake = tmp_path / "lms"
    (fake / "scheduling").mkdir(parents=True)
    (fake / "scheduling" / "service.py").write_text(
        "def waitlist(actor, session):\n    pass\n\ndef _helper(actor):\n    pass\n\n"
        "def slots(session, actor):\n    pass\n", encoding="utf-8")
    (fake / "scheduling" / "rooms.py").write_text("def book_room(actor, room):\n    pass\n",
                                                  encoding="utf-8")
    (fake / "scheduling" / "views.py").write_text("def page(actor):\n    pass\n", encoding="utf-8")
    monkeypatch.setitem(globals(), "LMS", fake)
    assert _discovered() == {"scheduling.waitlist", "scheduling.rooms.book_room"}


def test_the_claim_actions_are_the_claim_pages_actions():
    """transition() is one service behind one form: its actions' people together are exactly
    who may post that form."""
    actions = [case for name, case in SERVICES.items() if name.startswith("subsidies.transition:")]
    assert set().union(*(_expected(case) for case in actions)) == MATRIX["subsidies.act"]


# --- the test ------------------------------------------------------------------------------------


def _expected(case: Case) -> set[str]:
    if isinstance(case.expect, frozenset):
        return set(case.expect)
    return set(MATRIX[case.expect]) - {"anon"}


def _refused(world, objects, user, case: Case) -> bool:
    """Call the service inside a savepoint rolled back afterwards; refused iff PermissionDenied
    (any other DomainError means the gate let the user through and a later rule spoke)."""
    savepoint = db.session.begin_nested()
    try:
        case.call(world, objects, user)
    except PermissionDenied:
        return True
    except DomainError:
        return False
    finally:
        if savepoint.is_active:
            savepoint.rollback()
        db.session.expire_all()
    return False


@pytest.fixture()
def rich_world():
    world = build_world()
    ids = _learning_world(world)
    db.session.commit()
    return world, Objects(ids)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_the_service_refuses_what_the_page_refuses(rich_world, name):
    world, objects = rich_world
    case = SERVICES[name]
    for outsider in (Anonymous(), "cli"):
        assert _refused(world, objects, outsider, case), (name, outsider)
    # administrators last: what an administrator may do is the broadest, and each call is
    # rolled back anyway
    allowed = {role for role in SIGNED_IN_ROLES
               if not _refused(world, objects, db.session.get(User, world.users[role].id), case)}
    expected = _expected(case)
    assert allowed == expected, (
        f"{name}: allowed beyond the matrix {sorted(allowed - expected)}, "
        f"refused within it {sorted(expected - allowed)}")
