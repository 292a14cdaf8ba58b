"""Shared tables: districts, the audit log (and its retention cutoff) and dated settings."""

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.core import clock
from lms.extensions import db


def utcnow() -> datetime:
    return clock.utc_now()


class TimestampMixin:
    #: UTC, naive (stored the same way on SQLite and PostgreSQL)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class District(db.Model):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: six-digit administrative division code (GB/T 2260), e.g. 320102 for 玄武区
    code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    city: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"<District {self.code} {self.name}>"


class AuditLog(db.Model):
    """Who did what to which object, when and from where. Rows are never changed."""

    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    #: users.id of the actor; NULL for the command line or the system itself
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: how the actor is described when there is no user (e.g. "cli")
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    #: client address for web requests, "cli" for commands
    origin: Mapped[str] = mapped_column(String(64), default="")


class AuditRetention(db.Model):
    """The one row the audit log's DELETE trigger reads (lms/core/audit_ddl.py): entries created
    before `purge_before` may be deleted. The retention purge sets it inside its own transaction
    and clears it before that transaction ends, and the trigger refuses any cutoff less than 183
    days before the database's own clock, so no setting and no SQL deletes a recent entry."""

    __tablename__ = "audit_retention"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: audit entries created before this instant (naive UTC) may be deleted; NULL: none may
    purge_before: Mapped[datetime | None] = mapped_column(DateTime)


class Setting(db.Model):
    """One dated value of a setting; a row never changes, a new row supersedes it."""

    __tablename__ = "settings"
    __table_args__ = (
        Index("ix_settings_lookup", "key", "district_id", "effective_from"),
        CheckConstraint("length(key) > 0", name="key_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(60))
    #: NULL for the city-wide value; a district id for that district's override
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    effective_from: Mapped[date] = mapped_column(Date)
    #: the value as text; its type comes from the setting's definition
    value: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Notification(db.Model):
    """An in-app message to one user. The text is rendered in the reader's language when shown:
    `kind` names a message a package registered (lms.core.notifications), `params` fill it."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    #: a path inside the app the message is about
    link: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)


class StateEvent(db.Model):
    """One move of a stateful object (certificate, session, booking, …) through its transition
    table: who, when, from which state to which, and why. Rows are never changed."""

    __tablename__ = "state_events"
    __table_args__ = (Index("ix_state_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the table of the object that moved, e.g. "certificates"
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int] = mapped_column()
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    #: users.id of the actor; NULL for a system actor (named in actor_label)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    #: the authority the actor acted with (e.g. "regulator", "issuing_base"), where it matters
    authority: Mapped[str] = mapped_column(String(40), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
