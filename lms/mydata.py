"""A person's own data (个人信息保护法 art. 45; issue 18): everything the system holds about a
caregiver, on one page and as a download (JSON and PDF), and corrections they ask their
institution for, with a trail.

It sits above every package (like the demo), because assembling a person's data reads every
package's tables; nothing below imports it. create_app registers its blueprint, header entry
and audit titles like a package's.

The JSON download (`to_json`) has this documented structure, schema version 1:

    {"format": "lms.mydata", "schema_version": 1, "generated_at": "<ISO 8601, UTC>",
     "generated_for": <person id>, "generated_by": "<who produced it>",
     "counts": {"<section>": <number of records>, ...},
     "person": {"name", "id_number", "gender", "gender_title", "birth_date", "mobile",
                "photo_on_file", "registered_at"},
     "accounts": [{"username", "role", "role_title", "created_at", "last_login_at"}],
     "<section>": [{...}, ...] for every section in SECTIONS}

Dates are ISO 8601 (`2026-12-03`), times ISO 8601 in UTC with a `Z`, class hours, scores and
money Decimal values as strings ("2.50"), codes beside their titles (in the reader's language).
A new field may appear in a later file of the same schema version; a field changing meaning or
going away raises the version.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from flask import (
    Blueprint,
    current_app,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, Text, func, select
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from lms.auth.models import Role, User
from lms.auth.permissions import is_admin
from lms.catalog.models import Course, Lesson
from lms.certificates import service as certificates
from lms.core import audit, notifications
from lms.core.actors import is_system
from lms.core.clock import to_local, utc_now
from lms.core.enums import TitledEnum, enum_check
from lms.core.errors import DomainError, PermissionDenied
from lms.core.idnumber import mask_id_number, mask_id_numbers_in
from lms.core.models import AuditLog, Notification, StateEvent
from lms.core.navigation import NavEntry
from lms.core.pdf import render_pdf
from lms.core.permissions import authorize, load, permission, predicate
from lms.core.states import StateMachine
from lms.core.web import form_error, service_call
from lms.enforcement.models import CheckResult, IdentityCheck
from lms.exams import service as exams
from lms.exams.models import Attempt, AttemptState, ExamSitting
from lms.extensions import db, limiter
from lms.learning.models import Enrolment, StudySegment
from lms.ledger import service as hours
from lms.ledger.models import (
    Category,
    ExternalRecord,
    ExternalState,
    LedgerEntry,
    LedgerTotal,
    SourceType,
)
from lms.registry import service as registry
from lms.registry.forms import RegistryLookupForm
from lms.registry.models import (
    Ban,
    BanKind,
    Employment,
    EmploymentState,
    Gender,
    HealthResult,
    Organisation,
    Person,
    PersonPhoto,
    Post,
    Qualification,
    StaffRecord,
    StaffRecordKind,
)
from lms.registry.views import lookup_limit
from lms.scheduling.models import Attendance, Booking, TrainingSession
from lms.subsidies import service as subsidies
from lms.subsidies.models import ClaimAction, ClaimEvent, ClaimState

SCHEMA_VERSION = 1

#: the sections of a person's data, in the order pages and files show them
SECTIONS = ("employments", "qualifications", "certificates", "ledger_entries", "ledger_totals",
            "external_records", "study", "enrolments", "bookings", "attendances",
            "exam_registrations", "subsidy_claims", "staff_records", "bans", "identity_checks",
            "notifications", "id_number_views", "corrections")

SECTION_TITLES = {
    "employments": _l("Employments and posts"),
    "qualifications": _l("Certificates on record"),
    "certificates": _l("Certificates issued in this system"),
    "ledger_entries": _l("Class-hour entries"),
    "ledger_totals": _l("Class hours per year"),
    "external_records": _l("Hours from outside training"),
    "study": _l("Online study"),
    "enrolments": _l("Course enrolments"),
    "bookings": _l("Session bookings"),
    "attendances": _l("Session attendance"),
    "exam_registrations": _l("Exams"),
    "subsidy_claims": _l("Subsidy claims"),
    "staff_records": _l("Health checks and records of no criminal record"),
    "bans": _l("Bans"),
    "identity_checks": _l("On-site identity checks"),
    "notifications": _l("Messages"),
    "id_number_views": _l("Who saw your full identity number"),
    "corrections": _l("Correction requests"),
}

#: where a certificate on record came from (registry Qualification.source)
QUALIFICATION_SOURCES = {"external": _l("Recorded by the institution"),
                         "issued": _l("Issued in this system")}

#: the audit records that mean someone saw a person's full identity number or looked them up
VIEW_ACTIONS = ("registry.id_number_viewed", "registry.lookup", "mydata.produced")
MESSAGE_MAX = 2000


def _title(enum, value) -> str:
    try:
        return str(enum(value).title)
    except ValueError:
        return value or ""


# --- corrections: the table and its states -------------------------------------------------------


class CorrectionState(TitledEnum):
    OPEN = "open"
    DONE = "done"
    DECLINED = "declined"

    @classmethod
    def titles(cls):
        return {cls.OPEN: _l("Waiting for an answer"), cls.DONE: _l("Corrected"),
                cls.DECLINED: _l("Declined")}


class CorrectionAction(TitledEnum):
    COMPLETE = "complete"
    DECLINE = "decline"

    @classmethod
    def titles(cls):
        return {cls.COMPLETE: _l("mark as corrected"), cls.DECLINE: _l("decline")}


class CorrectionRequest(db.Model):
    """A person's request to correct something the system holds about them, addressed to one
    of their current institutions (or, with none, to the administrators). Answers are moves
    through CORRECTION (StateEvent rows carry who answered, when and the reply)."""

    __tablename__ = "correction_requests"
    __table_args__ = (
        enum_check("state", CorrectionState),
        CheckConstraint("length(message) > 0", name="message_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    #: the institution asked to correct it; NULL: the system administrators
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: which part of the data (one of SECTIONS, or "person" for identity details)
    section: Mapped[str] = mapped_column(String(30))
    #: which record or field, in the person's words (a certificate number, "mobile")
    subject: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default=CorrectionState.OPEN.value)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    #: the latest answer (the whole trail is in state_events)
    reply: Mapped[str] = mapped_column(Text, default="")
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)

    person: Mapped[Person] = relationship(lazy="joined")
    organisation: Mapped[Organisation | None] = relationship(lazy="joined")

    @property
    def state_title(self) -> str:
        return CorrectionState(self.state).title

    @property
    def section_title(self) -> str:
        return str(CORRECTION_SECTIONS.get(self.section, self.section))


CORRECTION_SECTIONS = {"person": _l("Identity and contact details"), **SECTION_TITLES}
for _hidden in ("ledger_totals", "id_number_views", "notifications", "corrections"):
    CORRECTION_SECTIONS.pop(_hidden)


# --- who may -------------------------------------------------------------------------------------


@predicate
def can_see_own_data(user, **_) -> bool:
    """A caregiver with a registry record: their own data."""
    return bool(user and user.is_authenticated and user.role == Role.CAREGIVER and user.person_id)


@predicate
def can_produce_data(user, person: Person | None = None, **_) -> bool:
    """The person themself, or an administrator producing it on the person's request."""
    if person is None or not (user and user.is_authenticated):
        return False
    return (can_see_own_data(user) and user.person_id == person.id) or user.role == Role.ADMIN


