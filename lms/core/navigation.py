"""The header navigation: each package registers its entries with the predicate that shows them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import url_for
from flask_login import current_user


@dataclass(frozen=True)
class NavEntry:
    label: object  # lazy string
    endpoint: str
    icon: str
    visible: Callable  # predicate(user) -> bool
    args: Callable | None = None  # user -> url values
    order: int = 50


_ENTRIES: list[NavEntry] = []


def register(label, endpoint: str, icon: str, visible: Callable, args: Callable | None = None,
             order: int = 50) -> None:
    if all(e.endpoint != endpoint for e in _ENTRIES):
        _ENTRIES.append(NavEntry(label, endpoint, icon, visible, args, order))


def navigation() -> list[dict]:
    """The entries the signed-in user may follow, in order."""
    items = []
    for entry in sorted(_ENTRIES, key=lambda e: e.order):
        if entry.visible(current_user):
            values = entry.args(current_user) if entry.args else {}
            items.append({"label": entry.label, "url": url_for(entry.endpoint, **values),
                          "icon": entry.icon, "endpoint": entry.endpoint})
    return items
