"""Named predicates for subsidies."""

from __future__ import annotations

from lms.auth.models import Role
from lms.core.permissions import predicate
from lms.extensions import db
from lms.subsidies import service
from lms.subsidies.models import ClaimAction, SubsidyClaim


@predicate
def can_view_claim(user, claim=None, **_) -> bool:
    return claim is not None and service.can_view(user, claim)


@predicate
def can_act_on_claim(user, claim=None, **_) -> bool:
    """Take one of the claim's actions (which ones its state allows, the page asks the service):
    the claimant, the confirming base's staff, the district's HR reviewers; an administrator sees
    the claim but acts on none."""
    # a ban's rejection is the regulator's, carried out by enforcement, never from this page
    return claim is not None and any(service.may(user, claim, action) for action in ClaimAction
                                     if action != ClaimAction.BAN)


@predicate
def is_reviewer(user, **_) -> bool:
    return bool(user and user.is_authenticated and user.role == Role.HR_REVIEWER)


@predicate
def can_review_claim(user, claim=None, **_) -> bool:
    return claim is not None and service.reviews(user, claim.district_id)


@predicate
def can_resolve_objection(user, objection=None, **_) -> bool:
    if objection is None:
        return False
    return service.reviews(user, db.session.get(SubsidyClaim, objection.claim_id).district_id)


@predicate
def can_claim_certificate(user, cert=None, **_) -> bool:
    """A caregiver, for their own certificate only."""
    return bool(cert is not None and user and user.is_authenticated and user.role == Role.CAREGIVER
                and user.person_id and user.person_id == cert.person_id)


@predicate
def can_manage_standards(user, **_) -> bool:
    return bool(user and user.is_authenticated and user.role == Role.ADMIN)


@predicate
def runs_subsidy_jobs(user, **_) -> bool:
    """The schedule's work (telling HR a notice has ended): system actors only."""
    return False
