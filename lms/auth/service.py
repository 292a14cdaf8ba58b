"""Accounts: sign-in, lock-out, passwords, enabling and sessions."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from limits.errors import StorageError
from sqlalchemy import bindparam, delete, func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from lms.auth.models import (
    ORGANISATION_ROLES,
    RememberedDevice,
    Role,
    SecondFactor,
    User,
    new_session_token,
)
from lms.auth.permissions import can_manage_users, can_reset_password
from lms.core import audit
from lms.core.audit_retention import purge_audit_log
from lms.core.clock import local_today, start_of_local_day, utc_now
from lms.core.errors import DomainError
from lms.core.idnumber import is_valid_id_number
from lms.core.permissions import authorize, signed_in
from lms.core.security import (
    SecurityEvent,
    describe,
    purge_events,
    record_event,
    retention_cutoff,
)
from lms.core.settings import define, get_setting
from lms.core.urls import is_safe_next  # noqa: F401  (auth's views and callers use it here)
from lms.extensions import db, limiter


class LoginError(DomainError):
    pass


class AccountLocked(LoginError):
    pass


class PasswordPolicyError(DomainError):
    pass


#: how long a one-time password (issued by an administrator, an institution or a roster
#: import) can be used for the first sign-in
ONE_TIME_PASSWORD_DAYS = define(
    "auth.one_time_password_days", _l("Days a one-time password stays valid"), "int", 7, 1, 90,
    _l("days"))

describe("auth.login_failed", _l("Sign-in refused: wrong name or password"))
describe("auth.login_locked", _l("Sign-in refused: locked after failed attempts"))
describe("auth.second_factor_failed", _l("Sign-in refused: wrong second-factor code"))

#: Resolvers that turn what a person typed (a mobile or identity number) into a user.
#: The registry registers one; auth cannot import the registry (DESIGN §3).
_login_resolvers: list[Callable[[str], User | None]] = []

#: Sources of the words that identify a user (identity number, mobile, name), which a password
#: must not contain. The registry registers one, as for sign-in.
_identity_sources: list[Callable[[User], list[str]]] = []


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


def register_identity_source(source: Callable[[User], list[str]]) -> None:
    if source not in _identity_sources:
        _identity_sources.append(source)


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
# Every password is stored with Werkzeug's scrypt (PASSWORD_HASH_METHOD exists only so the test
# suite can build its fixtures quickly; it is not read from the environment). A one-time
# password is a random secret the person must replace at first sign-in; its hash carries the
# moment it was issued, so it stops working ONE_TIME_PASSWORD_DAYS later.

_ONE_TIME_PREFIX = "otp$"
#: one-time passwords of earlier versions: a keyed SHA-256 without an issue date (never valid now)
_LEGACY_INITIAL_PREFIX = "initial$"
#: stored times are naive UTC; a one-time password's hash counts seconds from this
_EPOCH = datetime(1970, 1, 1)
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"


def hash_password(password: str) -> str:
    """The stored form of a password: scrypt unless the app is configured otherwise (tests)."""
    method = (current_app.config.get("PASSWORD_HASH_METHOD") if has_app_context() else None)
    return generate_password_hash(password, method=method or "scrypt")


def hash_one_time_password(password: str, *, issued_at: datetime | None = None) -> str:
    """A one-time password's stored form: its issue time and a slow hash."""
    seconds = int(((issued_at or utc_now()) - _EPOCH).total_seconds())
    return f"{_ONE_TIME_PREFIX}{seconds}${hash_password(password)}"


#: the name the registry's roster import uses
hash_initial_password = hash_one_time_password


def generate_initial_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


