"""Signing in and out, passwords, and the admin's user pages."""

from __future__ import annotations

from datetime import date, datetime

import segno
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, or_, select

from lms.auth import second_factor, service
from lms.auth.forms import ChangePasswordForm, CodeForm, ConfirmForm, EnrolForm, LoginForm, UserForm
from lms.auth.models import ORGANISATION_ROLES, SECOND_FACTOR_ROLES, Role, User
from lms.auth.permissions import can_manage_users, can_reset_password
from lms.core import notifications, security
from lms.core.clock import utc_now
from lms.core.models import District
from lms.core.navigation import HomeSection, NavEntry
from lms.core.permissions import anyone, load, permission, signed_in
from lms.core.settings import get_setting
from lms.core.web import form_error, service_call
from lms.extensions import db, limiter

bp = Blueprint("auth", __name__, template_folder="templates")
_EPOCH = datetime(1970, 1, 1)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


#: endpoints a user who must enrol a second factor (grace period over) can still reach
ALLOWED_BEFORE_SECOND_FACTOR = {"auth.second_factor_setup", "auth.logout", "auth.change_password",
                                "core.set_language", "static", "core.healthz"}
_PENDING = "pending_sign_in"
#: minutes between the password and the code before the password must be typed again
_PENDING_MINUTES = 5


def _now_seconds() -> int:
    return int((utc_now() - _EPOCH).total_seconds())


