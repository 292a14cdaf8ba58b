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
# Regulators plan and draw 双随机 tasks, record 人证合一 checks and results on a phone, follow up
# mismatches, and hand the credit feed to the platform; the public reads the notices.


from flask_babel import lazy_gettext as _l  # noqa: E402

from lms.auth.models import Role, User  # noqa: E402
from lms.core.clock import local_now, local_today, this_year  # noqa: E402
from lms.core.models import District  # noqa: E402
from lms.core.navigation import HomeSection, NavEntry  # noqa: E402
from lms.core.permissions import anyone, load, permission  # noqa: E402
from lms.enforcement import credit_feed as feed  # noqa: E402
from lms.enforcement import inspections  # noqa: E402
from lms.enforcement.inspection_forms import (  # noqa: E402
    AffiliationForm,
    CheckForm,
    CheckLookupForm,
    CreditFeedForm,
    DrawForm,
    InspectorForm,
    ItemForm,
    ResolveForm,
    ResultForm,
    TaskActForm,
    TaskForm,
)
from lms.enforcement.models import (  # noqa: E402
    CheckResult,
    IdentityCheck,
    InspectionTask,
    InspectionVisit,
    Inspector,
    VisitOutcome,
)
from lms.enforcement.permissions import (  # noqa: E402
    can_export_credit_feed,
    can_inspect_visit,
    can_manage_inspections,
    can_manage_inspector,
    can_run_task,
    can_see_identity_check,
)
from lms.registry.models import Organisation, Person  # noqa: E402


def _first_problem(form) -> str:
    for field in form:
        if field.errors:
            return f"{field.label.text}: {field.errors[0]}"
    return _("The form could not be read. Reload the page and try again.")


def _district_choices(with_city: bool = False) -> list[tuple[int, str]]:
    choices = [(d.id, d.name) for d in inspections.districts_of(current_user)]
    if with_city and current_user.district_id is None:
        choices.insert(0, (0, _("The whole city")))
    return choices


def _district(district_id) -> District | None:
    return db.session.get(District, district_id) if district_id else None


@bp.get("/inspections")
@permission(can_manage_inspections)
def inspections_home():
    tasks = inspections.tasks_for(current_user)
    return render_template("enforcement/inspections/index.html", tasks=tasks,
                           counts=inspections.visit_counts([t.id for t in tasks]),
                           summary=inspections.home_summary(current_user))


@bp.route("/inspections/items", methods=["GET", "POST"])
@permission(can_manage_inspections)
def inspection_items():
    form = ItemForm()
    form.district_id.choices = _district_choices(with_city=True)
    if form.validate_on_submit():
        _item, err = service_call(
            inspections.add_item, current_user, _district(form.district_id.data),
            name=form.name.data, basis=form.basis.data, target=form.target.data,
            draw_percent=form.draw_percent.data, draw_count=form.draw_count.data,
            frequency=form.frequency.data, method=form.method.data,
            inspector_requirements=form.inspector_requirements.data)
        if err is None:
            flash(_("The item is on the list."), "success")
            return redirect(url_for("enforcement.inspection_items"))
        form_error(form, err)
    return render_template("enforcement/inspections/items.html", form=form,
                           items=inspections.items_for(current_user))


@bp.route("/inspections/inspectors", methods=["GET", "POST"])
@permission(can_manage_inspections)
def inspectors():
    form = InspectorForm()
    form.district_id.choices = _district_choices()
    district_id = form.district_id.data or (form.district_id.choices[0][0]
                                            if form.district_id.choices else None)
    form.user_id.choices = [(0, _("None: a named person"))] + [
        (u.id, u.display_name) for u in inspections.regulators_of(district_id)] if district_id else []
    institutions = inspections.institutions_of(district_id) if district_id else []
    form.organisations.choices = [(o.id, o.name) for o in institutions]
    if form.validate_on_submit():
        user = db.session.get(User, form.user_id.data) if form.user_id.data else None
        _i, err = service_call(
            inspections.add_inspector, current_user, _district(form.district_id.data),
            name=form.name.data or "", user=user, is_leader=form.is_leader.data,
            is_expert=form.is_expert.data,
            organisations=[o for o in institutions if o.id in (form.organisations.data or [])])
        if err is None:
            flash(_("The inspector is in the pool."), "success")
            return redirect(url_for("enforcement.inspectors"))
        form_error(form, err)
    pool = inspections.inspectors_for(current_user)
    forms = {}
    for inspector in pool:
        aff = AffiliationForm(prefix=f"a{inspector.id}")
        aff.organisation_id.choices = [(o.id, o.name)
                                       for o in inspections.institutions_of(inspector.district_id)]
        forms[inspector.id] = aff
    return render_template("enforcement/inspections/inspectors.html", form=form, pool=pool,
                           affiliation_forms=forms)