@predicate
def can_see_corrections(user, **_) -> bool:
    """Institution administrators (their institution's requests) and system administrators."""
    return bool(user and user.is_authenticated and (
        (user.role == Role.INSTITUTION_ADMIN and user.organisation_id) or user.role == Role.ADMIN))


def _may_answer(user, correction: CorrectionRequest, action=None) -> bool:
    if correction.organisation_id is None:
        return user.role == Role.ADMIN
    return user.role == Role.INSTITUTION_ADMIN and user.organisation_id == correction.organisation_id


@predicate
def can_answer_correction(user, correction: CorrectionRequest | None = None, **_) -> bool:
    return bool(correction is not None and user and user.is_authenticated
                and _may_answer(user, correction))


CORRECTION = StateMachine(
    CorrectionRequest, CorrectionState, CorrectionAction,
    {(CorrectionState.OPEN, CorrectionAction.COMPLETE): CorrectionState.DONE,
     (CorrectionState.OPEN, CorrectionAction.DECLINE): CorrectionState.DECLINED},
    may=_may_answer, audit_prefix="mydata.correction")

notifications.message("mydata.correction_requested", _l(
    "%(name)s asks for a correction of their data (%(section)s)."))
notifications.message("mydata.correction_answered", _l(
    "Your correction request (%(section)s) was answered: %(state)s."))


# --- the person's data ---------------------------------------------------------------------------


def my_data(actor, person: Person) -> dict:
    """Everything the system holds about `person`: for the person, or an administrator on the
    person's request (audited)."""
    authorize(actor, can_produce_data, person=person)
    if is_system(actor) or getattr(actor, "person_id", None) != person.id:
        audit.record(actor, "mydata.produced", person)
        db.session.flush()
    data = _assemble(person)
    data["generated_by"] = getattr(actor, "display_name", "") or str(actor)
    return data


def _assemble(person: Person) -> dict:
    pid = person.id
    data: dict = {
        "format": "lms.mydata", "schema_version": SCHEMA_VERSION, "generated_at": utc_now(),
        "generated_for": pid,
        "person": {
            "name": person.name, "id_number": person.id_number, "gender": person.gender,
            "gender_title": _title(Gender, person.gender), "birth_date": person.birth_date,
            "mobile": person.mobile or "",
            "photo_on_file": db.session.get(PersonPhoto, pid) is not None,
            "registered_at": person.created_at,
        },
    }
    accounts = list(db.session.scalars(select(User).where(User.person_id == pid).order_by(User.id)))
    data["accounts"] = [{"username": u.username or "", "role": u.role, "role_title": u.role_title,
                         "created_at": u.created_at, "last_login_at": u.last_login_at}
                        for u in accounts]
    org_names: dict[int, str] = {}  # organisation names, looked up once each
    data["employments"] = _employments(pid)
    data["qualifications"] = _qualifications(pid)
    data["certificates"] = _certificates(pid)
    data["ledger_entries"], data["ledger_totals"], data["external_records"] = _ledger(person, org_names)
    data["study"] = _study(pid)
    data["enrolments"] = _enrolments(pid)
    data["bookings"], data["attendances"] = _sessions(pid)
    data["exam_registrations"] = _exams(person)
    data["subsidy_claims"] = _claims(pid)
    data["staff_records"] = _staff_records(pid, org_names)
    data["bans"] = _bans(person)
    data["identity_checks"] = _identity_checks(pid)
    data["notifications"] = _notifications([u.id for u in accounts])
    data["id_number_views"] = _id_number_views(pid)
    requests = corrections_of(person)
    trails = correction_trails(requests)
    data["corrections"] = [_correction_row(c, trails[c.id]) for c in requests]
    data["counts"] = {section: len(data[section]) for section in SECTIONS}
    return data


