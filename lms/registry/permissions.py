"""Named predicates for the registry, shared by views and templates."""

from __future__ import annotations

from sqlalchemy import select

from lms.auth.models import Role
from lms.core.permissions import predicate
from lms.extensions import db
from lms.registry.models import Employment, Organisation, OrgKind, Person


def person_is_on_staff(person: Person, org_id: int) -> bool:
    """Whether the person has ever been employed at the organisation (current or past)."""
    return db.session.scalar(select(Employment.id).where(
        Employment.person_id == person.id, Employment.organisation_id == org_id).limit(1)) is not None


def employs_now(person: Person, org_id: int) -> bool:
    """Whether the organisation employs the person now (a current employment, any post)."""
    return db.session.scalar(select(Employment.id).where(
        Employment.person_id == person.id, Employment.organisation_id == org_id,
        Employment.end_date.is_(None)).limit(1)) is not None


def _signed_in(user) -> bool:
    return bool(user and user.is_authenticated)


@predicate
def can_manage_staff(user, org: Organisation | None = None, **_) -> bool:
    """Register and end staff: the institution's own admin (or a system admin)."""
    if not _signed_in(user) or org is None or org.kind != OrgKind.INSTITUTION:
        return False
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.INSTITUTION_ADMIN and user.organisation_id == org.id


def regulates(user, district_id: int | None) -> bool:
    """A regulator sees their district; a city-wide regulator (no district) sees all."""
    return bool(_signed_in(user) and user.role == Role.REGULATOR
                and (user.district_id is None or user.district_id == district_id))


@predicate
def can_view_staff(user, org: Organisation | None = None, **_) -> bool:
    if org is None:
        return False
    return can_manage_staff(user, org) or (org.kind == OrgKind.INSTITUTION
                                           and regulates(user, org.district_id))


@predicate
def can_view_org_person(user, org: Organisation | None = None, person: Person | None = None,
                        **_) -> bool:
    """A person's record as seen from an institution: only if they work or worked there."""
    if person is None or not can_view_staff(user, org):
        return False
    return person_is_on_staff(person, org.id)


@predicate
def can_manage_employment(user, org: Organisation | None = None,
                          employment: Employment | None = None, **_) -> bool:
    return bool(employment is not None and org is not None
                and employment.organisation_id == org.id and can_manage_staff(user, org))


@predicate
def can_lookup_registry(user, **_) -> bool:
    """Look a person up by identity number across the whole registry."""
    return bool(_signed_in(user) and user.role in (Role.ADMIN, Role.REGULATOR))


@predicate
def can_view_person(user, person: Person | None = None, **_) -> bool:
    """The registry view of a person: admin, a regulator of a district they work(ed) in."""
    if person is None or not _signed_in(user):
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.REGULATOR:
        if user.district_id is None:
            return True
        return db.session.scalar(
            select(Employment.id).join(Organisation, Organisation.id == Employment.organisation_id)
            .where(Employment.person_id == person.id,
                   Organisation.district_id == user.district_id).limit(1)) is not None
    return False


@predicate
def can_see_own_record(user, **_) -> bool:
    return bool(_signed_in(user) and user.role == Role.CAREGIVER and user.person_id)


@predicate
def can_manage_organisations(user, **_) -> bool:
    return bool(_signed_in(user) and user.role == Role.ADMIN)


@predicate
def can_manage_post_rules(user, **_) -> bool:
    return bool(_signed_in(user) and user.role == Role.ADMIN)


@predicate
def can_view_organisation_list(user, **_) -> bool:
    return bool(_signed_in(user) and user.role in (Role.ADMIN, Role.REGULATOR))


@predicate
def is_institution_admin(user, **_) -> bool:
    return bool(_signed_in(user) and user.role == Role.INSTITUTION_ADMIN and user.organisation_id)


@predicate
def can_manage_org_person(user, org: Organisation | None = None, person: Person | None = None,
                          **_) -> bool:
    """Change a staff member's record: the institution's admin, for its own (past) staff."""
    return can_manage_staff(user, org) and can_view_org_person(user, org=org, person=person)


