"""Signing in and out, passwords, and the admin's user pages."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, or_, select

from lms.auth import service
from lms.auth.forms import ChangePasswordForm, ConfirmForm, LoginForm, UserForm
from lms.auth.models import ORGANISATION_ROLES, Role, User
from lms.auth.permissions import can_manage_users, can_reset_password
from lms.core.models import District
from lms.core.navigation import NavEntry
from lms.core.permissions import anyone, load, permission, signed_in
from lms.core.web import form_error, service_call
from lms.extensions import db, limiter

bp = Blueprint("auth", __name__, template_folder="templates")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@permission(anyone)
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        outcome = service.attempt_login(form.identifier.data, form.password.data)
        if outcome.user is not None:
            login_user(outcome.user)
            target = request.args.get("next")
            if outcome.user.must_change_password:
                return redirect(url_for("auth.change_password"))
            return redirect(target if service.is_safe_next(target) else url_for("core.home"))
        error = str(outcome.error)
    return render_template("auth/login.html", form=form, error=error)


@bp.post("/logout")
@permission(signed_in)
def logout():
    service.logout(current_user)
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


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
                           roles=Role.choices(), confirm=ConfirmForm())


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
}
