"""The audit log: every consequential write leaves a record."""

from flask import g, has_app_context

from lms.core.models import AuditLog
from lms.extensions import db


def _origin() -> str:
    if has_app_context():
        return getattr(g, "audit_origin", "cli")
    return "cli"


def record(actor, action: str, target=None, *, object_type: str | None = None,
           object_id=None, **details) -> AuditLog:
    """Append one audit record; the caller's transaction carries it."""
    actor, target = _unproxy(actor), _unproxy(target)
    if target is not None:
        object_type = object_type or type(target).__tablename__
        object_id = object_id if object_id is not None else getattr(target, "id", None)
    entry = AuditLog(
        actor_id=getattr(actor, "id", None),
        actor_label=getattr(actor, "display_name", None) or (actor if isinstance(actor, str) else "system"),
        action=action,
        object_type=object_type or "",
        object_id=None if object_id is None else str(object_id),
        details={k: _jsonable(v) for k, v in details.items()},
        origin=_origin(),
    )
    db.session.add(entry)
    return entry


def _unproxy(obj):
    # views pass flask_login.current_user, a proxy: record the user behind it
    getter = getattr(obj, "_get_current_object", None)
    return getter() if getter is not None else obj


def _jsonable(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


_TITLES_KEY = "lms.audit_titles"


def register_titles(app, titles: dict) -> None:
    """Add a package's audit action titles to this app (create_app does it, like blueprints)."""
    app.extensions.setdefault(_TITLES_KEY, {}).update(titles)


def action_titles() -> dict[str, str]:
    """Every registered audit action code and what it means, in the reader's language."""
    from flask import current_app

    from lms.core.states import audit_titles

    titles = {**audit_titles(), **current_app.extensions.get(_TITLES_KEY, {})}
    return {code: str(title) for code, title in titles.items()}


def action_title(code: str) -> str:
    """What an audit action means in words; an unregistered code is shown as it is."""
    from flask import current_app

    title = current_app.extensions.get(_TITLES_KEY, {}).get(code)
    if title is None:
        from lms.core.states import audit_titles  # a move through a transition table

        title = audit_titles().get(code)
    return str(title) if title is not None else code
