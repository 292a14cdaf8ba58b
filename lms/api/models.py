"""Tables of the api package: the clients other systems are, their tokens (hashes only), and
the log of every call."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.enums import TitledEnum, enum_check
from lms.core.models import District, TimestampMixin, utcnow
from lms.extensions import db


class Scope(TitledEnum):
    """What a client may ask: one district's registry, the whole city's, or the ban and
    certificate-status feeds only (the public credit platform)."""

    DISTRICT = "district"
    CITY = "city"
    BANS_FEED = "bans_feed"

    @classmethod
    def titles(cls):
        return {cls.DISTRICT: _l("One district"), cls.CITY: _l("The whole city"),
                cls.BANS_FEED: _l("Ban and certificate-status feeds only")}


class ApiClient(TimestampMixin, db.Model):
    """Another system (a district platform, the HR bureau's, the credit platform) and its scope."""

    __tablename__ = "api_clients"
    __table_args__ = (
        enum_check("scope", Scope),
        CheckConstraint("(scope = 'district') = (district_id IS NOT NULL)", name="district_scope"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(12))
    #: the district a district-scoped client reads; NULL for the other scopes
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    district: Mapped[District | None] = relationship()
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="client",
                                                  order_by="ApiToken.id.desc()")

    @property
    def scope_title(self) -> str:
        return Scope(self.scope).title


class ApiToken(TimestampMixin, db.Model):
    """A bearer token: `lms_<prefix>_<secret>`. Only the prefix (to find the row) and the
    SHA-256 of the whole token are stored; the token itself is shown once, when issued."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"), index=True)
    #: public, random: finds the row without comparing hashes across the table
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    #: hex SHA-256 of the whole token (a 32-byte random secret needs no slow hash)
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    client: Mapped[ApiClient] = relationship(back_populates="tokens", lazy="joined")

    def usable(self, now: datetime) -> bool:
        return self.usable_at(now, revoked_at=self.revoked_at, expires_at=self.expires_at)

    @staticmethod
    def usable_at(now: datetime, *, revoked_at: datetime | None, expires_at: datetime) -> bool:
        """Not revoked and not expired (also for a token read as plain columns)."""
        return revoked_at is None and now < expires_at


class ApiCall(db.Model):
    """One call to the API: who, which endpoint, the answer's status, when, how long. Never the
    request's body or arguments (an identity number must not reach a log)."""

    __tablename__ = "api_calls"
    __table_args__ = (Index("ix_api_calls_client_time", "client_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: NULL when the call carried no usable token
    client_id: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    #: the Flask endpoint ("api.person_status"), never the URL with its values
    endpoint: Mapped[str] = mapped_column(String(60))
    method: Mapped[str] = mapped_column(String(8))
    status: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
