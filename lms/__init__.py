"""The childcare-staff training and certification system."""

from __future__ import annotations

from flask import Flask, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine

from lms import config
from lms.core import ratelimit
from lms.extensions import babel, csrf, db, limiter, login_manager, migrate

#: every blueprint, listed once (no discovery by walking the file system)
BLUEPRINTS = (
    "lms.core.views:bp",
    "lms.core.job_views:bp",
    "lms.auth.views:bp",
    "lms.registry.views:bp",
    "lms.ledger.views:bp",
    "lms.catalog.views:bp",
    "lms.learning.views:bp",
    "lms.scheduling.views:bp",
    "lms.exams.views:bp",
    "lms.certificates.views:bp",
    "lms.subsidies.views:bp",
    "lms.compliance.views:bp",
    "lms.enforcement.views:bp",
    "lms.api.views:bp",
    "lms.mydata:bp",
)

#: the header's entries and the home pages' sections each package declares, registered here
#: like the blueprints (never by one package wrapping another's at import time)
NAVIGATION = (
    "lms.core.views:NAVIGATION",
    "lms.core.job_views:NAVIGATION",
    "lms.auth.views:NAVIGATION",
    "lms.registry.views:NAVIGATION",
    "lms.ledger.views:NAVIGATION",
    "lms.learning.views:NAVIGATION",
    "lms.scheduling.views:NAVIGATION",
    "lms.exams.views:NAVIGATION",
    "lms.certificates.views:NAVIGATION",
    "lms.subsidies.views:NAVIGATION",
    "lms.compliance.views:NAVIGATION",
    "lms.enforcement.views:NAVIGATION",
    "lms.api.views:NAVIGATION",
    "lms.mydata:NAVIGATION",
)
HOME_SECTIONS = (
    "lms.auth.views:HOME_SECTIONS",
    "lms.registry.views:HOME_SECTIONS",
    "lms.ledger.views:HOME_SECTIONS",
    "lms.learning.views:HOME_SECTIONS",
    "lms.scheduling.views:HOME_SECTIONS",
    "lms.subsidies.views:HOME_SECTIONS",
    "lms.compliance.views:HOME_SECTIONS",
    "lms.enforcement.views:HOME_SECTIONS",
    "lms.api.views:HOME_SECTIONS",
)
#: what each package's audit action codes mean (the audit log shows these, not the codes)
AUDIT_TITLES = (
    "lms.core.views:AUDIT_TITLES",
    "lms.core.job_views:AUDIT_TITLES",
    "lms.auth.views:AUDIT_TITLES",
    "lms.registry.views:AUDIT_TITLES",
    "lms.ledger.views:AUDIT_TITLES",
    "lms.catalog.views:AUDIT_TITLES",
    "lms.learning.views:AUDIT_TITLES",
    "lms.scheduling.views:AUDIT_TITLES",
    "lms.exams.views:AUDIT_TITLES",
    "lms.certificates.views:AUDIT_TITLES",
    "lms.subsidies.views:AUDIT_TITLES",
    "lms.compliance.views:AUDIT_TITLES",
    "lms.enforcement.views:AUDIT_TITLES",
    "lms.api.views:AUDIT_TITLES",
    "lms.mydata:AUDIT_TITLES",
)


def _declared(dotted: str):
    module, name = dotted.split(":")
    return getattr(__import__(module, fromlist=[name]), name)


class App(Flask):
    """Flask, remembering whether the view returned: a request commits only if it did."""

    def full_dispatch_request(self):
        g.view_returned = False  # per request, even where requests share an app context
        return super().full_dispatch_request()

    def dispatch_request(self):
        response = super().dispatch_request()
        g.view_returned = True
        return response


