"""Claiming (a caregiver for a certificate, a base for a sitting), the claim's page, the base's
confirmations, the reviewers' queue and export, the public notice, and the standards."""

from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from lms.auth.models import Role
from lms.certificates.models import Certificate
from lms.core.clock import local_today
from lms.core.errors import DomainError
from lms.core.job_views import export_reply
from lms.core.navigation import HomeSection, NavEntry
from lms.core.permissions import anyone, load, permission
from lms.core.web import service_call
from lms.exams.models import ExamSitting
from lms.exams.permissions import can_run_sitting, is_candidate
from lms.extensions import db
from lms.registry.models import District, Organisation, OrgKind, QualificationType
from lms.registry.permissions import can_run_base, is_base_staff
from lms.subsidies import service
from lms.subsidies.forms import (
    ActForm,
    ClaimForm,
    ConfirmClaimsForm,
    ObjectionContactForm,
    ObjectionForm,
    QueueForm,
    ResolveObjectionForm,
    SittingClaimForm,
    StandardForm,
)
from lms.subsidies.models import ClaimAction, ClaimState, Objection, SubsidyClaim, SubsidyNotice
from lms.subsidies.permissions import (
    can_act_on_claim,
    can_claim_certificate,
    can_manage_standards,
    can_resolve_objection,
    can_review_claim,
    can_view_claim,
    is_reviewer,
)

bp = Blueprint("subsidies", __name__, template_folder="templates")


def _form_problem(form) -> str | None:
    """The first thing wrong with what was sent (a malformed date, an overlong text), if any."""
    if form.validate_on_submit():
        return None
    for field in form:
        if field.errors:
            return f"{field.label.text}: {field.errors[0]}"
    return _("The form could not be read. Reload the page and try again.")


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
    form = ClaimForm()
    if request.method == "POST":
        problem = _form_problem(form)
        claim, error = (None, DomainError(problem)) if problem else service_call(
            service.submit, current_user, cert, bank_name=form.bank_name.data or "",
            bank_account=form.bank_account.data or "")
        if error is None:
            flash(_("Claim %(ref)s submitted. The training base confirms it next.",
                    ref=claim.reference), "success")
            return redirect(url_for("subsidies.claim", claim_id=claim.id))
        check = service.eligibility(cert)
    return render_template("subsidies/claim_new.html", cert=cert, check=check, error=error,
                           form=form), 200 if error is None else 400


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
@permission(can_act_on_claim, claim=load(SubsidyClaim, "claim_id"))
def act(claim):
    form = ActForm()
    problem = _form_problem(form)
    _c, err = (None, problem) if problem else service_call(
        service.transition, current_user, claim, form.action.data, reason=form.reason.data or "")
    if err is None:
        flash(_("Done: the claim is now %(state)s.", state=claim.state_title), "success")
    else:
        flash(str(err), "danger")
    return redirect(url_for("subsidies.claim", claim_id=claim.id))


@bp.post("/subsidies/<int:claim_id>/objections")
@permission(can_review_claim, claim=load(SubsidyClaim, "claim_id"))
def objection_new(claim):
    form = ObjectionForm()
    problem = _form_problem(form)
    _o, err = (None, problem) if problem else service_call(
        service.record_objection, current_user, claim, form.summary.data or "", form.received_on.data)
    flash(str(err) if err else _("Objection recorded. The payment waits until it is resolved."),
          "danger" if err else "success")
    return redirect(url_for("subsidies.claim", claim_id=claim.id))


@bp.post("/subsidies/objections/<int:objection_id>")
@permission(can_resolve_objection, objection=load(Objection, "objection_id"))
def objection_resolve(objection):
    form = ResolveObjectionForm()
    problem = _form_problem(form)
    _o, err = (None, problem) if problem else service_call(
        service.resolve_objection, current_user, objection, upheld=form.outcome.data == "upheld",
        resolution=form.resolution.data or "")
    flash(str(err) if err else _("Objection resolved."), "danger" if err else "success")
    return redirect(url_for("subsidies.claim", claim_id=objection.claim_id))


# --- training bases -------------------------------------------------------------------------------


@bp.route("/bases/<int:base_id>/subsidies", methods=["GET", "POST"])
@permission(can_run_base, org=load(Organisation, "base_id"))
def base_claims(org):
    if request.method == "POST":
        form = ConfirmClaimsForm()
        problem = _form_problem(form)
        outcome, err = (None, problem) if problem else service_call(
            service.confirm_many, current_user, form.claim.data)
        if err:
            flash(str(err), "danger")
        else:
            _flash_batch(outcome, _("%(num)s claims confirmed."))
        return redirect(url_for("subsidies.base_claims", base_id=org.id))
    state = request.args.get("state", ClaimState.SUBMITTED.value)
    if state not in {s.value for s in ClaimState}:
        state = ""
    claims = service.claims_of_base(org, state)
    return render_template("subsidies/base_claims.html", org=org, state=state, claims=claims,
                           states=ClaimState, sittings=service.claimable_sittings(org),
                           confirmable={c.id for c in claims if ClaimAction.CONFIRM
                                        in service.actions_for(current_user, c)})


