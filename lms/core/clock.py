"""Local time: credits and daily caps count by the calendar day where the users live."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_ZONE = "Asia/Shanghai"


def zone() -> ZoneInfo:
    name = current_app.config.get("BABEL_DEFAULT_TIMEZONE", DEFAULT_ZONE) if has_app_context() else DEFAULT_ZONE
    return ZoneInfo(name)


def local_today(now: datetime | None = None) -> date:
    """Today's date in the system's time zone; `now` is naive UTC as stored in the database."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    return now.replace(tzinfo=UTC).astimezone(zone()).date()


def to_utc(local: datetime) -> datetime:
    """A wall-clock time where the users live (naive) as stored: naive UTC."""
    return local.replace(tzinfo=zone()).astimezone(UTC).replace(tzinfo=None)


def to_local(stored: datetime) -> datetime:
    """A stored (naive UTC) time as local wall-clock time (naive)."""
    return stored.replace(tzinfo=UTC).astimezone(zone()).replace(tzinfo=None)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
