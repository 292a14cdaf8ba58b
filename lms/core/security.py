"""Security events: refusals that matter (failed sign-ins, 403s, CSRF failures, rate limits, …),
recorded OUTSIDE the request's transaction, so the rollback that follows a refusal does not
erase its trace.

    from lms.core.security import record_event
    record_event("enforcement.ban_gate_refused", actor=user, detail={"person_id": 12})

Each event is written on a connection of its own and committed at once. On SQLite one writer
holds the database at a time: when the request's own connection already holds the write lock
(it has written and not yet committed), waiting for it would wait for ourselves, so the event
is kept aside and written the moment that transaction ends, committed or rolled back. Core
knows no domain: packages name their kinds (`describe`) and who hears of an alert
(`register_alert_recipients`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from flask import has_app_context, has_request_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    String,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from lms.core import clock
from lms.core.models import Notification, utcnow
from lms.core.settings import define, get_setting
from lms.extensions import db

log = logging.getLogger(__name__)


class SecurityEvent(db.Model):
    """One refusal (or a sensitive look-up) as it happened. Written outside the request's
    transaction; purged after the retention period, never changed."""

    __tablename__ = "security_events"
    __table_args__ = (
        Index("ix_security_events_kind_created", "kind", "created_at"),
        Index("ix_security_events_address_created", "remote_addr", "created_at"),
        Index("ix_security_events_subject_created", "subject", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    #: what happened, e.g. "auth.login_failed", "http.forbidden" (packages name their kinds)
    kind: Mapped[str] = mapped_column(String(60))
    #: the signed-in user (or the account a second-factor code was tried for); NULL otherwise
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: who the refusal counts against for alerts: "user:<id>", or "name:<keyed hash>" for a
    #: sign-in name typed at the login page (a hash: the row never says whether it exists)
    subject: Mapped[str | None] = mapped_column(String(80))
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    path: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


#: kinds whose events are refusals (they count towards alerts), and their titles
_KINDS: dict[str, object] = {}
_NOT_REFUSALS: set[str] = set()


def describe(kind: str, title, *, refusal: bool = True) -> None:
    """Name a kind of event for the administrators' page; `refusal=False` for events that are
    not refusals (a full identity number looked up): they never raise an alert."""
    _KINDS[kind] = title
    if not refusal:
        _NOT_REFUSALS.add(kind)
    else:
        _NOT_REFUSALS.discard(kind)


def kind_titles() -> dict[str, str]:
    return {kind: str(title) for kind, title in _KINDS.items()}


def kind_title(kind: str) -> str:
    title = _KINDS.get(kind)
    return str(title) if title is not None else kind


describe("http.forbidden", _l("Access refused (403)"))
describe("http.csrf_failed", _l("Form check failed (CSRF)"))
describe("http.rate_limited", _l("Too many requests (rate limit)"))

RETENTION_MONTHS = define(
    "security.event_retention_months", _l("Months security events are kept"), "int", 12, 6, 120,
    _l("months"))
ALERT_THRESHOLD = define(
    "security.alert_threshold", _l("Refusals from one account or address that raise an alert"),
    "int", 10, 3, 1000, _l("refusals"))
ALERT_WINDOW_MINUTES = define(
    "security.alert_window_minutes", _l("Window in which repeated refusals raise an alert"),
    "int", 15, 1, 1440, _l("minutes"))

#: (connection) -> ids of the users told of an alert; auth registers the administrators
_alert_recipients: list[Callable[[Connection], list[int]]] = []
#: the endpoint an alert's notification links to (auth's security-events page)
_alert_link: list[str] = []

_PENDING = "lms.security_events.pending"


def register_alert_recipients(recipients: Callable[[Connection], list[int]],
                              link_endpoint: str = "") -> None:
    _alert_recipients[:] = [recipients]
    _alert_link[:] = [link_endpoint] if link_endpoint else []


def record_event(kind: str, *, actor=None, detail: dict | None = None,
                 subject: str | None = None) -> None:
    """Record a security event outside the caller's transaction (it survives a rollback).

    `actor` is the user concerned (default: the signed-in user, if any); the request's client
    address and path are added. `detail` is stored as JSON: never a full identity number or a
    password. `subject` overrides who the event counts against for alerts (default
    "user:<id>")."""
    row = _row(kind, actor, detail or {}, subject)
    if not has_app_context():
        log.warning("security event outside an application: %s", row)
        return
    session = db.session()
    if _holds_write_lock(session):
        session.info.setdefault(_PENDING, []).append(row)
        return
    _write([row])


def _row(kind, actor, detail, subject) -> dict:
    actor = getattr(actor, "_get_current_object", lambda: actor)()
    if actor is None and has_request_context():
        from flask_login import current_user

        if current_user and current_user.is_authenticated:
            actor = current_user._get_current_object()
    user_id = getattr(actor, "id", None)
    user_id = user_id if isinstance(user_id, int) else None
    address, path = "", ""
    if has_request_context():
        address = (request.remote_addr or "")[:64]
        path = request.path[:200]
    elif has_app_context():
        path = "cli"
    return {"created_at": clock.utc_now(), "kind": kind[:60], "user_id": user_id,
            "subject": (subject or (f"user:{user_id}" if user_id is not None else None)),
            "remote_addr": address, "path": path,
            "detail": {str(k): _jsonable(v) for k, v in detail.items()}}


def _jsonable(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _holds_write_lock(session: Session) -> bool:
    """Whether writing on another connection now could wait for this session (SQLite only:
    PostgreSQL locks rows, and an insert into security_events waits for no one). SQLite keeps
    a transaction's write lock until its outermost end, even after a rollback to a savepoint,
    and the DBAPI does not say whether it holds one: any open transaction counts, and the
    event is written the moment it ends."""
    return db.engine.dialect.name == "sqlite" and session.in_transaction()


@event.listens_for(Session, "after_transaction_end")
def _write_pending(session: Session, transaction) -> None:
    # only when the outermost transaction ends (commit or rollback): a savepoint's end leaves
    # SQLite's write lock with the enclosing transaction
    if transaction.parent is not None or transaction.nested:
        return
    pending = session.info.pop(_PENDING, None)
    if pending:
        _write(pending)


def flush_pending() -> None:
    """Write any events still kept aside (the end of a request, after commit or rollback)."""
    if has_app_context() and db.session.registry.has():
        pending = db.session().info.pop(_PENDING, None)
        if pending:
            _write(pending)


def _write(rows: list[dict]) -> None:
    try:
        with db.engine.begin() as conn:
            conn.execute(insert(SecurityEvent.__table__), rows)
            for row in rows:
                _maybe_alert(conn, row)
    except Exception:  # noqa: BLE001 - a refusal must still be answered; the log says why
        log.exception("could not record security events: %s", [r["kind"] for r in rows])


# --- alerts ----------------------------------------------------------------------------------


def _refusal_kinds_clause(column):
    return column.not_in(sorted(_NOT_REFUSALS)) if _NOT_REFUSALS else column.is_not(None)


def _maybe_alert(conn: Connection, row: dict) -> None:
    """When this event makes the count of refusals from its subject or its address in the
    window reach the threshold, tell the administrators (once per crossing)."""
    if row["kind"] in _NOT_REFUSALS or not _alert_recipients:
        return
    threshold = get_setting(ALERT_THRESHOLD.key, connection=conn)
    minutes = get_setting(ALERT_WINDOW_MINUTES.key, connection=conn)
    since = row["created_at"] - timedelta(minutes=minutes)
    table = SecurityEvent.__table__
    for column, value, what in ((table.c.subject, row["subject"], "account"),
                                (table.c.remote_addr, row["remote_addr"], "address")):
        if not value:
            continue
        count = conn.scalar(select(func.count()).select_from(table).where(
            column == value, table.c.created_at >= since,
            _refusal_kinds_clause(table.c.kind)))
        if count == threshold:
            _notify(conn, what, value, count, minutes)


def _notify(conn: Connection, what: str, value: str, count: int, minutes: int) -> None:
    """Tell the recipients, in the notification kinds security.alert_account and
    security.alert_address (the package that registers the recipients names their messages)."""
    link = ""
    if _alert_link and has_request_context():
        from flask import url_for

        link = url_for(_alert_link[0], **{what: value})
    params = {"who": value, "count": str(count), "minutes": str(minutes)}
    rows = [{"user_id": uid, "kind": f"security.alert_{what}", "params": params, "link": link[:200],
             "created_at": clock.utc_now()} for uid in _alert_recipients[0](conn)]
    if rows:
        conn.execute(insert(Notification.__table__), rows)


def active_alerts(now: datetime | None = None) -> list[dict]:
    """Accounts and addresses whose refusals in the current window reach the threshold."""
    now = now or clock.utc_now()
    threshold = get_setting(ALERT_THRESHOLD.key)
    minutes = get_setting(ALERT_WINDOW_MINUTES.key)
    since = now - timedelta(minutes=minutes)
    alerts = []
    for column, what in ((SecurityEvent.subject, "account"), (SecurityEvent.remote_addr, "address")):
        rows = db.session.execute(
            select(column, func.count(), func.max(SecurityEvent.created_at))
            .where(SecurityEvent.created_at >= since, column.is_not(None), column != "",
                   _refusal_kinds_clause(SecurityEvent.kind))
            .group_by(column).having(func.count() >= threshold)
            .order_by(func.count().desc())).all()
        alerts += [{"what": what, "value": value, "count": count, "last": last,
                    "minutes": minutes} for value, count, last in rows]
    return alerts


# --- retention -------------------------------------------------------------------------------


def retention_cutoff(today: date | None = None) -> datetime:
    """The stored instant before which security events may be purged: the start of the city's
    day `security.event_retention_months` months ago (never under six months)."""
    today = today or clock.local_today()
    months = max(6, int(get_setting(RETENTION_MONTHS.key)))
    return clock.start_of_local_day(clock.months_before(today, months))


def purge_events(before: datetime) -> int:
    """Delete security events recorded before `before` (the caller has authorised and checks
    the retention period: see retention_cutoff)."""
    result = db.session.execute(delete(SecurityEvent).where(SecurityEvent.created_at < before))
    return result.rowcount or 0


def init_app(app) -> None:
    """Write what is still kept aside when a request ends (its transaction has ended)."""

    @app.teardown_request
    def _flush_security_events(_exc=None):
        flush_pending()