def _org_name(org_id: int | None, cache: dict) -> str:
    if org_id is None:
        return ""
    if org_id not in cache:
        org = db.session.get(Organisation, org_id)
        cache[org_id] = org.name if org else ""
    return cache[org_id]


def _employments(pid: int) -> list[dict]:
    rows = db.session.execute(
        select(Employment, Organisation.name).join(Organisation, Organisation.id == Employment.organisation_id)
        .where(Employment.person_id == pid).order_by(Employment.start_date, Employment.id))
    return [{"organisation": name, "post": e.post, "post_title": _title(Post, e.post),
             "is_direct_manager": e.is_direct_manager, "start_date": e.start_date,
             "end_date": e.end_date, "end_reason": e.end_reason or "", "state": e.state,
             "state_title": _title(EmploymentState, e.state)} for e, name in rows]


def _qualifications(pid: int) -> list[dict]:
    rows = db.session.scalars(select(Qualification).where(Qualification.person_id == pid)
                              .order_by(Qualification.issued_on, Qualification.id))
    return [{"type": q.qualification_type.code, "type_title": q.qualification_type.title,
             "level": q.level, "certificate_no": q.certificate_no, "issuer": q.issuer,
             "issued_on": q.issued_on, "expires_on": q.expires_on, "revoked_at": q.revoked_at,
             "source": q.source, "source_title": str(QUALIFICATION_SOURCES.get(q.source, q.source)),
             "checked_at": q.checked_at} for q in rows]


def _certificates(pid: int) -> list[dict]:
    rows = reversed(certificates.of_person(pid))  # the package's own read, oldest first here
    return [{"number": c.number, "type": c.qualification_type.code,
             "type_title": c.qualification_type.title, "level": c.level, "issuer": c.issuer.name,
             "issued_on": c.issued_on, "expires_on": c.expires_on, "status": c.status,
             "status_title": c.status_title, "version": c.version} for c in rows]


def _ledger(person: Person, cache: dict) -> tuple[list, list, list]:
    pid = person.id
    entries = sorted(hours.entries_for(person), key=lambda e: (e.year, e.created_at, e.id))
    refs: dict[str, set[int]] = defaultdict(set)
    for e in entries:
        if e.source_ref.isdigit():
            refs[e.source_type].add(int(e.source_ref))
    lessons = {i: f"{code} {course} · {title}" for i, code, course, title in db.session.execute(
        select(Lesson.id, Course.code, Course.title, Lesson.title).join(Course, Course.id == Lesson.course_id)
        .where(Lesson.id.in_(refs[SourceType.LESSON.value])))} if refs[SourceType.LESSON.value] else {}
    sessions = {s.id: s for s in db.session.scalars(select(TrainingSession).where(
        TrainingSession.id.in_(refs[SourceType.SESSION.value])))} if refs[SourceType.SESSION.value] else {}
    records = {r.id: r for r in db.session.scalars(select(ExternalRecord).where(
        ExternalRecord.person_id == pid))}

    def evidence(e: LedgerEntry) -> str:
        ref = int(e.source_ref) if e.source_ref.isdigit() else None
        if e.source_type == SourceType.LESSON and ref in lessons:
            return lessons[ref]
        if e.source_type == SourceType.SESSION and ref in sessions:
            s = sessions[ref]
            return f"{s.course.code} {s.course.title} · {s.organisation.name} · {s.starts_at:%Y-%m-%d}"
        if e.source_type == SourceType.EXTERNAL and ref in records:
            r = records[ref]
            return f"{r.provider} · {r.reference} · {r.evidence_name}"
        return e.source_ref

    ledger = [{"id": e.id, "year": e.year, "category": e.category,
               "category_title": _title(Category, e.category), "hours": e.hours,
               "source_type": e.source_type, "source_title": _title(SourceType, e.source_type),
               "source_ref": e.source_ref, "evidence": evidence(e), "description": e.description,
               "recorded_by": e.recorded_by_label, "created_at": e.created_at,
               "reverses": e.reverses_id, "reason": e.reason} for e in entries]
    totals = [{"year": t.year, "category": t.category, "category_title": _title(Category, t.category),
               "hours": t.hours, "entries": t.entries}
              for t in db.session.scalars(select(LedgerTotal).where(LedgerTotal.person_id == pid)
                                          .order_by(LedgerTotal.year, LedgerTotal.category))]
    external = [{"year": r.year, "category": r.category, "category_title": _title(Category, r.category),
                 "hours": r.hours, "provider": r.provider, "reference": r.reference, "note": r.note,
                 "evidence_name": r.evidence_name, "state": r.state,
                 "state_title": _title(ExternalState, r.state),
                 "organisation": _org_name(r.organisation_id, cache), "created_at": r.created_at}
                for r in sorted(records.values(), key=lambda r: r.id)]
    return ledger, totals, external