@bp.post("/inspections/inspectors/<int:inspector_id>/affiliations")
@permission(can_manage_inspector, inspector=load(Inspector, "inspector_id"))
def inspector_affiliation(inspector):
    form = AffiliationForm(prefix=f"a{inspector.id}")
    form.organisation_id.choices = [(o.id, o.name)
                                    for o in inspections.institutions_of(inspector.district_id)]
    if not form.validate_on_submit():
        flash(_first_problem(form), "danger")
    else:
        org = db.session.get(Organisation, form.organisation_id.data)
        _a, err = service_call(inspections.add_affiliation, current_user, inspector, org)
        flash(str(err) if err else _("Recorded: %(name)s never inspects %(org)s.",
                                     name=inspector.name, org=org.name),
              "danger" if err else "success")
    return redirect(url_for("enforcement.inspectors"))


@bp.route("/inspections/tasks/new", methods=["GET", "POST"])
@permission(can_manage_inspections)
def inspection_task_new():
    form = TaskForm()
    if request.method == "GET":
        form.year.data = this_year()
    form.district_id.choices = _district_choices()
    items = inspections.items_for(current_user)
    form.items.choices = [(i.id, i.name) for i in items]
    if form.validate_on_submit():
        chosen = [i for i in items if i.id in (form.items.data or [])]
        task, err = service_call(
            inspections.create_task, current_user, _district(form.district_id.data),
            year=form.year.data, title=form.title.data, items=chosen,
            draw_percent=form.draw_percent.data, draw_count=form.draw_count.data,
            inspectors_per_institution=form.inspectors_per_institution.data)
        if err is None:
            flash(_("The task is planned. Draw it next."), "success")
            return redirect(url_for("enforcement.inspection_task", task_id=task.id))
        form_error(form, err)
    return render_template("enforcement/inspections/task_new.html", form=form, items=items)


def _task_page(task, draw_form=None, check=None, status=200):
    return render_template(
        "enforcement/inspections/task.html", task=task, draw_form=draw_form or DrawForm(),
        act_form=TaskActForm(), actions=inspections.task_actions(task, current_user),
        waiting=inspections.task_waiting(task, current_user),
        may_draw=inspections.may_draw(task, current_user), check=check,
        history=inspections.history(task)), status


@bp.get("/inspections/tasks/<int:task_id>")
@permission(can_run_task, task=load(InspectionTask, "task_id"))
def inspection_task(task):
    return _task_page(task)


@bp.post("/inspections/tasks/<int:task_id>/draw")
@permission(can_run_task, task=load(InspectionTask, "task_id"))
def inspection_task_draw(task):
    form = DrawForm()
    if not form.validate_on_submit():
        flash(_first_problem(form), "danger")
        return redirect(url_for("enforcement.inspection_task", task_id=task.id))
    row, err = service_call(inspections.draw, current_user, task, form.seed.data)
    if err is None:
        flash(_("Drawn with the seed %(seed)s.", seed=row.seed), "success")
    else:
        flash(str(err), "danger")
    return redirect(url_for("enforcement.inspection_task", task_id=task.id))


@bp.post("/inspections/tasks/<int:task_id>/act")
@permission(can_run_task, task=load(InspectionTask, "task_id"))
def inspection_task_act(task):
    form = TaskActForm()
    if not form.validate_on_submit():
        flash(_first_problem(form), "danger")
    else:
        _t, err = service_call(inspections.transition, current_user, task, form.action.data)
        flash(str(err) if err else _("Done: the task is %(state)s.", state=task.state_title),
              "danger" if err else "success")
    return redirect(url_for("enforcement.inspection_task", task_id=task.id))


@bp.get("/inspections/tasks/<int:task_id>/verify")
@permission(can_run_task, task=load(InspectionTask, "task_id"))
def inspection_task_verify(task):
    return _task_page(task, check=inspections.verify_draw(task))


# --- a visit, on a phone -------------------------------------------------------------------------


