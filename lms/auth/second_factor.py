"""The second factor: TOTP (RFC 6238) with one-time recovery codes and remembered browsers.

Required for the roles that approve money, impose bans, issue certificates or run the system
(SECOND_FACTOR_ROLES) once a grace period has passed; any other user may opt in. Signing in is
two steps: the password (auth.service.check_password), then a code (`sign_in_with_code`), unless
this browser was remembered. Wrong codes count towards the same lock-out as wrong passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import pyotp
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, or_, select, update
from werkzeug.security import check_password_hash

from lms.auth.models import (
    SECOND_FACTOR_ROLES,
    RecoveryCode,
    RememberedDevice,
    SecondFactor,
    User,
)
from lms.auth.permissions import can_reset_password
from lms.auth.service import (
    AccountLocked,
    LoginError,
    _locked_message,
    _minutes_until,
    complete_sign_in,
    count_failure,
    end_sessions,
    hash_password,
    revoke_devices,
)
from lms.core import audit
from lms.core.clock import utc_now
from lms.core.errors import DomainError
from lms.core.permissions import authorize, signed_in
from lms.core.security import record_event
from lms.core.settings import define, get_setting
from lms.extensions import db

GRACE_DAYS = define(
    "auth.second_factor_grace_days",
    _l("Days staff who must use a second factor may sign in without one"), "int", 14, 0, 365,
    _l("days"))
REMEMBER_DEVICE_DAYS = define(
    "auth.remember_device_days", _l("Days a browser may skip the second factor"), "int", 30, 0, 30,
    _l("days"))

#: the name authenticator apps show above the codes
ISSUER = "托育人员培训认证"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_STEP_SECONDS = 30
_EPOCH = datetime(1970, 1, 1)


class SecondFactorError(DomainError):
    pass


# --- who must, who has ---------------------------------------------------------------------------


def factor_of(user: User) -> SecondFactor | None:
    """The user's authenticator, confirmed or still being enrolled."""
    return db.session.scalar(select(SecondFactor).where(SecondFactor.user_id == user.id))


def is_enrolled(user: User) -> bool:
    factor = factor_of(user)
    return factor is not None and factor.confirmed_at is not None


def is_required(user: User) -> bool:
    """Whether the user's role must use a second factor (after the grace period)."""
    return getattr(user, "role", None) in SECOND_FACTOR_ROLES


def enrolment_deadline(user: User) -> datetime | None:
    """When a user who must use a second factor can no longer sign in without one."""
    if not is_required(user):
        return None
    since = user.second_factor_since or user.created_at or utc_now()
    return since + timedelta(days=int(get_setting(GRACE_DAYS.key)))


def enrolment_due(user: User, *, now: datetime | None = None) -> tuple[bool, datetime | None]:
    """(must enrol before anything else, deadline to mention while there is still time)."""
    if not is_required(user) or is_enrolled(user):
        return False, None
    deadline = enrolment_deadline(user)
    return deadline <= (now or utc_now()), deadline


def recovery_codes_left(user: User) -> int:
    return len(list(db.session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))))


# --- enrolment -----------------------------------------------------------------------------------


def begin_enrolment(actor) -> SecondFactor:
    """Start (or continue) enrolling the actor's authenticator: a new secret, not yet in use."""
    authorize(actor, signed_in)
    factor = factor_of(actor)
    if factor is not None and factor.confirmed_at is not None:
        raise SecondFactorError(_l("A second factor is already set up for this account."))
    if factor is None:
        factor = SecondFactor(user_id=actor.id, secret=pyotp.random_base32())
        db.session.add(factor)
        db.session.flush()
    return factor


def provisioning_uri(user: User, factor: SecondFactor) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    name = user.username or user.display_name or str(user.id)
    return pyotp.TOTP(factor.secret).provisioning_uri(name=name, issuer_name=ISSUER)


