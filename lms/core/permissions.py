"""One declarative permission mechanism for every view.

    @bp.get("/institutions/<int:org_id>/staff")
    @permission(can_manage_staff, org=load(Organisation, "org_id"))
    def staff_list(org): ...

`permission` loads the objects named in the URL (404 when missing), asks the named
predicate (401 -> login page, 403 otherwise) and only then runs the view. create_app()
refuses to start when any view lacks a declared permission, so a view cannot forget
its check. Predicates are small named functions shared by views and templates
(`can("manage_staff", org)` in Jinja).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort
from flask_login import current_user

from lms.extensions import db, login_manager

PREDICATES: dict[str, Callable] = {}
_MARK = "__lms_permission__"


def predicate(fn: Callable) -> Callable:
    """Register a named predicate so templates can ask it too."""
    PREDICATES[fn.__name__] = fn
    return fn


@predicate
def anyone(user, **_) -> bool:
    return True


@predicate
def signed_in(user, **_) -> bool:
    return bool(user and user.is_authenticated)


def has_role(*roles: str) -> Callable:
    """A predicate true for signed-in users holding one of `roles`."""

    def check(user, **_) -> bool:
        return bool(user and user.is_authenticated and user.role in roles)

    check.__name__ = "has_role_" + "_".join(roles)
    return check


class load:  # noqa: N801 - reads as a declaration: load(Person, "person_id")
    """Load a model instance by the primary key found in a URL argument."""

    def __init__(self, model, arg: str):
        self.model = model
        self.arg = arg

    def fetch(self, view_args: dict):
        obj = db.session.get(self.model, view_args[self.arg])
        if obj is None:
            abort(404)
        return obj


def permission(check: Callable, **loaders: load) -> Callable:
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(**view_args):
            # sign-in first: an anonymous visitor must not learn which ids exist (404 vs login)
            if not current_user.is_authenticated and check is not anyone:
                return login_manager.unauthorized()
            objects = {name: loader.fetch(view_args) for name, loader in loaders.items()}
            if not check(current_user, **objects):
                abort(403)
            consumed = {loader.arg for loader in loaders.values()}
            rest = {k: v for k, v in view_args.items() if k not in consumed}
            return view(**objects, **rest)

        setattr(guarded, _MARK, check)
        return guarded

    return decorate


def unguarded_endpoints(app) -> list[str]:
    """Endpoints with no declared permission (static files excepted)."""
    return sorted(
        endpoint for endpoint, view in app.view_functions.items()
        if endpoint != "static" and not endpoint.endswith(".static")
        and not hasattr(view, _MARK)
    )


def authorize(actor, check: Callable, *args, message=None, **objects) -> None:
    """The service-side gate: raise PermissionDenied unless `check(actor, ...)` holds.

    Services call this with the same named predicate the view declares, so every front door
    (page, API, CLI, job) meets the same rule. A named SystemActor (the CLI, jobs, the demo)
    is trusted code and passes; a bare string is refused, so no caller slips through by
    naming itself.
    """
    from flask_babel import lazy_gettext as _l

    from lms.core.actors import is_system
    from lms.core.errors import PermissionDenied

    if is_system(actor):
        return
    if actor is None or isinstance(actor, str) or not getattr(actor, "is_authenticated", False):
        raise PermissionDenied(message or _l("Please sign in to do that."))
    if not check(actor, *args, **objects):
        raise PermissionDenied(message or _l("You may not do that."))


def can(name: str, *args, **kwargs) -> bool:
    """Template helper: can("manage_staff", org)."""
    return bool(PREDICATES[name](current_user, *args, **kwargs))