@bp.route("/exams/<int:sitting_id>/subsidies", methods=["GET", "POST"])
@permission(can_run_sitting, sitting=load(ExamSitting, "sitting_id"))
def sitting_claims(sitting):
    form = SittingClaimForm()
    if request.method == "POST":
        problem = _form_problem(form)
        claims, err = (None, problem) if problem else service_call(
            service.submit_for_sitting, current_user, sitting, form.certificate.data,
            bank_name=form.bank_name.data or "", bank_account=form.bank_account.data or "")
        if err is None:
            flash(_("%(num)s claims submitted and confirmed.", num=len(claims)), "success")
            return redirect(url_for("subsidies.base_claims", base_id=sitting.organisation_id,
                                    state=ClaimState.CONFIRMED.value))
        flash(str(err), "danger")
    return render_template("subsidies/sitting.html", sitting=sitting,
                           plan=service.sitting_plan(sitting), form=form)


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
        form = QueueForm()
        if form.do.data not in {"approve", "publish", "pay"}:
            abort(400)
        err = _form_problem(form)
        do, ids = form.do.data, form.claim.data
        if err:
            pass
        elif do == "approve":
            outcome, err = service_call(service.approve_many, current_user, ids)
            if not err:
                _flash_batch(outcome, _("%(num)s claims approved (or passed to a second approver)."))
        elif do == "publish":
            result, err = service_call(service.publish, current_user, ids, title=form.title.data or "")
            if not err:
                _notice, outcome = result
                _flash_batch(outcome, _("%(num)s claims published in the notice."))
        else:
            outcome, err = service_call(service.pay_many, current_user, ids,
                                        payment_ref=form.payment_ref.data or "",
                                        paid_on=form.paid_on.data)
            if not err:
                _flash_batch(outcome, _("%(num)s claims marked paid."))
        if err:
            flash(str(err), "danger")
        return redirect(url_for("subsidies.review", **filters.as_args()))
    page = service.queue(current_user, filters, page=request.args.get("page", 1, type=int))
    return render_template("subsidies/review.html", page=page, filters=filters,
                           payable=service.PAYABLE, today=local_today(),
                           mask_account=service.mask_account, **_filter_choices())


@bp.route("/subsidies/review/export.xlsx", methods=["GET", "POST"])
@permission(is_reviewer)
def export():
    filters = service.QueueFilter.from_args(request.args)
    # past EXPORT_JOB_ROWS claims a worker makes the file: a link shows the size and a button
    # (POST) starts the job, whose page the reviewer then watches
    result = service.start_export(current_user, filters, locale=str(get_locale()),
                                  queue=request.method == "POST")
    return export_reply(result, lambda data: send_file(
        io.BytesIO(data), as_attachment=True, download_name=service.export_file_name(),
        mimetype=service.XLSX), url_for("subsidies.review", **filters.as_args()))


# --- the public notice ----------------------------------------------------------------------------


@bp.get("/subsidies/notices")
@permission(anyone)
def notices():
    return render_template("subsidies/notices.html", notices=service.notices(), today=local_today())


@bp.get("/subsidies/notices/<int:notice_id>")
@permission(anyone, notice=load(SubsidyNotice, "notice_id"))
def notice(notice):
    return render_template("subsidies/notice.html", notice=notice, rows=service.notice_rows(notice),
                           contact=service.objection_contact(notice), today=local_today())


# --- standards ------------------------------------------------------------------------------------


@bp.route("/admin/subsidy-standards", methods=["GET", "POST"])
@permission(can_manage_standards)
def standards():
    if request.method == "POST":
        form = StandardForm()
        problem = _form_problem(form)
        qtype = db.session.get(QualificationType, form.type_id.data or 0) if not problem else None
        if problem:
            flash(problem, "danger")
        elif qtype is None:
            flash(_("Choose the certificate type."), "danger")
        else:
            _s, err = service_call(service.set_standard, current_user, qtype, form.level.data,
                                   form.amount.data, form.effective_from.data, form.note.data or "")
            flash(str(err) if err else _("Saved. Claims for certificates issued from that date on "
                                         "use the new amount."), "danger" if err else "success")
        return redirect(url_for("subsidies.standards"))
    types = list(db.session.scalars(select(QualificationType).order_by(QualificationType.id)))
    return render_template("subsidies/standards.html", rows=service.standards(), types=types,
                           bureaus=service.hr_bureaus(), contacts=service.objection_contacts(),
                           today=local_today())


@bp.post("/admin/subsidy-standards/objections")
@permission(can_manage_standards)
def objection_contact():
    form = ObjectionContactForm()
    problem = _form_problem(form)
    bureau = db.session.get(Organisation, form.bureau.data or 0) if not problem else None
    if problem or bureau is None:
        flash(problem or _("Choose the HR bureau."), "danger")
    else:
        _c, err = service_call(service.set_objection_contact, current_user, bureau, form.contact.data)
        flash(str(err) if err else _("Saved: the bureau's notices say where to object."),
              "danger" if err else "success")
    return redirect(url_for("subsidies.standards"))


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

#: what this package's audit actions mean, for the audit log (registered in create_app)
AUDIT_TITLES = {
    "subsidies.claim_submitted": _l("Subsidy claim submitted"),
    "subsidies.exported": _l("Subsidy claims exported"),
    "subsidies.notice_published": _l("Subsidy notice published"),
    "subsidies.notice_ended_reported": _l("HR told the subsidy notice has ended"),
    "subsidies.objection_contact_set": _l("Where to object set for a bureau"),
    "subsidies.objection_recorded": _l("Objection recorded"),
    "subsidies.objection_resolved": _l("Objection resolved"),
    "subsidies.standard_set": _l("Subsidy standard set"),
    "subsidies.claim_confirm": _l("Subsidy claim confirmed"),
    "subsidies.claim_approve": _l("Subsidy claim approved"),
    "subsidies.claim_reject": _l("Subsidy claim rejected"),
    "subsidies.claim_ban": _l("Subsidy claim rejected: the person is banned"),
    "subsidies.claim_publish": _l("Subsidy claim put in a notice"),
    "subsidies.claim_pay": _l("Subsidy claim paid"),
    "subsidies.claim_withdraw": _l("Subsidy claim withdrawn"),
}
