"""Named predicates for the ledger, shared by views and templates."""

from __future__ import annotations

from lms.auth.models import Role
from lms.core.permissions import predicate
from lms.ledger.models import ExternalRecord
from lms.ledger.service import can_record_external as _can_record_external
from lms.registry.permissions import can_view_person, can_view_staff


@predicate
def can_see_own_hours(user, **_) -> bool:
    return bool(user and user.is_authenticated and user.role == Role.CAREGIVER and user.person_id)


@predicate
def can_view_staff_hours(user, org=None, **_) -> bool:
    """An institution's hours table: its admin, the district's regulators, system admins."""
    return can_view_staff(user, org=org)


@predicate
def can_view_person_hours(user, person=None, **_) -> bool:
    return can_view_person(user, person=person)


@predicate
def can_open_staff_ledgers(user, org=None, **_) -> bool:
    """From an institution's hours table, open each person's ledger: whoever may see a
    person's ledger (an administrator, a regulator) and sees this institution's staff, whose
    people all work in its district."""
    return bool(user and user.is_authenticated and user.role in (Role.ADMIN, Role.REGULATOR)
                and can_view_staff(user, org=org))


@predicate
def can_correct_ledger(user, **_) -> bool:
    return bool(user and user.is_authenticated and user.role == Role.ADMIN)


@predicate
def can_record_external(user, **_) -> bool:
    return _can_record_external(user)


@predicate
def can_view_evidence(user, record: ExternalRecord | None = None, **_) -> bool:
    if record is None or not (user and user.is_authenticated):
        return False
    if user.role == Role.ADMIN:
        return True
    return bool(user.role == Role.BASE_STAFF and record.organisation_id
                and record.organisation_id == user.organisation_id)
