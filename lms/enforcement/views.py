"""Pages of the enforcement package."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("enforcement", __name__, template_folder="templates")



# --- bans ---

import io  # noqa: E402 (each part of this module keeps its imports with its pages)
import mimetypes  # noqa: E402

from flask import abort, flash, redirect, render_template, request, send_file, url_for  # noqa: E402
from flask_babel import gettext as _  # noqa: E402
from flask_babel import lazy_gettext as _l  # noqa: E402
from flask_login import current_user  # noqa: E402

from lms.auth.models import Role  # noqa: E402
from lms.core.navigation import HomeSection, NavEntry  # noqa: E402
from lms.core.permissions import load, permission  # noqa: E402
from lms.core.web import form_error, service_call  # noqa: E402
from lms.enforcement import service as ban_service  # noqa: E402
from lms.enforcement.forms import BanForm, LiftDecisionForm, LiftRequestForm  # noqa: E402
from lms.enforcement.permissions import (  # noqa: E402
    can_act_on_ban,
    can_decide_lift,
    can_manage_bans,
    can_view_ban,
)
from lms.extensions import db  # noqa: E402
from lms.registry.models import Ban, BanCategory, BanLiftRequest, BanState  # noqa: E402
from lms.registry.views import lookup_limit  # noqa: E402

BANS_PER_PAGE = 50


@bp.get("/bans")
@permission(can_manage_bans)
def ban_list():
    category = request.args.get("category", "")
    state = request.args.get("state", "")
    page = request.args.get("page", 1, type=int)
    pagination = db.paginate(ban_service.ban_list_statement(current_user, category=category,
                                                            state=state),
                             page=page, per_page=BANS_PER_PAGE, error_out=False)
    return render_template("enforcement/bans/list.html", pagination=pagination, category=category,
                           state=state, categories=BanCategory.choices(), states=BanState.choices())


@bp.route("/bans/new", methods=["GET", "POST"])
@permission(can_manage_bans)
@lookup_limit
def ban_new():
    """Two steps on one form, both POSTed (the identity number never enters a URL): look the
    person up (their name and, for child abuse, the direct managers to tick), then impose."""
    form = BanForm()
    candidate = None
    ticked = set(request.form.getlist("managers", type=int)) if request.method == "POST" else set()
    if form.validate_on_submit():
        if request.form.get("step") == "impose":
            upload = form.evidence.data
            evidence = upload.read(ban_service.MAX_EVIDENCE_BYTES + 1) if upload and upload.filename else b""
            outcome, err = service_call(
                ban_service.impose, current_user, id_number=form.id_number.data,
                name=form.name.data, kind=form.kind.data, ends_on=form.ends_on.data,
                category=form.category.data, authority=form.authority.data,
                decision_no=form.decision_no.data, decision_date=form.decision_date.data,
                incident_date=form.incident_date.data, reason=form.reason.data, evidence=evidence,
                evidence_name=upload.filename if upload else "", managers=sorted(ticked))
            if err is None:
                effects = outcome.effects
                flash(_("Ban imposed on %(num)d person(s): %(employments)d employment(s) ended, "
                        "%(certificates)d certificate(s) suspended, %(enrolments)d enrolment(s), "
                        "%(bookings)d booking(s) and %(registrations)d exam registration(s) "
                        "cancelled, %(claims)d subsidy claim(s) rejected.",
                        num=len(outcome.bans), employments=effects.employments,
                        certificates=effects.certificates, enrolments=effects.enrolments,
                        bookings=effects.bookings, registrations=effects.registrations,
                        claims=effects.claims), "success")
                return redirect(url_for("enforcement.ban_detail", ban_id=outcome.bans[0].id))
            form_error(form, err)
        candidate, err = service_call(ban_service.look_up_for_ban, current_user,
                                      form.id_number.data, form.incident_date.data)
        if err is not None:
            form_error(form, err)
        elif candidate.person is not None and not form.name.data:
            form.name.data = candidate.person.name
    return render_template("enforcement/bans/new.html", form=form, candidate=candidate,
                           ticked=ticked)


@bp.get("/bans/<int:ban_id>")
@permission(can_view_ban, ban=load(Ban, "ban_id"))
def ban_detail(ban):
    requests = ban_service.lift_requests(ban)
    events = ban_service.history(ban)
    return render_template(
        "enforcement/bans/detail.html", ban=ban, requests=requests, events=events,
        history_title=ban_service.history_title, linked=ban_service.linked_bans(ban),
        evidence=ban_service.evidence_of(ban), actions=ban_service.ban_actions(ban, current_user),
        pending=ban_service.pending_request(ban), request_actions=ban_service.request_actions,
        names=ban_service.users_named([r.requested_by_id for r in requests]
                                      + [r.decided_by_id for r in requests] + [ban.imposed_by_id]),
        request_form=LiftRequestForm(), decision_form=LiftDecisionForm())


@bp.get("/bans/<int:ban_id>/evidence")
@permission(can_view_ban, ban=load(Ban, "ban_id"))
def ban_evidence(ban):
    evidence = ban_service.evidence_of(ban)
    if evidence is None:
        abort(404)
    extension = mimetypes.guess_extension(evidence.content_type) or ".bin"
    response = send_file(io.BytesIO(evidence.data), mimetype=evidence.content_type,
                         as_attachment=False, download_name=f"ban-{ban.id}-evidence{extension}")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.post("/bans/<int:ban_id>/lift")
@permission(can_act_on_ban, ban=load(Ban, "ban_id"))
def ban_lift_request(ban):
    form = LiftRequestForm()
    if not form.validate_on_submit():
        flash(_("Give the reason for lifting or annulling the ban."), "danger")
        return redirect(url_for("enforcement.ban_detail", ban_id=ban.id))
    _req, err = service_call(ban_service.request_lift, current_user, ban, form.reason.data,
                             annul=request.form.get("action") == "annul")
    if err is not None:
        flash(str(err), "danger")
    else:
        flash(_("Request recorded: a second regulator must approve it."), "success")
    return redirect(url_for("enforcement.ban_detail", ban_id=ban.id))


@bp.post("/bans/requests/<int:request_id>/decide")
@permission(can_decide_lift, lift_request=load(BanLiftRequest, "request_id"))
def ban_lift_decide(lift_request):
    form = LiftDecisionForm()
    if not form.validate_on_submit():
        flash(_("Give the reason for your decision."), "danger")
        return redirect(url_for("enforcement.ban_detail", ban_id=lift_request.ban_id))
    approve = request.form.get("action") == "approve"
    _req, err = service_call(ban_service.decide_lift, current_user, lift_request, approve,
                             form.reason.data)
    if err is not None:
        flash(str(err), "danger")
    elif approve:
        flash(_("Approved: the ban no longer holds. Certificates stay suspended until a regulator "
                "reinstates them."), "success")
    else:
        flash(_("Refused: the ban stays in force."), "success")
    return redirect(url_for("enforcement.ban_detail", ban_id=lift_request.ban_id))


def _alerts_home(user):
    return {"alerts": ban_service.open_alerts(user),
            "awaiting": ban_service.requests_awaiting(user)}


BAN_NAVIGATION = (
    NavEntry(_l("Bans"), "enforcement.ban_list", "slash-circle", can_manage_bans, order=32),
)
BAN_HOME_SECTIONS = (
    HomeSection(Role.REGULATOR.value, "enforcement/bans/_home.html", _alerts_home, 5),
    HomeSection(Role.INSTITUTION_ADMIN.value, "enforcement/bans/_home.html", _alerts_home, 5),
)
BAN_AUDIT_TITLES = {
    "enforcement.ban_imposed": _l("Ban imposed (with its effects)"),
    "enforcement.ban_lookup": _l("Person looked up for a ban"),
    "enforcement.lift_requested": _l("Lifting or annulling a ban requested"),
    "enforcement.rescreened": _l("Employed staff re-screened against the ban list"),
}


# --- inspections, 人证合一 checks ---

#: header entries, home sections and audit titles (registered in create_app)
NAVIGATION = (*BAN_NAVIGATION,)
HOME_SECTIONS = (*BAN_HOME_SECTIONS,)
AUDIT_TITLES = {**BAN_AUDIT_TITLES}
