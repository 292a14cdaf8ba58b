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

