"""Named predicates for certificates."""

from __future__ import annotations

from lms.certificates.service import can_manage
from lms.core.permissions import predicate


@predicate
def can_manage_certificate(user, cert=None, **_) -> bool:
    return cert is not None and can_manage(user, cert)


@predicate
def can_download_certificate(user, cert=None, **_) -> bool:
    """The holder (nobody else's), or those who manage it."""
    if cert is None or not (user and user.is_authenticated):
        return False
    return user.person_id == cert.person_id or can_manage(user, cert)