def _study(pid: int) -> list[dict]:
    """Online study segments, summed per lesson (every segment is kept; the sums show them)."""
    rows = db.session.execute(
        select(Course.code, Course.title, Lesson.title, func.count(StudySegment.id),
               func.sum(StudySegment.seconds), func.min(StudySegment.started_at),
               func.max(StudySegment.ended_at))
        .join(Lesson, Lesson.id == StudySegment.lesson_id).join(Course, Course.id == Lesson.course_id)
        .where(StudySegment.person_id == pid)
        .group_by(Course.code, Course.title, Lesson.id, Lesson.title)
        .order_by(Course.code, Lesson.id))
    return [{"course": f"{code} {course}", "lesson": lesson, "segments": count,
             "seconds": int(seconds or 0), "first_at": first, "last_at": last}
            for code, course, lesson, count, seconds, first, last in rows]


def _enrolments(pid: int) -> list[dict]:
    rows = db.session.execute(select(Enrolment, Course.code, Course.title)
                              .join(Course, Course.id == Enrolment.course_id)
                              .where(Enrolment.person_id == pid).order_by(Enrolment.enrolled_at))
    return [{"course": f"{code} {title}", "enrolled_at": e.enrolled_at,
             "completed_at": e.completed_at} for e, code, title in rows]


def _session_fields(s: TrainingSession) -> dict:
    return {"course": f"{s.course.code} {s.course.title}", "training_base": s.organisation.name,
            "starts_at": s.starts_at, "ends_at": s.ends_at, "class_hours": s.class_hours}


def _sessions(pid: int) -> tuple[list, list]:
    bookings = [{**_session_fields(b.session), "status": b.status, "status_title": b.status_title,
                 "booked_at": b.created_at, "cancelled_at": b.cancelled_at}
                for b in db.session.scalars(select(Booking).where(Booking.person_id == pid)
                                            .order_by(Booking.created_at, Booking.id))]
    attendances = [{**_session_fields(a.session), "status": a.status,
                    "status_title": a.status_title, "checked_in_at": a.checked_in_at,
                    "checked_out_at": a.checked_out_at, "reason": a.reason}
                   for a in db.session.scalars(select(Attendance).where(Attendance.person_id == pid)
                                               .options(joinedload(Attendance.session))
                                               .order_by(Attendance.id))]
    return bookings, attendances


def _exams(person: Person) -> list[dict]:
    registrations = exams.my_registrations(person)[::-1]
    attempts = {a.registration_id: a for a in db.session.scalars(select(Attempt).where(
        Attempt.registration_id.in_([r.id for r in registrations])))} if registrations else {}
    out = []
    for r in registrations:
        s: ExamSitting = r.sitting
        a = attempts.get(r.id)
        out.append({
            "qualification": s.qualification_type.title, "level": s.level,
            "training_base": s.organisation.name, "starts_at": s.starts_at,
            "registered_at": r.registered_at, "state": r.state, "state_title": r.state_title,
            "theory_score": r.theory_score, "practical_score": r.practical_score,
            "result": r.result, "result_title": r.result_title,
            "attempt": None if a is None else {
                "started_at": a.started_at, "submitted_at": a.submitted_at,
                "auto_submitted": a.auto_submitted, "correct": a.correct, "state": a.state,
                "state_title": _title(AttemptState, a.state)}})
    return out


def _claim_action_title(ev: ClaimEvent) -> str:
    # submitting opens a claim and is no move of its table: say what it led to
    if ev.action in {a.value for a in ClaimAction}:
        return _title(ClaimAction, ev.action)
    return _title(ClaimState, ev.to_state)


def _claims(pid: int) -> list[dict]:
    claims = subsidies.claims_of_person(pid)[::-1]
    events: dict[int, list] = defaultdict(list)
    if claims:
        for ev in db.session.scalars(select(ClaimEvent).where(
                ClaimEvent.claim_id.in_([c.id for c in claims])).order_by(ClaimEvent.created_at,
                                                                         ClaimEvent.id)):
            events[ev.claim_id].append({"action": ev.action,
                                        "action_title": _claim_action_title(ev),
                                        "to_state": ev.to_state,
                                        "to_state_title": _title(ClaimState, ev.to_state),
                                        "by": ev.actor_label, "at": ev.created_at,
                                        "reason": ev.reason})
    return [{"reference": c.reference, "certificate_number": c.certificate.number,
             "qualification": c.qualification_type.title, "level": c.level,
             "training_base": c.base.name, "amount": c.amount, "state": c.state,
             "state_title": c.state_title, "payee_name": c.payee_name, "bank_name": c.bank_name,
             "bank_account": c.bank_account, "claimed_at": c.submitted_at,
             "paid_on": c.paid_on, "payment_ref": c.payment_ref,
             "rejected_reason": c.rejected_reason, "events": events[c.id]} for c in claims]


