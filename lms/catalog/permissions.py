"""Named predicates for the catalogue."""

from __future__ import annotations

from lms.core.permissions import predicate


@predicate
def can_browse_courses(user, **_) -> bool:
    return bool(user and user.is_authenticated)
