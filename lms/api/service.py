"""Every call the API makes into other packages, in one place.

Each function takes the calling client (an ApiClientActor) first, authorises it with the same
named predicate its view declares, and returns plain data shaped exactly like the response
schema in lms/api/schemas.py. The views only parse, call one of these and serialise.

Implemented today from the registry, ledger and certificates services on main. When the
compliance service (per person, institution, district) and the enforcement credit feed land,
the lead swaps the bodies marked SWAP below; the shapes they return stay, so the API's contract
does not move.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import contains_eager

from lms.api.actors import ApiClientActor
from lms.api.models import Scope
from lms.api.permissions import (
    api_reads_district,
    api_reads_feeds,
    api_reads_institution,
    api_reads_registry,
)
from lms.certificates import service as certificates
from lms.certificates.models import Certificate
from lms.core.clock import local_today, this_year
from lms.core.errors import DomainError
from lms.core.idnumber import mask_id_number, mask_name
from lms.core.models import District, StateEvent
from lms.core.permissions import authorize
from lms.extensions import db
from lms.ledger import service as ledger
from lms.registry import queries
from lms.registry import service as registry
from lms.registry.models import (
    Ban,
    BanKind,
    Employment,
    Organisation,
    OrgKind,
    Post,
    StaffRecord,
    StaffRecordKind,
)

#: a health check is good for a year from the day of the examination
HEALTH_CHECK_VALID_DAYS = 365


class CursorError(DomainError):
    """A feed cursor this API did not hand out."""


# --- person status --------------------------------------------------------------------------------


def _health_check(person_id: int, today: date) -> dict:
    """The person's latest health check and whether it holds today (valid, expired, unfit,
    missing). SWAP: the compliance service's per-person health-check state."""
    record = db.session.scalar(
        select(StaffRecord).where(StaffRecord.person_id == person_id,
                                  StaffRecord.kind == StaffRecordKind.HEALTH_CHECK.value)
        .order_by(StaffRecord.issued_on.desc(), StaffRecord.id.desc()).limit(1))
    if record is None:
        return {"state": "missing", "checked_on": None, "valid_until": None}
    valid_until = record.issued_on + timedelta(days=HEALTH_CHECK_VALID_DAYS)
    if record.result != "fit":
        state = "unfit"
    elif valid_until <= today:
        state = "expired"
    else:
        state = "valid"
    return {"state": state, "checked_on": record.issued_on, "valid_until": valid_until}


def _ban(number: str, today: date) -> dict | None:
    ban = registry.ban_gate([number], today).get(number)
    if ban is None:
        return None
    return {"kind": ban.kind, "starts_on": ban.starts_on,
            # a term ban excludes through the day before ends_on (registry.models.Ban)
            "until": None if ban.kind == BanKind.LIFETIME else ban.ends_on,
            "category": getattr(ban, "category", None)}


def person_status(actor: ApiClientActor, id_number: str) -> dict | None:
    """What the registry knows of a person now, or None when the person is unknown or outside
    the client's scope (the same answer, so a district learns nothing of other districts).
    SWAP: the compliance service's per-person status (banned, certified for post, hours,
    health check), keeping this shape."""
    authorize(actor, api_reads_registry)
    person = registry.find_person(id_number)
    if person is None:
        return None
    today = local_today()
    employments = list(db.session.scalars(
        select(Employment).join(Organisation, Organisation.id == Employment.organisation_id)
        .options(contains_eager(Employment.organisation))
        .where(Employment.person_id == person.id, Employment.end_date.is_(None),
               Organisation.kind == OrgKind.INSTITUTION.value)
        .order_by(Employment.start_date, Employment.id)))
    if actor.scope == Scope.DISTRICT and not any(
            e.organisation.district_id == actor.district_id for e in employments):
        return None
    checks = registry.check_posts(employments, today) if employments else {}
    year = this_year()
    progress = ledger.year_progress(person, year, today)
    ban = _ban(person.id_number, today)
    return {
        "name": mask_name(person.name),
        "id_number": mask_id_number(person.id_number),
        "as_of": today,
        "banned": ban is not None,
        "ban": ban,
        "employments": [_employment(e, checks[e.id].satisfied) for e in employments],
        "certificates": [_certificate_brief(c, today) for c in certificates.of_person(person.id)],
        "hours": {
            "year": year,
            "met": all(p.met for p in progress),
            "categories": [{"category": p.category.value, "title": p.category.title,
                            "hours": p.hours, "required": p.required, "met": p.met}
                           for p in progress],
        },
        "health_check": _health_check(person.id, today),
    }


def _employment(e: Employment, certified: bool) -> dict:
    org = e.organisation
    return {"institution": {"id": org.id, "name": org.name, "district": org.district.code},
            "post": e.post, "post_title": Post(e.post).title, "start_date": e.start_date,
            "certified_for_post": certified}


def _certificate_brief(cert: Certificate, today: date) -> dict:
    return {"number": cert.number, "type": cert.qualification_type.code,
            "type_title": cert.qualification_type.title, "level": cert.level or None,
            "state": certificates.state(cert, today), "issued_on": cert.issued_on,
            "expires_on": cert.expires_on}


# --- compliance -----------------------------------------------------------------------------------


def _figures(summary: dict) -> dict:
    return {"staff": summary["people"], "certified": summary["certified"],
            "certified_percent": round(float(summary["rate"]), 1),
            "target_percent": float(summary["target"]), "meets_target": summary["meets_target"]}