def _staff_records(pid: int, cache: dict) -> list[dict]:
    rows = db.session.scalars(select(StaffRecord).where(StaffRecord.person_id == pid)
                              .order_by(StaffRecord.issued_on, StaffRecord.id))
    return [{"kind": r.kind, "kind_title": _title(StaffRecordKind, r.kind), "issued_on": r.issued_on,
             "result": r.result or "", "result_title": _title(HealthResult, r.result) if r.result else "",
             "issuer": r.issuer, "document_no": r.document_no,
             "organisation": _org_name(r.organisation_id, cache)} for r in rows]


def _bans(person: Person) -> list[dict]:
    # a ban is recorded by identity number, whether or not the person was registered then
    rows = db.session.scalars(select(Ban).where((Ban.person_id == person.id)
                                                | (Ban.id_number == person.id_number))
                              .order_by(Ban.starts_on, Ban.id))
    return [{"kind": b.kind, "kind_title": _title(BanKind, b.kind), "starts_on": b.starts_on,
             "ends_on": b.ends_on, "reason": b.reason, "decision_ref": b.decision_ref,
             "lifted_at": b.lifted_at, "lift_reason": b.lift_reason} for b in rows]


def _identity_checks(pid: int) -> list[dict]:
    rows = db.session.scalars(select(IdentityCheck).where(IdentityCheck.person_id == pid)
                              .order_by(IdentityCheck.created_at, IdentityCheck.id))
    return [{"at": c.created_at, "result": c.result,
             "result_title": _title(CheckResult, c.result), "note": c.note,
             "resolved_at": c.resolved_at, "resolution": c.resolution} for c in rows]


def _notifications(user_ids: list[int]) -> list[dict]:
    if not user_ids:
        return []
    rows = db.session.scalars(select(Notification).where(Notification.user_id.in_(user_ids))
                              .order_by(Notification.created_at, Notification.id))
    return [{"text": notifications.text_of(n), "kind": n.kind, "created_at": n.created_at,
             "read_at": n.read_at} for n in rows]


def _id_number_views(pid: int) -> list[dict]:
    """Who saw the full identity number or looked the person up: the audit log's records about
    the person (viewings, registry lookups, data produced for them) and institutions' staff
    lookups that found them."""
    about = (AuditLog.object_type == "persons") & (AuditLog.object_id == str(pid)) \
        & AuditLog.action.in_(VIEW_ACTIONS)
    employer_ids = [str(i) for i in db.session.scalars(
        select(Employment.organisation_id).where(Employment.person_id == pid).distinct())]
    # an institution's lookup names the institution; the person found is in its details
    staff_lookups = (AuditLog.action == "registry.staff_lookup") \
        & (AuditLog.object_type == "organisations") & AuditLog.object_id.in_(employer_ids) \
        & (AuditLog.details["person_id"].as_integer() == pid)
    rows = db.session.execute(
        select(AuditLog, User.display_name, Organisation.name)
        .outerjoin(User, User.id == AuditLog.actor_id)
        .outerjoin(Organisation, Organisation.id == User.organisation_id)
        .where(about | staff_lookups).order_by(AuditLog.created_at, AuditLog.id))
    return [{"at": log.created_at, "action": log.action,
             "action_title": audit.action_title(log.action), "who": who or log.actor_label,
             "organisation": org or ""} for log, who, org in rows]


def _trail_title(action: str) -> str:
    return str(_l("Requested")) if action == "create" else _title(CorrectionAction, action)


def correction_trails(requests: list[CorrectionRequest]) -> dict[int, list[StateEvent]]:
    """Each request's moves, oldest first, read in one query."""
    trails: dict[int, list[StateEvent]] = defaultdict(list)
    if requests:
        for ev in db.session.scalars(select(StateEvent).where(
                StateEvent.object_type == CorrectionRequest.__tablename__,
                StateEvent.object_id.in_([c.id for c in requests]))
                .order_by(StateEvent.created_at, StateEvent.id)):
            trails[ev.object_id].append(ev)
    return trails


def _correction_row(c: CorrectionRequest, trail: list[StateEvent]) -> dict:
    return {"id": c.id, "section": c.section, "section_title": c.section_title,
            "subject": c.subject, "message": c.message,
            "institution": c.organisation.name if c.organisation else "",
            "requested_at": c.created_at, "state": c.state, "state_title": c.state_title,
            "reply": c.reply, "answered_at": c.answered_at,
            "trail": [{"action": ev.action, "action_title": _trail_title(ev.action),
                       "state": ev.to_state, "state_title": _title(CorrectionState, ev.to_state),
                       "by": ev.actor_label,
                       "at": ev.created_at, "reason": ev.reason}
                      for ev in trail]}


# --- downloads -----------------------------------------------------------------------------------


def _jsonable(value):
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat() + "Z"  # stored naive UTC
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # lazy strings


