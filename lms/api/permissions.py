"""Named predicates for the API: who may manage clients, and what each token's scope reaches."""

from __future__ import annotations

from lms.api.actors import is_api_client
from lms.api.models import Scope
from lms.auth.models import Role
from lms.core.permissions import predicate
from lms.registry.models import OrgKind

REGISTRY_SCOPES = (Scope.DISTRICT.value, Scope.CITY.value)


@predicate
def can_manage_api_clients(user, **_) -> bool:
    """Issue, list and revoke API tokens: system administrators."""
    return bool(user and getattr(user, "is_authenticated", False) and user.role == Role.ADMIN)


@predicate
def api_reads_feeds(user, **_) -> bool:
    """The ban and certificate-status feeds: every token (the bans-feed scope reads only these)."""
    return is_api_client(user)


@predicate
def api_reads_registry(user, **_) -> bool:
    """Person status and certificate verification: district and city tokens."""
    return is_api_client(user) and user.scope in REGISTRY_SCOPES


def api_reads_district_id(user, district_id: int | None) -> bool:
    return api_reads_registry(user) and (user.scope == Scope.CITY or user.district_id == district_id)


@predicate
def api_reads_district(user, district=None, **_) -> bool:
    """A district's compliance: the city's token, or that district's."""
    return district is not None and api_reads_district_id(user, district.id)


@predicate
def api_reads_institution(user, org=None, **_) -> bool:
    """An institution's compliance: the city's token, or the token of its district."""
    return (org is not None and org.kind == OrgKind.INSTITUTION
            and api_reads_district_id(user, org.district_id))
