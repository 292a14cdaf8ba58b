"""Certificates: issuing for passed exam results (one by one, or a batch shown first and
confirmed), numbers and verification codes, the PDF, status changes and verification.

A number is TYPE-YEAR-ISSUER-SERIAL: the type's prefix (YYY for 育婴员, BYS for 保育师, ...),
the year of issue, the issuing organisation's id in four digits and a six-digit serial per
type, year and issuer, handed out by an atomic upsert. The verification code is separate
and random (120 bits): knowing numbers does not let anyone find certificates.
"""

from __future__ import annotations

import base64
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from lms.certificates.models import (
    Authority,
    CertAction,
    Certificate,
    CertificateRegrade,
    CertificateSerial,
    CertificateStatus,
    RegradeOutcome,
)
from lms.certificates.permissions import (
    authority_of,
    can_download_certificate,
    can_manage_certificate,
    can_regrade_certificate,
)
from lms.core import audit, jobs, settings
from lms.core.bulk import chunks, one_of
from lms.core.clock import local_date, local_today, utc_now
from lms.core.errors import DomainError
from lms.core.idnumber import PersonNameError, normalise_name
from lms.core.pdf import render_pdf
from lms.core.permissions import authorize
from lms.core.states import StateMachine
from lms.core.urls import public_url
from lms.exams import service as exams
from lms.exams.models import ExamSitting, Registration, Result
from lms.exams.permissions import can_run_sitting
from lms.extensions import db
from lms.registry import permissions as registry_rules
from lms.registry import service as registry
from lms.registry.models import PersonPhoto, Qualification, QualificationType

settings.define("certificates.renewal_grace_days", _l("Grace period after a certificate expires"),
                "int", 90, 0, 365, _l("days"))


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def _next_serial(qtype: QualificationType, year: int, issuer_id: int, count: int = 1) -> int:
    """The first of `count` consecutive serials, drawn in one statement (a batch draws its
    certificates' numbers at once); rolled back with the transaction that drew them."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(CertificateSerial).values(qualification_type_id=qtype.id, year=year,
                                            issuer_id=issuer_id, last=count)
    stmt = stmt.on_conflict_do_update(
        index_elements=["qualification_type_id", "year", "issuer_id"],
        set_={"last": CertificateSerial.last + count}).returning(CertificateSerial.last)
    return db.session.execute(stmt).scalar_one() - count + 1


def certificate_number(qtype: QualificationType, year: int, issuer_id: int, serial: int) -> str:
    prefix = qtype.number_prefix or qtype.code[:3].upper()
    return f"{prefix}-{year}-{issuer_id:04d}-{serial:06d}"


# --- issuing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _IssueFacts:
    """What the issuing rule reads about a sitting's results, read for all of them at once."""

    #: people the ban gate refuses on the date
    banned: set[int]
    #: results that have a certificate already
    issued: set[int]
    #: people holding the sitting's certificate (type and level) not revoked
    live: set[int]


def _issue_facts(sitting: ExamSitting, registrations: list[Registration], on: date) -> _IssueFacts:
    """Three statements per 5,000 results, whatever their number (a batch of 1,000 asked three
    per result before)."""
    people = {r.person_id: r.person for r in registrations}
    gate = registry.ban_gate([p.id_number for p in people.values()], on)
    issued: set[int] = set()
    for chunk in chunks([r.id for r in registrations]):
        issued.update(db.session.scalars(select(Certificate.registration_id).where(
            one_of(Certificate.registration_id, chunk))))
    live: set[int] = set()
    for chunk in chunks(list(people)):
        live.update(db.session.scalars(select(Certificate.person_id).where(
            one_of(Certificate.person_id, chunk),
            Certificate.qualification_type_id == sitting.qualification_type_id,
            Certificate.level == (sitting.level or 0),
            Certificate.status != CertificateStatus.REVOKED.value)))
    return _IssueFacts(banned={pid for pid, p in people.items() if p.id_number in gate},
                       issued=issued, live=live)


