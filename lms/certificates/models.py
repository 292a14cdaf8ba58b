"""Certificates issued by this system: numbers, verification codes, status and its history."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.enums import TitledEnum, enum_check
from lms.core.models import utcnow
from lms.extensions import db
from lms.registry.models import Organisation, Person, QualificationType


class CertificateStatus(TitledEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"

    @classmethod
    def titles(cls):
        return {cls.VALID: _l("Valid"), cls.SUSPENDED: _l("Suspended"), cls.REVOKED: _l("Revoked")}


class Certificate(db.Model):
    """Never deleted: a revoked certificate stays, and says so when it is verified."""

    __tablename__ = "certificates"
    __table_args__ = (
        enum_check("status", CertificateStatus),
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
    #: the registry's record of it (what the post checks read)
    qualification_id: Mapped[int | None] = mapped_column(ForeignKey("qualifications.id"))
    #: bumped by a re-issue: the PDF is made again, the number stays
    version: Mapped[int] = mapped_column(Integer, default=1)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    pdf_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    person: Mapped[Person] = relationship(lazy="joined")
    qualification_type: Mapped[QualificationType] = relationship(lazy="joined")
    issuer: Mapped[Organisation] = relationship(lazy="joined")

    @property
    def status_title(self) -> str:
        return CertificateStatus(self.status).title


class CertificateEvent(db.Model):
    """What happened to a certificate, by whom and why (issued, suspended, reinstated, ...)."""

    __tablename__ = "certificate_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CertificateSerial(db.Model):
    """The last serial used per type, year and issuer (numbers are handed out under its lock)."""

    __tablename__ = "certificate_serials"

    qualification_type_id: Mapped[int] = mapped_column(ForeignKey("qualification_types.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
