"""Home pages, the language switch, settings and the audit log."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from lms.config import SUPPORTED_LOCALES
from lms.core import audit, audit_retention, navigation, settings
from lms.core.clock import local_today
from lms.core.forms import SettingForm
from lms.core.i18n import LOCALE_COOKIE
from lms.core.models import AuditLog, District
from lms.core.navigation import NavEntry
from lms.core.permissions import anyone, has_role, permission, signed_in
from lms.core.web import form_error, service_call
from lms.extensions import db

bp = Blueprint("core", __name__, template_folder="templates")

is_admin = has_role("admin")

@bp.get("/")
@permission(anyone)
def home():
    if not current_user.is_authenticated:
        return render_template("core/welcome.html")
    sections = navigation.home_sections(current_user)
    if not sections:
        return render_template("core/home_generic.html")
    return render_template("core/home.html", sections=sections)


@bp.get("/healthz")
@permission(anyone)
def healthz():
    """The process is up (for a load balancer's liveness check): no database, no Redis."""
    return {"status": "ok"}


@bp.get("/readyz")
@permission(anyone)
def readyz():
    """Ready to serve: the database answers, Redis answers (when jobs use it), wkhtmltopdf is
    installed. 200 when all hold, 503 otherwise; each check named, no details that help an
    attacker."""
    from lms.core.health import readiness

    checks = readiness(current_app)
    ready = all(check["ok"] for check in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, (200 if ready else 503)


@bp.post("/lang/<code>")
@permission(anyone)
def set_language(code):
    # a POST with the CSRF token (the header's small forms): a GET changes nothing
    if code not in SUPPORTED_LOCALES:
        abort(404)
    from lms.core.urls import is_safe_next

    target = request.form.get("next")
    response = redirect(target if is_safe_next(target) else url_for("core.home"))
    response.set_cookie(LOCALE_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax",
                        httponly=True, secure=bool(request.is_secure))
    if current_user.is_authenticated:
        current_user.locale = code
    return response


@bp.route("/admin/settings", methods=["GET", "POST"])
@permission(settings.can_change_settings)
def settings_page():
    districts = list(db.session.scalars(select(District).order_by(District.code)))
    form = SettingForm()
    form.key.choices = [(d.key, str(d.title)) for d in settings.REGISTRY.values()]
    form.district_id.choices = [(0, _("Whole city"))] + [(d.id, d.name) for d in districts]
    if form.validate_on_submit():
        _row, err = service_call(
            settings.set_setting, current_user, form.key.data, form.value.data,
            form.effective_from.data, form.district_id.data or None, form.note.data or "")
        if err is None:
            flash(_("The new value is recorded."), "success")
            return redirect(url_for("core.settings_page"))
        form_error(form, err)
    elif request.method == "GET":
        form.effective_from.data = local_today()
    today = local_today()
    table = []
    for spec in settings.REGISTRY.values():
        table.append({
            "spec": spec,
            "city": settings.get_setting(spec.key, None, today),
            "districts": {d.id: settings.get_setting(spec.key, d.id, today) for d in districts},
            "history": settings.history(spec.key)[:10],
        })
    return render_template("core/settings.html", form=form, table=table, districts=districts,
                           district_names={d.id: d.name for d in districts})


@bp.get("/admin/audit")
@permission(is_admin)
def audit_log():
    page = request.args.get("page", 1, type=int)
    stmt = select(AuditLog).order_by(AuditLog.id.desc())
    action = (request.args.get("action") or "").strip()
    if action:
        # a chosen action exactly (auth.login is not auth.login_failed); a typed prefix otherwise
        known = action in audit.action_titles()
        stmt = stmt.where(AuditLog.action == action if known else AuditLog.action.startswith(action))
    pagination = db.paginate(stmt, page=page, per_page=50, error_out=False)
    titles = sorted(audit.action_titles().items(), key=lambda item: item[1])
    return render_template("core/audit.html", pagination=pagination, action=action, titles=titles,
                           action_title=audit.action_title,
                           retention_months=audit_retention.retention_months())


@bp.get("/notifications")
@permission(signed_in)
def notifications_page():
    from lms.core import notifications

    items = notifications.latest(current_user.id)
    unread = {n.id for n in items if n.read_at is None}
    notifications.mark_all_read(current_user.id)
    return render_template("core/notifications.html", items=items, unread=unread,
                           text_of=notifications.text_of)


NAVIGATION = (
    NavEntry(_l("Home"), "core.home", "house", lambda u: u.is_authenticated, order=0),
    NavEntry(_l("Settings"), "core.settings_page", "sliders", is_admin, order=90),
    NavEntry(_l("Audit log"), "core.audit_log", "journal-text", is_admin, order=95),
)

#: what this package's audit actions mean, for the audit log (registered in create_app)
AUDIT_TITLES = {
    "setting.set": _l("A setting was given a new value"),
    "audit.purged": _l("Audit entries past their retention period deleted"),
    "core.keys_rotated": _l("Stored identity and bank account numbers were re-encrypted under "
                            "the newest key"),
}
