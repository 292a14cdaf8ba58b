"""Named predicates for the compliance package: who sees which part of the compliance view.

The scopes (issue 14): a city-wide regulator and a system administrator see everything; a
district regulator sees the people employed in the district now and the employment history of
the district's own institutions; an institution administrator sees the institution's current
staff. Everyone else sees nothing."""

from __future__ import annotations

from sqlalchemy import select

from lms.auth.models import Role
from lms.core.permissions import predicate
from lms.extensions import db
from lms.registry.models import Employment, Organisation, OrgKind, Person


def _signed_in(user) -> bool:
    return bool(user and user.is_authenticated)


def sees_city(user) -> bool:
    """A system administrator or a city-wide regulator (no district)."""
    return bool(_signed_in(user) and (user.role == Role.ADMIN or (
        user.role == Role.REGULATOR and user.district_id is None)))


@predicate
def can_view_compliance(user, **_) -> bool:
    """The compliance view at all: administrators, regulators, institution administrators."""
    if not _signed_in(user):
        return False
    return user.role in (Role.ADMIN, Role.REGULATOR) or bool(
        user.role == Role.INSTITUTION_ADMIN and user.organisation_id)


@predicate
def can_view_regulator_compliance(user, **_) -> bool:
    """The regulator's dashboard (city or district): administrators and regulators."""
    return bool(_signed_in(user) and user.role in (Role.ADMIN, Role.REGULATOR))


@predicate
def can_view_district_compliance(user, district=None, **_) -> bool:
    if district is None or not _signed_in(user):
        return False
    return sees_city(user) or (user.role == Role.REGULATOR and user.district_id == district.id)


@predicate
def can_view_institution_compliance(user, org: Organisation | None = None, **_) -> bool:
    if org is None or org.kind != OrgKind.INSTITUTION or not _signed_in(user):
        return False
    if sees_city(user):
        return True
    if user.role == Role.REGULATOR:
        return user.district_id == org.district_id
    return user.role == Role.INSTITUTION_ADMIN and user.organisation_id == org.id


@predicate
def can_view_person_compliance(user, person: Person | None = None, **_) -> bool:
    """A person's compliance: the city sees all; a district regulator a person employed in the
    district now or ever at one of its institutions; an institution its current staff."""
    if person is None or not _signed_in(user):
        return False
    if sees_city(user):
        return True
    if user.role == Role.REGULATOR:
        return db.session.scalar(
            select(Employment.id).join(Organisation, Organisation.id == Employment.organisation_id)
            .where(Employment.person_id == person.id,
                   Organisation.district_id == user.district_id).limit(1)) is not None
    if user.role == Role.INSTITUTION_ADMIN and user.organisation_id:
        return db.session.scalar(select(Employment.id).where(
            Employment.person_id == person.id, Employment.organisation_id == user.organisation_id,
            Employment.end_date.is_(None)).limit(1)) is not None
    return False


@predicate
def can_view_city_compliance(user, **_) -> bool:
    """The table of every district: administrators and city-wide regulators."""
    return sees_city(user)


@predicate
def can_refresh_compliance(user, **_) -> bool:
    """Refresh the snapshots now (besides the scheduled job): administrators."""
    return bool(_signed_in(user) and user.role == Role.ADMIN)


@predicate
def runs_compliance_jobs(user, **_) -> bool:
    """The schedule's reminders: system actors only."""
    return False