def password_matches(user: User, password: str) -> bool:
    stored = user.password_hash
    if not stored or not password:
        return False
    if stored.startswith(_ONE_TIME_PREFIX):
        stored = stored[len(_ONE_TIME_PREFIX):].split("$", 1)[1]
    elif stored.startswith(_LEGACY_INITIAL_PREFIX):
        salt, digest = stored[len(_LEGACY_INITIAL_PREFIX):].split("$", 1)
        expected = hmac.new(salt.encode(), password.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(digest, expected)
    return check_password_hash(stored, password)


def one_time_password_expires_at(user: User) -> datetime | None:
    """When the user's one-time password stops working (None if they chose their own)."""
    stored = user.password_hash or ""
    if stored.startswith(_LEGACY_INITIAL_PREFIX):
        return datetime.min
    if not stored.startswith(_ONE_TIME_PREFIX):
        return None
    issued = _EPOCH + timedelta(seconds=int(stored[len(_ONE_TIME_PREFIX):].split("$", 1)[0]))
    return issued + timedelta(days=get_setting(ONE_TIME_PASSWORD_DAYS.key))


# --- the password policy (ASVS 5.0 V6.2: length, no common or personal passwords; no
# composition rules and no forced rotation) --------------------------------------------------

MIN_LENGTH_CAREGIVER = 8
MIN_LENGTH_STAFF = 12
MAX_LENGTH = 128
_COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lms/auth/data/README.md says where it is from)."""
    with gzip.open(_COMMON_PASSWORDS, "rt", encoding="utf-8") as fh:
        return frozenset(_fold(line) for line in fh if line.strip())


def _fold(text: str) -> str:
    """Compare passwords and personal words as a person would: width, case and spaces aside."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def minimum_length(role: str | None) -> int:
    """8 characters for caregivers; 12 for every staff role, whose accounts reach many people."""
    return MIN_LENGTH_CAREGIVER if role == Role.CAREGIVER else MIN_LENGTH_STAFF


def _identity_words(user: User | None) -> list[str]:
    if user is None:
        return []
    words = [user.username or "", user.display_name or ""]
    for source in _identity_sources:
        words.extend(source(user))
    return words


def _significant(word: str) -> bool:
    # a two-character Chinese name is a name; two Latin letters are not a word to forbid
    return len(word) >= 4 or (len(word) >= 2 and not word.isascii())


def password_problems(user: User | None, password: str, *, role: str | None = None) -> list:
    """What is wrong with `password` for `user` (empty when it may be used)."""
    role = role or (user.role if user is not None else None)
    password = password or ""
    problems = []
    minimum = minimum_length(role)
    if len(password) < minimum:
        problems.append(ngettext("The password must have at least %(num)d character.",
                                 "The password must have at least %(num)d characters.", minimum))
    if len(password) > MAX_LENGTH:
        problems.append(_l("The password must have at most %(num)d characters.", num=MAX_LENGTH))
    folded = _fold(password)
    if folded in common_passwords():
        problems.append(_l("This password is one of the most common ones; choose another."))
    words = {_fold(w) for w in _identity_words(user)}
    if any(_significant(w) and w in folded for w in words):
        problems.append(_l("The password cannot contain your name, sign-in name, mobile or "
                           "identity number."))
    return problems


def check_password_policy(password: str, *, user: User | None = None,
                          role: str | None = None) -> None:
    """Refuse a password the policy does not allow (without a user or role: the staff rules)."""
    problems = password_problems(user, password, role=role)
    if problems:
        raise PasswordPolicyError(problems[0], field="new_password")


# --- signing in ------------------------------------------------------------------------------


def _locked_message(minutes: int):
    return ngettext(
        "Too many failed sign-ins: this sign-in is locked. Try again in %(num)d minute.",
        "Too many failed sign-ins: this sign-in is locked. Try again in %(num)d minutes.",
        max(1, minutes))


def _minutes_until(then: datetime, now: datetime) -> int:
    return int((then - now).total_seconds() + 59) // 60


def _wrong_message():
    # The same words whether or not the account exists: no "n attempts left" oracle.
    return ngettext(
        "The sign-in name or password is wrong. After %(num)d failed sign-in in a row, "
        "signing in is locked for %(minutes)d minutes.",
        "The sign-in name or password is wrong. After %(num)d failed sign-ins in a row, "
        "signing in is locked for %(minutes)d minutes.",
        current_app.config["LOGIN_MAX_FAILURES"], minutes=current_app.config["LOGIN_LOCK_MINUTES"])


def _unknown_key(identifier: str, suffix: str) -> str:
    digest = hashlib.sha256(_fold(identifier).encode()).hexdigest()[:32]
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    return f"lms-login/{prefix}/{suffix}/{digest}"


