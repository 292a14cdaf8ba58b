"""API clients and their tokens: issue (the token is shown once), list, revoke, authenticate."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from lms.api.actors import ApiClientActor
from lms.api.models import ApiCall, ApiClient, ApiToken, Scope
from lms.api.permissions import can_manage_api_clients
from lms.core import audit
from lms.core.clock import local_today, start_of_local_day, utc_now
from lms.core.errors import DomainError
from lms.core.models import District
from lms.core.permissions import authorize
from lms.extensions import db

log = logging.getLogger("lms.api")

#: a token: lms_<prefix>_<secret>; the prefix finds the row, the hash of the whole proves it
TOKEN_SHAPE = re.compile(r"lms_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})")
#: the longest a token may live
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class Issued:
    client: ApiClient
    token: ApiToken
    #: the token itself: shown once, never stored
    secret: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _new_token() -> tuple[str, str]:
    prefix = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
                     for _ in range(12))
    return prefix, f"lms_{prefix}_{secrets.token_urlsafe(32)}"


def _check_expiry(expires_on: date | None) -> datetime:
    today = local_today()
    if expires_on is None or expires_on <= today:
        raise DomainError(_l("Choose an expiry date after today."), field="expires_on")
    if (expires_on - today).days > MAX_DAYS:
        raise DomainError(_l("A token may live three years at most."), field="expires_on")
    # valid through the city's whole expiry day
    return start_of_local_day(expires_on)


def _mint(actor, client: ApiClient, expires_at: datetime) -> Issued:
    prefix, secret = _new_token()
    token = ApiToken(client=client, prefix=prefix, token_hash=_hash(secret), expires_at=expires_at,
                     created_by_id=getattr(actor, "id", None))
    db.session.add(token)
    db.session.flush()
    audit.record(actor, "api.token_issued", token, client=client.name, scope=client.scope,
                 expires_at=expires_at.isoformat())
    return Issued(client, token, secret)


def issue_client(actor, *, name: str, scope: str, district: District | None,
                 expires_on: date | None) -> Issued:
    """Register another system with its scope and issue its first token (shown once)."""
    authorize(actor, can_manage_api_clients)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise DomainError(_l("Give the client's name (at most 100 characters)."), field="name")
    if scope not in {s.value for s in Scope}:
        raise DomainError(_l("Choose a scope."), field="scope")
    if (scope == Scope.DISTRICT) != (district is not None):
        raise DomainError(_l("A district token needs its district; other scopes take none."),
                          field="district")
    if db.session.scalar(select(ApiClient.id).where(ApiClient.name == name)) is not None:
        raise DomainError(_l("A client of that name exists: issue it another token."), field="name")
    expires_at = _check_expiry(expires_on)
    client = ApiClient(name=name, scope=scope, district_id=district.id if district else None,
                       created_by_id=getattr(actor, "id", None))
    db.session.add(client)
    db.session.flush()
    audit.record(actor, "api.client_created", client, scope=scope,
                 district=district.code if district else None)
    return _mint(actor, client, expires_at)


def issue_token(actor, client: ApiClient, expires_on: date | None) -> Issued:
    """Another token for a client (to rotate: issue, switch, revoke the old one)."""
    authorize(actor, can_manage_api_clients)
    return _mint(actor, client, _check_expiry(expires_on))


def revoke_token(actor, token: ApiToken) -> ApiToken:
    """Stop a token working, now and for good."""
    authorize(actor, can_manage_api_clients)
    if token.revoked_at is not None:
        raise DomainError(_l("This token is already revoked."))
    token.revoked_at = utc_now()
    token.revoked_by_id = getattr(actor, "id", None)
    db.session.flush()
    audit.record(actor, "api.token_revoked", token, client=token.client.name)
    return token


def clients() -> list[ApiClient]:
    return list(db.session.scalars(select(ApiClient).order_by(ApiClient.name)))


def token_prefix(header: str | None) -> str | None:
    """The public prefix of a bearer token in an Authorization header (the rate limit's key)."""
    scheme, _, value = (header or "").partition(" ")
    match = TOKEN_SHAPE.fullmatch(value.strip()) if scheme.lower() == "bearer" else None
    return match.group(1) if match else None


def authenticate(header: str | None) -> ApiClientActor | None:
    """The client a bearer token stands for, or None (missing, malformed, unknown, expired,
    revoked: one answer for all, so a caller learns nothing about which)."""
    prefix = token_prefix(header)
    if prefix is None:
        return None
    # the columns the answer needs, through Core (no ORM objects: this runs on every call)
    row = db.session.connection().execute(_TOKEN_LOOKUP, {"prefix": prefix}).first()
    presented = header.partition(" ")[2].strip()
    if row is None or not hmac.compare_digest(row.token_hash, _hash(presented)):
        return None
    if not ApiToken.usable_at(utc_now(), revoked_at=row.revoked_at, expires_at=row.expires_at):
        return None
    return ApiClientActor(client_id=row.client_id, token_id=row.id, client_name=row.name,
                          scope=row.scope, district_id=row.district_id,
                          last_used_at=row.last_used_at)


_TOKENS, _CLIENTS = ApiToken.__table__.c, ApiClient.__table__.c
_TOKEN_LOOKUP = (
    select(_TOKENS.id, _TOKENS.token_hash, _TOKENS.expires_at, _TOKENS.revoked_at,
           _TOKENS.last_used_at, _TOKENS.client_id, _CLIENTS.name, _CLIENTS.scope,
           _CLIENTS.district_id)
    .join_from(ApiToken.__table__, ApiClient.__table__, _CLIENTS.id == _TOKENS.client_id)
    .where(_TOKENS.prefix == bindparam("prefix")))


#: a token's last_used_at is kept to the minute: a call within a minute of the last mark only
#: logs itself (one statement on the API's every call instead of two)
LAST_USED_PRECISION = timedelta(minutes=1)


def record_call(caller: ApiClientActor | None, endpoint: str, method: str, status: int,
                duration_ms: float, *, in_request: bool = False) -> None:
    """Log one call (never its arguments or body) and mark the token used (to the minute).

    `in_request`: the view returned, and the request's session stays usable: the log is written
    on its connection, no second connection (a call commits each statement by itself,
    lms.api.views._authenticate; a signed-in browser's call commits with its request).
    Otherwise the request ended in an error and its session was rolled back, and a refused or
    failed call must be logged all the same: on a connection of its own."""
    now = utc_now()
    token_id = caller.token_id if caller else None
    # the request's own line (lms.core.logs: method, path, status, time, request id) names the
    # client as its user; this row is the durable record
    call = {"client_id": caller.client_id if caller else None, "token_id": token_id,
            "endpoint": endpoint[:60], "method": method[:8], "status": status,
            "duration_ms": round(duration_ms, 3), "created_at": now}
    statements = [(_LOG_CALL, call)]
    if token_id is not None and (caller.last_used_at is None
                                 or now - caller.last_used_at >= LAST_USED_PRECISION):
        statements.append((_MARK_USED, {"token_id": token_id, "now": now}))
    try:
        if in_request:
            # the API only reads: this log is its one write, committed durably (a record of who
            # asked for whose data must survive a crash)
            connection = db.session.connection()
            for statement, params in statements:
                connection.execute(statement, params)
            return
        # each statement stands alone (no BEGIN and COMMIT round trips): the log is committed
        # as it is written
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for statement, params in statements:
                conn.execute(statement, params)
    except SQLAlchemyError:
        # the answer has been computed: a full log table must not turn it into an error
        if in_request:
            db.session.rollback()
        log.exception("api call not logged endpoint=%s status=%s", endpoint, status)


_LOG_CALL = insert(ApiCall.__table__)
_MARK_USED = (update(ApiToken.__table__).where(_TOKENS.id == bindparam("token_id"))
              .values(last_used_at=bindparam("now")))


def last_calls(client: ApiClient, limit: int = 5) -> list[ApiCall]:
    return list(db.session.scalars(select(ApiCall).where(ApiCall.client_id == client.id)
                                   .order_by(ApiCall.id.desc()).limit(limit)))