def create_app(overrides: dict | None = None) -> Flask:
    app = App(__name__, instance_path=str(config.instance_path()), instance_relative_config=True)
    app.config.update(config.from_environment())
    if overrides:
        app.config.update(overrides)
    config.name_cookies(app.config)
    from lms.core import crypto
    crypto.init_app(app)  # refuses to start without the keys (outside the demo and tests)
    from lms.core import web
    # before any blueprint adds its rules: every <int:…> in a URL is bounded, every int query
    # argument too, so a huge number is a 404 or a 400, never a database overflow (a 500)
    app.url_map.converters["int"] = web.BoundedIntConverter
    app.request_class = web.Request

    if app.config.get("PROXIES"):
        # behind N reverse proxies: the client's address (rate limits, the audit log) and
        # scheme (secure cookies) come from the last N X-Forwarded-* entries, never more
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"), compare_type=True,
                     render_as_batch=True)
    csrf.init_app(app)
    # Redis counts through lms.core.ratelimit: one round trip per limited request, not three
    app.config["RATELIMIT_STORAGE_URI"] = ratelimit.storage_uri(app.config["RATELIMIT_STORAGE_URI"])
    limiter.init_app(app)
    _init_login(app)
    _init_i18n(app)
    _import_models()

    for dotted in BLUEPRINTS:
        app.register_blueprint(_declared(dotted))
    from lms.core import navigation
    for dotted in NAVIGATION:
        navigation.register(app, entries=_declared(dotted))
    for dotted in HOME_SECTIONS:
        navigation.register(app, sections=_declared(dotted))
    from lms.core import audit
    for dotted in AUDIT_TITLES:
        audit.register_titles(app, _declared(dotted))

    from lms.core.permissions import unguarded_endpoints
    missing = unguarded_endpoints(app)
    if missing:
        raise RuntimeError(f"views without a declared permission: {missing}")

    from lms.core import logs
    logs.init_app(app)
    _init_request_cycle(app)
    _register_cli(app)
    from lms.jobs import celery_init_app
    celery_init_app(app)
    from lms.auth.service import (
        register_identity_source,
        register_login_resolver,
        register_organisation_choices,
    )
    from lms.registry.queries import organisation_choices
    from lms.registry.service import identity_words, resolve_login
    register_login_resolver(resolve_login)
    register_organisation_choices(organisation_choices)
    register_identity_source(identity_words)
    from lms.auth.service import alert_recipients
    from lms.core import security
    security.init_app(app)
    security.register_alert_recipients(alert_recipients, "auth.security_events")
    from lms.certificates.service import certificate_ids_for_qualifications
    from lms.registry.service import register_certificate_finder
    register_certificate_finder(certificate_ids_for_qualifications)
    return app


def _import_models() -> None:
    # Every table must be known to the metadata (migrations, create_all, flask db check).
    import lms.api.models  # noqa: F401
    import lms.auth.models  # noqa: F401
    import lms.catalog.models  # noqa: F401
    import lms.certificates.models  # noqa: F401
    import lms.compliance.models  # noqa: F401
    import lms.core.jobs  # noqa: F401
    import lms.core.models  # noqa: F401
    import lms.core.security  # noqa: F401
    import lms.enforcement.models  # noqa: F401
    import lms.exams.models  # noqa: F401
    import lms.learning.models  # noqa: F401
    import lms.ledger.models  # noqa: F401
    import lms.mydata  # noqa: F401 - correction requests
    import lms.registry.models  # noqa: F401
    import lms.scheduling.models  # noqa: F401
    import lms.subsidies.models  # noqa: F401


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        # WAL with synchronous=NORMAL is durable across application crashes (SQLite docs);
        # a 64 MB page cache keeps index pages in memory during large imports.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-65536")
        # deleted content is overwritten, not left in free pages: a copy of the file must not
        # reveal what was deleted or what a migration replaced (plaintext numbers, issue 18)
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


def _init_login(app: Flask) -> None:
    from lms.auth.models import Anonymous

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.anonymous_user = Anonymous
    login_manager.session_protection = "basic"
    from flask_babel import lazy_gettext as _l
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(token: str):
        # "id:session_token": a rotated token (logout, password change, disabling)
        # makes every earlier copy of the cookie useless.
        user_id, _, session_token = token.partition(":")
        if not user_id.isdigit() or not session_token:
            return None
        from lms.auth.service import user_for_session

        return user_for_session(int(user_id), session_token)


def _init_i18n(app: Flask) -> None:
    from lms.core.i18n import select_locale, select_timezone

    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)


def _init_request_cycle(app: Flask) -> None:
    from lms.core import web

    @app.before_request
    def remember_origin():
        g.audit_origin = request.remote_addr or ""

    @app.before_request
    def force_password_change():
        if (current_user.is_authenticated and current_user.must_change_password
                and request.endpoint not in web.ALLOWED_BEFORE_PASSWORD_CHANGE):
            return redirect(url_for("auth.change_password"))
        return None

    @app.after_request
    def finish(response):
        # One commit per request, here; services only flush. As in Indico, the view decides:
        # it commits when the view returned (whatever the status: a wrong answer's 422 keeps
        # its count) and rolls back when it raised (error handlers answered instead).
        if g.get("view_returned"):
            db.session.commit()
        else:
            db.session.rollback()
        return web.security_headers(app, response)

    web.init_templates(app)
    web.init_error_pages(app)


def _register_cli(app: Flask) -> None:
    from lms.auth.cli import auth_group
    from lms.catalog.cli import courses_group
    from lms.certificates.cli import certificates_group
    from lms.cli import lms_group
    from lms.compliance.cli import compliance_group
    from lms.enforcement.cli import enforcement_group
    from lms.jobs import jobs_group
    from lms.ledger.cli import ledger_group
    from lms.registry.cli import registry_group

    app.cli.add_command(lms_group)
    app.cli.add_command(auth_group)
    app.cli.add_command(registry_group)
    app.cli.add_command(ledger_group)
    app.cli.add_command(courses_group)
    app.cli.add_command(certificates_group)
    app.cli.add_command(compliance_group)
    app.cli.add_command(enforcement_group)
    app.cli.add_command(jobs_group)
