"""Tables of the compliance package: per-person summary rows kept current past a dirty list, and
per-institution, per-district and city snapshots with their month-by-month history.

- `compliance_dirty`: people whose records changed since the last refresh. Lower packages may
  not import compliance, so compliance listens to the session (`tracking.py`): any flush that
  writes an employment, ledger entry, qualification, ban or staff record marks its person here,
  in the same transaction.
- `compliance_person_status` and `compliance_post_checks`: each person's compliance as of the
  last refresh (the summary the roll-ups aggregate).
- `compliance_snapshots`: counts per institution, district and the city (scope_id 0).
- `compliance_history`: the same counts, one row per scope and month (the trend chart).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from lms.core.enums import TitledEnum, enum_check
from lms.core.models import utcnow
from lms.extensions import db


class SnapshotScope(TitledEnum):
    INSTITUTION = "institution"
    DISTRICT = "district"
    CITY = "city"

    @classmethod
    def titles(cls):
        from flask_babel import lazy_gettext as _l

        return {cls.INSTITUTION: _l("Institution"), cls.DISTRICT: _l("District"),
                cls.CITY: _l("Whole city")}


#: the counts every snapshot and history row carries, in the order pages and exports show them
COUNTS = ("people", "certified", "hours_on_track", "health_current", "criminal_record_on_file",
          "banned_employed", "multi_institution")


class ComplianceDirty(db.Model):
    """A person whose compliance may have changed since the last refresh."""

    __tablename__ = "compliance_dirty"

    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PersonStatus(db.Model):
    """A person's compliance as of the last refresh (computed_on: the city's date)."""

    __tablename__ = "compliance_person_status"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    computed_on: Mapped[date] = mapped_column(Date, index=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: holds every current post with a required certificate
    certified: Mapped[bool] = mapped_column(Boolean)
    hours_on_track: Mapped[bool] = mapped_column(Boolean)
    health_current: Mapped[bool] = mapped_column(Boolean)
    criminal_record_on_file: Mapped[bool] = mapped_column(Boolean)
    banned: Mapped[bool] = mapped_column(Boolean)
    multi_institution: Mapped[bool] = mapped_column(Boolean)
    #: number of gaps (warnings excluded)
    gaps: Mapped[int] = mapped_column(Integer, default=0)
    #: the first day the row may go wrong with the date alone (a lapse, an expiry, the pro-rata
    #: hours overtaking, a term ban's end): a new day's refresh recomputes only these
    stable_until: Mapped[date] = mapped_column(Date, index=True)
    #: what the gaps were written from (service.facts_of): an institution's staff table is
    #: served from it while the row still holds (service.staff_compliance); NULL: never served
    facts: Mapped[dict | None] = mapped_column(JSON)
    #: the digest of the rules the row was computed under (service.rules_digest)
    rules: Mapped[str | None] = mapped_column(String(16))


class PostCheck(db.Model):
    """Whether a current employment's post is held with the certificate it requires, as of the
    last refresh of its person (an institution counts only its own posts)."""

    __tablename__ = "compliance_post_checks"

    employment_id: Mapped[int] = mapped_column(ForeignKey("employments.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    certified: Mapped[bool] = mapped_column(Boolean)


class _Counts:
    people: Mapped[int] = mapped_column(Integer, default=0)
    certified: Mapped[int] = mapped_column(Integer, default=0)
    hours_on_track: Mapped[int] = mapped_column(Integer, default=0)
    health_current: Mapped[int] = mapped_column(Integer, default=0)
    criminal_record_on_file: Mapped[int] = mapped_column(Integer, default=0)
    #: must be zero: banned people still employed
    banned_employed: Mapped[int] = mapped_column(Integer, default=0)
    #: must be zero: people in a full-time-only post while employed at another institution
    multi_institution: Mapped[int] = mapped_column(Integer, default=0)

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTS}


class Snapshot(_Counts, db.Model):
    """Counts of one institution, district or the city (scope_id 0) at computed_at."""

    __tablename__ = "compliance_snapshots"
    __table_args__ = (
        enum_check("scope", SnapshotScope),
        UniqueConstraint("scope", "scope_id", name="uq_compliance_snapshots_scope"),
        Index("ix_compliance_snapshots_district", "scope", "district_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(12))
    #: the institution's or district's id; 0 for the city
    scope_id: Mapped[int] = mapped_column(Integer)
    #: an institution's district (lists a district's institutions); NULL otherwise
    district_id: Mapped[int | None] = mapped_column(Integer)
    #: naive UTC
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: the city's date the counts hold for (hours on track and lapses move with the date)
    computed_on: Mapped[date] = mapped_column(Date)
    #: the city's row: the digest of the rules the last refresh applied (service.rules_digest)
    rules: Mapped[str | None] = mapped_column(String(16))


class SnapshotMonth(_Counts, db.Model):
    """The counts of a scope at the last refresh of a month (the trend of the year)."""

    __tablename__ = "compliance_history"
    __table_args__ = (
        enum_check("scope", SnapshotScope),
        UniqueConstraint("scope", "scope_id", "month", name="uq_compliance_history_month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(12))
    scope_id: Mapped[int] = mapped_column(Integer)
    #: "2026-03"
    month: Mapped[str] = mapped_column(String(7))
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

from . import tracking  # noqa: E402,F401 - registers the session listener that marks people dirty


class HoursReminder(db.Model):
    """A caregiver reminded that this year's training hours are behind pro rata: once a
    quarter (quarter: "2026Q3"), however often the schedule runs."""

    __tablename__ = "compliance_hours_reminders"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    quarter: Mapped[str] = mapped_column(String(7), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
