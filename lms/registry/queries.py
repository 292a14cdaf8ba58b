"""Read-side helpers for pages (lists, choices, summaries)."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from lms.auth.models import Role
from lms.core import settings
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry.models import Ban, Employment, Organisation, OrgKind, Person
from lms.registry.service import ban_gate, check_posts

settings.define("certification.target_percent", _l("Certification target (share of staff certified)"),
                "percent", 100, 0, 100, "%")


def organisation_choices(kind: str | None = None) -> list[tuple[int, str]]:
    stmt = select(Organisation.id, Organisation.name).order_by(Organisation.kind, Organisation.name)
    if kind:
        stmt = stmt.where(Organisation.kind == kind)
    return [(row.id, row.name) for row in db.session.execute(stmt)]


def current_staff(org_ids: list[int] | None = None, district_id: int | None = None) -> list[Employment]:
    stmt = (select(Employment).options(joinedload(Employment.person))
            .where(Employment.end_date.is_(None)))
    if org_ids is not None:
        stmt = stmt.where(Employment.organisation_id.in_(org_ids))
    if district_id is not None:
        stmt = stmt.join(Organisation, Organisation.id == Employment.organisation_id).where(
            Organisation.district_id == district_id)
    return list(db.session.scalars(stmt))


def compliance_summary(employments: list[Employment], district_id: int | None = None,
                       on: date | None = None, *, checks: dict | None = None,
                       target=None) -> dict:
    """Certified share against the target in force, and who is not certified.

    `checks` (from check_posts) and `target` may be passed in when summarising many
    institutions from one batch of queries."""
    on = on or local_today()
    checks = checks if checks is not None else check_posts(employments, on)
    people = {e.person_id for e in employments}
    failing = [e for e in employments if not checks[e.id].satisfied]
    failing_people = {e.person_id for e in failing}
    certified = len(people - failing_people)
    rate = (100 * certified / len(people)) if people else 100.0
    if target is None:
        target = settings.get_setting("certification.target_percent", district_id, on)
    return {"people": len(people), "certified": certified, "rate": rate, "target": target,
            "failing": failing, "checks": checks, "meets_target": rate >= float(target)}


def banned_among(employments: list[Employment]) -> set[int]:
    """Employment ids whose person is banned (through the one gate)."""
    numbers = {e.person.id_number: e.id for e in employments}
    banned = ban_gate(numbers)
    return {eid for number, eid in numbers.items() if number in banned}


def district_overview(district_id: int | None) -> dict:
    org_stmt = select(func.count(Organisation.id)).where(Organisation.kind == OrgKind.INSTITUTION)
    if district_id is not None:
        org_stmt = org_stmt.where(Organisation.district_id == district_id)
    staff = current_staff(district_id=district_id)
    summary = compliance_summary(staff, district_id)
    bans = db.session.scalar(select(func.count(Ban.id)).where(Ban.lifted_at.is_(None)))
    return {"institutions": db.session.scalar(org_stmt), "summary": summary, "bans": bans,
            "persons": db.session.scalar(select(func.count(Person.id)))}


def district_in_scope(user, asked: int | None) -> int | None:
    """The district a list is limited to: a district regulator's own, whatever was asked."""
    if user.role == Role.REGULATOR and user.district_id is not None:
        return user.district_id
    return asked