def _reasons(registration: Registration, facts: _IssueFacts) -> list[str]:
    """The issuing rule: why this result gets no certificate (empty: it gets one)."""
    reasons = []
    if registration.result != Result.PASSED:
        reasons.append(str(_l("The result is not a pass (%(result)s).", result=registration.result_title)))
    if registration.person_id in facts.banned:
        reasons.append(str(_l("The person is banned from working in childcare.")))
    if registration.id in facts.issued:
        reasons.append(str(_l("A certificate was already issued for this result.")))
    elif registration.person_id in facts.live:
        reasons.append(str(_l("The person already holds this certificate at this level.")))
    return reasons


def reasons_not_to_issue(registration: Registration, on: date | None = None) -> list[str]:
    """Why this result gets no certificate (empty: it gets one)."""
    on = on or local_today()
    return _reasons(registration, _issue_facts(registration.sitting, [registration], on))


def issue(actor, registration: Registration, *, today: date | None = None) -> Certificate:
    """Issue the certificate a passed result earns (the ban gate applies)."""
    sitting: ExamSitting = registration.sitting
    authorize(actor, can_run_sitting, sitting=sitting,
              message=_l("Only the training base that held the exam issues its certificates."))
    today = today or local_today()
    reasons = reasons_not_to_issue(registration, today)
    if reasons:
        raise DomainError("；".join(reasons))
    return _issue_checked(actor, registration, today)


def _issue_checked(actor, registration: Registration, today: date, *, serial: int | None = None,
                   savepoint: bool = True) -> Certificate:
    """The certificate written, its number drawn, the registry told: `issue` once the actor
    is authorised and the result checked (issue_batch checks the whole batch at once, draws
    its serials at once and passes each its `serial`). `savepoint=False`: a certificate that
    another issuer wrote meanwhile fails the whole transaction (a batch issues all or
    nothing), instead of only this certificate."""
    sitting: ExamSitting = registration.sitting
    qtype = sitting.qualification_type
    if serial is None:
        serial = _next_serial(qtype, today.year, sitting.organisation_id)
    cert = Certificate(
        number=certificate_number(qtype, today.year, sitting.organisation_id, serial),
        verify_code=secrets.token_urlsafe(15), person_id=registration.person_id,
        qualification_type_id=qtype.id, level=sitting.level or 0, registration_id=registration.id,
        issuer_id=sitting.organisation_id, issued_on=today,
        expires_on=add_months(today, qtype.validity_months) if qtype.validity_months else None,
        status=CertificateStatus.VALID.value, version=1)
    try:
        if savepoint:
            with db.session.begin_nested():
                db.session.add(cert)
                db.session.flush()
        else:
            db.session.add(cert)
            db.session.flush()
    except IntegrityError:  # another issuer, at the same moment
        raise DomainError(_l("The person already holds this certificate at this level.")) from None
    record = registry.add_qualification(
        actor, registration.person, qtype, issued_on=today, level=sitting.level,
        expires_on=cert.expires_on, certificate_no=cert.number, issuer=sitting.organisation.name,
        source="issued")
    cert.qualification_id = record.id
    # from now on the scores change only through a re-grade here (lms.exams refuses them)
    registration.certified_at = utc_now()
    CERTIFICATE.record_start(actor, cert, authority=_authority_value(actor, cert))
    db.session.flush()
    audit.record(actor, "certificates.issued", cert, number=cert.number, person_id=cert.person_id)
    return cert


@dataclass
class BatchPlan:
    """Who of a sitting will get a certificate and who will not, and why."""

    ready: list[Registration] = field(default_factory=list)
    refused: list[tuple[Registration, list[str]]] = field(default_factory=list)


def batch_plan(sitting: ExamSitting, today: date | None = None) -> BatchPlan:
    plan = BatchPlan()
    registrations = list(db.session.scalars(select(Registration).where(
        Registration.sitting_id == sitting.id).order_by(Registration.id)))
    facts = _issue_facts(sitting, registrations, today or local_today())
    for registration in registrations:
        reasons = _reasons(registration, facts)
        if reasons:
            plan.refused.append((registration, reasons))
        else:
            plan.ready.append(registration)
    return plan


