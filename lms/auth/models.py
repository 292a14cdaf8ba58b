"""Users and roles."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_login import AnonymousUserMixin, UserMixin
from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from lms.core.enums import TitledEnum, enum_check
from lms.core.models import TimestampMixin
from lms.extensions import db


class Role(TitledEnum):
    CAREGIVER = "caregiver"
    BASE_STAFF = "base_staff"
    INSTITUTION_ADMIN = "institution_admin"
    HR_REVIEWER = "hr_reviewer"
    REGULATOR = "regulator"
    ADMIN = "admin"

    @classmethod
    def titles(cls):
        return {
            cls.CAREGIVER: _l("Caregiver"),
            cls.BASE_STAFF: _l("Training-base staff"),
            cls.INSTITUTION_ADMIN: _l("Institution administrator"),
            cls.HR_REVIEWER: _l("HR bureau reviewer"),
            cls.REGULATOR: _l("Regulator"),
            cls.ADMIN: _l("System administrator"),
        }


#: roles that act for one organisation (users.organisation_id is required)
ORGANISATION_ROLES = {Role.BASE_STAFF, Role.INSTITUTION_ADMIN, Role.HR_REVIEWER}


def new_session_token() -> str:
    return secrets.token_urlsafe(16)


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        enum_check("role", Role),
        # a caregiver account belongs to exactly one person, and a person has one account
        Index("uq_users_person_id", "person_id", unique=True,
              sqlite_where=text("person_id IS NOT NULL"),
              postgresql_where=text("person_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: sign-in name for staff accounts; caregivers sign in by mobile or identity number
    username: Mapped[str | None] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    #: the caregiver's registry record (persons.id); registry owns that table
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    #: the organisation a base, institution or HR user acts for
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: a regulator's district; NULL for a city-wide regulator
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    #: NULL until a password is set or an initial password issued: the account cannot sign in
    password_hash: Mapped[str | None] = mapped_column(String(256))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: rotated on logout, password change and disabling: older session cookies stop working
    session_token: Mapped[str] = mapped_column(String(40), default=new_session_token)
    #: preferred interface language
    locale: Mapped[str | None] = mapped_column(String(12))
    #: when the grace period for enrolling a second factor began, for accounts that existed
    #: before the second factor did (the upgrade's time); NULL: from the account's creation
    second_factor_since: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def is_active(self) -> bool:  # Flask-Login: disabled accounts cannot be used
        return bool(self.is_enabled)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def role_title(self) -> str:
        return Role(self.role).title

    def has_role(self, *roles) -> bool:
        return self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


#: roles that must use a second factor once their grace period is over (they approve money,
#: impose bans, issue certificates or run the system); other roles may opt in
SECOND_FACTOR_ROLES = {Role.HR_REVIEWER, Role.REGULATOR, Role.ADMIN, Role.BASE_STAFF}


class SecondFactor(TimestampMixin, db.Model):
    """A user's TOTP authenticator: enrolment begins with a secret and ends with one code."""

    __tablename__ = "second_factors"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    #: the base32 TOTP secret (RFC 6238), shared with the person's authenticator app
    secret: Mapped[str] = mapped_column(String(64))
    #: NULL while enrolment waits for its first code: the factor is not yet in use
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: the last 30-second time step a code was accepted for: a code is never accepted twice
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(TimestampMixin, db.Model):
    """One of the ten one-time codes given at enrolment, for when the phone is lost."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: slow hash of the code (as passwords are stored): the code itself is shown once
    code_hash: Mapped[str] = mapped_column(String(256))
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class RememberedDevice(TimestampMixin, db.Model):
    """A browser that may skip the second factor until `expires_at`, named by a signed cookie
    that carries a random token; only the token's hash is kept."""

    __tablename__ = "remembered_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 of the random token in the cookie
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    #: set when the user, a password change or an administrator's reset revokes it
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class Anonymous(AnonymousUserMixin):
    role = None
    id = None
    person_id = None
    organisation_id = None
    district_id = None
    display_name = ""

    def has_role(self, *roles) -> bool:
        return False