def _result_form(visit) -> ResultForm:
    form = ResultForm(obj=visit if request.method == "GET" else None)
    form.outcome.choices = VisitOutcome.choices()
    return form


def _visit_page(visit, lookup=None, found=None, result_form=None, status=200):
    return render_template(
        "enforcement/inspections/visit.html", visit=visit, lookup=lookup or CheckLookupForm(),
        found=found, result_form=result_form or _result_form(visit),
        open=inspections.visit_open(visit), checks=inspections.checks_of(visit)), status


@bp.get("/inspections/visits/<int:visit_id>")
@permission(can_inspect_visit, visit=load(InspectionVisit, "visit_id"))
def inspection_visit(visit):
    return _visit_page(visit)


@bp.post("/inspections/visits/<int:visit_id>/find")
@permission(can_inspect_visit, visit=load(InspectionVisit, "visit_id"))
def inspection_find(visit):
    """By identity number, certificate number or name, sent in the body (never in a URL)."""
    form = CheckLookupForm()
    if not form.validate_on_submit():
        flash(_first_problem(form), "danger")
        return redirect(url_for("enforcement.inspection_visit", visit_id=visit.id))
    found, err = service_call(inspections.find_for_check, current_user, visit,
                              id_number=form.id_number.data or "",
                              certificate_no=form.certificate_no.data or "",
                              name=form.name.data or "")
    if err is not None:
        form_error(form, err)
        return _visit_page(visit, lookup=form)
    if len(found) == 1:
        return redirect(url_for("enforcement.inspection_check", visit_id=visit.id,
                                person_id=found[0].id))
    return _visit_page(visit, lookup=form, found=found)


@bp.route("/inspections/visits/<int:visit_id>/persons/<int:person_id>", methods=["GET", "POST"])
@permission(can_inspect_visit, visit=load(InspectionVisit, "visit_id"),
            person=load(Person, "person_id"))
def inspection_check(visit, person):
    form = CheckForm()
    form.result.choices = CheckResult.choices()
    if form.validate_on_submit():
        photo = form.photo.data.read() if form.photo.data else None
        _c, err = service_call(inspections.record_check, current_user, visit, person,
                               result=form.result.data, note=form.note.data or "", photo=photo)
        if err is None:
            flash(_("The check is recorded."), "success")
            return redirect(url_for("enforcement.inspection_visit", visit_id=visit.id))
        form_error(form, err)
    sheet, err = service_call(inspections.check_sheet, current_user, visit, person)
    if err is not None:
        abort(404)
    return render_template("enforcement/inspections/check.html", visit=visit, sheet=sheet,
                           form=form, open=inspections.visit_open(visit),
                           today=local_today()), 200


@bp.post("/inspections/visits/<int:visit_id>/result")
@permission(can_inspect_visit, visit=load(InspectionVisit, "visit_id"))
def inspection_result(visit):
    form = _result_form(visit)
    if not form.validate_on_submit():
        flash(_first_problem(form), "danger")
        return redirect(url_for("enforcement.inspection_visit", visit_id=visit.id))
    _v, err = service_call(inspections.record_visit_result, current_user, visit,
                           outcome=form.outcome.data, findings=form.findings.data or "",
                           rectify_by=form.rectify_by.data, inspected_on=form.inspected_on.data,
                           closed=form.closed.data)
    if err is not None:
        form_error(form, err)
        return _visit_page(visit, result_form=form)
    flash(_("The result is recorded."), "success")
    return redirect(url_for("enforcement.inspection_task", task_id=visit.task_id))