def to_json(data: dict) -> bytes:
    """The documented JSON file (see the module's docstring) of my_data's answer."""
    return json.dumps(_jsonable(data), ensure_ascii=False, indent=2).encode("utf-8")


def export(actor, person: Person, kind: str) -> tuple[bytes, str, str]:
    """The person's data as a file (JSON or PDF): (content, file name, MIME type), audited."""
    if kind not in {"json", "pdf"}:
        raise DomainError(_l("Unknown file type."))
    data = my_data(actor, person)
    stamp = f"{to_local(data['generated_at']):%Y%m%d}"
    if kind == "json":
        content, mimetype = to_json(data), "application/json"
    else:
        content = render_pdf("mydata/pdf.html", data=data, sections=SECTIONS,
                             titles=SECTION_TITLES, fields=display_fields, mask_account=None)
        mimetype = "application/pdf"
    audit.record(actor, "mydata.downloaded", person, format=kind,
                 id_number=mask_id_number(person.id_number))
    db.session.flush()
    return content, f"{_('My data')}-{person.name}-{stamp}.{kind}", mimetype


# --- corrections ---------------------------------------------------------------------------------


def corrections_of(person: Person) -> list[CorrectionRequest]:
    return list(db.session.scalars(select(CorrectionRequest).where(
        CorrectionRequest.person_id == person.id).order_by(CorrectionRequest.created_at.desc(),
                                                           CorrectionRequest.id.desc())))


def correction_targets(person: Person) -> list[Organisation]:
    """The institutions a correction may go to: the person's current employers."""
    return list(db.session.scalars(
        select(Organisation).join(Employment, Employment.organisation_id == Organisation.id)
        .where(Employment.person_id == person.id, Employment.end_date.is_(None))
        .distinct().order_by(Organisation.name)))


def request_correction(actor, person: Person, *, section: str, subject: str, message: str,
                       organisation_id: int | None = None) -> CorrectionRequest:
    """The person asks their current institution (or, with none, the administrators) to correct
    something; its administrators are told."""
    authorize(actor, can_see_own_data)
    if actor.person_id != person.id:
        raise PermissionDenied(_l("You may only ask for corrections of your own data."))
    if section not in CORRECTION_SECTIONS:
        raise DomainError(_l("Choose which part of your data is wrong."), field="section")
    message = (message or "").strip()
    if not message:
        raise DomainError(_l("Say what is wrong and what it should be."), field="message")
    if len(message) > MESSAGE_MAX:
        raise DomainError(_l("Keep the message under %(n)d characters.", n=MESSAGE_MAX),
                          field="message")
    targets = {o.id: o for o in correction_targets(person)}
    if organisation_id is None and len(targets) == 1:
        organisation_id = next(iter(targets))
    if targets and organisation_id not in targets:
        raise DomainError(_l("Choose one of the institutions you work at."), field="organisation")
    if not targets:
        organisation_id = None
    # an identity number typed into the request is stored masked (the numbers are encrypted
    # at rest); the institution checks the correct one against the identity card
    message = mask_id_numbers_in(message)
    correction = CorrectionRequest(person_id=person.id, organisation_id=organisation_id,
                                   section=section,
                                   subject=mask_id_numbers_in((subject or "").strip()[:200]),
                                   message=message, requested_by_id=actor.id)
    db.session.add(correction)
    db.session.flush()
    CORRECTION.record_start(actor, correction, reason=message)
    audit.record(actor, "mydata.correction_requested", correction, section=section)
    if organisation_id is None:
        answerers = select(User.id).where(User.role == Role.ADMIN.value, User.is_enabled.is_(True))
    else:
        answerers = select(User.id).where(User.role == Role.INSTITUTION_ADMIN.value,
                                          User.organisation_id == organisation_id,
                                          User.is_enabled.is_(True))
    for user_id in db.session.scalars(answerers):
        notifications.notify(user_id, "mydata.correction_requested",
                             link=_link("mydata.corrections"), name=person.name,
                             section=correction.section_title)
    db.session.flush()
    return correction


def corrections_to_answer(actor, *, open_only: bool = False) -> list[CorrectionRequest]:
    """The requests addressed to the actor's institution (administrators: those to no institution)."""
    authorize(actor, can_see_corrections)
    query = select(CorrectionRequest)
    if actor.role == Role.ADMIN:
        query = query.where(CorrectionRequest.organisation_id.is_(None))
    else:
        query = query.where(CorrectionRequest.organisation_id == actor.organisation_id)
    if open_only:
        query = query.where(CorrectionRequest.state == CorrectionState.OPEN.value)
    return list(db.session.scalars(query.order_by(CorrectionRequest.created_at.desc(),
                                                  CorrectionRequest.id.desc()).limit(500)))


