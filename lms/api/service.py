"""Every call the API makes into other packages, in one place.

Each function takes the calling client (an ApiClientActor) first, authorises it with the same
named predicate its view declares, and returns plain data shaped exactly like the response
schema in lms/api/schemas.py. The views only parse, call one of these and serialise.

The figures come from the services the pages use: a person's status and the institutions' and
districts' figures from the compliance service (lms.compliance.service, given the token's scope
explicitly: compliance's own scope_for knows users, not tokens), the feeds from the enforcement
credit feed's row queries (lms.enforcement.credit_feed), each after this API's own rule.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

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
from lms.compliance import service as compliance
from lms.core.clock import local_today
from lms.core.errors import DomainError
from lms.core.idnumber import mask_id_number, mask_name
from lms.core.models import District
from lms.core.permissions import authorize
from lms.enforcement import credit_feed
from lms.extensions import db
from lms.ledger.models import Category
from lms.registry.models import BanKind, Organisation, Post


class CursorError(DomainError):
    """A feed cursor this API did not hand out."""


def _compliance_scope(actor: ApiClientActor) -> compliance.Scope:
    """The token's scope as the compliance service reads it."""
    if actor.scope == Scope.DISTRICT:
        return compliance.Scope("district", district_id=actor.district_id)
    return compliance.CITY


# --- person status --------------------------------------------------------------------------------

#: the compliance service's health-check states, as this API has always named them
HEALTH_STATES = {"current": "valid", "lapsed": "expired", "unfit": "unfit", "missing": "missing"}


def _hours(h: compliance.HoursStatus) -> dict:
    return {"category": h.category, "title": Category(h.category).title, "hours": h.hours,
            "required": h.required, "met": h.hours >= h.required, "expected": h.expected,
            "on_track": h.on_track}


def person_status(actor: ApiClientActor, id_number: str) -> dict | None:
    """A person's compliance now, from the compliance service, or None when the person is
    unknown or not employed in the client's district now (the same answer, so a district learns
    nothing of other districts)."""
    authorize(actor, api_reads_registry)
    pc = compliance.compliance_by_number(_compliance_scope(actor), id_number)
    if pc is None:
        return None
    person = pc.person
    if actor.scope == Scope.DISTRICT and not any(
            p.employment.organisation.district_id == actor.district_id for p in pc.posts):
        return None
    ban = pc.ban
    return {
        "name": mask_name(person.name),
        "id_number": mask_id_number(person.id_number),
        "as_of": pc.on,
        "compliant": pc.is_compliant,
        "banned": ban is not None,
        "ban": None if ban is None else {
            "kind": ban.kind, "starts_on": ban.starts_on,
            # a term ban excludes through the day before ends_on (registry.models.Ban)
            "until": None if ban.kind == BanKind.LIFETIME else ban.ends_on,
            "category": ban.category, "state": ban.state},
        "employments": [_employment(p) for p in sorted(
            pc.posts, key=lambda p: (p.employment.start_date, p.employment.id))],
        "certificates": [_certificate_brief(c, pc.on) for c in certificates.of_person(person.id)],
        "hours": {"year": pc.on.year,
                  "met": all(h.hours >= h.required for h in (pc.skills, pc.ethics)),
                  "on_track": pc.hours_on_track,
                  "categories": [_hours(pc.skills), _hours(pc.ethics)]},
        "health_check": {"state": HEALTH_STATES[pc.health.state],
                         "checked_on": pc.health.record.issued_on if pc.health.record else None,
                         "valid_until": pc.health.lapses_on},
        "criminal_record_on_file": pc.record_on_file,
        "criminal_record_on": pc.criminal_record.issued_on if pc.criminal_record else None,
        "gaps": [{"code": g.code, "severity": g.severity, "message": g.message}
                 for g in pc.gaps],
    }


def _employment(status: compliance.PostStatus) -> dict:
    e = status.employment
    org = e.organisation
    return {"institution": {"id": org.id, "name": org.name, "district": org.district.code},
            "post": e.post, "post_title": Post(e.post).title, "start_date": e.start_date,
            "certified_for_post": status.certified, "missing": status.missing or None}


def _certificate_brief(cert: Certificate, today: date) -> dict:
    return {"number": cert.number, "type": cert.qualification_type.code,
            "type_title": cert.qualification_type.title, "level": cert.level or None,
            "state": certificates.state(cert, today), "issued_on": cert.issued_on,
            "expires_on": cert.expires_on}


