"""Issuing (a batch shown first), a certificate's page (its holder's and its managers'), the
PDF, status changes and re-grades, and the public verification page."""

from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from lms.certificates import service
from lms.certificates.forms import IssueForm, RegradeForm, StatusForm, TypeForm, VerifyForm
from lms.certificates.models import Certificate
from lms.certificates.permissions import (
    can_download_certificate,
    can_manage_certificate,
    can_regrade_certificate,
    can_view_certificate,
)
from lms.core import jobs
from lms.core.clock import local_today
from lms.core.idnumber import mask_id_number, mask_name
from lms.core.navigation import NavEntry
from lms.core.permissions import anyone, load, permission
from lms.core.web import form_error, query_int, service_call
from lms.exams.models import LEVEL_TITLES, ExamSitting
from lms.exams.permissions import can_run_sitting, is_candidate
from lms.extensions import db, limiter
from lms.registry import service as registry
from lms.registry.models import QualificationType
from lms.registry.permissions import can_manage_organisations

bp = Blueprint("certificates", __name__, template_folder="templates")

#: the public page is there to check one certificate at a time, not to crawl
VERIFY_LIMIT = "30 per minute"


@bp.route("/exams/<int:sitting_id>/certificates", methods=["GET", "POST"])
@permission(can_run_sitting, sitting=load(ExamSitting, "sitting_id"))
def issue_batch(sitting):
    plan = service.batch_plan(sitting)
    form = IssueForm()
    form.registration.choices = [(r.id, r.person.name) for r in plan.ready]
    if request.method == "POST":
        if form.validate_on_submit() and form.registration.data:
            # a job issues them and makes their PDFs (at once in tests and without Redis)
            job, err = service_call(service.start_issue_batch, current_user, sitting,
                                    form.registration.data, locale=str(get_locale()))
            if err is None:
                job = jobs.submit(job)
                if not job.state_enum.finished:
                    return redirect(url_for("jobs.detail", job_id=job.id))
                if job.result is not None:
                    flash(_("%(num)s certificates issued.", num=job.result["issued"]), "success")
                    return redirect(url_for("certificates.issue_batch", sitting_id=sitting.id))
                return redirect(url_for("jobs.detail", job_id=job.id))
            flash(str(err), "danger")
            plan = service.batch_plan(sitting)
        else:
            flash(_("Choose whom to issue certificates to."), "warning")
    return render_template("certificates/issue.html", sitting=sitting, plan=plan, form=form,
                           issued=service.of_sitting(sitting))


def _detail(cert, status_form=None, regrade_form=None, code=200):
    actions = service.allowed_actions(cert, current_user)
    status_form = status_form or StatusForm()
    status_form.action.choices = [(a.value, a.title) for a in actions]
    history = [(e, service.history_title(e), service.authority_title(e.authority))
               for e in service.history(cert)]
    return render_template(
        "certificates/certificate.html", cert=cert, state=service.state(cert), history=history,
        actions=actions, status_form=status_form, regrade_form=regrade_form or RegradeForm(),
        regrades=service.regrades(cert), registration=service.registration_of(cert),
        pdf_available=service.pdf_available(cert),
        may_regrade=can_regrade_certificate(current_user, cert=cert)), code


@bp.get("/certificates/<int:cert_id>")
@permission(can_view_certificate, cert=load(Certificate, "cert_id"))
def detail(cert):
    return _detail(cert)


@bp.post("/certificates/<int:cert_id>/status")
@permission(can_manage_certificate, cert=load(Certificate, "cert_id"))
def change_status(cert):
    form = StatusForm()
    form.action.choices = [(a.value, a.title) for a in service.allowed_actions(cert, current_user)]
    # the choice is checked by the service (it says why an action is not possible now)
    _c, err = service_call(service.change_status, current_user, cert, form.action.data or "",
                           form.reason.data or "")
    if err is not None:
        form_error(form, err)
        db.session.refresh(cert)
        return _detail(cert, status_form=form)
    flash(_("Done: the certificate is now %(status)s.", status=cert.status_title), "success")
    return redirect(url_for("certificates.detail", cert_id=cert.id))


@bp.post("/certificates/<int:cert_id>/regrade")
@permission(can_regrade_certificate, cert=load(Certificate, "cert_id"))
def regrade(cert):
    form = RegradeForm()
    row, err = service_call(service.regrade, current_user, cert, theory=form.theory.data,
                            practical=form.practical.data, reason=form.reason.data or "")
    if err is not None:
        form_error(form, err)
        db.session.refresh(cert)
        return _detail(cert, regrade_form=form)
    flash(_("Re-grade recorded: %(outcome)s.", outcome=row.outcome_title), "success")
    return redirect(url_for("certificates.detail", cert_id=cert.id))


