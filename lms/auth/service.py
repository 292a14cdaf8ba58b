"""Accounts: sign-in, lock-out, passwords, enabling and sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import bindparam, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from lms.auth.models import ORGANISATION_ROLES, Role, User, new_session_token
from lms.core import audit
from lms.core.errors import DomainError
from lms.core.idnumber import is_valid_id_number
from lms.core.models import utcnow
from lms.core.urls import is_safe_next  # noqa: F401  (auth's views and callers use it here)
from lms.extensions import db


class LoginError(DomainError):
    pass


class AccountLocked(LoginError):
    pass


class PasswordPolicyError(DomainError):
    pass


#: Resolvers that turn what a person typed (a mobile or identity number) into a user.
#: The registry registers one; auth cannot import the registry (DESIGN §3).
_login_resolvers: list[Callable[[str], User | None]] = []


def register_login_resolver(resolver: Callable[[str], User | None]) -> None:
    if resolver not in _login_resolvers:
        _login_resolvers.append(resolver)


#: Lists the organisations a staff account may belong to; the registry registers it in
#: create_app (auth cannot import the registry).
_organisation_choices: list[Callable[[], list[tuple[int, str]]]] = []


def register_organisation_choices(provider: Callable[[], list[tuple[int, str]]]) -> None:
    _organisation_choices[:] = [provider]


def organisation_choices() -> list[tuple[int, str]]:
    """(id, name) of every organisation a staff account may belong to."""
    return _organisation_choices[0]() if _organisation_choices else []


def find_user_for_login(identifier: str) -> User | None:
    """The account a sign-in name, mobile number or identity number belongs to."""
    identifier = (identifier or "").strip()
    if not identifier:
        return None
    user = db.session.scalar(select(User).where(func.lower(User.username) == identifier.lower()))
    if user is not None:
        return user
    for resolver in _login_resolvers:
        user = resolver(identifier)
        if user is not None:
            return user
    return None


# --- password hashing ------------------------------------------------------------------------
# User-chosen passwords use Werkzeug's scrypt. Initial passwords are random 60-bit secrets
# issued by the system and must be changed at first sign-in; like API tokens they are kept as
# a keyed SHA-256, which lets an institution issue thousands at once.

_INITIAL_PREFIX = "initial$"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"


def _initial_digest(salt: str, password: str) -> str:
    return hmac.new(salt.encode(), password.encode(), hashlib.sha256).hexdigest()


def hash_initial_password(password: str) -> str:
    salt = secrets.token_hex(8)
    return f"{_INITIAL_PREFIX}{salt}${_initial_digest(salt, password)}"


def generate_initial_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


def password_matches(user: User, password: str) -> bool:
    stored = user.password_hash
    if not stored or not password:
        return False
    if stored.startswith(_INITIAL_PREFIX):
        salt, digest = stored[len(_INITIAL_PREFIX):].split("$", 1)
        return hmac.compare_digest(digest, _initial_digest(salt, password))
    return check_password_hash(stored, password)


def check_password_policy(password: str, *, user: User | None = None) -> None:
    """At least 8 characters with both letters and digits, not the sign-in name."""
    if len(password) < 8:
        raise PasswordPolicyError(_l("The password must have at least 8 characters."),
                                  field="new_password")
    if len(password) > 128:
        raise PasswordPolicyError(_l("The password must have at most 128 characters."),
                                  field="new_password")
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        raise PasswordPolicyError(_l("The password must contain both letters and digits."),
                                  field="new_password")
    if user is not None and user.username and password.lower() == user.username.lower():
        raise PasswordPolicyError(_l("The password cannot be your sign-in name."),
                                  field="new_password")


# --- signing in ------------------------------------------------------------------------------


def _locked_message(user: User, now: datetime):
    minutes = max(1, int((user.locked_until - now).total_seconds() + 59) // 60)
    return ngettext(
        "This account is locked after too many failed sign-ins. Try again in %(num)d minute.",
        "This account is locked after too many failed sign-ins. Try again in %(num)d minutes.",
        minutes,
    )


def authenticate(identifier: str, password: str, *, now: datetime | None = None) -> User:
    """Check a sign-in; count failures and lock the account after too many."""
    now = now or utcnow()
    user = find_user_for_login(identifier)
    generic = _l("The sign-in name or password is wrong.")
    if user is None:
        # Spend the same effort as a real check, so timing does not reveal which names exist.
        check_password_hash(_DUMMY_HASH, password or "")
        raise LoginError(generic)
    if user.locked_until and user.locked_until > now:
        raise AccountLocked(_locked_message(user, now))
    if not password_matches(user, password):
        limit = current_app.config["LOGIN_MAX_FAILURES"]
        user.failed_logins = (user.failed_logins or 0) + 1
        audit.record(None, "auth.login_failed", user, attempt=user.failed_logins)
        if user.failed_logins >= limit:
            user.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
            user.failed_logins = 0
            audit.record(None, "auth.locked", user)
            raise AccountLocked(_locked_message(user, now))
        left = limit - user.failed_logins
        raise LoginError(ngettext(
            "The sign-in name or password is wrong. %(num)d attempt left before the account is "
            "locked for 15 minutes.",
            "The sign-in name or password is wrong. %(num)d attempts left before the account is "
            "locked for 15 minutes.", left))
    if not user.is_enabled:
        raise LoginError(_l("This account has been disabled. Ask your administrator."))
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(user, "auth.login", user)
    return user


_DUMMY_HASH = generate_password_hash("not-a-real-password-0")


def end_sessions(user: User) -> None:
    """Invalidate every session cookie issued to the user so far."""
    user.session_token = new_session_token()


def logout(user: User) -> None:
    """Sign out everywhere this cookie was copied to."""
    end_sessions(user)
    audit.record(user, "auth.logout", user)


def change_password(user: User, current: str, new: str, confirm: str) -> None:
    """The user's own change; other sessions end."""
    if not password_matches(user, current):
        raise PasswordPolicyError(_l("The current password is wrong."), field="current_password")
    if new != confirm:
        raise PasswordPolicyError(_l("The two new passwords differ."), field="confirm")
    if new == current:
        raise PasswordPolicyError(_l("Choose a password different from the current one."),
                                  field="new_password")
    check_password_policy(new, user=user)
    user.password_hash = generate_password_hash(new)
    user.must_change_password = False
    end_sessions(user)
    audit.record(user, "auth.password_changed", user)