@bp.before_app_request
def session_guard():
    """Every request of a signed-in user: end an idle session (server-side, from the last time
    seen, kept in the session), then send who must enrol a second factor to enrolment."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return None
    now = _now_seconds()
    seen = session.get("seen")
    if seen is not None and now - int(seen) > service.idle_minutes(current_user) * 60:
        minutes = service.idle_minutes(current_user)
        logout_user()
        _forget_sign_in_state()
        flash(ngettext("You were signed out after %(num)d minute without activity.",
                       "You were signed out after %(num)d minutes without activity.", minutes),
              "info")
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target))
    if seen is None or now - int(seen) >= 60:  # a new cookie at most once a minute
        session["seen"] = now
    if (request.endpoint in ALLOWED_BEFORE_SECOND_FACTOR or current_user.must_change_password
            or session.get("second_factor_ok")):
        return None
    due, _deadline = second_factor.enrolment_due(current_user)
    if due:
        flash(_("Set up a second factor to continue: your account needs one."), "warning")
        return redirect(url_for("auth.second_factor_setup"))
    if _deadline is None:  # enrolled, or not required: nothing to check again this session
        session["second_factor_ok"] = True
    return None


def _forget_sign_in_state() -> None:
    for key in ("seen", "second_factor_ok", _PENDING):
        session.pop(key, None)


def _signed_in(user, target):
    _forget_sign_in_state()
    login_user(user)
    session["seen"] = _now_seconds()
    if user.must_change_password:
        return redirect(url_for("auth.change_password"))
    return redirect(target if service.is_safe_next(target) else url_for("core.home"))


@bp.route("/login", methods=["GET", "POST"])
@permission(anyone)
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        outcome = service.attempt_login(
            form.identifier.data, form.password.data,
            device=request.cookies.get(second_factor.device_cookie_name()))
        target = request.args.get("next")
        if outcome.user is not None and outcome.needs_code:
            _forget_sign_in_state()
            session[_PENDING] = {"uid": outcome.user.id, "token": outcome.user.session_token,
                                 "at": _now_seconds(),
                                 "next": target if service.is_safe_next(target) else None}
            return redirect(url_for("auth.second_factor_code"))
        if outcome.user is not None:
            return _signed_in(outcome.user, target)
        error = str(outcome.error)
    return render_template("auth/login.html", form=form, error=error)


def _pending_user() -> User | None:
    """The user whose password was right and whose code is still owed (a few minutes at most)."""
    pending = session.get(_PENDING)
    if not isinstance(pending, dict) or _now_seconds() - int(pending.get("at", 0)) > \
            _PENDING_MINUTES * 60:
        return None
    return service.user_for_session(int(pending.get("uid", 0)), str(pending.get("token", "")))


@bp.route("/login/code", methods=["GET", "POST"])
@permission(anyone)
@limiter.limit(_login_limit, methods=["POST"])
def second_factor_code():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    user = _pending_user()
    if user is None:
        session.pop(_PENDING, None)
        return redirect(url_for("auth.login"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        try:
            used = second_factor.sign_in_with_code(user, form.code.data)
        except service.AccountLocked as err:
            session.pop(_PENDING, None)
            flash(str(err), "danger")
            return redirect(url_for("auth.login"))
        except service.LoginError as err:
            error = str(err)
        else:
            target = session[_PENDING].get("next")
            response = _signed_in(user, target)
            if used == "recovery":
                left = second_factor.recovery_codes_left(user)
                flash(ngettext("You used a recovery code; %(num)d is left.",
                               "You used a recovery code; %(num)d are left.", left), "warning")
            if form.remember.data:
                remembered = second_factor.remember_device(user)
                if remembered is not None:
                    value, seconds = remembered
                    response.set_cookie(second_factor.device_cookie_name(), value,
                                        max_age=seconds, path="/", httponly=True, samesite="Lax",
                                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
            return response
    return render_template("auth/second_factor_code.html", form=form, error=error,
                           remember_days=second_factor.remember_days())


@bp.post("/logout")
@permission(signed_in)
def logout():
    service.logout(current_user)
    logout_user()
    _forget_sign_in_state()
    flash(_("You have signed out."), "info")
    response = redirect(url_for("auth.login"))
    # the browser forgets this site's cookies, storage and cached pages (a shared computer)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


@bp.route("/account/second-factor", methods=["GET", "POST"])
@permission(signed_in)
def second_factor_setup():
    user = current_user._get_current_object()
    if second_factor.is_enrolled(user):
        form = EnrolForm()
        if form.validate_on_submit():
            codes, err = service_call(second_factor.new_recovery_codes, user, form.code.data)
            if err is None:
                return render_template("auth/recovery_codes.html", codes=codes)
            form_error(form, err)
        return render_template(
            "auth/second_factor_status.html", form=form, confirm=ConfirmForm(),
            factor=second_factor.factor_of(user), left=second_factor.recovery_codes_left(user),
            devices=second_factor.remembered_devices(user))
    form = EnrolForm()
    if form.validate_on_submit():
        codes, err = service_call(second_factor.confirm_enrolment, user, form.code.data)
        if err is None:
            session["second_factor_ok"] = True
            return render_template("auth/recovery_codes.html", codes=codes, enrolled=True)
        form_error(form, err)
    factor, err = service_call(second_factor.begin_enrolment, user)
    if err is not None:
        flash(str(err), "danger")
        return redirect(url_for("core.home"))
    uri = second_factor.provisioning_uri(user, factor)
    due, deadline = second_factor.enrolment_due(user)
    return render_template(
        "auth/second_factor_setup.html", form=form, secret=factor.secret,
        secret_grouped=" ".join(factor.secret[i:i + 4] for i in range(0, len(factor.secret), 4)),
        qr=segno.make(uri, error="m").svg_data_uri(scale=5, border=2), issuer=second_factor.ISSUER,
        required=second_factor.is_required(user), due=due, deadline=deadline)


@bp.post("/account/second-factor/devices/forget")
@permission(signed_in)
def forget_devices():
    if ConfirmForm().validate_on_submit():
        count = second_factor.forget_devices(current_user)
        flash(ngettext("%(num)d browser will ask for the code again.",
                       "%(num)d browsers will ask for the code again.", count), "success")
    return redirect(url_for("auth.second_factor_setup"))


@bp.route("/account/password", methods=["GET", "POST"])
@permission(signed_in)
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        _r, err = service_call(service.change_password, current_user, form.current_password.data,
                               form.new_password.data, form.confirm.data)
        if err is None:
            # the change rotated the session token: sign this browser in again with the new one
            login_user(current_user._get_current_object(), fresh=True)
            flash(_("Your password is changed. Other sessions have been signed out."), "success")
            return redirect(url_for("core.home"))
        form_error(form, err)
    return render_template("auth/change_password.html", form=form,
                           min_length=service.minimum_length(current_user.role))


# --- admin: users ----------------------------------------------------------------------------


@bp.get("/admin/users")
@permission(can_manage_users)
def users():
    page = request.args.get("page", 1, type=int)
    q = (request.args.get("q") or "").strip()
    role = request.args.get("role") or ""
    stmt = select(User).order_by(User.role, User.username, User.id)
    if q:
        stmt = stmt.where(or_(func.lower(User.username).contains(q.lower()),
                              User.display_name.contains(q)))
    if role in {r.value for r in Role}:
        stmt = stmt.where(User.role == role)
    pagination = db.paginate(stmt, page=page, per_page=50, error_out=False)
    return render_template("auth/users.html", pagination=pagination, q=q, role=role,
                           roles=Role.choices(), confirm=ConfirmForm(),
                           enrolled=second_factor.enrolled_user_ids(
                               u.id for u in pagination.items))


@bp.route("/admin/users/new", methods=["GET", "POST"])
@permission(can_manage_users)
def new_user():
    form = UserForm()
    form.role.choices = [c for c in Role.choices() if c[0] != Role.CAREGIVER]
    form.organisation_id.choices = [(0, "—")] + service.organisation_choices()
    form.district_id.choices = [(0, _("Whole city"))] + [
        (d.id, d.name) for d in db.session.scalars(select(District).order_by(District.code))]
    if form.validate_on_submit():
        created, err = service_call(
            service.create_staff_account, current_user, username=form.username.data,
            display_name=form.display_name.data, role=form.role.data,
            organisation_id=form.organisation_id.data or None,
            district_id=form.district_id.data or None)
        if err is None:
            user, password = created
            return render_template("auth/initial_password.html", user=user, password=password,
                                   expires_at=service.one_time_password_expires_at(user))
        form_error(form, err)
    return render_template("auth/user_form.html", form=form,
                           org_roles=[r.value for r in ORGANISATION_ROLES])


@bp.post("/admin/users/<int:user_id>/reset-password")
@permission(can_reset_password, target=load(User, "user_id"))
def reset_password(target):
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("auth.users"))
    password = service.reset_password(current_user, target)
    return render_template("auth/initial_password.html", user=target, password=password,
                           expires_at=service.one_time_password_expires_at(target))


@bp.post("/admin/users/<int:user_id>/reset-second-factor")
@permission(can_reset_password, target=load(User, "user_id"))
def reset_second_factor(target):
    if ConfirmForm().validate_on_submit():
        _r, err = service_call(second_factor.reset_second_factor, current_user, target)
        if err:
            flash(str(err), "danger")
        else:
            flash(_("The second factor of %(name)s is removed; they set up a new one when they "
                    "next sign in.", name=target.display_name), "success")
    return redirect(url_for("auth.users"))


# --- admin: security events ------------------------------------------------------------------


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat((request.args.get(name) or "").strip())
    except ValueError:
        return None


@bp.get("/admin/security-events")
@permission(can_manage_users)
def security_events():
    filters = service.EventFilter(
        kind=(request.args.get("kind") or "").strip(),
        account=(request.args.get("account") or "").strip()[:60],
        address=(request.args.get("address") or "").strip()[:64],
        date_from=_date_arg("date_from"), date_to=_date_arg("date_to"),
        subject=(request.args.get("subject") or "").strip()[:80])
    stmt = service.security_events(current_user, filters)
    pagination = db.paginate(stmt, page=request.args.get("page", 1, type=int), per_page=50,
                             error_out=False)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("auth/security_events.html", pagination=pagination, filters=filters,
                           kinds=sorted(security.kind_titles().items(), key=lambda kv: kv[1]),
                           kind_title=security.kind_title, subject_label=service.subject_label,
                           args=args,
                           retention_months=get_setting(security.RETENTION_MONTHS.key))


@bp.post("/admin/users/<int:user_id>/enabled")
@permission(can_reset_password, target=load(User, "user_id"))
def set_enabled(target):
    if ConfirmForm().validate_on_submit():
        enable = request.form.get("enable") == "1"
        _r, err = service_call(service.set_enabled, current_user, target, enable)
        if err:
            flash(str(err), "danger")
        else:
            flash(_("The account is enabled.") if enable else
                  _("The account is disabled and its sessions have ended."), "success")
    return redirect(url_for("auth.users"))


NAVIGATION = (
    NavEntry(_l("Users"), "auth.users", "people", can_manage_users, order=80),
    NavEntry(_l("Security events"), "auth.security_events", "shield-exclamation", can_manage_users,
             order=96),
)


def _security_alerts(user) -> dict:
    alerts = security.active_alerts()
    for alert in alerts:
        alert["label"] = (service.subject_label(alert["value"]) if alert["what"] == "account"
                          else alert["value"])
    return {"alerts": alerts}


def _second_factor_nudge(user) -> dict:
    due, deadline = second_factor.enrolment_due(user)
    return {"deadline": None if due else deadline}


#: the administrators' alerts, and the nudge for staff who must set up a second factor
HOME_SECTIONS = (
    HomeSection(Role.ADMIN.value, "auth/home_security_alerts.html", _security_alerts, 1),
    *(HomeSection(role.value, "auth/home_second_factor.html", _second_factor_nudge, 2)
      for role in sorted(SECOND_FACTOR_ROLES)),
)

#: what this package's audit actions mean, for the audit log (registered in create_app)
AUDIT_TITLES = {
    "auth.enabled": _l("Account enabled or disabled"),
    "auth.initial_password_issued": _l("One-time password issued"),
    "auth.initial_passwords_issued": _l("One-time passwords issued for a roster"),
    "auth.locked": _l("Account locked after failed sign-ins"),
    "auth.login": _l("Signed in"),
    "auth.login_failed": _l("Sign-in failed"),
    "auth.logout": _l("Signed out"),
    "auth.password_changed": _l("Password changed"),
    "auth.user_created": _l("Account created"),
    "auth.second_factor_enrolled": _l("Second factor set up"),
    "auth.second_factor_failed": _l("Wrong second-factor code"),
    "auth.second_factor_reset": _l("Second factor removed by an administrator"),
    "auth.recovery_code_used": _l("Recovery code used"),
    "auth.recovery_codes_renewed": _l("New recovery codes"),
    "auth.device_remembered": _l("Browser remembered for the second factor"),
    "auth.devices_forgotten": _l("Remembered browsers forgotten"),
    "auth.purged": _l("Expired security data purged"),
}

notifications.message("security.alert_account", _l(
    "Security alert: %(count)s refusals in %(minutes)s minutes for one account (%(who)s)."))
notifications.message("security.alert_address", _l(
    "Security alert: %(count)s refusals in %(minutes)s minutes from one address (%(who)s)."))