def issue_batch(actor, sitting: ExamSitting, registration_ids: list[int],
                today: date | None = None) -> list[Certificate]:
    """Issue the confirmed ones (each checked again: things may have changed since the preview)."""
    authorize(actor, can_run_sitting, sitting=sitting,
              message=_l("Only the training base that held the exam issues its certificates."))
    today = today or local_today()
    chosen = set(registration_ids)
    # batch_plan checks each result now, in this transaction: issue's own check is not repeated
    ready = [r for r in batch_plan(sitting, today).ready if r.id in chosen]
    if not ready:
        return []
    first = _next_serial(sitting.qualification_type, today.year, sitting.organisation_id,
                         len(ready))
    # one transaction: a certificate written meanwhile by another issuer fails the batch
    return [_issue_checked(actor, registration, today, serial=first + n, savepoint=False)
            for n, registration in enumerate(ready)]


# --- status: one transition table, and who may lift what --------------------------------------------

S, A = CertificateStatus, CertAction

#: (state, action) -> the state it leads to. Nothing else moves a certificate. Revoked is final
#: (a new certificate is issued instead); a re-issue is a new copy of a valid one.
TRANSITIONS: dict[tuple[CertificateStatus, CertAction], CertificateStatus] = {
    (S.VALID, A.SUSPEND): S.SUSPENDED,
    (S.VALID, A.REVOKE): S.REVOKED,
    (S.VALID, A.REISSUE): S.VALID,
    (S.SUSPENDED, A.REINSTATE): S.VALID,
    (S.SUSPENDED, A.REVOKE): S.REVOKED,
}

#: the authority a suspension was made with -> the authorities that may lift it. A regulator's
#: suspension is lifted only by a regulator; the issuing base lifts only its own (an issuing
#: error it corrects); an administrator's, an administrator or a regulator.
LIFTED_BY: dict[Authority, set[Authority]] = {
    Authority.REGULATOR: {Authority.REGULATOR},
    Authority.ADMIN: {Authority.ADMIN, Authority.REGULATOR},
    Authority.SYSTEM: {Authority.ADMIN, Authority.REGULATOR},
    Authority.ISSUER: {Authority.ISSUER, Authority.ADMIN, Authority.REGULATOR},
}


def suspension_authority(cert: Certificate) -> Authority:
    """The authority of the suspension or revocation in force (unknown counts as a regulator's)."""
    try:
        return Authority(cert.status_authority)
    except ValueError:
        return Authority.REGULATOR


def may_lift(authority: Authority | None, cert: Certificate) -> bool:
    """Whether someone acting with `authority` may lift the certificate's suspension."""
    return authority is not None and authority in LIFTED_BY.get(suspension_authority(cert), set())


def may_act(user, cert: Certificate, action: CertAction) -> bool:
    """Role and scope (the state aside), and the authority rule: a suspension is lifted only by
    an authority at least as strong as the one that made it."""
    authority = authority_of(user, cert)
    if authority is None:
        return False
    if action == A.REINSTATE:
        return may_lift(authority, cert)
    return True


def _guard(cert: Certificate, action: CertAction):
    """Rules beyond the table: a banned holder's certificate is not put back in force."""
    if action == A.REINSTATE and registry.is_banned(cert.person, local_today()):
        return _l("The holder is banned from working in childcare: the certificate cannot be reinstated.")
    return None


CERTIFICATE = StateMachine(Certificate, CertificateStatus, CertAction, TRANSITIONS, may=may_act,
                           guard=_guard, column="status", audit_prefix="certificates.certificate")


def _authority_value(actor, cert: Certificate) -> str:
    authority = authority_of(actor, cert)
    return authority.value if authority else ""


def allowed_actions(cert: Certificate, user) -> list[CertAction]:
    """What this user may do to the certificate now (what its page offers)."""
    return CERTIFICATE.allowed_actions(cert, user)