@bp.get("/certificates/<int:cert_id>/pdf")
@permission(can_download_certificate, cert=load(Certificate, "cert_id"))
def download(cert):
    try:
        data = service.pdf(current_user, cert)
    except service.PdfWithheld as withheld:
        return render_template("certificates/withheld.html", cert=cert, message=str(withheld)), 409
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=f"{cert.qualification_type.name_zh}-{cert.number}.pdf")


@bp.get("/my/certificates")
@permission(is_candidate)
def mine():
    certs = service.of_person(current_user.person_id)
    return render_template("certificates/mine.html", certs=certs,
                           states={c.id: service.state(c) for c in certs},
                           available={c.id for c in certs if service.pdf_available(c)})


@bp.route("/verify", methods=["GET", "POST"])
@permission(anyone)
@limiter.limit(VERIFY_LIMIT, methods=["POST"])
def verify():
    form = VerifyForm()
    if request.method == "POST":
        cert = service.find(form.q.data, form.name.data) if form.validate_on_submit() else None
        if cert is not None:
            return _verified(cert)
        return render_template("certificates/verify.html", form=form, cert=None, missing=True,
                               name_given=bool((form.name.data or "").strip())), 404
    return render_template("certificates/verify.html", form=form, cert=None, missing=False)


@bp.get("/verify/<vcode>")
@permission(anyone)
@limiter.limit(VERIFY_LIMIT)
def verify_code(vcode):
    cert = service.by_code(vcode)
    if cert is None:
        abort(404)
    return _verified(cert)


def _verified(cert):
    return render_template("certificates/verify.html", form=VerifyForm(formdata=None), cert=cert,
                           state=service.state(cert), masked_name=mask_name(cert.person.name),
                           masked_id=mask_id_number(cert.person.id_number), today=local_today())


@bp.route("/admin/certificate-types", methods=["GET", "POST"])
@permission(can_manage_organisations)
def types():
    if request.method == "POST":
        form = TypeForm()
        try:
            qtype = db.session.get(QualificationType, query_int(form.type_id.data or ""))
        except ValueError:
            qtype = None
        if qtype is None:
            abort(404)
        if not form.validate_on_submit():
            flash(" ".join(e for errors in form.errors.values() for e in errors), "danger")
            return redirect(url_for("certificates.types"))
        _r, err = service_call(registry.update_qualification_type, current_user, qtype,
                               name_zh=form.name_zh.data, name_en=form.name_en.data,
                               occupation_code=form.occupation_code.data,
                               validity_months=form.validity_months.data,
                               number_prefix=form.number_prefix.data,
                               # a type without levels sends none: keep them as they are
                               levels=form.levels.data if form.levels.raw_data else None,
                               required_hours=form.required_hours.data)
        flash(str(err) if err else _("Saved."), "danger" if err else "success")
        return redirect(url_for("certificates.types"))
    rows = list(db.session.scalars(select(QualificationType).order_by(QualificationType.id)))
    return render_template("certificates/types.html",
                           types=[(t, TypeForm(formdata=None, obj=t, type_id=t.id)) for t in rows])


@bp.app_context_processor
def _level_titles():
    return {"level_titles": LEVEL_TITLES}


NAVIGATION = (
    NavEntry(_l("My certificates"), "certificates.mine", "award", is_candidate, order=17),
    NavEntry(_l("Certificate types"), "certificates.types", "award", can_manage_organisations,
             order=76),
    NavEntry(_l("Verify a certificate"), "certificates.verify", "patch-check",
             lambda u: not u.is_authenticated, order=18),
)

#: what this package's audit actions mean, for the audit log (registered in create_app)
AUDIT_TITLES = {
    "certificates.issued": _l("Certificate issued"),
    "certificates.batch_started": _l("Certificate batch started"),
    # the codes status changes were recorded under before the state machine (older rows);
    # moves now record "certificates.certificate_<action>", titled by the action
    "certificates.suspend": _l("Certificate suspended"),
    "certificates.revoke": _l("Certificate revoked"),
    "certificates.reinstate": _l("Certificate reinstated"),
    "certificates.regraded": _l("Certified result re-graded"),
}
