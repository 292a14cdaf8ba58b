"""The header navigation and the home page's sections.

Each package declares its entries (`NavEntry`) and sections (`HomeSection`) as plain data;
create_app registers them from one explicit list, like the blueprints. Nothing here is
changed at import time, so which package is imported first never decides what a page shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask, current_app, render_template, url_for
from flask_login import current_user
from markupsafe import Markup

_KEY = "lms.pages"


@dataclass(frozen=True)
class NavEntry:
    label: object  # lazy string
    endpoint: str
    icon: str
    visible: Callable  # predicate(user) -> bool
    args: Callable | None = None  # user -> url values
    order: int = 50


@dataclass(frozen=True)
class HomeSection:
    """One part of a role's home page: `template` rendered with what `context(user)` returns."""

    role: str
    template: str
    context: Callable  # user -> dict
    order: int = 50


def _store(app: Flask) -> dict:
    return app.extensions.setdefault(_KEY, {"nav": [], "home": []})


def register(app: Flask, entries: Iterable[NavEntry] = (),
             sections: Iterable[HomeSection] = ()) -> None:
    """Add a package's header entries and home sections to this app."""
    store = _store(app)
    for entry in entries:
        if all(e.endpoint != entry.endpoint for e in store["nav"]):
            store["nav"].append(entry)
    for section in sections:
        if section not in store["home"]:
            store["home"].append(section)


def navigation() -> list[dict]:
    """The entries the signed-in user may follow, in order."""
    items = []
    for entry in sorted(_store(current_app)["nav"], key=lambda e: (e.order, e.endpoint)):
        if entry.visible(current_user):
            values = entry.args(current_user) if entry.args else {}
            items.append({"label": entry.label, "url": url_for(entry.endpoint, **values),
                          "icon": entry.icon, "endpoint": entry.endpoint})
    return items


def home_sections(user) -> list[Markup]:
    """The user's home page, section by section, in the declared order."""
    sections = [s for s in _store(current_app)["home"] if s.role == user.role]
    return [Markup(render_template(s.template, **s.context(user)))  # noqa: S704 (rendered by Jinja)
            for s in sorted(sections, key=lambda s: (s.order, s.template))]
