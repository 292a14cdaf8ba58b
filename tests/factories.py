"""Small builders for valid identifiers used across tests."""

from stdnum.cn import ric, uscc

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def id_number(region: str = "320102", born: str = "19900307", seq: int = 2) -> str:
    body = f"{region}{born}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def credit_code(n: int, region: str = "320102") -> str:
    org = "".join(_ALPHABET[(n * 7 + i * 3) % len(_ALPHABET)] for i in range(8)) + str(n % 10)
    body = "52" + region + org
    return body + uscc.calc_check_digit(body)


def venue(org, name: str = "考场一"):
    """The training base's venue of that name, added when it has none (exam sittings and
    sessions choose one of the base's venues)."""
    from sqlalchemy import select

    from lms.core.actors import DEMO
    from lms.extensions import db
    from lms.registry.models import Venue
    from lms.registry.venues import add_venue

    found = db.session.scalar(select(Venue).where(Venue.organisation_id == org.id, Venue.name == name))
    return found or add_venue(DEMO, org, name)