def confirm_enrolment(actor, code: str) -> list[str]:
    """Finish enrolment with one code from the app; returns the ten recovery codes (shown once)."""
    authorize(actor, signed_in)
    factor = factor_of(actor)
    if factor is None or factor.confirmed_at is not None:
        raise SecondFactorError(_l("Start setting up the second factor again."))
    step = _matching_step(factor, _digits(code), utc_now())
    if step is None:
        raise SecondFactorError(_l("This code is wrong. Enter the code the app shows now."),
                                field="code")
    factor.confirmed_at = utc_now()
    factor.last_used_step = step
    codes = _replace_recovery_codes(actor)
    audit.record(actor, "auth.second_factor_enrolled", actor)
    return codes


def new_recovery_codes(actor, code: str) -> list[str]:
    """Ten fresh recovery codes for the actor (the old ones stop working); needs a current code."""
    authorize(actor, signed_in)
    factor = factor_of(actor)
    if factor is None or factor.confirmed_at is None:
        raise SecondFactorError(_l("Set up the second factor first."))
    step = _matching_step(factor, _digits(code), utc_now())
    if step is None or not _claim_step(factor, step):
        raise SecondFactorError(_l("This code is wrong or was already used."), field="code")
    codes = _replace_recovery_codes(actor)
    audit.record(actor, "auth.recovery_codes_renewed", actor)
    return codes


def _replace_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=hash_password(raw)))
    db.session.flush()
    return codes


def reset_second_factor(actor, user: User) -> None:
    """An administrator removes a user's second factor (a lost phone): recovery codes and
    remembered browsers go with it and the user's sessions end; the user enrols again."""
    authorize(actor, can_reset_password, target=user)
    had = factor_of(user) is not None
    db.session.execute(delete(SecondFactor).where(SecondFactor.user_id == user.id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    revoked = revoke_devices(user)
    end_sessions(user)
    # counted from now: a user who must use one enrols at the next sign-in, after a new grace
    # period only if the setting gives one
    audit.record(actor, "auth.second_factor_reset", user, had_second_factor=had,
                 devices_revoked=revoked)


# --- signing in with a code ----------------------------------------------------------------------


def _digits(code: str | None) -> str:
    return "".join((code or "").split())


def _normalised_recovery(code: str | None) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _matching_step(factor: SecondFactor, code: str, now: datetime) -> int | None:
    """The time step (within one step either side: clocks drift) whose code this is."""
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(factor.secret)
    current = int((now - _EPOCH).total_seconds()) // _STEP_SECONDS
    matched = None
    for step in (current - 1, current, current + 1):  # no early exit: the same time for each
        if hmac.compare_digest(totp.generate_otp(step), code):
            matched = step
    return matched


def _claim_step(factor: SecondFactor, step: int) -> bool:
    """Accept a time step once: compare-and-set, so two requests with one code cannot both pass."""
    result = db.session.execute(
        update(SecondFactor)
        .where(SecondFactor.id == factor.id,
               or_(SecondFactor.last_used_step.is_(None), SecondFactor.last_used_step < step))
        .values(last_used_step=step)
        .execution_options(synchronize_session=False))
    if result.rowcount == 1:
        factor.last_used_step = step
        return True
    return False


def _use_recovery_code(user: User, code: str, now: datetime) -> bool:
    if len(code) != 10:
        return False
    for row in db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                                             RecoveryCode.used_at.is_(None))):
        if check_password_hash(row.code_hash, code):
            claimed = db.session.execute(
                update(RecoveryCode).where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=now).execution_options(synchronize_session=False))
            if claimed.rowcount == 1:
                row.used_at = now
                return True
            return False
    return False


