"""The credit feed for the public credit platform (公共信用信息平台, seeds 001 and 003): bans,
and the status changes of certificates, since a time, page by page with a stable cursor.

Identity numbers are NOT masked: the platform matches its records by the full number. So the
feed is for the city-wide regulator only (rules.can_export_credit_feed), every read is audited
(with the count, never the numbers), and the web page serves it by POST as a download, never
with a number in a URL. The JSON API's feeds (lms/api/service.py) run the same row queries
(`ban_changes`, `certificate_changes`) after authorising their tokens by the API's own rule,
and mask what the API masks.

A row's place in the feed is (changed_at, id): a ban's changed_at is when it was recorded, or
lifted if it was; a certificate change's is its state event's time. A ban that is lifted comes
again later in the feed with its new state; the platform keeps the last row per ban id.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from lms.certificates.models import Certificate
from lms.core import audit
from lms.core.clock import local_today, to_utc
from lms.core.errors import DomainError
from lms.core.models import StateEvent
from lms.core.permissions import authorize
from lms.enforcement import permissions as rules
from lms.extensions import db
from lms.registry.models import Ban, BanKind, Organisation, Person, QualificationType

KINDS = ("bans", "certificates")
FORMATS = ("json", "csv")
MAX_LIMIT = 5000

#: the columns of each kind, in the order CSV writes them (add a column here and in its row)
BAN_FIELDS = ["ban_id", "id_number", "name", "kind", "category", "state", "starts_on", "ends_on", "status",
              "lifted_at", "decision_ref", "recorded_at", "changed_at"]
CERTIFICATE_FIELDS = ["event_id", "certificate_number", "certificate_type", "certificate_name",
                      "level", "issuer", "holder_name", "id_number", "action", "from_state",
                      "to_state", "reason", "changed_at"]
FIELDS = {"bans": BAN_FIELDS, "certificates": CERTIFICATE_FIELDS}


def as_stored(moment: datetime) -> datetime:
    """A time as stored (naive UTC); a naive time given is the city's wall clock."""
    if moment.tzinfo is None:
        return to_utc(moment)
    return moment.astimezone(UTC).replace(tzinfo=None)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.replace(tzinfo=UTC).isoformat()


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def encode_cursor(changed_at: datetime, row_id: int) -> str:
    return f"{changed_at.isoformat(timespec='microseconds')}~{row_id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        moment, _sep, row_id = cursor.strip().partition("~")
        return datetime.fromisoformat(moment), int(row_id)
    except (ValueError, AttributeError):
        raise DomainError(_l("The cursor is not one this feed gave."), field="cursor") from None


def _after(changed, row_id_column, after: tuple[datetime, int] | None):
    if after is None:
        return True
    at, row_id = after
    return or_(changed > at, and_(changed == at, row_id_column > row_id))


# --- bans ----------------------------------------------------------------------------------------


def _ban_changed_at():
    """When a ban last changed, as the feed orders it (one place to extend: an updated_at)."""
    return func.coalesce(Ban.lifted_at, Ban.created_at)


def _ban_status(ban: Ban, today: date) -> str:
    if ban.lifted_at is not None:
        return "lifted"
    if ban.in_force(today):
        return "in_force"
    return "pending" if ban.starts_on > today else "expired"


def _ban_row(ban: Ban, changed_at: datetime, today: date) -> dict:
    return {"ban_id": ban.id, "id_number": ban.id_number, "name": ban.name, "kind": ban.kind,
            "category": ban.category, "state": ban.state,
            "starts_on": _day(ban.starts_on),
            "ends_on": _day(ban.ends_on) if ban.kind == BanKind.TERM else None,
            "status": _ban_status(ban, today), "lifted_at": _iso(ban.lifted_at),
            "decision_ref": ban.decision_ref, "recorded_at": _iso(ban.created_at),
            "changed_at": _iso(changed_at)}


def ban_changes(since: datetime | None, after: tuple[datetime, int] | None,
                limit: int) -> list[tuple[Ban, datetime]]:
    """The bans changed at or after `since` (naive UTC; None: from the start) and after the
    place `after` = (changed_at, ban id), oldest change first: up to limit + 1 rows (the extra
    one says there is more). The one query both doors share (this feed's page and the JSON
    API's ban feed); it authorises nobody: each door authorises by its own rule first."""
    changed = _ban_changed_at().label("changed_at")
    stmt = select(Ban, changed).where(_after(_ban_changed_at(), Ban.id, after))
    if since is not None:
        stmt = stmt.where(_ban_changed_at() >= since)
    return [(ban, at) for ban, at in db.session.execute(
        stmt.order_by(_ban_changed_at(), Ban.id).limit(limit + 1)).all()]


