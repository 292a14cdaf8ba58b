"""Enums stored as CHECK-constrained strings, each with a translated title."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import mapped_column


class TitledEnum(enum.StrEnum):
    """A string enum whose members carry a translatable title (see `titles`)."""

    @classmethod
    def titles(cls) -> dict:
        raise NotImplementedError

    @property
    def title(self) -> str:
        return str(self.titles()[self])

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.title) for m in cls]

    def __str__(self) -> str:
        return self.value


def enum_column(enum_cls, **kwargs):
    """A String column holding an enum's value (the CHECK comes from `enum_check`)."""
    length = max(len(m.value) for m in enum_cls)
    return mapped_column(String(max(length, 16)), **kwargs)


def enum_check(column: str, enum_cls, name: str | None = None) -> CheckConstraint:
    values = ", ".join(f"'{m.value}'" for m in enum_cls)
    return CheckConstraint(f"{column} IN ({values})", name=name or f"valid_{column}")
