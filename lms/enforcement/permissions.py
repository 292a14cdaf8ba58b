"""Named predicates for the enforcement package."""

from __future__ import annotations

from lms.auth.models import Role
from lms.core.permissions import predicate

# --- bans ---


def _regulator(user) -> bool:
    return bool(user and getattr(user, "is_authenticated", False)
                and getattr(user, "role", None) == Role.REGULATOR)


def is_city_regulator(user) -> bool:
    """A regulator of the whole city (no district)."""
    return _regulator(user) and user.district_id is None


@predicate
def can_manage_bans(user, **_) -> bool:
    """The ban list and imposing a ban: regulators (whom they may ban, the service decides:
    a district regulator, people employed in the district or not employed at all)."""
    return _regulator(user)


def acts_on_ban(user, ban) -> bool:
    """Lift or annul (ask, decide): a city-wide regulator, or one of the district that imposed it."""
    return bool(ban is not None and _regulator(user)
                and (user.district_id is None or user.district_id == ban.district_id))


@predicate
def can_act_on_ban(user, ban=None, **_) -> bool:
    return acts_on_ban(user, ban)


@predicate
def can_view_ban(user, ban=None, **_) -> bool:
    """A ban's page and evidence: the regulators who act on it, and every district's
    regulators for the city's bans."""
    return bool(ban is not None and _regulator(user)
                and (user.district_id is None or ban.district_id in (None, user.district_id)))


@predicate
def can_decide_lift(user, lift_request=None, **_) -> bool:
    """The approve/refuse form (four eyes: the service refuses the one who asked)."""
    return lift_request is not None and acts_on_ban(user, lift_request.ban)


@predicate
def runs_ban_jobs(user, **_) -> bool:
    """Term expiry and the re-screen: the scheduler and the command line (system actors) only."""
    return False


# --- inspections, 人证合一 checks, credit feed ---
# Inspectors are the regulators (卫健委) of the task's district; a city-wide regulator (no
# district) acts in every district. Administrators run the system, not inspections.


def regulates(user, district_id) -> bool:
    from lms.registry.permissions import regulates as registry_regulates

    return registry_regulates(user, district_id)


def _is_regulator(user) -> bool:
    return bool(user and user.is_authenticated and user.role == "regulator")


@predicate
def can_manage_inspections(user, **_) -> bool:
    """The inspection pages (items, inspectors, tasks, follow-ups): any regulator, who sees the
    districts they regulate."""
    return _is_regulator(user)


@predicate
def can_manage_district_inspections(user, district=None, district_id=None, **_) -> bool:
    """Plan and staff the inspections of a district (an item with no district is city-wide:
    the city regulator's)."""
    if district is not None:
        district_id = district.id
    if not _is_regulator(user):
        return False
    if district_id is None:
        return user.district_id is None
    return regulates(user, district_id)


@predicate
def can_run_task(user, task=None, **_) -> bool:
    return task is not None and regulates(user, task.district_id)


@predicate
def can_inspect_visit(user, visit=None, **_) -> bool:
    """Record a visit's 人证合一 checks and result: the regulators of the task's district."""
    return visit is not None and regulates(user, visit.task.district_id)


@predicate
def can_manage_inspector(user, inspector=None, **_) -> bool:
    return inspector is not None and regulates(user, inspector.district_id)


@predicate
def can_see_identity_check(user, identity_check=None, **_) -> bool:
    """A 人证合一 check (its photo, its follow-up): the regulators of the visit's district."""
    return identity_check is not None and regulates(user, identity_check.visit.task.district_id)


@predicate
def can_export_credit_feed(user, **_) -> bool:
    """The credit feed carries full identity numbers (the credit platform matches records by
    them): the city-wide regulator only, who hands it to the platform."""
    return _is_regulator(user) and user.district_id is None
