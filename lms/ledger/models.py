"""The class-hour ledger: append-only entries and the yearly totals kept beside them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.clock import utc_now
from lms.core.enums import TitledEnum, enum_check
from lms.extensions import db
from lms.registry.models import Person

#: class hours are kept to four decimal places (a 10-minute credit is 0.2222 of a 45-minute hour)
HOURS = Numeric(12, 4)


class Category(TitledEnum):
    SKILLS = "skills"
    ETHICS = "ethics"

    @classmethod
    def titles(cls):
        return {cls.SKILLS: _l("Skills training"), cls.ETHICS: _l("Professional ethics")}


class SourceType(TitledEnum):
    LESSON = "lesson"
    SESSION = "session"
    EXTERNAL = "external"
    CORRECTION = "correction"

    @classmethod
    def titles(cls):
        return {
            cls.LESSON: _l("Online lesson"),
            cls.SESSION: _l("Session attendance"),
            cls.EXTERNAL: _l("External record"),
            cls.CORRECTION: _l("Correction"),
        }


class ExternalState(TitledEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"

    @classmethod
    def titles(cls):
        return {cls.PENDING: _l("Awaiting confirmation"), cls.CONFIRMED: _l("Confirmed"),
                cls.REJECTED: _l("Rejected")}


class ExternalAction(TitledEnum):
    CONFIRM = "confirm"
    REJECT = "reject"

    @classmethod
    def titles(cls):
        return {cls.CONFIRM: _l("Confirm"), cls.REJECT: _l("Reject")}


class LedgerEntry(db.Model):
    """One credit (or reversing correction). Never updated or deleted: the database refuses."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        enum_check("category", Category),
        enum_check("source_type", SourceType),
        # one source credits a person at most once (DESIGN §5.2)
        UniqueConstraint("person_id", "source_type", "source_ref", name="uq_ledger_entries_source"),
        CheckConstraint("hours <> 0", name="hours_not_zero"),
        CheckConstraint("(source_type = 'correction') = (reverses_id IS NOT NULL)",
                        name="correction_reverses"),
        CheckConstraint("year BETWEEN 2000 AND 2200", name="year_range"),
        Index("ix_ledger_entries_person_year", "person_id", "year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    #: calendar year the hours count towards
    year: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(10))
    #: class hours (1 课时 = the minutes in the ledger.minutes_per_class_hour setting)
    hours: Mapped[Decimal] = mapped_column(HOURS)
    source_type: Mapped[str] = mapped_column(String(12))
    #: what credited it, unique per person and type: a lesson id, an attendance id, ...
    source_ref: Mapped[str] = mapped_column(String(64))
    #: human description of the source at the time of crediting (titles may change later)
    description: Mapped[str] = mapped_column(String(200), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: who recorded it when there is no user ("system" for online study, "cli")
    recorded_by_label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    #: the entry this correction reverses (at most one correction per entry)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")

    person: Mapped[Person] = relationship()

    @property
    def category_title(self) -> str:
        return Category(self.category).title

    @property
    def source_title(self) -> str:
        return SourceType(self.source_type).title

    @property
    def recorded_by_title(self) -> str:
        """Who recorded it, as people read it (the study clock credits online lessons)."""
        if self.recorded_by_label in ("system", "online_study"):
            return str(_l("Online study (system)"))
        return self.recorded_by_label


class LedgerTotal(db.Model):
    """Yearly hours per person and category, kept as entries are written (and verifiable)."""

    __tablename__ = "ledger_totals"
    __table_args__ = (enum_check("category", Category),
                      Index("ix_ledger_totals_year_category", "year", "category"))

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(10), primary_key=True)
    hours: Mapped[Decimal] = mapped_column(HOURS, default=Decimal(0))
    entries: Mapped[int] = mapped_column(Integer, default=0)


class ExternalRecord(db.Model):
    """Hours earned elsewhere (e.g. a provincial platform), recorded with evidence by someone
    who can vouch for them; above the confirmation threshold they wait (state pending) for an
    administrator or a regulator of the person's district before they reach the ledger."""

    __tablename__ = "ledger_external_records"
    __table_args__ = (
        enum_check("category", Category),
        enum_check("state", ExternalState),
        Index("ix_ledger_external_records_state_district", "state", "district_id"),
        UniqueConstraint("person_id", "provider", "reference", name="uq_ledger_external_records_ref"),
        CheckConstraint("hours > 0", name="hours_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(10))
    hours: Mapped[Decimal] = mapped_column(HOURS)
    #: the platform or organisation the hours come from
    provider: Mapped[str] = mapped_column(String(120))
    #: its record or certificate number
    reference: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")
    evidence_name: Mapped[str] = mapped_column(String(200))
    evidence_type: Mapped[str] = mapped_column(String(60))
    evidence_data: Mapped[bytes] = mapped_column(LargeBinary)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the organisation the recorder acted for: the person's current institution (records
    #: before confirmation existed may name a training base); NULL for an administrator
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    #: pending until confirmed (then credited) or rejected; see ledger.service.EXTERNAL
    state: Mapped[str] = mapped_column(String(10), default=ExternalState.CONFIRMED.value)
    #: the district whose regulators may confirm it: the person's, when it was recorded
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    #: the ledger entry that credited it, once confirmed
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))

    person: Mapped[Person] = relationship()

    @property
    def category_title(self) -> str:
        return Category(self.category).title

    @property
    def state_title(self) -> str:
        return ExternalState(self.state).title

    @property
    def state_badge(self) -> str:
        """The badge colour pages show the state in."""
        return {"confirmed": "text-bg-success", "pending": "text-bg-warning"}.get(
            self.state, "text-bg-secondary")
