"""Named predicates for sessions, shared by views and templates."""

from __future__ import annotations

from lms.auth.models import Role
from lms.core.permissions import predicate
from lms.registry.permissions import can_run_base, is_base_staff  # noqa: F401 - re-exported


def _signed_in(user) -> bool:
    return bool(user and user.is_authenticated)


@predicate
def can_run_session(user, session=None, **_) -> bool:
    return session is not None and can_run_base(user, org=session.organisation)


@predicate
def can_book(user, person=None, **_) -> bool:
    """A caregiver books, and checks in, for themselves (`person`, when the service asks)."""
    if not (_signed_in(user) and user.role == Role.CAREGIVER and user.person_id):
        return False
    return person is None or person.id == user.person_id


@predicate
def can_cancel_booking(user, booking=None, **_) -> bool:
    if booking is None or not _signed_in(user):
        return False
    return (user.role == Role.CAREGIVER and user.person_id == booking.person_id) or \
        can_run_base(user, org=booking.session.organisation)