def change_status(actor, cert: Certificate, action, reason: str) -> Certificate:
    """Suspend, reinstate, revoke or re-issue, with the reason, who did it and with what
    authority; the registry follows."""
    authorize(actor, can_manage_certificate, cert=cert,
              message=_l("You may not change this certificate."))
    action = CERTIFICATE.parse_action(action)
    if not (reason or "").strip():
        raise DomainError(_l("Give the reason."), field="reason")
    return _move(actor, cert, action, reason, authority_of(actor, cert))


def suspend_for_ban(actor, person_id: int, reason: str) -> list[Certificate]:
    """A ban suspends every valid certificate of the person at once, with a regulator's authority
    (so only a regulator reinstates them, and not while the ban holds)."""
    authorize(actor, registry_rules.can_apply_ban_effects)
    if not (reason or "").strip():
        raise DomainError(_l("Give the reason."), field="reason")
    suspended = []
    for cert in db.session.scalars(select(Certificate).where(
            Certificate.person_id == person_id, Certificate.status == S.VALID.value)
            .order_by(Certificate.id)):
        _move(registry.BAN_EFFECTS, cert, A.SUSPEND, reason.strip(), Authority.REGULATOR)
        suspended.append(cert)
    return suspended


def reissue(actor, cert: Certificate, reason: str) -> Certificate:
    """A new copy (lost, damaged, name corrected): the same number and history, a new PDF."""
    return change_status(actor, cert, A.REISSUE, reason)


def _move(actor, cert: Certificate, action: CertAction, reason: str,
          authority: Authority | None) -> Certificate:
    values: dict = {}
    if action in (A.SUSPEND, A.REVOKE):
        values["status_authority"] = authority.value if authority else None
    elif action == A.REINSTATE:
        values["status_authority"] = None
    elif action == A.REISSUE:
        values.update(version=Certificate.version + 1, pdf=None, pdf_version=None)
    CERTIFICATE.apply(actor, cert, action, reason=reason,
                      authority=authority.value if authority else "", values=values,
                      number=cert.number)
    record = db.session.get(Qualification, cert.qualification_id) if cert.qualification_id else None
    if record is not None and action != A.REISSUE:
        record.revoked_at = None if cert.status == S.VALID else utc_now()
        db.session.flush()
    return cert


def history(cert: Certificate):
    """Every move of the certificate, oldest first (issued, suspended, ..., with authority)."""
    return CERTIFICATE.history(cert)


def history_title(event) -> str:
    """The history line's action in the reader's language (never a raw code)."""
    if event.action == "create":
        return str(_l("Issued"))
    try:
        return CertAction(event.action).title
    except ValueError:
        return event.action


def authority_title(value: str) -> str:
    try:
        return Authority(value).title
    except ValueError:
        return ""


# --- re-grades ------------------------------------------------------------------------------------


def regrade(actor, cert: Certificate, *, theory=None, practical=None, reason: str) -> CertificateRegrade:
    """Change a certified result's scores, recorded (who, when, why, before and after); the
    certificate follows: no longer passed, it is revoked on the re-grade's authority; still
    passed, it stands."""
    authorize(actor, can_regrade_certificate, cert=cert,
              message=_l("Only the issuing training base re-grades a certified result."))
    registration = db.session.get(Registration, cert.registration_id)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason."), field="reason")
    new_theory = exams.parse_score(theory) if str(theory or "").strip() else None
    new_practical = exams.parse_score(practical) if str(practical or "").strip() else None
    if new_theory is None and new_practical is None:
        raise DomainError(_l("Give the new score."), field="practical")
    before = (registration.theory_score, registration.practical_score, registration.result)
    if new_theory is not None:
        registration.theory_score = new_theory
    if new_practical is not None:
        registration.practical_score = new_practical
        registration.practical_by_id, registration.practical_at = getattr(actor, "id", None), utc_now()
    exams.decide_result(registration)
    db.session.flush()
    outcome = RegradeOutcome.UNCHANGED
    if registration.result != Result.PASSED and cert.status != S.REVOKED:
        _move(actor, cert, A.REVOKE, reason, Authority.REGRADE)
        outcome = RegradeOutcome.REVOKED
    row = CertificateRegrade(
        certificate_id=cert.id, registration_id=registration.id,
        theory_before=before[0], practical_before=before[1], result_before=before[2],
        theory_after=registration.theory_score, practical_after=registration.practical_score,
        result_after=registration.result, outcome=outcome.value, reason=reason,
        actor_id=getattr(actor, "id", None), actor_label=getattr(actor, "display_name", "") or "",
        created_at=utc_now())
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "certificates.regraded", cert, registration_id=registration.id,
                 result_before=before[2], result_after=registration.result, outcome=outcome.value,
                 reason=reason)
    return row