# --- compliance -----------------------------------------------------------------------------------


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _figures(row: compliance.AreaRow) -> dict:
    """An AreaRow as the pages show it: the counts, each rate (percent of the people, null when
    there are none) against its target, and the counts that must be zero."""
    counts, rates, goals = row.counts, row.rates, row.targets
    return {
        "staff": counts["people"], "certified": counts["certified"],
        "certified_percent": _percent(rates["certified"]),
        "target_percent": goals["certified"], "meets_target": not row.below_target,
        "rates": {name: {"count": counts[name], "percent": _percent(rates[name]),
                         "target_percent": goals[name],
                         "meets_target": rates[name] is None or rates[name] >= goals[name]}
                  for name in compliance.RATES},
        "banned_employed": counts["banned_employed"],
        "multi_institution": counts["multi_institution"],
    }


def institution_compliance(actor: ApiClientActor, org: Organisation) -> dict:
    """The institution's figures as the regulator's pages show them: its row of the compliance
    snapshot (as_of: when it was computed; null before the first refresh)."""
    authorize(actor, api_reads_institution, org=org)
    row = compliance.institution_figures(_compliance_scope(actor), org)
    return {"institution": {"id": org.id, "name": org.name, "district": org.district.code},
            "as_of": row.computed_at, **_figures(row),
            "banned_staff": row.counts["banned_employed"]}


def district_compliance(actor: ApiClientActor, district: District) -> dict:
    """A district's figures and each institution's, as the district's compliance page shows
    them (the compliance snapshots; as_of: the district snapshot's time)."""
    authorize(actor, api_reads_district, district=district)
    total, rows = compliance.district_figures(_compliance_scope(actor), district)
    return {
        "district": {"code": district.code, "name": district.name},
        "as_of": total.computed_at,
        **_figures(total),
        "institutions_meeting_target": sum(1 for r in rows if not r.below_target),
        "institutions": [{"id": r.id, "name": r.name, "district": district.code, "as_of":
                          r.computed_at, **_figures(r)} for r in rows],
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


def _place(since: datetime | None, cursor: str | None):
    """(since, after) for the shared row queries: a cursor continues after its row (the
    moment asked for first no longer matters); without one, the feed starts at `since`."""
    if cursor:
        return None, _decode(cursor)
    return since, None


def _page(rows: list, limit: int, cursor: str | None, position, item) -> Page:
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(*position(rows[-1])) if rows else cursor
    return Page([item(r) for r in rows], next_cursor, more)


def ban_feed(actor: ApiClientActor, since: datetime | None, cursor: str | None,
             limit: int) -> Page:
    """Bans recorded or lifted since a moment (naive UTC), oldest change first: the credit
    feed's row query, after this API's rule (every token; full numbers, as before)."""
    authorize(actor, api_reads_feeds)
    rows = credit_feed.ban_changes(*_place(since, cursor), limit)
    today = local_today()

    def item(row) -> dict:
        ban, changed = row
        return {"id": ban.id, "id_number": ban.id_number, "name": ban.name, "kind": ban.kind,
                "category": ban.category, "state": ban.state, "starts_on": ban.starts_on,
                "until": ban.ends_on, "in_force": ban.in_force(today),
                "lifted": ban.lifted_at is not None, "decision_ref": ban.decision_ref,
                "changed_at": changed}

    return _page(rows, limit, cursor, lambda r: (r[1], r[0].id), item)


def certificate_feed(actor: ApiClientActor, since: datetime | None, cursor: str | None,
                     limit: int) -> Page:
    """Certificate status changes (suspended, reinstated, revoked, …) since a moment: the
    credit feed's row query, after this API's rule, holders' numbers masked."""
    authorize(actor, api_reads_feeds)
    rows = credit_feed.certificate_changes(*_place(since, cursor), limit)

    def item(change: credit_feed.CertificateChange) -> dict:
        event, cert = change.event, change.certificate
        return {"id": event.id, "certificate_number": cert.number, "type": change.type.code,
                "level": cert.level or None,
                "holder_id_number": mask_id_number(change.holder.id_number),
                "action": event.action, "from_state": event.from_state,
                "to_state": event.to_state, "changed_at": event.created_at}

    return _page(rows, limit, cursor, lambda c: (c.event.created_at, c.event.id), item)


def find_district(code: str) -> District | None:
    return db.session.scalar(select(District).where(District.code == code))



