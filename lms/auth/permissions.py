"""Named predicates about accounts."""

from lms.auth.models import Role
from lms.core.permissions import has_role, predicate

is_admin = has_role(Role.ADMIN.value)


@predicate
def can_manage_users(user, **_) -> bool:
    return bool(user.is_authenticated and user.role == Role.ADMIN)


@predicate
def can_reset_password(user, target=None, **_) -> bool:
    """Admins reset anyone's password except their own (they change it themselves)."""
    return bool(can_manage_users(user) and target is not None and target.id != user.id)
