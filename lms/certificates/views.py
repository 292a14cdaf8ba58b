"""Issuing (a batch shown first), the holder's certificates and PDF, status changes, and the
public verification page."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from lms.certificates import service
from lms.certificates.models import Certificate
from lms.certificates.permissions import can_download_certificate, can_manage_certificate
from lms.core.clock import local_today
from lms.core.idnumber import mask_id_number, mask_name
from lms.core.navigation import NavEntry
from lms.core.permissions import anyone, load, permission
from lms.core.web import service_call
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
    if request.method == "POST":
        chosen = [int(v) for v in request.form.getlist("registration") if v.isdigit()]
        if not chosen:
            flash(_("Choose whom to issue certificates to."), "warning")
        else:
            issued, err = service_call(service.issue_batch, current_user, sitting, chosen)
            if err is None:
                flash(_("%(num)s certificates issued.", num=len(issued)), "success")
                return redirect(url_for("certificates.issue_batch", sitting_id=sitting.id))
            flash(str(err), "danger")
    return render_template("certificates/issue.html", sitting=sitting, plan=service.batch_plan(sitting),
                           issued=[c for c in (service.of_sitting(sitting))])


@bp.get("/certificates/<int:cert_id>")
@permission(can_manage_certificate, cert=load(Certificate, "cert_id"))
def detail(cert):
    return render_template("certificates/certificate.html", cert=cert, events=service.events(cert),
                           state=service.state(cert))


@bp.post("/certificates/<int:cert_id>/status")
@permission(can_manage_certificate, cert=load(Certificate, "cert_id"))
def change_status(cert):
    action = request.form.get("action", "")
    if action == "reissue":
        _c, err = service_call(service.reissue, current_user, cert, request.form.get("reason", ""))
    else:
        _c, err = service_call(service.change_status, current_user, cert, action,
                               request.form.get("reason", ""))
    flash(str(err) if err else _("Done: the certificate is now %(status)s.", status=cert.status_title),
          "danger" if err else "success")
    return redirect(url_for("certificates.detail", cert_id=cert.id))


@bp.get("/certificates/<int:cert_id>/pdf")
@permission(can_download_certificate, cert=load(Certificate, "cert_id"))
def download(cert):
    response = Response(service.pdf(cert), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f"attachment; filename={cert.number}.pdf"
    return response


@bp.get("/my/certificates")
@permission(is_candidate)
def mine():
    certs = service.of_person(current_user.person_id)
    return render_template("certificates/mine.html", certs=certs,
                           states={c.id: service.state(c) for c in certs})


@bp.route("/verify", methods=["GET", "POST"])
@permission(anyone)
@limiter.limit(VERIFY_LIMIT, methods=["POST"])
def verify():
    if request.method == "POST":
        cert = service.find(request.form.get("q", ""))
        if cert is None:
            return render_template("certificates/verify.html", cert=None, missing=True), 404
        return _verified(cert)
    return render_template("certificates/verify.html", cert=None, missing=False)


@bp.get("/verify/<vcode>")
@permission(anyone)
@limiter.limit(VERIFY_LIMIT)
def verify_code(vcode):
    cert = service.find(vcode)
    if cert is None or cert.verify_code != vcode:
        abort(404)
    return _verified(cert)


def _verified(cert):
    return render_template("certificates/verify.html", cert=cert, state=service.state(cert),
                           masked_name=mask_name(cert.person.name),
                           masked_id=mask_id_number(cert.person.id_number), today=local_today())

@bp.route("/admin/certificate-types", methods=["GET", "POST"])
@permission(can_manage_organisations)
def types():
    if request.method == "POST":
        qtype = db.session.get(QualificationType, request.form.get("type_id", type=int) or 0)
        if qtype is None:
            abort(404)
        _r, err = service_call(registry.update_qualification_type, current_user, qtype,
                               name_zh=request.form.get("name_zh", ""),
                               name_en=request.form.get("name_en", ""),
                               occupation_code=request.form.get("occupation_code", ""),
                               validity_months=request.form.get("validity_months", ""),
                               number_prefix=request.form.get("number_prefix", ""),
                               levels=request.form.get("levels"),
                               required_hours=request.form.get("required_hours", ""))
        flash(str(err) if err else _("Saved."), "danger" if err else "success")
        return redirect(url_for("certificates.types"))
    return render_template("certificates/types.html", types=list(db.session.scalars(
        select(QualificationType).order_by(QualificationType.id))))


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
    "certificates.suspend": _l("Certificate suspended"),
    "certificates.revoke": _l("Certificate revoked"),
    "certificates.reinstate": _l("Certificate reinstated"),
}