def issue_initial_password(actor, user: User) -> str:
    """A new one-time password the user must change at first sign-in; returned once."""
    password = generate_initial_password()
    user.password_hash = hash_initial_password(password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    end_sessions(user)
    audit.record(actor, "auth.initial_password_issued", user)
    return password


def set_enabled(actor, user: User, enabled: bool) -> None:
    """Enable or disable an account; disabling ends its sessions at once."""
    if actor is not None and getattr(actor, "id", None) == user.id and not enabled:
        raise DomainError(_l("You cannot disable your own account."))
    user.is_enabled = enabled
    if not enabled:
        end_sessions(user)
    audit.record(actor, "auth.enabled" if enabled else "auth.disabled", user)


def create_staff_user(actor, *, username: str, display_name: str, role: str,
                      organisation_id: int | None = None, district_id: int | None = None,
                      password: str | None = None) -> User:
    """A staff account (not a caregiver: those come from the registry)."""
    username = (username or "").strip()
    if not username or len(username) > 60 or not username.replace("_", "").replace(".", "").isalnum():
        raise DomainError(_l("A sign-in name uses letters, digits, dots and underscores."),
                          field="username")
    if username.isdigit() or is_valid_id_number(username):
        # caregivers sign in with those: a staff name must never shadow one
        raise DomainError(_l("A sign-in name cannot be only digits (digits are for mobile and "
                             "identity numbers)."), field="username")
    if role not in {r.value for r in Role} or role == Role.CAREGIVER:
        raise DomainError(_l("Choose a staff role."), field="role")
    if role in ORGANISATION_ROLES and organisation_id is None:
        raise DomainError(_l("This role acts for an organisation; choose one."),
                          field="organisation_id")
    if db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise DomainError(_l("This sign-in name is taken."), field="username")
    user = User(username=username, display_name=(display_name or username).strip()[:100],
                role=role, organisation_id=organisation_id if role in ORGANISATION_ROLES else None,
                district_id=district_id if role == Role.REGULATOR else None)
    if password:
        check_password_policy(password, user=user)
        user.password_hash = generate_password_hash(password)
        user.must_change_password = False
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "auth.user_created", user, role=role)
    return user


class LoginOutcome:
    """The result of a sign-in attempt: a user, or the error to show."""

    def __init__(self, user: User | None = None, error=None):
        self.user = user
        self.error = error


def attempt_login(identifier: str, password: str, *, now: datetime | None = None) -> LoginOutcome:
    """Sign in; failures are counted in the session (the caller commits them too)."""
    try:
        return LoginOutcome(user=authenticate(identifier, password, now=now))
    except LoginError as err:
        return LoginOutcome(error=err)


#: every signed-in request runs this: built once, served from SQLAlchemy's compiled cache
_USER_FOR_SESSION = select(User).where(User.id == bindparam("uid"),
                                       User.session_token == bindparam("token"),
                                       User.is_enabled.is_(True))


def user_for_session(user_id: int, session_token: str) -> User | None:
    """The enabled user whose current session token this is (a rotated token finds no one)."""
    return db.session.execute(_USER_FOR_SESSION, {"uid": user_id, "token": session_token}
                              ).scalar_one_or_none()