def answer_correction(actor, correction: CorrectionRequest, action, reply: str) -> CorrectionRequest:
    """The institution marks a request corrected or declines it, with a reply the person sees."""
    authorize(actor, can_answer_correction, correction=correction)
    reply = (reply or "").strip()
    if not reply:
        raise DomainError(_l("Write a reply for the person."), field="reply")
    if len(reply) > MESSAGE_MAX:
        raise DomainError(_l("Keep the message under %(n)d characters.", n=MESSAGE_MAX),
                          field="reply")
    CORRECTION.apply(actor, correction, action, reason=reply,
                     values={"reply": reply, "answered_by_id": actor.id, "answered_at": utc_now()})
    for user_id in db.session.scalars(select(User.id).where(User.person_id == correction.person_id)):
        notifications.notify(user_id, "mydata.correction_answered", link=_link("mydata.mine"),
                             section=correction.section_title, state=correction.state_title)
    db.session.flush()
    return correction


def _link(endpoint: str) -> str:
    return url_for(endpoint) if has_request_context() else ""


def correction_actions(correction: CorrectionRequest, user) -> list:
    return CORRECTION.allowed_actions(correction, user)


# --- pages ---------------------------------------------------------------------------------------

bp = Blueprint("mydata", __name__, template_folder="templates")

def _per_user() -> str:
    return f"user:{current_user.id}"  # every download is signed in


#: a file is made afresh each time (a PDF costs a renderer's run): enough for anyone's own use
DEFAULT_DOWNLOAD_LIMIT = "30 per hour"


def _download_limit() -> str:
    return current_app.config.get("MYDATA_DOWNLOAD_RATE_LIMIT") or DEFAULT_DOWNLOAD_LIMIT


download_limit = limiter.shared_limit(_download_limit, scope="mydata-download", key_func=_per_user)


def _page(person: Person, *, own: bool):
    data = my_data(current_user, person)
    return render_template("mydata/mine.html", data=data, sections=SECTIONS, titles=SECTION_TITLES,
                           own=own, targets=correction_targets(person) if own else [],
                           correction_sections=CORRECTION_SECTIONS, fields=display_fields,
                           mask_account=subsidies.mask_account)


def _download(person: Person, kind: str):
    content, name, mimetype = export(current_user, person, kind)
    response = send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True,
                         download_name=name)
    response.headers["Cache-Control"] = "no-store"
    return response


def _me() -> Person:
    return db.session.get(Person, current_user.person_id)


@bp.get("/my/data")
@permission(can_see_own_data)
def mine():
    return _page(_me(), own=True)


@bp.get("/my/data.json")
@permission(can_see_own_data)
@download_limit
def mine_json():
    return _download(_me(), "json")


@bp.get("/my/data.pdf")
@permission(can_see_own_data)
@download_limit
def mine_pdf():
    return _download(_me(), "pdf")


@bp.post("/my/data/corrections")
@permission(can_see_own_data)
def correction_new():
    org = request.form.get("organisation", type=int)
    _c, err = service_call(request_correction, current_user, _me(),
                           section=request.form.get("section", ""),
                           subject=request.form.get("subject", ""),
                           message=request.form.get("message", ""), organisation_id=org)
    if err is not None:
        flash(str(err), "danger")
    else:
        flash(_("Your request was sent. You will see the answer here."), "success")
    return redirect(url_for("mydata.mine", _anchor="corrections"))


@bp.get("/persons/<int:person_id>/data")
@permission(can_produce_data, person=load(Person, "person_id"))
def person_data(person):
    return _page(person, own=False)


@bp.get("/persons/<int:person_id>/data.json")
@permission(can_produce_data, person=load(Person, "person_id"))
@download_limit
def person_json(person):
    return _download(person, "json")


@bp.get("/persons/<int:person_id>/data.pdf")
@permission(can_produce_data, person=load(Person, "person_id"))
@download_limit
def person_pdf(person):
    return _download(person, "pdf")


@bp.route("/persons/data", methods=["GET", "POST"])
@permission(is_admin)
@lookup_limit
def produce():
    """An administrator finds the person who asked for their data, by identity number and name
    in the form (never in the address), through the registry's logged lookup."""
    form = RegistryLookupForm()
    not_found = False
    if form.validate_on_submit():
        answer, err = service_call(registry.lookup_person, current_user, form.id_number.data,
                                   form.name.data)
        if err is not None:
            form_error(form, err)
        elif answer.person is not None:
            return redirect(url_for("mydata.person_data", person_id=answer.person.id))
        else:
            not_found = True
    return render_template("mydata/produce.html", form=form, not_found=not_found)


@bp.get("/corrections")
@permission(can_see_corrections)
def corrections():
    items = corrections_to_answer(current_user)
    return render_template("mydata/corrections.html", items=items,
                           actions={c.id: correction_actions(c, current_user) for c in items},
                           history=correction_trails(items))


@bp.post("/corrections/<int:correction_id>")
@permission(can_answer_correction, correction=load(CorrectionRequest, "correction_id"))
def correction_answer(correction):
    _c, err = service_call(answer_correction, current_user, correction,
                           request.form.get("action", ""), request.form.get("reply", ""))
    if err is not None:
        flash(str(err), "danger")
    else:
        flash(_("Answered: the request is now %(state)s.", state=correction.state_title), "success")
    return redirect(url_for("mydata.corrections"))