def sign_in_with_code(user: User, code: str, *, now: datetime | None = None) -> str:
    """The second step of signing in, for a user whose password was right: a code from the app
    or an unused recovery code. Wrong codes count towards the lock-out and are recorded as
    security events. Returns "totp" or "recovery"; raises LoginError (AccountLocked)."""
    now = now or utc_now()
    if user.locked_until and user.locked_until > now:
        record_event("auth.login_locked", actor=user, detail={"step": "second_factor"})
        raise AccountLocked(_locked_message(_minutes_until(user.locked_until, now)))
    factor = factor_of(user)
    if factor is None or factor.confirmed_at is None:
        raise LoginError(_l("Sign in again."))
    used = None
    step = _matching_step(factor, _digits(code), now)
    if step is not None and _claim_step(factor, step):
        used = "totp"
    elif step is None and _use_recovery_code(user, _normalised_recovery(code), now):
        used = "recovery"
        audit.record(user, "auth.recovery_code_used", user, left=recovery_codes_left(user))
    if used is None:
        record_event("auth.second_factor_failed", actor=user,
                     detail={"reused": step is not None})
        try:
            count_failure(user, now, action="auth.second_factor_failed")
        except AccountLocked:
            record_event("auth.login_locked", actor=user, detail={"step": "second_factor"})
            raise
        raise LoginError(_l("This code is wrong or was already used."))
    complete_sign_in(user, now=now)
    return used


# --- remembered browsers -------------------------------------------------------------------------


def device_cookie_name() -> str:
    # __Host-: only over HTTPS, for this host and path "/" (no sub-domain can set or read it)
    return "__Host-lms_device" if current_app.config.get("SESSION_COOKIE_SECURE") else "lms_device"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="lms.remembered-device")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def remember_device(user: User, *, now: datetime | None = None) -> tuple[str, int] | None:
    """Remember this browser for `user`: (the cookie's value, its lifetime in seconds), or None
    when the setting allows no remembering."""
    now = now or utc_now()
    days = int(get_setting(REMEMBER_DEVICE_DAYS.key))
    if days <= 0:
        return None
    token = secrets.token_urlsafe(32)
    db.session.add(RememberedDevice(user_id=user.id, token_hash=_token_hash(token),
                                    expires_at=now + timedelta(days=days)))
    db.session.flush()
    audit.record(user, "auth.device_remembered", user, days=days)
    return _serializer().dumps([user.id, token]), days * 24 * 3600


def device_is_remembered(user: User, cookie: str | None, *, now: datetime | None = None) -> bool:
    """Whether the cookie names a remembered, unrevoked, unexpired browser of this user."""
    if not cookie:
        return False
    try:
        user_id, token = _serializer().loads(cookie)
    except (BadSignature, ValueError, TypeError):
        return False
    if user_id != user.id or not isinstance(token, str):
        return False
    return db.session.scalar(select(RememberedDevice.id).where(
        RememberedDevice.token_hash == _token_hash(token), RememberedDevice.user_id == user.id,
        RememberedDevice.revoked_at.is_(None),
        RememberedDevice.expires_at > (now or utc_now()))) is not None


def remembered_devices(user: User) -> int:
    """How many browsers currently skip the code for the user."""
    return len(list(db.session.scalars(select(RememberedDevice.id).where(
        RememberedDevice.user_id == user.id, RememberedDevice.revoked_at.is_(None),
        RememberedDevice.expires_at > utc_now()))))


def forget_devices(actor) -> int:
    """The actor's remembered browsers all ask for the code again."""
    authorize(actor, signed_in)
    count = revoke_devices(actor)
    audit.record(actor, "auth.devices_forgotten", actor, count=count)
    return count


def remember_days() -> int:
    """How many days "remember this browser" lasts now (0: the option is not offered)."""
    return int(get_setting(REMEMBER_DEVICE_DAYS.key))


def enrolled_user_ids(user_ids) -> set[int]:
    """Which of these users have a confirmed second factor (the users page)."""
    ids = list(user_ids)
    if not ids:
        return set()
    return set(db.session.scalars(select(SecondFactor.user_id).where(
        SecondFactor.user_id.in_(ids), SecondFactor.confirmed_at.is_not(None))))
