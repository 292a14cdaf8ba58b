"""Web mechanics shared by every blueprint: headers, template globals, errors, forms."""

from __future__ import annotations

import re

import flask
from flask import Flask, abort, flash, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter, ValidationError

from lms.core.errors import DomainError, PermissionDenied
from lms.core.i18n import LANGUAGE_NAMES, html_lang
from lms.core.idnumber import mask_id_number, mask_mobile
from lms.core.pdf import PdfUnavailable
from lms.core.permissions import can
from lms.core.security import record_event
from lms.extensions import db

#: endpoints a user who must change their password can still reach
ALLOWED_BEFORE_PASSWORD_CHANGE = {"auth.change_password", "auth.logout", "core.set_language",
                                  "static", "core.healthz", "core.readyz",
                                  "jobs.status"}

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")


#: PostgreSQL's `integer`, the type of every id column: no row has a larger id, and a larger
#: number sent to the database overflows (a 500) instead of finding nothing
DB_INT_MAX = 2**31 - 1
_DIGITS = re.compile(r"[+-]?[0-9]+")


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` in every URL: ASCII digits, at most DB_INT_MAX, else the route does not match
    (404). create_app installs it as the "int" converter before any blueprint's rules."""

    regex = r"[0-9]+"

    def __init__(self, map, fixed_digits=0, min=None, max=DB_INT_MAX, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str):
        if len(value.lstrip("-")) > len(str(DB_INT_MAX)):
            raise ValidationError()  # before int(): Python refuses to parse 4,300+ digits
        return super().to_python(value)


def query_int(value) -> int:
    """`type=int` for query and form values: garbage is no number (the default applies, as
    with int()); an integer beyond the database's range is a bad request (400)."""
    text = str(value).strip()
    if not _DIGITS.fullmatch(text):
        raise ValueError(text)
    if len(text.lstrip("+-")) > len(str(DB_INT_MAX)) or abs(int(text)) > DB_INT_MAX:
        abort(400)
    return int(text)


class BoundedMultiDict(ImmutableMultiDict):
    """Request arguments whose `get(..., type=int)` and `getlist(..., type=int)` use
    query_int, so every view's int arguments are bounded without each view remembering."""

    def get(self, key, default=None, type=None):  # Werkzeug's signature
        return super().get(key, default, query_int if type is int else type)

    def getlist(self, key, type=None):
        return super().getlist(key, query_int if type is int else type)


class Request(flask.Request):
    parameter_storage_class = BoundedMultiDict


def security_headers(app: Flask, response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(self), geolocation=(), microphone=()")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static":
        # pages carry personal data: never keep them in shared caches
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def service_call(fn, *args, **kwargs):
    """Run a service; on a DomainError roll back everything and return (None, error).

    A PermissionDenied is not a form problem: it propagates, and the error handler turns it
    into a 403 page (the API will turn it into a JSON 403)."""
    try:
        return fn(*args, **kwargs), None
    except PermissionDenied:
        raise
    except DomainError as err:
        db.session.rollback()
        return None, err


def form_error(form, err: DomainError) -> None:
    """Show a service's error beside its field, or at the top of the form."""
    field = getattr(form, err.field, None) if err.field else None
    if field is not None:
        field.errors = [*field.errors, str(err)] if isinstance(field.errors, list) else [str(err)]
    else:
        flash(str(err), "danger")


def format_hours(value) -> str:
    """Class hours for people: two decimals at most, in the reader's locale (1, 0.67, 1,234.5)."""
    from decimal import Decimal

    from flask_babel import format_decimal

    return format_decimal(Decimal(value or 0).quantize(Decimal("0.01")), format="#,##0.##")


#: the one way each locale shows a date and a moment (issue 13: English pages used three):
#: 2026年3月8日 / 2026年3月8日 14:30 in Chinese, Mar 8, 2026 / Mar 8, 2026 2:30 PM in English
DATE_FORMAT, TIME_FORMAT = "medium", "short"


def _locale():
    from flask_babel import get_locale

    return get_locale() or "zh_Hans_CN"


def format_day(value) -> str:
    """A date as the reader's locale writes it; a stored (naive UTC) time gives the city's date."""
    from datetime import datetime

    from babel.dates import format_date

    from lms.core.clock import local_date

    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = local_date(value)
    return format_date(value, DATE_FORMAT, locale=_locale())


def format_moment(value) -> str:
    """A stored (naive UTC) time as the city's date and time in the reader's locale."""
    from babel.dates import format_date, format_time

    from lms.core.clock import to_local

    if value is None or value == "":
        return ""
    local = to_local(value)
    return f"{format_date(local.date(), DATE_FORMAT, locale=_locale())} " \
           f"{format_time(local.time(), TIME_FORMAT, locale=_locale())}"


def _unread_notifications() -> int:
    from flask_login import current_user

    from lms.core.notifications import unread_count

    return unread_count(current_user.id) if current_user.is_authenticated else 0


def _use_charts() -> str:
    """Called by the chart macro (core/_charts.html): this page needs ECharts and charts.js,
    which base.html then loads at the end of the body. Renders nothing. The mark is the
    request's (not flask.g's, which outlives a request inside an app context)."""
    if flask.has_request_context():
        request.environ["lms.charts"] = True
    return ""


def _charts_used() -> bool:
    return flask.has_request_context() and bool(request.environ.get("lms.charts"))


def init_templates(app: Flask) -> None:
    from lms.core.navigation import navigation

    app.jinja_env.globals.update(
        can=can, mask_id=mask_id_number, mask_mobile=mask_mobile,
        LANGUAGE_NAMES=LANGUAGE_NAMES, navigation=navigation,
    )
    app.jinja_env.filters["hours"] = format_hours
    app.jinja_env.filters["day"] = format_day
    app.jinja_env.filters["moment"] = format_moment
    app.jinja_env.globals["unread_notifications"] = _unread_notifications
    app.jinja_env.globals.update(use_charts=_use_charts, charts_used=_charts_used)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def locale_context():
        locale = str(get_locale())
        return {"current_locale": locale, "html_lang": html_lang(locale)}


_ERROR_RENDERERS = "lms.error_renderers"


def register_error_renderer(app: Flask, prefix: str, renderer) -> None:
    """Answer errors under a path prefix another way (the JSON API's problem documents):
    `renderer(error, code)`. Errors raised where no route matched (404, 405) reach no
    blueprint's handlers, so a package that answers in another format registers here."""
    app.extensions.setdefault(_ERROR_RENDERERS, []).append((prefix, renderer))


def init_error_pages(app: Flask) -> None:
    titles = {
        400: lambda: _("The request could not be understood."),
        403: lambda: _("You do not have access to this page."),
        404: lambda: _("This page does not exist."),
        405: lambda: _("This action is not allowed here."),
        413: lambda: _("The file is too large."),
        429: lambda: _("Too many attempts. Wait a minute and try again."),
        500: lambda: _("Something went wrong on our side. Try again later."),
    }

    #: refusals recorded as security events (after the rollback, outside the transaction)
    recorded = {403: "http.forbidden", 429: "http.rate_limited"}

    def render(code):
        def handler(error):
            db.session.rollback()
            if code in recorded:
                record_event(recorded[code], detail={"method": request.method,
                                                     "reason": str(getattr(error, "description",
                                                                           "") or "")[:200]})
            for prefix, renderer in app.extensions.get(_ERROR_RENDERERS, ()):
                if request.path.startswith(prefix):
                    return renderer(error, code)
            return render_template("core/error.html", code=code, message=titles[code]()), code
        return handler

    for code in titles:
        app.register_error_handler(code, render(code))

    @app.errorhandler(PermissionDenied)
    def service_refused(error):
        db.session.rollback()
        record_event("http.forbidden", detail={"method": request.method, "reason": str(error)[:200]})
        return render_template("core/error.html", code=403, message=str(error)), 403

    @app.errorhandler(PdfUnavailable)
    def pdf_unavailable(error):
        # a render that failed or ran out of time: say so; the worker is free again
        db.session.rollback()
        return render_template("core/error.html", code=503, message=str(error)), 503

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        db.session.rollback()
        record_event("http.csrf_failed", detail={"method": request.method,
                                                 "reason": str(error.description)[:200]})
        return render_template("core/error.html", code=400,
                               message=_("The form expired or was sent twice. Go back, reload "
                                         "the page and try again.")), 400