@bp.get("/inspections/checks/<int:check_id>/photo.jpg")
@permission(can_see_identity_check, identity_check=load(IdentityCheck, "check_id"))
def inspection_check_photo(identity_check):
    data = inspections.check_photo(identity_check)
    if data is None:
        abort(404)
    response = send_file(io.BytesIO(data), mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/inspections/follow-ups")
@permission(can_manage_inspections)
def follow_ups():
    checks = inspections.follow_ups(current_user)
    return render_template("enforcement/inspections/follow_ups.html", checks=checks,
                           photos=inspections.with_photos([c.id for c in checks]),
                           form=ResolveForm())


@bp.post("/inspections/checks/<int:check_id>/resolve")
@permission(can_see_identity_check, identity_check=load(IdentityCheck, "check_id"))
def follow_up_resolve(identity_check):
    form = ResolveForm()
    if not form.validate_on_submit():
        flash(_first_problem(form), "danger")
    else:
        _c, err = service_call(inspections.resolve_follow_up, current_user, identity_check,
                               form.resolution.data)
        flash(str(err) if err else _("The follow-up is closed."), "danger" if err else "success")
    return redirect(url_for("enforcement.follow_ups"))


@bp.get("/inspections/not-inspected")
@permission(can_manage_inspections)
def not_inspected():
    year = request.args.get("year", this_year(), type=int)
    return render_template("enforcement/inspections/not_inspected.html", year=year,
                           rows=inspections.not_inspected(current_user, year))


# --- the credit feed -----------------------------------------------------------------------------


@bp.route("/credit-feed", methods=["GET", "POST"])
@permission(can_export_credit_feed)
def credit_feed():
    """A download by POST: the file carries full identity numbers (see credit_feed.py)."""
    form = CreditFeedForm()
    form.kind.choices = [("bans", _("Bans")), ("certificates", _("Certificate status changes"))]
    if request.method == "GET":
        form.since.data = local_now().replace(month=1, day=1, hour=0, minute=0, second=0,
                                              microsecond=0)
    if form.validate_on_submit():
        exported, err = service_call(feed.export, current_user, form.since.data, form.kind.data,
                                     form.format.data)
        if err is None:
            data, mimetype, filename = exported
            response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                                 download_name=filename)
            response.headers["Cache-Control"] = "no-store"  # full identity numbers
            return response
        form_error(form, err)
    return render_template("enforcement/credit_feed.html", form=form)


# --- public notices (双随机一公开: 计划公告, 任务公告, 结果公告) -----------------------------------


@bp.get("/public/inspections")
@permission(anyone)
def public_inspections():
    return render_template("enforcement/public/index.html", years=inspections.plan_years(),
                           tasks=inspections.announced_tasks(), this_year=this_year())


@bp.get("/public/inspections/plan/<int:year>")
@permission(anyone)
def public_plan(year):
    return render_template("enforcement/public/plan.html", year=year,
                           tasks=inspections.plan_notice(year))


@bp.get("/public/inspections/tasks/<int:task_id>")
@permission(anyone)
def public_task(task_id):
    task = db.session.get(InspectionTask, task_id)
    if task is None or not inspections.is_announced(task):
        abort(404)
    return render_template("enforcement/public/task.html", task=task,
                           results=inspections.results_published(task))


@bp.get("/public/inspections/tasks/<int:task_id>/results")
@permission(anyone)
def public_results(task_id):
    task = db.session.get(InspectionTask, task_id)
    if task is None or not inspections.is_announced(task):
        abort(404)
    return render_template("enforcement/public/results.html", task=task,
                           published=inspections.results_published(task))


def _regulator_home(user):
    return {"summary": inspections.home_summary(user)}


#: header entries, home sections and audit titles (registered in create_app)
NAVIGATION = (
    *BAN_NAVIGATION,
    NavEntry(_l("Inspections"), "enforcement.inspections_home", "clipboard-check",
             can_manage_inspections, order=46),
    NavEntry(_l("Credit feed"), "enforcement.credit_feed", "box-arrow-up-right",
             can_export_credit_feed, order=47),
    NavEntry(_l("Inspection notices"), "enforcement.public_inspections", "megaphone",
             lambda u: not u.is_authenticated, order=33),
)
HOME_SECTIONS = (
    *BAN_HOME_SECTIONS,
    HomeSection(Role.REGULATOR.value, "enforcement/inspections/home_regulator.html",
                _regulator_home, 40),
)
AUDIT_TITLES = {
    **BAN_AUDIT_TITLES,
    "enforcement.inspection_item_added": _l("Inspection item added"),
    "enforcement.inspector_added": _l("Inspector added to the pool"),
    "enforcement.inspector_affiliation_added": _l("Inspector's conflict of interest recorded"),
    "enforcement.inspection_task_created": _l("Inspection task planned"),
    "enforcement.inspection_drawn": _l("Inspection task drawn"),
    "enforcement.check_lookup": _l("Person looked up on an inspection"),
    "enforcement.check_sheet_viewed": _l("Person's record viewed on an inspection"),
    "enforcement.identity_checked": _l("人证合一 check recorded"),
    "enforcement.inspection_result_recorded": _l("Inspection result recorded"),
    "enforcement.follow_up_resolved": _l("Mismatch followed up"),
    "enforcement.credit_feed_read": _l("Credit feed exported"),
}
