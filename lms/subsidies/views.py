"""Claiming (a caregiver for a certificate, a base for a sitting), the claim's page, the base's
confirmations, the reviewers' queue and export, the public notice, and the standards."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from lms.auth.models import Role
from lms.certificates.models import Certificate
from lms.core.clock import local_today
from lms.core.navigation import HomeSection, NavEntry
from lms.core.permissions import anyone, load, permission
from lms.core.web import service_call
from lms.exams.models import ExamSitting
from lms.exams.permissions import can_run_sitting, is_candidate
from lms.extensions import db
from lms.registry.models import District, Organisation, OrgKind, QualificationType
from lms.registry.permissions import can_run_base, is_base_staff
from lms.subsidies import service
from lms.subsidies.models import ClaimAction, ClaimState, Objection, SubsidyClaim, SubsidyNotice
from lms.subsidies.permissions import (
    can_claim_certificate,
    can_manage_standards,
    can_resolve_objection,
    can_review_claim,
    can_view_claim,
    is_reviewer,
)

bp = Blueprint("subsidies", __name__, template_folder="templates")


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def _ids(name: str = "claim") -> list[int]:
    return [int(v) for v in request.form.getlist(name) if v.isdigit()]


def _flash_batch(outcome, done_message) -> None:
    if outcome.done:
        flash(done_message % {"num": len(outcome.done)}, "success")
    for claim, err in outcome.refused:
        flash(f"{claim.reference} {claim.person.name}: {err}", "danger")


# --- caregivers -----------------------------------------------------------------------------------


@bp.get("/my/subsidies")
@permission(is_candidate)
def mine():
    return render_template("subsidies/mine.html",
                           rows=service.my_certificates(current_user.person_id),
                           claims=service.claims_of_person(current_user.person_id))


@bp.route("/my/subsidies/claim/<int:cert_id>", methods=["GET", "POST"])
@permission(can_claim_certificate, cert=load(Certificate, "cert_id"))
def claim_new(cert):
    check = service.eligibility(cert)
    error = None
    if request.method == "POST":
        claim, error = service_call(service.submit, current_user, cert,
                                    bank_name=request.form.get("bank_name", ""),
                                    bank_account=request.form.get("bank_account", ""))
        if error is None:
            flash(_("Claim %(ref)s submitted. The training base confirms it next.",
                    ref=claim.reference), "success")
            return redirect(url_for("subsidies.claim", claim_id=claim.id))
        check = service.eligibility(cert)
    return render_template("subsidies/claim_new.html", cert=cert, check=check, error=error,
                           form=request.form), 200 if error is None else 400


# --- one claim ------------------------------------------------------------------------------------


@bp.get("/subsidies/<int:claim_id>")
@permission(can_view_claim, claim=load(SubsidyClaim, "claim_id"))
def claim(claim):
    return render_template("subsidies/claim.html", claim=claim, events=service.events(claim),
                           objections=service.objections(claim),
                           actions=service.actions_for(current_user, claim),
                           can_review=service.reviews(current_user, claim.district_id),
                           can_object=service.may_record_objection(current_user, claim),
                           mask_account=service.mask_account, today=local_today())


@bp.post("/subsidies/<int:claim_id>/act")
@permission(can_view_claim, claim=load(SubsidyClaim, "claim_id"))
def act(claim):
    action = request.form.get("action", "")
    _c, err = service_call(service.transition, current_user, claim, action,
                           reason=request.form.get("reason", ""))
    if err is None:
        flash(_("Done: the claim is now %(state)s.", state=claim.state_title), "success")
    else:
        flash(str(err), "danger")
    return redirect(url_for("subsidies.claim", claim_id=claim.id))


@bp.post("/subsidies/<int:claim_id>/objections")
@permission(can_review_claim, claim=load(SubsidyClaim, "claim_id"))
def objection_new(claim):
    _o, err = service_call(service.record_objection, current_user, claim,
                           request.form.get("summary", ""), _day(request.form.get("received_on", "")))
    flash(str(err) if err else _("Objection recorded. The payment waits until it is resolved."),
          "danger" if err else "success")
    return redirect(url_for("subsidies.claim", claim_id=claim.id))


@bp.post("/subsidies/objections/<int:objection_id>")
@permission(can_resolve_objection, objection=load(Objection, "objection_id"))
def objection_resolve(objection):
    upheld = request.form.get("outcome") == "upheld"
    _o, err = service_call(service.resolve_objection, current_user, objection, upheld=upheld,
                           resolution=request.form.get("resolution", ""))
    flash(str(err) if err else _("Objection resolved."), "danger" if err else "success")
    return redirect(url_for("subsidies.claim", claim_id=objection.claim_id))


# --- training bases -------------------------------------------------------------------------------


@bp.route("/bases/<int:base_id>/subsidies", methods=["GET", "POST"])
@permission(can_run_base, org=load(Organisation, "base_id"))
def base_claims(org):
    if request.method == "POST":
        outcome, err = service_call(service.confirm_many, current_user, _ids())
        if err:
            flash(str(err), "danger")
        else:
            _flash_batch(outcome, _("%(num)s claims confirmed."))
        return redirect(url_for("subsidies.base_claims", base_id=org.id))
    state = request.args.get("state", ClaimState.SUBMITTED.value)
    if state not in {s.value for s in ClaimState}:
        state = ""
    return render_template("subsidies/base_claims.html", org=org, state=state,
                           claims=service.claims_of_base(org, state), states=ClaimState,
                           sittings=service.claimable_sittings(org))


@bp.route("/exams/<int:sitting_id>/subsidies", methods=["GET", "POST"])
@permission(can_run_sitting, sitting=load(ExamSitting, "sitting_id"))
def sitting_claims(sitting):
    if request.method == "POST":
        claims, err = service_call(service.submit_for_sitting, current_user, sitting,
                                   _ids("certificate"), bank_name=request.form.get("bank_name", ""),
                                   bank_account=request.form.get("bank_account", ""))
        if err is None:
            flash(_("%(num)s claims submitted and confirmed.", num=len(claims)), "success")
            return redirect(url_for("subsidies.base_claims", base_id=sitting.organisation_id,
                                    state=ClaimState.CONFIRMED.value))
        flash(str(err), "danger")
    return render_template("subsidies/sitting.html", sitting=sitting,
                           plan=service.sitting_plan(sitting), form=request.form)


# --- HR reviewers ---------------------------------------------------------------------------------


def _filter_choices():
    return {
        "districts": list(db.session.scalars(select(District).order_by(District.code))),
        "bases": list(db.session.scalars(select(Organisation).where(
            Organisation.kind == OrgKind.TRAINING_BASE.value).order_by(Organisation.name))),
        "types": list(db.session.scalars(select(QualificationType).order_by(QualificationType.id))),
        "states": ClaimState,
    }


@bp.route("/subsidies/review", methods=["GET", "POST"])
@permission(is_reviewer)
def review():
    filters = service.QueueFilter.from_args(request.args)
    if request.method == "POST":
        do, ids = request.form.get("do", ""), _ids()
        if do == "approve":
            outcome, err = service_call(service.approve_many, current_user, ids)
            if not err:
                _flash_batch(outcome, _("%(num)s claims approved (or passed to a second approver)."))
        elif do == "publish":
            result, err = service_call(service.publish, current_user, ids,
                                       title=request.form.get("title", ""))
            if not err:
                _notice, outcome = result
                _flash_batch(outcome, _("%(num)s claims published in the notice."))
        elif do == "pay":
            outcome, err = service_call(service.pay_many, current_user, ids,
                                        payment_ref=request.form.get("payment_ref", ""),
                                        paid_on=_day(request.form.get("paid_on", "")))
            if not err:
                _flash_batch(outcome, _("%(num)s claims marked paid."))
        else:
            abort(400)
        if err:
            flash(str(err), "danger")
        return redirect(url_for("subsidies.review", **filters.as_args()))
    page = service.queue(current_user, filters, page=request.args.get("page", 1, type=int))
    return render_template("subsidies/review.html", page=page, filters=filters,
                           payable=service.PAYABLE, today=local_today(),
                           mask_account=service.mask_account, **_filter_choices())


@bp.get("/subsidies/review/export.xlsx")
@permission(is_reviewer)
def export():
    filters = service.QueueFilter.from_args(request.args)
    data = service.export_xlsx(current_user, filters)
    response = Response(data, mimetype="application/vnd.openxmlformats-officedocument."
                                        "spreadsheetml.sheet")
    response.headers["Content-Disposition"] = (
        f"attachment; filename=subsidies-{local_today().isoformat()}.xlsx")
    return response


# --- the public notice ----------------------------------------------------------------------------


@bp.get("/subsidies/notices")
@permission(anyone)
def notices():
    return render_template("subsidies/notices.html", notices=service.notices(), today=local_today())


@bp.get("/subsidies/notices/<int:notice_id>")
@permission(anyone, notice=load(SubsidyNotice, "notice_id"))
def notice(notice):
    return render_template("subsidies/notice.html", notice=notice, rows=service.notice_rows(notice),
                           today=local_today())


# --- standards ------------------------------------------------------------------------------------


@bp.route("/admin/subsidy-standards", methods=["GET", "POST"])
@permission(can_manage_standards)
def standards():
    if request.method == "POST":
        qtype = db.session.get(QualificationType, request.form.get("type_id", type=int) or 0)
        if qtype is None:
            flash(_("Choose the certificate type."), "danger")
        else:
            _s, err = service_call(service.set_standard, current_user, qtype,
                                   request.form.get("level", ""), request.form.get("amount", ""),
                                   _day(request.form.get("effective_from", "")),
                                   request.form.get("note", ""))
            flash(str(err) if err else _("Saved. Claims for certificates issued from that date on "
                                         "use the new amount."), "danger" if err else "success")
        return redirect(url_for("subsidies.standards"))
    types = list(db.session.scalars(select(QualificationType).order_by(QualificationType.id)))
    return render_template("subsidies/standards.html", rows=service.standards(), types=types,
                           today=local_today())


def _reviewer_home(user):
    return {"summary": service.reviewer_summary(user)}


HOME_SECTIONS = (
    HomeSection(Role.HR_REVIEWER.value, "subsidies/home_reviewer.html", _reviewer_home, 20),
)


@bp.app_context_processor
def _claim_actions():
    return {"ClaimAction": ClaimAction}


NAVIGATION = (
    NavEntry(_l("My subsidies"), "subsidies.mine", "cash-coin", is_candidate, order=19),
    NavEntry(_l("Subsidy claims"), "subsidies.review", "cash-coin", is_reviewer, order=30),
    NavEntry(_l("Subsidy claims"), "subsidies.base_claims", "cash-coin", is_base_staff,
             args=lambda u: {"base_id": u.organisation_id}, order=31),
    NavEntry(_l("Subsidy standards"), "subsidies.standards", "cash-coin",
             can_manage_standards, order=77),
    NavEntry(_l("Subsidy notices"), "subsidies.notices", "megaphone",
             lambda u: not u.is_authenticated or is_reviewer(u), order=32),
)