def _bans(since: datetime, after_cursor, limit: int) -> list[tuple[dict, str]]:
    after = decode_cursor(after_cursor) if after_cursor else None
    today = local_today()
    return [(_ban_row(ban, at, today), encode_cursor(at, ban.id))
            for ban, at in ban_changes(since, after, limit)]


# --- certificate status changes ------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateChange:
    event: StateEvent
    certificate: Certificate
    type: QualificationType
    issuer: Organisation
    holder: Person


def certificate_changes(since: datetime | None, after: tuple[datetime, int] | None,
                        limit: int) -> list[CertificateChange]:
    """The certificates' state events at or after `since` (naive UTC; None: from the start)
    and after the place `after` = (event time, event id), oldest first: up to limit + 1 rows.
    Shared by both doors like ban_changes; authorises nobody."""
    stmt = (select(StateEvent, Certificate, QualificationType, Organisation, Person)
            .join(Certificate, Certificate.id == StateEvent.object_id)
            .join(Person, Person.id == Certificate.person_id)
            .join(QualificationType, QualificationType.id == Certificate.qualification_type_id)
            .join(Organisation, Organisation.id == Certificate.issuer_id)
            .where(StateEvent.object_type == Certificate.__tablename__,
                   _after(StateEvent.created_at, StateEvent.id, after)))
    if since is not None:
        stmt = stmt.where(StateEvent.created_at >= since)
    rows = db.session.execute(stmt.order_by(StateEvent.created_at, StateEvent.id)
                              .limit(limit + 1)).all()
    return [CertificateChange(*row) for row in rows]


def _certificates(since: datetime, after_cursor, limit: int) -> list[tuple[dict, str]]:
    after = decode_cursor(after_cursor) if after_cursor else None
    out = []
    for change in certificate_changes(since, after, limit):
        event, cert = change.event, change.certificate
        out.append(({"event_id": event.id, "certificate_number": cert.number,
                     "certificate_type": change.type.code, "certificate_name": change.type.name_zh,
                     "level": cert.level or None, "issuer": change.issuer.name,
                     "holder_name": change.holder.name, "id_number": change.holder.id_number,
                     "action": "issue" if event.action == "create" else event.action,
                     "from_state": event.from_state or None, "to_state": event.to_state,
                     "reason": event.reason, "changed_at": _iso(event.created_at)},
                    encode_cursor(event.created_at, event.id)))
    return out


# --- the service ---------------------------------------------------------------------------------


def credit_feed(actor, since: datetime, *, kind: str = "bans", after_cursor: str | None = None,
                limit: int = 500) -> tuple[list[dict], str | None]:
    """One page of the feed since a time, oldest change first: (rows, the cursor to ask for
    the next page with, or None when this page is the last)."""
    authorize(actor, rules.can_export_credit_feed)
    if kind not in KINDS:
        raise DomainError(_l("Choose bans or certificates."), field="kind")
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise DomainError(_l("Ask for 1 to 5000 rows at a time."), field="limit")
    since = as_stored(since)
    page = (_bans if kind == "bans" else _certificates)(since, after_cursor, int(limit))
    more = len(page) > limit
    page = page[:limit]
    audit.record(actor, "enforcement.credit_feed_read", object_type="credit_feed", kind=kind,
                 since=_iso(since), after=after_cursor or "", rows=len(page))
    return [row for row, _c in page], (page[-1][1] if more else None)


def all_rows(actor, since: datetime, kind: str, page_size: int = 500) -> Iterator[dict]:
    """Every row since the time, page by page."""
    cursor = None
    while True:
        rows, cursor = credit_feed(actor, since, kind=kind, after_cursor=cursor, limit=page_size)
        yield from rows
        if cursor is None:
            return


def to_csv(rows: list[dict], kind: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS[kind], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def to_json(rows: list[dict], kind: str, since: datetime) -> str:
    return json.dumps({"kind": kind, "since": _iso(as_stored(since)), "count": len(rows),
                       "rows": rows}, ensure_ascii=False, indent=1)


def export(actor, since: datetime, kind: str, fmt: str) -> tuple[bytes, str, str]:
    """The whole feed since a time as a file: (bytes, mimetype, filename)."""
    if fmt not in FORMATS:
        raise DomainError(_l("Choose JSON or CSV."), field="format")
    rows = list(all_rows(actor, since, kind))
    stamp = as_stored(since).strftime("%Y%m%dT%H%M%SZ")
    if fmt == "csv":
        # with a byte-order mark, so spreadsheet programs read the Chinese names right
        return (("\ufeff" + to_csv(rows, kind)).encode("utf-8"), "text/csv",
                f"credit-feed-{kind}-{stamp}.csv")
    return to_json(rows, kind, since).encode("utf-8"), "application/json", \
        f"credit-feed-{kind}-{stamp}.json"
