"""An organisation's venues, and the one clash check every use of a room meets.

Training sessions (scheduling) and exam sittings (exams) are siblings: neither may import the
other (DESIGN §3), yet a room cannot hold a class and an exam at once. So both reserve the
room here, through `reserve_venue`, which serialises reservations per venue (the venue row's
write lock), refuses an overlapping one with a message naming what holds the room, and keeps
one row per session or sitting (moved when it moves, released when it is cancelled).
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update

from lms.core import audit
from lms.core.clock import to_local
from lms.core.errors import DomainError
from lms.core.permissions import authorize
from lms.extensions import db
from lms.registry.models import Organisation, Venue, VenueReservation, VenueUse
from lms.registry.permissions import can_run_base


class VenueClash(DomainError):
    """The room is taken at that time (by a session or an exam sitting)."""

    default_field = "starts_at"


def _authorize(actor, org: Organisation) -> None:
    authorize(actor, can_run_base, org=org,
              message=_l("Only this training base's staff may do that."))


def add_venue(actor, org: Organisation, name: str, address: str = "") -> Venue:
    """A room or site where the base holds sessions and exams."""
    _authorize(actor, org)
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(_l("Give the venue a name."), field="name")
    if db.session.scalar(select(Venue.id).where(Venue.organisation_id == org.id, Venue.name == name)):
        raise DomainError(_l("This base already has a venue of that name."), field="name")
    venue = Venue(organisation_id=org.id, name=name[:80], address=(address or "").strip()[:200],
                  reservations_version=0)
    db.session.add(venue)
    db.session.flush()
    audit.record(actor, "scheduling.venue_added", venue, name=name)
    return venue


def venues(org: Organisation) -> list[Venue]:
    """The organisation's venues in use, by name."""
    return list(db.session.scalars(select(Venue).where(
        Venue.organisation_id == org.id, Venue.is_active.is_(True)).order_by(Venue.name)))


def venue_of(org: Organisation, venue: Venue | str | int | None) -> Venue:
    """One of `org`'s venues, given as a Venue, its id or its name; refused otherwise."""
    found = venue
    if isinstance(venue, int):
        found = db.session.get(Venue, venue)
    elif isinstance(venue, str):
        found = db.session.scalar(select(Venue).where(
            Venue.organisation_id == org.id, Venue.name == " ".join(venue.split())))
    if not isinstance(found, Venue) or found.organisation_id != org.id or not found.is_active:
        raise DomainError(_l("Choose one of this base's venues."), field="venue_id")
    return found


def clashes(venue: Venue, starts_at: datetime, ends_at: datetime, *,
            use: VenueUse | None = None, holder_id: int | None = None) -> list[VenueReservation]:
    """Reservations of `venue` overlapping [starts_at, ends_at) (UTC), other than the holder's own."""
    stmt = select(VenueReservation).where(
        VenueReservation.venue_id == venue.id, VenueReservation.starts_at < ends_at,
        VenueReservation.ends_at > starts_at)
    if use is not None and holder_id is not None:
        stmt = stmt.where(~((VenueReservation.use == VenueUse(use).value)
                            & (VenueReservation.holder_id == holder_id)))
    return list(db.session.scalars(stmt.order_by(VenueReservation.starts_at)))


def clash_error(reservation: VenueReservation) -> VenueClash:
    return VenueClash(_l("This clashes with %(what)s %(title)s on %(when)s, which already uses the "
                         "venue %(venue)s.", what=VenueUse(reservation.use).title,
                         title=reservation.title, venue=reservation.venue.name,
                         when=to_local(reservation.starts_at).strftime("%Y-%m-%d %H:%M")))


def reserve_venue(actor, venue: Venue, starts_at: datetime, ends_at: datetime, *,
                  use: VenueUse | str, holder_id: int, title: str) -> VenueReservation:
    """Hold `venue` over [starts_at, ends_at) (UTC) for one session or sitting, or raise
    VenueClash naming what holds it; a holder that already has a reservation moves it."""
    _authorize(actor, venue.organisation)
    use = VenueUse(use)
    if ends_at <= starts_at:
        raise DomainError(_l("A session ends after it starts."), field="ends_at")
    # serialise every reservation of this room: two bases' staff saving at once cannot both win
    db.session.execute(update(Venue).where(Venue.id == venue.id).values(
        reservations_version=Venue.reservations_version + 1)
        .execution_options(synchronize_session=False))
    found = clashes(venue, starts_at, ends_at, use=use, holder_id=holder_id)
    if found:
        raise clash_error(found[0])
    reservation = db.session.scalar(select(VenueReservation).where(
        VenueReservation.use == use.value, VenueReservation.holder_id == holder_id))
    if reservation is None:
        reservation = VenueReservation(use=use.value, holder_id=holder_id,
                                       created_by_id=getattr(actor, "id", None))
        db.session.add(reservation)
    reservation.venue_id, reservation.venue = venue.id, venue
    reservation.starts_at, reservation.ends_at, reservation.title = starts_at, ends_at, title[:200]
    db.session.flush()
    return reservation


def release_venue(actor, org: Organisation, *, use: VenueUse | str, holder_id: int) -> None:
    """Give the room back (a cancelled session): it no longer clashes with anything."""
    _authorize(actor, org)
    db.session.execute(delete(VenueReservation).where(
        VenueReservation.use == VenueUse(use).value, VenueReservation.holder_id == holder_id)
        .execution_options(synchronize_session=False))
