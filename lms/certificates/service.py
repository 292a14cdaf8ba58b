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
from dataclasses import dataclass, field
from datetime import date

from flask import current_app, has_request_context, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lms.auth.models import Role
from lms.certificates.models import (
    Certificate,
    CertificateEvent,
    CertificateSerial,
    CertificateStatus,
)
from lms.core import audit, settings
from lms.core.clock import local_today, utc_now
from lms.core.errors import DomainError, PermissionDenied
from lms.core.pdf import render_pdf
from lms.core.permissions import authorize
from lms.exams.models import ExamSitting, Registration, Result
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import PersonPhoto, Qualification, QualificationType
from lms.registry.permissions import can_run_base, regulates

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


def _next_serial(qtype: QualificationType, year: int, issuer_id: int) -> int:
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(CertificateSerial).values(qualification_type_id=qtype.id, year=year,
                                            issuer_id=issuer_id, last=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["qualification_type_id", "year", "issuer_id"],
        set_={"last": CertificateSerial.last + 1}).returning(CertificateSerial.last)
    return db.session.execute(stmt).scalar_one()


def certificate_number(qtype: QualificationType, year: int, issuer_id: int, serial: int) -> str:
    prefix = qtype.number_prefix or qtype.code[:3].upper()
    return f"{prefix}-{year}-{issuer_id:04d}-{serial:06d}"


def _event(cert: Certificate, actor, action: str, reason: str = "") -> None:
    db.session.add(CertificateEvent(
        certificate_id=cert.id, action=action, reason=reason, actor_id=getattr(actor, "id", None),
        actor_label=getattr(actor, "display_name", None) or (actor if isinstance(actor, str) else "system")))


# --- issuing --------------------------------------------------------------------------------------


def live_certificate(person_id: int, qtype_id: int, level: int) -> Certificate | None:
    return db.session.scalar(select(Certificate).where(
        Certificate.person_id == person_id, Certificate.qualification_type_id == qtype_id,
        Certificate.level == level, Certificate.status != CertificateStatus.REVOKED.value))


def reasons_not_to_issue(registration: Registration, on: date | None = None) -> list[str]:
    """Why this result gets no certificate (empty: it gets one)."""
    on = on or local_today()
    sitting = registration.sitting
    person = registration.person
    reasons = []
    if registration.result != Result.PASSED:
        reasons.append(str(_l("The result is not a pass (%(result)s).", result=registration.result_title)))
    if registry.is_banned(person, on):
        reasons.append(str(_l("The person is banned from working in childcare.")))
    if db.session.scalar(select(Certificate.id).where(Certificate.registration_id == registration.id)):
        reasons.append(str(_l("A certificate was already issued for this result.")))
    elif live_certificate(person.id, sitting.qualification_type_id, sitting.level or 0) is not None:
        reasons.append(str(_l("The person already holds this certificate at this level.")))
    return reasons


def issue(actor, registration: Registration, *, today: date | None = None) -> Certificate:
    """Issue the certificate a passed result earns (the ban gate applies)."""
    sitting: ExamSitting = registration.sitting
    authorize(actor, can_run_base, org=sitting.organisation,
              message=_l("Only the training base that held the exam issues its certificates."))
    today = today or local_today()
    reasons = reasons_not_to_issue(registration, today)
    if reasons:
        raise DomainError("；".join(reasons))
    qtype = sitting.qualification_type
    serial = _next_serial(qtype, today.year, sitting.organisation_id)
    cert = Certificate(
        number=certificate_number(qtype, today.year, sitting.organisation_id, serial),
        verify_code=secrets.token_urlsafe(15), person_id=registration.person_id,
        qualification_type_id=qtype.id, level=sitting.level or 0, registration_id=registration.id,
        issuer_id=sitting.organisation_id, issued_on=today,
        expires_on=add_months(today, qtype.validity_months) if qtype.validity_months else None,
        status=CertificateStatus.VALID.value, version=1)
    try:
        with db.session.begin_nested():
            db.session.add(cert)
            db.session.flush()
    except IntegrityError:  # another issuer, at the same moment
        raise DomainError(_l("The person already holds this certificate at this level.")) from None
    record = registry.add_qualification(
        actor, registration.person, qtype, issued_on=today, level=sitting.level,
        expires_on=cert.expires_on, certificate_no=cert.number, issuer=sitting.organisation.name,
        source="issued")
    cert.qualification_id = record.id
    _event(cert, actor, "issued")
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
    for registration in db.session.scalars(select(Registration).where(
            Registration.sitting_id == sitting.id).order_by(Registration.id)):
        reasons = reasons_not_to_issue(registration, today)
        if reasons:
            plan.refused.append((registration, reasons))
        else:
            plan.ready.append(registration)
    return plan


def issue_batch(actor, sitting: ExamSitting, registration_ids: list[int],
                today: date | None = None) -> list[Certificate]:
    """Issue the confirmed ones (each checked again: things may have changed since the preview)."""
    # the gate first: with nobody ready, issue() (and its check) would never run
    authorize(actor, can_run_base, org=sitting.organisation,
              message=_l("Only the training base that held the exam issues its certificates."))
    issued = []
    for registration in batch_plan(sitting, today).ready:
        if registration.id in registration_ids:
            issued.append(issue(actor, registration, today=today))
    return issued