def institution_compliance(actor: ApiClientActor, org: Organisation) -> dict:
    """The institution's certified share against its district's target, as the regulator's
    institutions page shows it. SWAP: the compliance service's per-institution figures."""
    authorize(actor, api_reads_institution, org=org)
    staff = queries.current_staff([org.id])
    summary = queries.compliance_summary(staff, org.district_id)
    return {"institution": {"id": org.id, "name": org.name, "district": org.district.code},
            "as_of": local_today(), **_figures(summary),
            "banned_staff": len(queries.banned_among(staff))}


def district_compliance(actor: ApiClientActor, district: District) -> dict:
    """A district's roll-up and each institution's figures, as the regulator's pages show
    them. SWAP: the compliance service's district summary (its summary tables)."""
    authorize(actor, api_reads_district, district=district)
    rows = queries.institution_compliance(district.id)
    summary = queries.compliance_summary(queries.current_staff(district_id=district.id), district.id)
    return {
        "district": {"code": district.code, "name": district.name},
        "as_of": local_today(),
        **_figures(summary),
        "institutions_meeting_target": sum(1 for _org, s in rows if s["meets_target"]),
        "institutions": [{"id": org.id, "name": org.name, "district": district.code, **_figures(s)}
                         for org, s in rows],
    }


# --- certificate verification ----------------------------------------------------------------


def certificate(actor: ApiClientActor, code: str) -> dict | None:
    """What the public verification page shows for a verification code (masked holder), or
    None when no certificate has it."""
    authorize(actor, api_reads_registry)
    cert = certificates.by_code(code)
    if cert is None:
        return None
    return {**_certificate_brief(cert, local_today()),
            "holder": {"name": mask_name(cert.person.name),
                       "id_number": mask_id_number(cert.person.id_number)},
            "issuer": cert.issuer.name, "verification_url": certificates.verify_link(cert)}


# --- feeds ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: list[dict]
    #: where to continue from (also when nothing more is there yet: ask again later with it)
    next_cursor: str | None
    has_more: bool


def _encode(moment: datetime, row_id: int) -> str:
    raw = json.dumps([moment.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, row_id = json.loads(raw)
        if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 <= row_id < 2**31:
            raise ValueError(row_id)
        return datetime.fromisoformat(moment).replace(tzinfo=None), row_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise CursorError(_l("This cursor was not handed out by this API.")) from None


def _keyset(stmt, moment_col, id_col, since: datetime | None, cursor: str | None, limit: int):
    if cursor:
        after, after_id = _decode(cursor)
        stmt = stmt.where(or_(moment_col > after, and_(moment_col == after, id_col > after_id)))
    elif since is not None:
        stmt = stmt.where(moment_col >= since)
    return stmt.order_by(moment_col, id_col).limit(limit + 1)


def _page(rows: list, limit: int, cursor: str | None, position, item) -> Page:
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(*position(rows[-1])) if rows else cursor
    return Page([item(r) for r in rows], next_cursor, more)


def ban_feed(actor: ApiClientActor, since: datetime | None, cursor: str | None,
             limit: int) -> Page:
    """Bans recorded or lifted since a moment (naive UTC), oldest change first.
    SWAP: lms.enforcement.credit_feed.credit_feed(actor, since, kind="ban",
    after_cursor=cursor, limit=limit), mapped to this item shape."""
    authorize(actor, api_reads_feeds)
    changed = func.coalesce(Ban.lifted_at, Ban.created_at)
    stmt = _keyset(select(Ban, changed.label("changed")), changed, Ban.id, since, cursor, limit)
    rows = list(db.session.execute(stmt))
    today = local_today()

    def item(row) -> dict:
        ban = row.Ban
        return {"id": ban.id, "id_number": ban.id_number, "name": ban.name, "kind": ban.kind,
                "category": getattr(ban, "category", None), "starts_on": ban.starts_on,
                "until": ban.ends_on, "in_force": ban.in_force(today),
                "lifted": ban.lifted_at is not None, "decision_ref": ban.decision_ref,
                "changed_at": row.changed}

    return _page(rows, limit, cursor, lambda r: (r.changed, r.Ban.id), item)


def certificate_feed(actor: ApiClientActor, since: datetime | None, cursor: str | None,
                     limit: int) -> Page:
    """Certificate status changes (suspended, reinstated, revoked, …) since a moment.
    SWAP: lms.enforcement.credit_feed.credit_feed(actor, since, kind="certificate",
    after_cursor=cursor, limit=limit), mapped to this item shape."""
    authorize(actor, api_reads_feeds)
    stmt = _keyset(select(StateEvent, Certificate)
                   .join(Certificate, Certificate.id == StateEvent.object_id)
                   .where(StateEvent.object_type == Certificate.__tablename__),
                   StateEvent.created_at, StateEvent.id, since, cursor, limit)
    rows = list(db.session.execute(stmt))

    def item(row) -> dict:
        event, cert = row.StateEvent, row.Certificate
        return {"id": event.id, "certificate_number": cert.number,
                "type": cert.qualification_type.code, "level": cert.level or None,
                "holder_id_number": mask_id_number(cert.person.id_number),
                "action": event.action, "from_state": event.from_state,
                "to_state": event.to_state, "changed_at": event.created_at}

    return _page(rows, limit, cursor, lambda r: (r.StateEvent.created_at, r.StateEvent.id), item)


def find_district(code: str) -> District | None:
    return db.session.scalar(select(District).where(District.code == code))