def regrades(cert: Certificate) -> list[CertificateRegrade]:
    return list(db.session.scalars(select(CertificateRegrade).where(
        CertificateRegrade.certificate_id == cert.id).order_by(CertificateRegrade.id)))


def registration_of(cert: Certificate) -> Registration | None:
    return db.session.get(Registration, cert.registration_id) if cert.registration_id else None


# --- reading, verifying, the PDF ------------------------------------------------------------------


def state(cert: Certificate, on: date | None = None) -> str:
    """valid | expired | suspended | revoked, as the public page says it."""
    on = on or local_today()
    if cert.status == CertificateStatus.VALID and cert.expires_on is not None and cert.expires_on < on:
        return "expired"
    return cert.status


def _same_name(typed: str, name: str) -> bool:
    try:
        typed = normalise_name(unicodedata.normalize("NFKC", typed))
    except PersonNameError:
        return False
    return typed.replace(" ", "").casefold() == normalise_name(name).replace(" ", "").casefold()


def find(query: str, name: str = "") -> Certificate | None:
    """A certificate by its verification code alone, or by its number and its holder's full
    name (a number alone finds nothing: counting up numbers must not list holders)."""
    value = (query or "").strip()
    if not value or len(value) > 40:
        return None
    cert = db.session.scalar(select(Certificate).where(Certificate.verify_code == value))
    if cert is not None:
        return cert
    if not (name or "").strip():
        return None
    cert = db.session.scalar(select(Certificate).where(Certificate.number == value.upper()))
    if cert is None or not _same_name(name, cert.person.name):
        return None
    return cert


def by_code(vcode: str) -> Certificate | None:
    """The certificate a QR code or verification link names."""
    if not vcode or len(vcode) > 40:
        return None
    return db.session.scalar(select(Certificate).where(Certificate.verify_code == vcode))


def of_sitting(sitting: ExamSitting) -> list[Certificate]:
    return list(db.session.scalars(select(Certificate).join(
        Registration, Registration.id == Certificate.registration_id).where(
        Registration.sitting_id == sitting.id).order_by(Certificate.number)))


def of_person(person_id: int) -> list[Certificate]:
    return list(db.session.scalars(select(Certificate).where(Certificate.person_id == person_id)
                                   .order_by(Certificate.issued_on.desc())))


def verify_link(cert: Certificate) -> str:
    """The public address of the certificate's verification page (what its QR code holds):
    always from the configured PUBLIC_URL, never from the request's Host header."""
    return public_url("certificates.verify_code", vcode=cert.verify_code)


class PdfWithheld(DomainError):
    """A suspended or revoked certificate's PDF is not given out."""


def pdf_available(cert: Certificate) -> bool:
    """Whether the PDF is given out: only while the certificate is in force."""
    return cert.status == CertificateStatus.VALID


def withheld_reason(cert: Certificate) -> str:
    """Why the PDF is not given out: the state, since when, and the reason recorded."""
    last = next((e for e in reversed(history(cert)) if e.to_state == cert.status), None)
    if last is None:
        return str(_l("This certificate is %(status)s: its PDF is not given out.", status=cert.status_title))
    return str(_l("This certificate was %(status)s on %(day)s (%(reason)s): its PDF is not given "
                  "out. The public verification page shows its status.",
                  status=cert.status_title, day=local_date(last.created_at).isoformat(),
                  reason=last.reason))