@predicate
def can_run_base(user, org: Organisation | None = None, **_) -> bool:
    """A training base's work (sessions, attendance, exams): its own staff, or a system admin."""
    if not _signed_in(user) or org is None or org.kind != OrgKind.TRAINING_BASE:
        return False
    return user.role == Role.ADMIN or (user.role == Role.BASE_STAFF and user.organisation_id == org.id)


@predicate
def can_see_qualification(user, qualification=None, **_) -> bool:
    """A certificate's scan: whoever may see the person in the registry, or an institution
    the person works or worked at."""
    if qualification is None or not _signed_in(user):
        return False
    person = db.session.get(Person, qualification.person_id)
    if can_view_person(user, person=person):
        return True
    return bool(user.role == Role.INSTITUTION_ADMIN and user.organisation_id
                and person_is_on_staff(person, user.organisation_id))


@predicate
def can_check_qualification(user, qualification=None, **_) -> bool:
    """Mark an external certificate checked: regulators who may see the person."""
    if qualification is None or not _signed_in(user) or user.role != Role.REGULATOR:
        return False
    return can_view_person(user, person=db.session.get(Person, qualification.person_id))


@predicate
def is_base_staff(user, **_) -> bool:
    return bool(_signed_in(user) and user.role == Role.BASE_STAFF and user.organisation_id)


@predicate
def can_record_ban(user, **_) -> bool:
    """Record a ban decision: regulators and system administrators."""
    return bool(_signed_in(user) and user.role in (Role.REGULATOR, Role.ADMIN))


@predicate
def can_apply_ban_effects(user, **_) -> bool:
    """Carry out a ban's effects in every package (end employment, suspend certificates, cancel
    enrolments, bookings, registrations, reject unpaid claims): regulators, whose ban decides
    (the enforcement service has checked the ban is theirs to impose)."""
    return bool(_signed_in(user) and user.role == Role.REGULATOR)


@predicate
def can_register_person(user, **_) -> bool:
    """Put a person in the registry (by adding them as staff): institutions and admins."""
    return bool(_signed_in(user) and (user.role == Role.ADMIN or (
        user.role == Role.INSTITUTION_ADMIN and user.organisation_id)))


@predicate
def can_edit_person(user, person: Person | None = None, **_) -> bool:
    """Change a person's record (photo, contact, certificates entered by hand): a system
    administrator, or the admin of an institution the person works or worked at."""
    if person is None or not _signed_in(user):
        return False
    if user.role == Role.ADMIN:
        return True
    return bool(user.role == Role.INSTITUTION_ADMIN and user.organisation_id
                and person_is_on_staff(person, user.organisation_id))


@predicate
def can_reveal_id_number(user, person: Person | None = None, **_) -> bool:
    """See a person's full identity number (logged): whoever may see the person's record."""
    if person is None or not _signed_in(user):
        return False
    return can_view_person(user, person=person) or can_edit_person(user, person=person)


@predicate
def can_record_issued_qualification(user, **_) -> bool:
    """Enter a certificate this system issued: the issuing base's staff or an administrator
    (the certificates service has already checked the sitting is theirs)."""
    return bool(_signed_in(user) and user.role in (Role.BASE_STAFF, Role.ADMIN))


@predicate
def can_record_staff_record(user, org: Organisation | None = None, person: Person | None = None,
                            **_) -> bool:
    """Record a staff member's health check or certificate of no criminal record: the admin of
    an institution that employs them now (or a system administrator, for such an institution);
    a former employer no longer answers for them."""
    return bool(person is not None and can_manage_staff(user, org) and employs_now(person, org.id))


@predicate
def can_see_staff_records(user, person: Person | None = None, **_) -> bool:
    """A person's health checks and certificates of no criminal record: the admin of an
    institution that employs them now, regulators who may see the person, system
    administrators, and the person themself (former employers do not)."""
    if person is None or not _signed_in(user):
        return False
    if user.role in (Role.ADMIN, Role.REGULATOR):
        return can_view_person(user, person=person)
    if user.role == Role.INSTITUTION_ADMIN:
        return bool(user.organisation_id) and employs_now(person, user.organisation_id)
    return bool(user.role == Role.CAREGIVER and user.person_id == person.id)


@predicate
def can_see_staff_record(user, record=None, **_) -> bool:
    """One staff record (its scan): whoever may see the person's staff records."""
    if record is None:
        return False
    return can_see_staff_records(user, person=db.session.get(Person, record.person_id))
