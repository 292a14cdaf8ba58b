"""Named predicates for the ledger, shared by views, templates and the service."""

from __future__ import annotations

from sqlalchemy import select

from lms.auth.models import Role
from lms.core.permissions import predicate
from lms.extensions import db
from lms.ledger.models import ExternalRecord, SourceType
from lms.registry.models import Employment, Organisation, OrgKind, Person
from lms.registry.permissions import can_view_person, can_view_staff, regulates


def _signed_in(user) -> bool:
    return bool(user and user.is_authenticated)


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


def is_current_employer(org_id: int | None, person: Person) -> bool:
    """Whether the institution employs the person now (an employment not ended)."""
    if org_id is None or person is None:
        return False
    return db.session.scalar(
        select(Employment.id).join(Organisation, Organisation.id == Employment.organisation_id)
        .where(Employment.person_id == person.id, Employment.organisation_id == org_id,
               Employment.end_date.is_(None), Organisation.kind == OrgKind.INSTITUTION.value)
        .limit(1)) is not None


@predicate
def can_record_external(user, person: Person | None = None, **_) -> bool:
    """External hours are recorded by someone who can vouch for them: an administrator, or an
    institution administrator of one of the person's current employers. Without a person:
    whether the user may record for anyone at all (the form)."""
    if not _signed_in(user):
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.INSTITUTION_ADMIN or not user.organisation_id:
        return False
    return person is None or is_current_employer(user.organisation_id, person)


@predicate
def can_confirm_external(user, record: ExternalRecord | None = None, **_) -> bool:
    """Confirm or reject external hours awaiting confirmation: an administrator, or a regulator
    of the person's district (a city-wide regulator for all). Without a record: the queue."""
    if not _signed_in(user):
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.REGULATOR:
        return False
    return record is None or regulates(user, record.district_id)


@predicate
def can_view_external_record(user, record: ExternalRecord | None = None, **_) -> bool:
    """An external record and its evidence: the organisation that recorded it, administrators,
    the regulators who may confirm it."""
    if record is None or not _signed_in(user):
        return False
    if can_confirm_external(user, record=record):
        return True
    return bool(user.role in (Role.INSTITUTION_ADMIN, Role.BASE_STAFF) and record.organisation_id
                and record.organisation_id == user.organisation_id)


# the evidence file follows the record
can_view_evidence = can_view_external_record


def may_credit(user, person: Person | None = None, source_type: str = "", **_) -> bool:
    """Who may write a credit of this kind (the study clock and jobs are system actors):
    session attendance by training-base staff, external hours by whoever may record or confirm
    them, corrections by an administrator."""
    if not _signed_in(user):
        return False
    if user.role == Role.ADMIN:
        return True
    if source_type == SourceType.SESSION:
        return user.role == Role.BASE_STAFF
    if source_type == SourceType.EXTERNAL:
        return can_record_external(user, person=person) or (
            user.role == Role.REGULATOR and person is not None and can_view_person(user, person=person))
    return False
