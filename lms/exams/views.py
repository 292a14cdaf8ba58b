"""Exams: a base plans sittings and registers candidates, candidates take the theory paper,
examiners enter practical scores."""

from __future__ import annotations

import math

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from lms.auth.models import User
from lms.core.clock import to_local, utc_now
from lms.core.errors import DomainError
from lms.core.navigation import NavEntry
from lms.core.permissions import load, permission
from lms.core.web import form_error, service_call
from lms.exams import service
from lms.exams.forms import CandidateForm, ScoreForm, SittingForm
from lms.exams.models import LEVEL_TITLES, AttemptItem, ExamSitting, Registration
from lms.exams.permissions import can_run_sitting, can_score_registration, is_candidate, owns_item
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
    if form.validate_on_submit():
        registration, err = service_call(_register, sitting, form)
        if err is None:
            flash(_("%(name)s is registered.", name=registration.person.name), "success")
            return redirect(url_for("exams.sitting_detail", sitting_id=sitting.id))
        form_error(form, err)
    service.expire_sitting(sitting)
    regs = service.registrations(sitting)
    return render_template("exams/sitting.html", sitting=sitting, form=form, registrations=regs,
                           attempts={r.id: service.attempt_of(r) for r in regs},
                           starts=to_local(sitting.starts_at), score_form=ScoreForm(),
                           examiner=service.is_examiner(current_user, sitting))


def _register(sitting, form):
    return service.register(current_user, sitting, identify(form.id_number.data, form.name.data))


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
                           open_now={r.id for r in regs if service.paper_open(r)})


@bp.route("/exams/<int:sitting_id>/paper", methods=["GET", "POST"])
@permission(is_candidate, sitting=load(ExamSitting, "sitting_id"))
def paper(sitting):
    attempt, err = service_call(service.start_attempt, _me(), sitting)
    if err is not None:
        flash(str(err), "danger")
        return redirect(url_for("exams.my_exams"))
    if request.method == "POST" and attempt.submitted_at is None:
        service.submit(attempt)
    if attempt.submitted_at is not None:
        return render_template("exams/submitted.html", attempt=attempt, sitting=sitting)
    return render_template("exams/paper.html", attempt=attempt, sitting=sitting,
                           remaining=max(0, math.ceil((attempt.deadline_at - utc_now()).total_seconds())))


@bp.post("/exams/items/<int:item_id>/answer")
@permission(owns_item, item=load(AttemptItem, "item_id"))
def save_answer(item):
    data = request.get_json(silent=True)
    chosen = data.get("answer") if isinstance(data, dict) else None
    if not isinstance(chosen, list):
        return jsonify({"error": _("No answer was sent.")}), 400
    try:
        service.save_answer(_me(), item, chosen)
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
    "exams.practical_scored": _l("Practical score entered"),
    "exams.registered": _l("Registered for an exam"),
    "exams.sitting_planned": _l("Exam sitting planned"),
}
