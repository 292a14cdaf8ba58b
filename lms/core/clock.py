"""The one clock. Stored times are naive UTC; "today" is the city's today.

Every date rule in the system asks `local_today()` (never `date.today()`, which is the
server's zone) and every stored time comes from `utc_now()`. The city's zone is the
`CITY_TIMEZONE` setting (environment `LMS_TIMEZONE`, default Asia/Shanghai), so a server
running in UTC at 00:30 Beijing time already answers with Beijing's date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_ZONE = "Asia/Shanghai"


def zone() -> ZoneInfo:
    """The city's time zone."""
    name = DEFAULT_ZONE
    if has_app_context():
        name = current_app.config.get("CITY_TIMEZONE") or DEFAULT_ZONE
    return ZoneInfo(name)


def utc_now() -> datetime:
    """Now, as stored: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def local_now() -> datetime:
    """Now on the city's wall clock (naive)."""
    return to_local(utc_now())


def local_today(now: datetime | None = None) -> date:
    """The city's today; `now` is naive UTC as stored in the database."""
    now = now or utc_now()
    return now.replace(tzinfo=UTC).astimezone(zone()).date()


def this_year() -> int:
    """The city's current calendar year (the ledger's and the subsidies' year)."""
    return local_today().year


def to_utc(local: datetime) -> datetime:
    """A wall-clock time where the users live (naive) as stored: naive UTC."""
    return local.replace(tzinfo=zone()).astimezone(UTC).replace(tzinfo=None)


def to_local(stored: datetime) -> datetime:
    """A stored (naive UTC) time as local wall-clock time (naive)."""
    return stored.replace(tzinfo=UTC).astimezone(zone()).replace(tzinfo=None)


def local_date(stored: datetime) -> date:
    """The city's calendar date of a stored (naive UTC) time."""
    return to_local(stored).date()


def start_of_local_day(day: date) -> datetime:
    """The stored (naive UTC) instant the city's `day` begins."""
    return to_utc(datetime.combine(day, time.min))


def months_before(day: date, months: int) -> date:
    """The same day of the month `months` months before `day`, or that month's last day when it
    is shorter (31 August less six months is the last day of February)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - timedelta(days=1)).day))