NAVIGATION = (
    NavEntry(_l("My data"), "mydata.mine", "file-earmark-person", can_see_own_data, order=19),
    NavEntry(_l("A person's data"), "mydata.produce", "file-earmark-person", is_admin, order=72),
    NavEntry(_l("Correction requests"), "mydata.corrections", "pencil-square",
             can_see_corrections, order=60),
)

AUDIT_TITLES = {
    "mydata.produced": _l("A person's data produced for them"),
    "mydata.downloaded": _l("A person's data downloaded"),
    "mydata.correction_requested": _l("Correction of personal data requested"),
}

#: what each field of a record is called on the page and in the PDF (codes with a `<code>_title`
#: beside them show the title only)
FIELD_TITLES = {
    "organisation": _l("Organisation"), "post": _l("Post"), "is_direct_manager": _l("Direct manager"),
    "start_date": _l("Started"), "end_date": _l("Ended"), "end_reason": _l("Reason it ended"),
    "state": _l("State"), "type": _l("Certificate"), "level": _l("Level"),
    "certificate_no": _l("Certificate number"), "number": _l("Certificate number"),
    "issuer": _l("Issued by"), "issued_on": _l("Issued"), "expires_on": _l("Expires"),
    "revoked_at": _l("Revoked"), "source": _l("Source"), "checked_at": _l("Checked against the original"),
    "status": _l("Status"), "version": _l("Copy"), "year": _l("Year"), "category": _l("Category"),
    "hours": _l("Class hours"), "source_type": _l("Source"), "source_ref": _l("Source reference"),
    "evidence": _l("Evidence"), "description": _l("Description"), "recorded_by": _l("Recorded by"),
    "created_at": _l("Recorded"), "reverses": _l("Reverses entry"), "reason": _l("Reason"),
    "entries": _l("Entries"), "provider": _l("Provider"), "reference": _l("Reference"),
    "note": _l("Note"), "evidence_name": _l("Evidence file"), "course": _l("Course"),
    "lesson": _l("Lesson"), "segments": _l("Study segments"), "seconds": _l("Seconds studied"),
    "first_at": _l("First studied"), "last_at": _l("Last studied"), "enrolled_at": _l("Enrolled"),
    "completed_at": _l("Completed"), "training_base": _l("Training base"), "starts_at": _l("Starts"),
    "ends_at": _l("Ends"), "class_hours": _l("Class hours"), "booked_at": _l("Booked"),
    "cancelled_at": _l("Cancelled"), "checked_in_at": _l("Checked in"),
    "checked_out_at": _l("Checked out"), "qualification": _l("Certificate"),
    "registered_at": _l("Registered"), "theory_score": _l("Theory score"),
    "practical_score": _l("Practical score"), "result": _l("Result"), "attempt": _l("Theory paper"),
    "started_at": _l("Started"), "submitted_at": _l("Handed in"),
    "auto_submitted": _l("Handed in when time ran out"), "correct": _l("Correct answers"),
    "certificate_number": _l("Certificate number"), "amount": _l("Amount"),
    "claimed_at": _l("Submitted"), "payee_name": _l("Payee"), "bank_name": _l("Bank"), "bank_account": _l("Bank account"),
    "paid_on": _l("Paid"), "payment_ref": _l("Payment reference"),
    "rejected_reason": _l("Reason for rejection"), "events": _l("History"), "kind": _l("Kind"),
    "document_no": _l("Document number"), "starts_on": _l("Starts"), "ends_on": _l("Ends"), "decision_ref": _l("Decision"),
    "lifted_at": _l("Lifted"), "lift_reason": _l("Reason for lifting"), "resolved_at": _l("Resolved"),
    "resolution": _l("Resolution"), "text": _l("Message"), "read_at": _l("Read"),
    "at": _l("When"), "action": _l("What"), "who": _l("Who"), "section": _l("Part of your data"),
    "subject": _l("Record or field"), "message": _l("Message"), "institution": _l("Institution"),
    "requested_at": _l("Requested"), "reply": _l("Reply"), "answered_at": _l("Answered"),
    "trail": _l("History"), "by": _l("By"), "to_state": _l("State"),
}
#: fields that say nothing to the person on their own
HIDDEN_FIELDS = {"id", "source_type", "kind"}


def display_fields(row: dict) -> list[tuple[str, str, object, str]]:
    """A record's fields for a page or the PDF: (key, label, value, kind), where kind tells the
    template how to show the value (moment, day, hours, yes_no, rows, record, text)."""
    shown = []
    for key, value in row.items():
        base = key[:-len("_title")] if key.endswith("_title") else key
        if key in HIDDEN_FIELDS or (key + "_title") in row or value in (None, "", []):
            continue
        if base == "source" and key == "source_title":
            base = "source_type"
        label = FIELD_TITLES.get(base, FIELD_TITLES.get(key, key))
        if isinstance(value, datetime):
            kind = "moment"
        elif isinstance(value, date):
            kind = "day"
        elif isinstance(value, bool):
            kind = "yes_no"
        elif isinstance(value, Decimal):
            kind = "decimal"
        elif isinstance(value, list):
            kind = "rows"
        elif isinstance(value, dict):
            kind = "record"
        else:
            kind = "text"
        shown.append((key, str(label), value, kind))
    return shown
