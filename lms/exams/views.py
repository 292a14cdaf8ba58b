"""Exams: a base plans sittings and registers candidates, candidates take the theory paper,
examiners enter practical scores."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from lms.auth.models import User
from lms.core.clock import to_local
from lms.core.errors import DomainError
from lms.core.navigation import NavEntry
from lms.core.permissions import load, permission
from lms.core.web import form_error, service_call
from lms.exams import service
from lms.exams.forms import CandidateForm, ScoreForm, SittingForm
from lms.exams.models import LEVEL_TITLES, AttemptAction, AttemptItem, ExamSitting, Registration
from lms.exams.permissions import (
    can_run_sitting,
    can_score_registration,
    is_candidate,
    is_registered_candidate,
    owns_item,
)
from lms.extensions import db
from lms.ledger.service import identify
from lms.registry import venues
from lms.registry.models import Organisation, Person, QualificationType
from lms.registry.permissions import can_run_base, is_base_staff

bp = Blueprint("exams", __name__, template_folder="templates")


def _me() -> Person:
    return db.session.get(Person, current_user.person_id)


@bp.get("/bases/<int:base_id>/exams")
@permission(can_run_base, org=load(Organisation, "base_id"))
def sittings(org):
    return render_template("exams/sittings.html", org=org, sittings=service.sittings_of(org))


@bp.route("/bases/<int:base_id>/exams/new", methods=["GET", "POST"])
@permission(can_run_base, org=load(Organisation, "base_id"))
def sitting_new(org):
    form = SittingForm()
    types = service.certificate_types()
    form.qualification_type_id.choices = [(t.id, t.name_zh) for t in types]
    form.level.choices = [(0, _("No level"))] + [(lv, str(t)) for lv, t in sorted(LEVEL_TITLES.items(), reverse=True)]
    form.examiners.choices = [(u.id, u.display_name) for u in service.examiner_choices(org)]
    form.venue_id.choices = [(v.id, v.name) for v in venues.venues(org)]
    if not form.venue_id.choices:
        flash(_("Add a venue first."), "info")
        return redirect(url_for("scheduling.resources", base_id=org.id))
    if form.validate_on_submit():
        plan = service.SittingPlan(
            qualification_type=db.session.get(QualificationType, form.qualification_type_id.data),
            level=form.level.data or None, starts_at=form.starts_at.data,
            duration_minutes=form.duration_minutes.data, venue=form.venue_id.data,
            examiners=[db.session.get(User, i) for i in form.examiners.data],
            blueprint={"single": form.single.data or 0, "multiple": form.multiple.data or 0,
                       "truefalse": form.truefalse.data or 0})
        sitting, err = service_call(service.plan_sitting, current_user, org, plan)
        if err is None:
            flash(_("The sitting is planned. Register its candidates."), "success")
            return redirect(url_for("exams.sitting_detail", sitting_id=sitting.id))
        form_error(form, err)
    return render_template("exams/sitting_form.html", form=form, org=org,
                           pools={t.id: service.pool_counts(t) for t in types})


@bp.route("/exams/<int:sitting_id>", methods=["GET", "POST"])
@permission(can_run_sitting, sitting=load(ExamSitting, "sitting_id"))
def sitting_detail(sitting):
    form = CandidateForm()
    confirming = False
    if form.validate_on_submit():
        registration, err = service_call(_register, sitting, form)
        if err is None:
            flash(_("%(name)s is registered.", name=registration.person.name), "success")
            return redirect(url_for("exams.sitting_detail", sitting_id=sitting.id))
        # the candidate already holds this level or a higher one: explained beside a checkbox
        confirming = isinstance(err, service.ConfirmationNeeded)
        form_error(form, err)
    service.expire_sitting(sitting)
    regs = service.registrations(sitting)
    return render_template("exams/sitting.html", sitting=sitting, form=form, registrations=regs,
                           attempts=service.attempts_of(regs),
                           starts=to_local(sitting.starts_at), score_form=ScoreForm(),
                           examiner=service.is_examiner(current_user, sitting),
                           confirming=confirming, actions=service.allowed_actions)


def _register(sitting, form):
    return service.register(current_user, sitting, identify(form.id_number.data, form.name.data),
                            confirm_lower_level=bool(form.confirm_lower_level.data))


@bp.post("/exams/<int:sitting_id>/registrations/<int:registration_id>/withdraw")
@permission(can_run_sitting, sitting=load(ExamSitting, "sitting_id"),
            registration=load(Registration, "registration_id"))
def withdraw(sitting, registration):
    if registration.sitting_id != sitting.id:
        abort(404)
    _r, err = service_call(service.withdraw, current_user, registration)
    flash(str(err) if err else _("%(name)s is withdrawn from the sitting.", name=registration.person.name),
          "danger" if err else "success")
    return redirect(url_for("exams.sitting_detail", sitting_id=sitting.id))


@bp.post("/exams/<int:sitting_id>/practical/<int:registration_id>")
@permission(can_score_registration, sitting=load(ExamSitting, "sitting_id"),
            registration=load(Registration, "registration_id"))
def practical_score(sitting, registration):
    form = ScoreForm()
    _r, err = service_call(service.enter_practical, current_user, registration,
                           form.score.data if form.validate_on_submit() else "")
    flash(str(err) if err else _("Score recorded for %(name)s.", name=registration.person.name),
          "danger" if err else "success")
    return redirect(url_for("exams.sitting_detail", sitting_id=sitting.id))


# --- the candidate ---------------------------------------------------------------------------------


@bp.get("/my/exams")
@permission(is_candidate)
def my_exams():
    regs = service.my_registrations(_me())
    for registration in regs:
        service.expire_sitting(registration.sitting)
    return render_template("exams/my_exams.html", registrations=regs,
                           attempts=service.attempts_of(regs),
                           actions=service.allowed_actions)


@bp.get("/exams/<int:sitting_id>/paper")
@permission(is_registered_candidate, sitting=load(ExamSitting, "sitting_id"))
def paper(sitting):
    """The paper, once started; before that a page that only offers to start it (a GET
    changes nothing)."""
    registration = service.registration_for(current_user, sitting)
    attempt = service.attempt_of(registration)
    if attempt is not None:
        service.expire(attempt)  # the server's clock hands in a paper whose time ran out
    if attempt is None:
        actions = service.allowed_actions(registration, current_user)
        return render_template("exams/paper_start.html", sitting=sitting, registration=registration,
                               actions=actions, why_not="" if actions else service.why_not(registration))
    actions = service.allowed_actions(attempt, current_user)
    if AttemptAction.HAND_IN not in actions:
        return render_template("exams/submitted.html", attempt=attempt, sitting=sitting)
    return render_template("exams/paper.html", attempt=attempt, sitting=sitting, actions=actions,
                           remaining=service.remaining_seconds(attempt),
                           warn_seconds=service.TIMER_WARNING_SECONDS,
                           last_seconds=service.TIMER_LAST_SECONDS)


@bp.post("/exams/<int:sitting_id>/paper/start")
@permission(is_registered_candidate, sitting=load(ExamSitting, "sitting_id"))
def paper_start(sitting):
    _a, err = service_call(service.start_attempt, current_user, service.registration_for(current_user, sitting))
    if err is not None:
        flash(str(err), "danger")
    return redirect(url_for("exams.paper", sitting_id=sitting.id))


@bp.post("/exams/<int:sitting_id>/paper/hand-in")
@permission(is_registered_candidate, sitting=load(ExamSitting, "sitting_id"))
def hand_in(sitting):
    attempt = service.attempt_of(service.registration_for(current_user, sitting))
    if attempt is None:
        flash(_("The paper has not been started."), "danger")
    else:
        _a, err = service_call(service.hand_in, current_user, attempt)
        if err is not None:
            flash(str(err), "danger")
    return redirect(url_for("exams.paper", sitting_id=sitting.id))


@bp.post("/exams/items/<int:item_id>/answer")
@permission(owns_item, item=load(AttemptItem, "item_id"))
def save_answer(item):
    data = request.get_json(silent=True)
    chosen = data.get("answer") if isinstance(data, dict) else None
    if not isinstance(chosen, list):
        return jsonify({"error": _("No answer was sent.")}), 400
    try:
        service.save_answer(current_user, item, chosen)
    except DomainError as err:
        db.session.rollback()
        return jsonify({"error": str(err), "submitted": True}), 409
    return jsonify({"saved": True})


def _base_args(user):
    return {"base_id": user.organisation_id}


NAVIGATION = (
    NavEntry(_l("Exams"), "exams.sittings", "clipboard-check", is_base_staff,
             args=_base_args, order=16),
    NavEntry(_l("My exams"), "exams.my_exams", "clipboard-check", is_candidate, order=16),
)

#: what this package's audit actions mean, for the audit log (registered in create_app)
AUDIT_TITLES = {
    "exams.paper_started": _l("Exam paper started"),
    "exams.practical_scored": _l("Practical score entered"),
    "exams.registered": _l("Registered for an exam"),
    "exams.sitting_planned": _l("Exam sitting planned"),
}
