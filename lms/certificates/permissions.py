"""Named predicates for certificates, shared by views, templates and the service, and the
authority a user acts with on a certificate."""

from __future__ import annotations

from lms.auth.models import Role
from lms.certificates.models import Authority
from lms.core.actors import is_system
from lms.core.permissions import predicate
from lms.registry.permissions import can_run_base, regulates


def authority_of(user, cert) -> Authority | None:
    """With what authority `user` may act on `cert` (None: none). A regulator of the issuer's
    district (or of the whole city) acts as regulator, the issuing base as issuer."""
    if is_system(user):
        return Authority.SYSTEM
    if cert is None or not (user and getattr(user, "is_authenticated", False)):
        return None
    if user.role == Role.ADMIN:
        return Authority.ADMIN
    if regulates(user, cert.issuer.district_id):
        return Authority.REGULATOR
    if can_run_base(user, org=cert.issuer):
        return Authority.ISSUER
    return None


def can_manage(user, cert) -> bool:
    """Suspend, reinstate, revoke, re-issue: administrators, the issuing base, and regulators
    of its district (which of those actions, the state machine's `may` says)."""
    return authority_of(user, cert) is not None


@predicate
def can_manage_certificate(user, cert=None, **_) -> bool:
    return cert is not None and can_manage(user, cert)


@predicate
def can_view_certificate(user, cert=None, **_) -> bool:
    """The certificate's page and PDF: its holder (nobody else's), or those who manage it."""
    if cert is None or not (user and user.is_authenticated):
        return False
    return (user.person_id is not None and user.person_id == cert.person_id) or can_manage(user, cert)


#: the PDF: the same people as the page
can_download_certificate = can_view_certificate


@predicate
def can_regrade_certificate(user, cert=None, **_) -> bool:
    """Change the scores of a certified result: the issuing base (its examiners' base) or an
    administrator; only for certificates issued for an exam result here."""
    return bool(cert is not None and cert.registration_id is not None
                and authority_of(user, cert) in (Authority.ISSUER, Authority.ADMIN))