def missing_pdfs() -> list[int]:
    """Certificates in force whose current copy has no PDF yet."""
    return list(db.session.scalars(select(Certificate.id).where(
        Certificate.status == CertificateStatus.VALID.value,
        (Certificate.pdf_version.is_(None)) | (Certificate.pdf_version != Certificate.version))
        .order_by(Certificate.id)))


def render_many(actor, ids: list[int], workers: int = 2, progress=None) -> int:
    """Make the PDFs of these certificates, `workers` at a time. Each render is a wkhtmltopdf
    process, so two workers keep both cores busy while Python only waits for them. It commits
    as it goes, so it is for the command line and jobs (a system actor), not a request."""
    from concurrent.futures import ThreadPoolExecutor

    from lms.core.actors import is_system
    from lms.core.errors import PermissionDenied

    if not is_system(actor):
        raise PermissionDenied(_l("Certificate PDFs are made in bulk by the command line only."))

    from flask import current_app

    app = current_app._get_current_object()
    db.session.commit()

    def work(chunk: list[int]) -> int:
        with app.app_context():
            for cert_id in chunk:
                pdf(actor, db.session.get(Certificate, cert_id))
                db.session.commit()
            db.session.remove()
        return len(chunk)

    chunks = [ids[i:i + 5] for i in range(0, len(ids), 5)]
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for count in pool.map(work, chunks):
            done += count
            if progress:
                progress(count)
    return done


def pdf(actor, cert: Certificate) -> bytes:
    """The certificate's PDF, made once per copy and kept; withheld (PdfWithheld, with the
    reason) while the certificate is suspended or revoked."""
    authorize(actor, can_download_certificate, cert=cert,
              message=_l("Only the holder and those who manage it get a certificate's PDF."))
    if not pdf_available(cert):
        raise PdfWithheld(withheld_reason(cert))
    if cert.pdf is not None and cert.pdf_version == cert.version:
        return cert.pdf
    import segno
    from flask_babel import force_locale

    from lms.exams.models import LEVEL_TITLES

    link = verify_link(cert)
    photo = db.session.get(PersonPhoto, cert.person_id)
    with force_locale("zh_Hans_CN"):  # the certificate is a Chinese document, whoever prints it
        cert.pdf = render_pdf(
            "certificates/pdf.html", landscape=True, cert=cert, link=link,
            level_title=str(LEVEL_TITLES[cert.level]) if cert.level else "",
            qr=segno.make(link, error="m").svg_data_uri(scale=4, border=2),
            photo=("data:image/jpeg;base64," + base64.b64encode(photo.data).decode()) if photo else None)
    cert.pdf_version = cert.version
    db.session.flush()
    return cert.pdf


def certificate_ids_for_qualifications(qualification_ids: list[int]) -> dict[int, int]:
    """{qualification id: certificate id} for registry pages' links (registered in create_app)."""
    return dict(db.session.execute(
        select(Certificate.qualification_id, Certificate.id)
        .where(Certificate.qualification_id.in_(qualification_ids))).all())


# --- the batch as a job ---------------------------------------------------------------------
# The page stores the chosen results with a job; a worker issues them in one transaction (each
# checked again, as issue_batch does), commits, and splits the PDFs still missing into parts
# of BATCH_PART_SIZE, each its own task (certificates.render_batch_part), so every worker
# process takes some: a worker with concurrency 2, or two workers, keeps two wkhtmltopdf
# renders going. A worker killed while issuing leaves nothing issued; killed while rendering,
# the certificates and the PDFs made so far stand (each PDF is committed on its own) and the
# redelivered part makes only those still missing. The last parts are smaller (_batch_parts), so
# the processes finish together. The part that finds none missing finishes
# the job (a PDF is also made on demand anyway).

BATCH_JOB = "certificates.issue_batch"
BATCH_PART_JOB = "certificates.render_batch_part"
BATCH_PART_SIZE = 20
BATCH_STAGES = {"issue": _l("Issuing certificates"), "render": _l("Making the PDFs")}
jobs.titled(BATCH_JOB, _l("Certificate batch"))