# --- status ---------------------------------------------------------------------------------------

TRANSITIONS = {
    "suspend": ({CertificateStatus.VALID}, CertificateStatus.SUSPENDED),
    "reinstate": ({CertificateStatus.SUSPENDED}, CertificateStatus.VALID),
    "revoke": ({CertificateStatus.VALID, CertificateStatus.SUSPENDED}, CertificateStatus.REVOKED),
}


def can_manage(user, cert: Certificate) -> bool:
    """Suspend, reinstate, revoke, re-issue: administrators, the issuing base, and regulators
    of its district."""
    if not (user and getattr(user, "is_authenticated", False)):
        return False
    return (user.role == Role.ADMIN or can_run_base(user, org=cert.issuer)
            or regulates(user, cert.issuer.district_id))


def change_status(actor, cert: Certificate, action: str, reason: str) -> Certificate:
    """Suspend, reinstate or revoke, with the reason and who did it; the registry follows."""
    if not can_manage(actor, cert):
        raise PermissionDenied(_l("You may not change this certificate."))
    if action not in TRANSITIONS:
        raise DomainError(_l("Unknown action."))
    allowed, target = TRANSITIONS[action]
    if CertificateStatus(cert.status) not in allowed:
        raise DomainError(_l("A certificate that is %(status)s cannot be changed that way.",
                             status=cert.status_title))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason."), field="reason")
    cert.status = target.value
    record = db.session.get(Qualification, cert.qualification_id) if cert.qualification_id else None
    if record is not None:
        record.revoked_at = None if target == CertificateStatus.VALID else utc_now()
    _event(cert, actor, action, reason)
    db.session.flush()
    audit.record(actor, f"certificates.{action}", cert, reason=reason)
    return cert


def reissue(actor, cert: Certificate, reason: str) -> Certificate:
    """A new copy (lost, damaged, name corrected): the same number and history, a new PDF."""
    if not can_manage(actor, cert):
        raise PermissionDenied(_l("You may not change this certificate."))
    if cert.status == CertificateStatus.REVOKED:
        raise DomainError(_l("A revoked certificate cannot be re-issued."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason."), field="reason")
    cert.version += 1
    cert.pdf = cert.pdf_version = None
    _event(cert, actor, "reissued", reason)
    db.session.flush()
    return cert


def events(cert: Certificate) -> list[CertificateEvent]:
    return list(db.session.scalars(select(CertificateEvent).where(
        CertificateEvent.certificate_id == cert.id).order_by(CertificateEvent.id)))


# --- reading, verifying, the PDF ------------------------------------------------------------------


def state(cert: Certificate, on: date | None = None) -> str:
    """valid | expired | suspended | revoked, as the public page says it."""
    on = on or local_today()
    if cert.status == CertificateStatus.VALID and cert.expires_on is not None and cert.expires_on < on:
        return "expired"
    return cert.status


def find(code_or_number: str) -> Certificate | None:
    value = (code_or_number or "").strip()
    if not value or len(value) > 40:
        return None
    return db.session.scalar(select(Certificate).where(
        (Certificate.verify_code == value) | (Certificate.number == value.upper())))


def of_sitting(sitting: ExamSitting) -> list[Certificate]:
    return list(db.session.scalars(select(Certificate).join(
        Registration, Registration.id == Certificate.registration_id).where(
        Registration.sitting_id == sitting.id).order_by(Certificate.number)))


def of_person(person_id: int) -> list[Certificate]:
    return list(db.session.scalars(select(Certificate).where(Certificate.person_id == person_id)
                                   .order_by(Certificate.issued_on.desc())))


def verify_link(cert: Certificate) -> str:
    """The public address of the certificate's verification page (what its QR code holds)."""
    if has_request_context():
        return url_for("certificates.verify_code", vcode=cert.verify_code, _external=True)
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        return url_for("certificates.verify_code", vcode=cert.verify_code, _external=True)


def missing_pdfs() -> list[int]:
    """Certificates whose current copy has no PDF yet."""
    return list(db.session.scalars(select(Certificate.id).where(
        (Certificate.pdf_version.is_(None)) | (Certificate.pdf_version != Certificate.version))
        .order_by(Certificate.id)))


def render_many(ids: list[int], workers: int = 2, progress=None) -> int:
    """Make the PDFs of these certificates, `workers` at a time. Each render is a wkhtmltopdf
    process, so two workers keep both cores busy while Python only waits for them."""
    from concurrent.futures import ThreadPoolExecutor

    app = current_app._get_current_object()
    db.session.commit()

    def work(chunk: list[int]) -> int:
        with app.app_context():
            for cert_id in chunk:
                pdf(db.session.get(Certificate, cert_id))
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


def pdf(cert: Certificate) -> bytes:
    """The certificate's PDF, made once per version and kept."""
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
