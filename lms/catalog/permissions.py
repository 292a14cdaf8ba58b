"""Named predicates for the catalogue."""

from __future__ import annotations

from lms.auth.models import Role
from lms.core.permissions import predicate


@predicate
def can_browse_courses(user, **_) -> bool:
    return bool(user and user.is_authenticated)


@predicate
def can_import_courses(user, **_) -> bool:
    """Course files are imported by the operators (the CLI) or a system administrator."""
    return bool(user and user.is_authenticated and user.role == Role.ADMIN)
