"""Settings an admin edits in the app: dated values with history and district overrides.

One function, `get_setting`, answers "what is this setting for this district on this date".
Each package declares its own settings with `define()` (core knows no domain); values live in
the `settings` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from lms.core import audit, refcache
from lms.core.clock import local_today
from lms.core.errors import DomainError
from lms.core.models import Setting
from lms.core.permissions import authorize, has_role
from lms.extensions import db


@dataclass(frozen=True)
class SettingDef:
    key: str
    title: object
    kind: str  # "int" | "decimal" | "percent" | "choice"
    default: str
    minimum: Decimal
    maximum: Decimal
    unit: object = ""
    #: for kind "choice": value -> translated title
    choices: dict | None = None

    def parse(self, raw) -> int | Decimal | str:
        text = str(raw).strip()
        if self.kind == "choice":
            if text not in (self.choices or {}):
                raise DomainError(_l("%(title)s must be one of: %(choices)s.", title=self.title,
                                     choices="; ".join(f"{k} ({v})" for k, v in self.choices.items())))
            return text
        return self._parse_number(text)

    def display(self, value) -> str:
        """A value as people read it (a choice's title, not its code)."""
        if self.kind == "choice":
            return f"{self.choices[value]} ({value})" if value in (self.choices or {}) else str(value)
        return str(value)

    def _parse_number(self, text: str) -> int | Decimal:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise DomainError(_l("%(title)s must be a number.", title=self.title)) from None
        if not number.is_finite():
            raise DomainError(_l("%(title)s must be a number.", title=self.title))
        if self.kind == "int":
            if number != number.to_integral_value():
                raise DomainError(_l("%(title)s must be a whole number.", title=self.title))
            number = Decimal(int(number))
        if not self.minimum <= number <= self.maximum:
            raise DomainError(_l("%(title)s must be between %(min)s and %(max)s.",
                                 title=self.title, min=self.minimum, max=self.maximum))
        return int(number) if self.kind == "int" else number


REGISTRY: dict[str, SettingDef] = {}


def define(key, title, kind, default, minimum, maximum, unit="", choices=None) -> SettingDef:
    definition = SettingDef(key, title, kind, str(default), Decimal(minimum), Decimal(maximum), unit,
                            choices)
    REGISTRY[key] = definition
    return definition


def definition(key: str) -> SettingDef:
    try:
        return REGISTRY[key]
    except KeyError:
        raise DomainError(_l("Unknown setting.")) from None


def get_setting(key: str, district_id: int | None = None, on: date | None = None, *,
                connection=None):
    """The value of `key` in force for the district on the date (city-wide if no override);
    `connection` reads through another connection than the request's session."""
    spec = definition(key)
    on = on or local_today()
    scope = Setting.district_id.is_(None)
    if district_id is not None:
        scope = or_(scope, Setting.district_id == district_id)
    value = (db.session if connection is None else connection).execute(
        select(Setting.value)
        .where(Setting.key == key, Setting.effective_from <= on, scope)
        # a district's own value wins over the city's; then the latest date; then the latest row
        .order_by(Setting.district_id.is_(None), Setting.effective_from.desc(), Setting.id.desc())
        .limit(1)
    ).scalar()
    return spec.parse(spec.default if value is None else value)


class SettingsOn:
    """Many settings in force on one date, read with one query: `get(key, district_id)` answers
    as `get_setting` does (the district's own latest value, else the city's, else the default)
    for every key that starts with one of the prefixes asked for. For code that reads the same
    few settings for many people or districts (the compliance rules)."""

    def __init__(self, prefixes: tuple[str, ...], on: date | None = None):
        self.prefixes = tuple(prefixes)
        self.on = on or local_today()
        self._rows: dict[str, list[tuple]] | None = None
        self._values: dict[tuple[str, int | None], object] = {}

    def _load(self) -> dict[str, list[tuple]]:
        # the same few rows for every request of the day: from the process's reference cache
        return refcache.cached("settings.on", (self.prefixes, self.on), self._read)

    def _read(self) -> dict[str, list[tuple]]:
        rows: dict[str, list[tuple]] = {}
        found = db.session.execute(
            select(Setting.key, Setting.district_id, Setting.effective_from, Setting.id,
                   Setting.value)
            .where(or_(*[Setting.key.startswith(p, autoescape=True) for p in self.prefixes]),
                   Setting.effective_from <= self.on))
        for key, district_id, effective_from, row_id, value in found:
            rows.setdefault(key, []).append((district_id, effective_from, row_id, value))
        return rows

    def rows(self) -> dict[str, list[tuple]]:
        """{key: [(district_id, effective_from, row id, value)]}: every row of the prefixes in
        effect by the date (read only)."""
        if self._rows is None:
            self._rows = self._load()
        return self._rows

    def get(self, key: str, district_id: int | None = None):
        if not key.startswith(self.prefixes):
            raise ValueError(f"{key} was not preloaded")
        if (key, district_id) not in self._values:
            if self._rows is None:
                self._rows = self._load()
            spec = definition(key)
            candidates = [r for r in self._rows.get(key, ())
                          if r[0] is None or (district_id is not None and r[0] == district_id)]
            # get_setting's order: the district's own first, then the latest date, latest row
            best = min(candidates, key=lambda r: (r[0] is None, -r[1].toordinal(), -r[2]),
                       default=None)
            self._values[key, district_id] = spec.parse(spec.default if best is None else best[3])
        return self._values[key, district_id]


refcache.watch(Setting)

#: who records settings: administrators (the settings page), and the CLI and the demo
can_change_settings = has_role("admin")


def set_setting(actor, key: str, value, effective_from: date, district_id: int | None = None,
                note: str = "") -> Setting:
    """Record a new dated value; earlier values stay as history."""
    authorize(actor, can_change_settings)
    spec = definition(key)
    parsed = spec.parse(value)
    row = Setting(key=key, district_id=district_id, effective_from=effective_from,
                  value=str(parsed), note=note.strip()[:200], created_by_id=getattr(actor, "id", None))
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "setting.set", row, key=key, value=str(parsed),
                 effective_from=effective_from.isoformat(), district_id=district_id)
    return row


def history(key: str) -> list[Setting]:
    """Every value ever recorded for `key`, newest first."""
    definition(key)
    return list(db.session.scalars(
        select(Setting).where(Setting.key == key)
        .order_by(Setting.effective_from.desc(), Setting.id.desc())))
