"""Tables of the enforcement package."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.models import utcnow
from lms.extensions import db
from lms.registry.models import Ban, Employment, Organisation, Person

# --- bans ----------------------------------------------------------------------------------------


class BanAlert(db.Model):
    """A banned person found still employed by a re-screen: shown on the regulator's and the
    institution's home pages until the employment ends (then resolved)."""

    __tablename__ = "ban_alerts"
    __table_args__ = (
        # one open alert per employment
        Index("uq_ban_alerts_open", "employment_id", unique=True,
              sqlite_where=text("resolved_at IS NULL"), postgresql_where=text("resolved_at IS NULL")),
        Index("ix_ban_alerts_org_open", "organisation_id", "resolved_at"),
        Index("ix_ban_alerts_district_open", "district_id", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ban_id: Mapped[int] = mapped_column(ForeignKey("bans.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    employment_id: Mapped[int] = mapped_column(ForeignKey("employments.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    #: the institution's district (whose regulators see the alert)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: set by a re-screen once the employment has ended (or the ban no longer holds)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)

    ban: Mapped[Ban] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")
    employment: Mapped[Employment] = relationship()
    organisation: Mapped[Organisation] = relationship(lazy="joined")



# --- inspections, 人证合一 checks ------------------------------------------------------------------