def _fail_unknown(identifier: str) -> LoginError:
    """A name no account has is counted and locked like an account, in the rate limiter's
    (shared) storage, so its answers are the ones a real account would give."""
    if not limiter.enabled:
        return LoginError(_wrong_message())
    storage = limiter.storage
    down = storage.base_exceptions
    down = (StorageError, *(down if isinstance(down, tuple) else (down,)))
    lock_seconds = current_app.config["LOGIN_LOCK_MINUTES"] * 60
    locked_key = _unknown_key(identifier, "locked")
    failures_key = _unknown_key(identifier, "failures")
    try:
        if storage.get(locked_key):
            return AccountLocked(_locked_message((_seconds_left(storage, locked_key) + 59) // 60))
        if storage.incr(failures_key, 24 * 3600) >= current_app.config["LOGIN_MAX_FAILURES"]:
            storage.clear(failures_key)
            storage.incr(locked_key, lock_seconds)
            return AccountLocked(_locked_message(current_app.config["LOGIN_LOCK_MINUTES"]))
    except down:
        pass  # the shared storage is unreachable: sign-in still answers, without this count
    return LoginError(_wrong_message())


def _seconds_left(storage, key: str) -> int:
    # the limiter's storage keeps expiries as epoch seconds (time.time), not as a date rule
    return max(0, int(storage.get_expiry(key) - time.time()))


def name_subject(identifier: str) -> str:
    """Who a sign-in failure counts against in the security events: a keyed hash of the name
    typed (never the name, and the same whether or not an account has it)."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, _fold(identifier or "").encode(), hashlib.sha256).hexdigest()
    return f"name:{digest[:24]}"


def check_password(identifier: str, password: str, *, now: datetime | None = None) -> User:
    """The first step of signing in: the password. Failures are counted, lock the account after
    too many and are recorded as security events (outside the transaction); success changes
    nothing yet (complete_sign_in does, after the second factor if there is one)."""
    now = now or utc_now()
    try:
        return _check_password(identifier, password, now)
    except AccountLocked:
        record_event("auth.login_locked", detail={}, subject=name_subject(identifier))
        raise
    except LoginError:
        record_event("auth.login_failed", detail={}, subject=name_subject(identifier))
        raise


def _check_password(identifier: str, password: str, now: datetime) -> User:
    user = find_user_for_login(identifier)
    if user is None:
        # Spend the same effort as a real check, so timing does not reveal which names exist.
        error = _fail_unknown(identifier)
        if not isinstance(error, AccountLocked):
            check_password_hash(_DUMMY_HASH, password or "")
        raise error
    if user.locked_until and user.locked_until > now:
        raise AccountLocked(_locked_message(_minutes_until(user.locked_until, now)))
    if not password_matches(user, password):
        count_failure(user, now, action="auth.login_failed")
        raise LoginError(_wrong_message())
    if not user.is_enabled:
        raise LoginError(_l("This account has been disabled. Ask your administrator."))
    expires = one_time_password_expires_at(user)
    if expires is not None and expires <= now:
        raise LoginError(_l("This one-time password has expired. Ask for a new one."))
    return user


def count_failure(user: User, now: datetime, *, action: str) -> None:
    """One more failed sign-in step (a wrong password or second-factor code); at the limit the
    account is locked (AccountLocked is raised)."""
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    user.failed_logins = (user.failed_logins or 0) + 1
    audit.record(None, action, user, attempt=user.failed_logins)
    if user.failed_logins >= limit:
        user.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
        user.failed_logins = 0
        audit.record(None, "auth.locked", user)
        raise AccountLocked(_locked_message(current_app.config["LOGIN_LOCK_MINUTES"]))


def complete_sign_in(user: User, *, now: datetime | None = None) -> None:
    """The last step of signing in: the failure count starts again, the time is kept."""
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now or utc_now()
    audit.record(user, "auth.login", user)


def authenticate(identifier: str, password: str, *, now: datetime | None = None) -> User:
    """Check a password and sign in without a second step (the second factor is the sign-in
    page's: attempt_login)."""
    user = check_password(identifier, password, now=now)
    complete_sign_in(user, now=now)
    return user


_DUMMY_HASH = generate_password_hash("not-a-real-password-0")


def end_sessions(user: User) -> None:
    """Invalidate every session cookie issued to the user so far."""
    user.session_token = new_session_token()


def revoke_devices(user: User, *, now: datetime | None = None) -> int:
    """Remembered browsers of `user` must show the second factor again (a password change, a
    reset, disabling); returns how many were revoked."""
    result = db.session.execute(
        update(RememberedDevice)
        .where(RememberedDevice.user_id == user.id, RememberedDevice.revoked_at.is_(None))
        .values(revoked_at=now or utc_now()))
    return result.rowcount or 0


def logout(actor: User) -> None:
    """Sign out everywhere this cookie was copied to."""
    authorize(actor, signed_in)
    end_sessions(actor)
    audit.record(actor, "auth.logout", actor)


def change_password(actor: User, current: str, new: str, confirm: str) -> None:
    """The user's own change (also how a one-time password is replaced); other sessions end.
    Only ever one's own: knowing the current password is the authorisation."""
    authorize(actor, signed_in)
    if not password_matches(actor, current):
        raise PasswordPolicyError(_l("The current password is wrong."), field="current_password")
    if new != confirm:
        raise PasswordPolicyError(_l("The two new passwords differ."), field="confirm")
    if new == current:
        raise PasswordPolicyError(_l("Choose a password different from the current one."),
                                  field="new_password")
    check_password_policy(new, user=actor)
    actor.password_hash = hash_password(new)
    actor.must_change_password = False
    end_sessions(actor)
    revoke_devices(actor)
    audit.record(actor, "auth.password_changed", actor)


def replace_with_one_time_password(user: User) -> str:
    """Give `user` a new one-time password (returned once, stored slowly hashed, expiring);
    the building block of the services below and of the registry's. The caller has
    authorised the actor and audits."""
    password = generate_initial_password()
    user.password_hash = hash_one_time_password(password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    end_sessions(user)
    revoke_devices(user)
    return password


def issue_one_time_password(actor, user: User) -> str:
    """A new one-time password the user must change at first sign-in; returned once.

    The mechanism for services that have authorised `actor` by their own rule (the registry's
    institutions); an administrator's reset goes through `reset_password`."""
    password = replace_with_one_time_password(user)
    audit.record(actor, "auth.initial_password_issued", user)
    return password


def reset_password(actor, user: User) -> str:
    """An administrator replaces someone's password with a one-time password."""
    authorize(actor, can_reset_password, target=user)
    return issue_one_time_password(actor, user)


def set_enabled(actor, user: User, enabled: bool) -> None:
    """Enable or disable an account; disabling ends its sessions at once."""
    authorize(actor, can_reset_password, target=user)
    if getattr(actor, "id", None) == user.id and not enabled:
        raise DomainError(_l("You cannot disable your own account."))
    user.is_enabled = enabled
    if not enabled:
        end_sessions(user)
        revoke_devices(user)
    audit.record(actor, "auth.enabled" if enabled else "auth.disabled", user)


def create_staff_user(actor, *, username: str, display_name: str, role: str,
                      organisation_id: int | None = None, district_id: int | None = None,
                      password: str | None = None) -> User:
    """A staff account (not a caregiver: those come from the registry)."""
    authorize(actor, can_manage_users)
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
        user.password_hash = hash_password(password)
        user.must_change_password = False
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "auth.user_created", user, role=role)
    return user


def create_staff_account(actor, **fields) -> tuple[User, str]:
    """A staff account with a one-time password for its first sign-in (returned once)."""
    user = create_staff_user(actor, **fields)
    return user, issue_one_time_password(actor, user)


class LoginOutcome:
    """The result of a sign-in attempt: a user, or the error to show. `needs_code`: the
    password was right and the second factor is still to come (the user is not signed in)."""

    def __init__(self, user: User | None = None, error=None, needs_code: bool = False):
        self.user = user
        self.error = error
        self.needs_code = needs_code


def attempt_login(identifier: str, password: str, *, device: str | None = None,
                  now: datetime | None = None) -> LoginOutcome:
    """Sign in with a password; an enrolled user on a browser not remembered (`device`: the
    remembered-device cookie) still owes a code. Failures are counted in the session (the
    caller commits them too) and recorded as security events."""
    from lms.auth import second_factor

    try:
        user = check_password(identifier, password, now=now)
    except LoginError as err:
        return LoginOutcome(error=err)
    if second_factor.is_enrolled(user) and not second_factor.device_is_remembered(user, device,
                                                                                   now=now):
        return LoginOutcome(user=user, needs_code=True)
    complete_sign_in(user, now=now)
    return LoginOutcome(user=user)


#: every signed-in request runs this: built once, served from SQLAlchemy's compiled cache
_USER_FOR_SESSION = select(User).where(User.id == bindparam("uid"),
                                       User.session_token == bindparam("token"),
                                       User.is_enabled.is_(True))


def user_for_session(user_id: int, session_token: str) -> User | None:
    """The enabled user whose current session token this is (a rotated token finds no one)."""
    return db.session.execute(_USER_FOR_SESSION, {"uid": user_id, "token": session_token}
                              ).scalar_one_or_none()


# --- sessions: the idle timeout ----------------------------------------------------------------

IDLE_MINUTES_STAFF = define(
    "auth.idle_minutes_staff", _l("Minutes without activity before staff are signed out"), "int",
    30, 5, 480, _l("minutes"))
IDLE_MINUTES_CAREGIVER = define(
    "auth.idle_minutes_caregiver", _l("Minutes without activity before caregivers are signed out"),
    "int", 120, 5, 720, _l("minutes"))


def idle_minutes(user: User) -> int:
    """How long `user` may stay idle before the session ends: caregivers study, so longer."""
    setting = IDLE_MINUTES_CAREGIVER if user.role == Role.CAREGIVER else IDLE_MINUTES_STAFF
    return int(get_setting(setting.key, getattr(user, "district_id", None)))


# --- security events: the administrators' view and retention ----------------------------------


@dataclass(frozen=True)
class EventFilter:
    kind: str = ""
    #: a sign-in name, mobile or identity number: the account's events and the failures typed
    #: under that name (found by its hash)
    account: str = ""
    address: str = ""
    date_from: date | None = None
    date_to: date | None = None
    #: a subject exactly as stored ("user:12", "name:…"): an alert's link
    subject: str = ""


def security_events(actor, filters: EventFilter):
    """The security events an administrator asked for, newest first (a select to paginate)."""
    authorize(actor, can_manage_users)
    stmt = select(SecurityEvent).order_by(SecurityEvent.id.desc())
    if filters.kind:
        stmt = stmt.where(SecurityEvent.kind == filters.kind)
    if filters.account:
        subjects = [name_subject(filters.account)]
        user = find_user_for_login(filters.account)
        if user is not None:
            subjects.append(f"user:{user.id}")
        stmt = stmt.where(SecurityEvent.subject.in_(subjects))
    if filters.subject:
        stmt = stmt.where(SecurityEvent.subject == filters.subject)
    if filters.address:
        stmt = stmt.where(SecurityEvent.remote_addr == filters.address.strip())
    if filters.date_from:
        stmt = stmt.where(SecurityEvent.created_at >= start_of_local_day(filters.date_from))
    if filters.date_to:
        stmt = stmt.where(SecurityEvent.created_at
                          < start_of_local_day(filters.date_to + timedelta(days=1)))
    return stmt


def alert_recipients(conn) -> list[int]:
    """Who is told when refusals pile up: every enabled administrator (read through the
    security events' own connection)."""
    return list(conn.scalars(select(User.id).where(User.role == Role.ADMIN,
                                                   User.is_enabled.is_(True))))


def subject_label(subject: str | None) -> str:
    """An event's subject for people: the account's name, or "a sign-in name (hashed)"."""
    if not subject:
        return ""
    kind, _sep, value = subject.partition(":")
    if kind == "user" and value.isdigit():
        user = db.session.get(User, int(value))
        if user is not None:
            return f"{user.display_name} ({user.username or user.role_title})"
    if kind == "name":
        return str(_l("a sign-in name (hash %(hash)s…)", hash=value[:8]))
    return subject


def purge_expired(actor, *, now: datetime | None = None) -> dict[str, int]:
    """Retention: delete security events and audit entries older than their retention periods
    (never under six months), expired or revoked remembered devices, expired one-time passwords
    and enrolments never confirmed within a day."""
    authorize(actor, can_manage_users)
    now = now or utc_now()
    counts = {"security_events": purge_events(retention_cutoff(local_today(now)))}
    counts["remembered_devices"] = db.session.execute(
        delete(RememberedDevice).where(or_(RememberedDevice.expires_at <= now,
                                           RememberedDevice.revoked_at.is_not(None)))
    ).rowcount or 0
    counts["unconfirmed_second_factors"] = db.session.execute(
        delete(SecondFactor).where(SecondFactor.confirmed_at.is_(None),
                                   SecondFactor.created_at <= now - timedelta(days=1))
    ).rowcount or 0
    expired = 0
    for user in db.session.scalars(select(User).where(User.password_hash.startswith(
            _ONE_TIME_PREFIX))):
        expires = one_time_password_expires_at(user)
        if expires is not None and expires <= now:
            # the secret is dead already; keep nothing of it (the account needs a new one)
            user.password_hash = None
            end_sessions(user)
            expired += 1
    counts["one_time_passwords"] = expired
    db.session.flush()
    audit.record(actor, "auth.purged", None, object_type="security_events", **counts)
    # the audit log's own purge records its count and cutoff (lms.core.audit_retention)
    counts["audit_logs"] = purge_audit_log(actor, now=now)["count"]
    return counts