def start_issue_batch(actor, sitting: ExamSitting, registration_ids: list[int], *,
                      locale: str = "") -> jobs.Job:
    """A queued batch issue for these results of the sitting (jobs.submit starts it)."""
    authorize(actor, can_run_sitting, sitting=sitting,
              message=_l("Only the training base that held the exam issues its certificates."))
    ids = sorted({int(i) for i in registration_ids})
    job = jobs.new_job(BATCH_JOB, user=actor, locale=locale,
                       params={"sitting_id": sitting.id, "registration_ids": ids})
    audit.record(actor, "certificates.batch_started", sitting, job=job.id, results=len(ids))
    return job


def _batch_missing_pdfs(job: jobs.Job):
    """The batch's certificates in force whose current copy has no PDF yet (ids, a query)."""
    return (select(Certificate.id)
            .join(Registration, Registration.id == Certificate.registration_id)
            .where(Registration.sitting_id == job.params["sitting_id"],
                   Registration.id.in_(job.params["registration_ids"]),
                   Certificate.status == CertificateStatus.VALID.value,
                   Certificate.pdf_version.is_(None)
                   | (Certificate.pdf_version != Certificate.version))
            .order_by(Certificate.id))


def run_issue_batch(job: jobs.Job, progress) -> jobs.InParts:
    from lms.core.actors import system_actor

    actor = system_actor(f"jobs:{BATCH_JOB}")
    sitting = db.session.get(ExamSitting, job.params["sitting_id"])
    ids = job.params["registration_ids"]
    progress("issue", 0, max(len(ids), 1))
    issued = issue_batch(actor, sitting, ids)
    progress("issue", len(ids), max(len(ids), 1))
    db.session.flush()
    missing = _batch_pdfs_to_make(job)
    return jobs.InParts(
        task=BATCH_PART_JOB, total=len(missing), stage="render", parts=_batch_parts(missing),
        result={"issued": len(issued), "rendered": len(missing)},
        link=f"/exams/{sitting.id}/certificates")


def _batch_pdfs_to_make(job: jobs.Job) -> list[int]:
    return list(db.session.scalars(_batch_missing_pdfs(job))) if job.params.get("render", True) else []


#: the last parts are cut to an eighth of what is left: small enough that, with up to eight
#: worker processes taking parts in turn, they finish close together
BATCH_TAIL_SHARE = 8


def _batch_parts(cert_ids: list[int]) -> list[list[int]]:
    """The PDFs in parts of BATCH_PART_SIZE, smaller towards the end (guided self-scheduling):
    the workers take the parts in order, so the last ones are a few PDFs each and the processes
    finish together, instead of one rendering most of a full part while the others idle."""
    parts, start = [], 0
    while start < len(cert_ids):
        left = len(cert_ids) - start
        size = max(1, min(BATCH_PART_SIZE, -(-left // BATCH_TAIL_SHARE)))
        parts.append(cert_ids[start:start + size])
        start += size
    return parts


def _batch_parts_left(job: jobs.Job) -> jobs.InParts:
    """The PDFs a batch whose worker stopped mid-way still has to make, in parts again."""
    return jobs.InParts(task=BATCH_PART_JOB, total=job.progress_total,
                        parts=_batch_parts(_batch_pdfs_to_make(job)), result=job.result or {},
                        link=job.result_link, stage="render")


jobs.resumable(BATCH_JOB, _batch_parts_left)


def render_batch_part(job: jobs.Job, cert_ids: list[int], report) -> None:
    """One part of a batch's PDFs, one at a time, each committed with its certificate; one
    already made (by an earlier delivery of this part, or on demand) is left as it is, one no
    longer in force is not made."""
    from lms.core.actors import system_actor

    actor = system_actor(f"jobs:{BATCH_JOB}")
    for cert_id in cert_ids:
        cert = db.session.get(Certificate, cert_id)
        if cert is not None and pdf_available(cert):
            pdf(actor, cert)
        db.session.commit()
        if cert is not None:
            db.session.expunge(cert)  # the PDFs made are not kept in memory
        report()


def batch_pdfs_left(job: jobs.Job) -> int:
    return db.session.scalar(select(func.count()).select_from(_batch_missing_pdfs(job).subquery()))
