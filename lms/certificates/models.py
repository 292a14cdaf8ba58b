"""Certificates issued by this system: numbers, verification codes, status (its history is in the
shared state_events table), and re-grades of the results they were issued for."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.crypto import EncryptedBlob
from lms.core.enums import TitledEnum, enum_check
from lms.core.models import utcnow
from lms.exams.models import SCORE
from lms.extensions import db
from lms.registry.models import Organisation, Person, QualificationType


class CertificateStatus(TitledEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"

    @classmethod
    def titles(cls):
        return {cls.VALID: _l("Valid"), cls.SUSPENDED: _l("Suspended"), cls.REVOKED: _l("Revoked")}


class RegradeOutcome(TitledEnum):
    #: the result still passes: the certificate stands
    UNCHANGED = "unchanged"
    #: the result no longer passes: the certificate was revoked
    REVOKED = "revoked"

    @classmethod
    def titles(cls):
        return {cls.UNCHANGED: _l("The certificate stands"), cls.REVOKED: _l("The certificate was revoked")}


class CertAction(TitledEnum):
    """What can be done to a certificate (see service.TRANSITIONS)."""

    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    REVOKE = "revoke"
    REISSUE = "reissue"

    @classmethod
    def titles(cls):
        return {cls.SUSPEND: _l("Suspend"), cls.REINSTATE: _l("Reinstate"), cls.REVOKE: _l("Revoke"),
                cls.REISSUE: _l("Re-issue (same number)")}


class Authority(TitledEnum):
    """With what authority a certificate's status was changed. A suspension or revocation
    keeps its authority: who may lift it depends on it (service.may_lift)."""

    #: the base that issued it, correcting its own issuing error
    ISSUER = "issuer"
    #: a regulator (卫健委) of the issuer's district, or of the whole city
    REGULATOR = "regulator"
    #: the system administrator
    ADMIN = "admin"
    #: a re-grade of the result found it no longer passed
    REGRADE = "regrade"
    #: the command line or a job
    SYSTEM = "system"

    @classmethod
    def titles(cls):
        return {cls.ISSUER: _l("the issuing training base"), cls.REGULATOR: _l("a regulator"),
                cls.ADMIN: _l("the system administrator"), cls.REGRADE: _l("a re-grade of the result"),
                cls.SYSTEM: _l("the system")}


class Certificate(db.Model):
    """Never deleted: a revoked certificate stays, and says so when it is verified."""

    __tablename__ = "certificates"
    __table_args__ = (
        enum_check("status", CertificateStatus),
        enum_check("status_authority", Authority),
        # a person holds one live certificate per type and level, whoever issues it and however
        # many issuers click at once (level 0: a type without levels)
        Index("uq_certificates_live", "person_id", "qualification_type_id", "level", unique=True,
              sqlite_where=text("status <> 'revoked'"), postgresql_where=text("status <> 'revoked'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: TYPE-YEAR-ISSUER-SERIAL, e.g. YYY-2026-0003-000017 (see service.certificate_number)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    #: random, separate from the number: it cannot be guessed or enumerated
    verify_code: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    qualification_type_id: Mapped[int] = mapped_column(ForeignKey("qualification_types.id"))
    #: 5 .. 1, or 0 for a type without levels
    level: Mapped[int] = mapped_column(Integer)
    #: the exam result it was issued for (one certificate per result)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("exam_registrations.id"), unique=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))
    #: the authority of the suspension or revocation in force (NULL while valid): a regulator's
    #: is lifted only by a regulator
    status_authority: Mapped[str | None] = mapped_column(String(16))
    #: the registry's record of it (what the post checks read)
    qualification_id: Mapped[int | None] = mapped_column(ForeignKey("qualifications.id"))
    #: bumped by a re-issue: the PDF is made again, the number stays
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: encrypted at rest: the PDF prints the holder's identity number (lms.core.crypto);
    #: deferred: read (and decrypted) only by the PDF's own download, never with a list of
    #: certificates (a person's status, a sitting's results)
    pdf: Mapped[bytes | None] = mapped_column(EncryptedBlob(), deferred=True)
    pdf_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    person: Mapped[Person] = relationship(lazy="joined")
    qualification_type: Mapped[QualificationType] = relationship(lazy="joined")
    issuer: Mapped[Organisation] = relationship(lazy="joined")

    @property
    def status_title(self) -> str:
        return CertificateStatus(self.status).title


class CertificateRegrade(db.Model):
    """A result's scores changed after its certificate was issued: who, when, why, the scores
    before and after, and what it did to the certificate. Rows are never changed."""

    __tablename__ = "certificate_regrades"
    __table_args__ = (enum_check("outcome", RegradeOutcome),)

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("exam_registrations.id"))
    theory_before: Mapped[Decimal | None] = mapped_column(SCORE)
    practical_before: Mapped[Decimal | None] = mapped_column(SCORE)
    theory_after: Mapped[Decimal | None] = mapped_column(SCORE)
    practical_after: Mapped[Decimal | None] = mapped_column(SCORE)
    result_before: Mapped[str] = mapped_column(String(8))
    result_after: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def outcome_title(self) -> str:
        return RegradeOutcome(self.outcome).title


class CertificateSerial(db.Model):
    """The last serial used per type, year and issuer (numbers are handed out under its lock)."""

    __tablename__ = "certificate_serials"

    qualification_type_id: Mapped[int] = mapped_column(ForeignKey("qualification_types.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ExpiryReminder(db.Model):
    """A reminder sent to a certificate's holder that it expires soon: one per certificate and
    threshold (90, 30, 7 days), so each is sent once."""

    __tablename__ = "certificate_expiry_reminders"

    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), primary_key=True)
    #: the threshold it was sent for: 90, 30 or 7 (days before expiry)
    days: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the expiry date it reminded of (a renewal moves it; a new reminder is then due)
    expires_on: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
