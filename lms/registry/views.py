"""Registry pages: institutions' staff, roster import, the registry lookup, admin lists."""

from __future__ import annotations

import io
import mimetypes

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from lms.auth.forms import ConfirmForm
from lms.auth.models import Role
from lms.core import jobs
from lms.core.clock import local_today
from lms.core.models import District
from lms.core.navigation import HomeSection, NavEntry
from lms.core.permissions import load, permission
from lms.core.replica import reads_from_replica
from lms.core.web import form_error, service_call
from lms.extensions import db, limiter
from lms.registry import queries, roster, service
from lms.registry.forms import (
    DirectManagerForm,
    EndEmploymentForm,
    IdLookupForm,
    OrganisationForm,
    PhotoForm,
    PostRequirementForm,
    QualificationForm,
    RegistryLookupForm,
    RosterForm,
    StaffForm,
    StaffRecordForm,
)
from lms.registry.models import (
    Ban,
    Employment,
    HealthResult,
    Organisation,
    OrgKind,
    Person,
    PersonPhoto,
    Post,
    PostRequirement,
    Qualification,
    QualificationScan,
    QualificationType,
    StaffRecord,
    StaffRecordKind,
)
from lms.registry.permissions import (
    can_check_qualification,
    can_lookup_registry,
    can_manage_employment,
    can_manage_org_person,
    can_manage_organisations,
    can_manage_post_rules,
    can_manage_staff,
    can_record_staff_record,
    can_see_own_record,
    can_see_qualification,
    can_see_staff_record,
    can_see_staff_records,
    can_view_org_person,
    can_view_organisation_list,
    can_view_person,
    can_view_staff,
    is_institution_admin,
)

bp = Blueprint("registry", __name__, template_folder="templates")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: lookups by identity number (registry lookup, finding staff, adding staff): per user
DEFAULT_LOOKUP_LIMIT = "30 per minute;300 per day"


def _lookup_limit() -> str:
    return current_app.config.get("REGISTRY_LOOKUP_RATE_LIMIT") or DEFAULT_LOOKUP_LIMIT


def _per_user() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else f"anon:{request.remote_addr}"


#: one budget shared by every page that looks a person up by identity number
lookup_limit = limiter.shared_limit(_lookup_limit, scope="registry-lookup", key_func=_per_user,
                                    methods=["POST"])


def _xlsx_response(data: bytes, filename: str) -> Response:
    # send_file writes the name for every browser (RFC 5987 filename* when it is not ASCII)
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True, download_name=filename)


# --- institution staff -----------------------------------------------------------------------


@bp.get("/institutions/<int:org_id>/staff")
@permission(can_view_staff, org=load(Organisation, "org_id"))
def staff_list(org):
    page = request.args.get("page", 1, type=int)
    q = (request.args.get("q") or "").strip()[:40]
    show_ended = request.args.get("ended") == "1"
    stmt = service.staff_statement(org, search=q, current_only=not show_ended)
    pagination = db.paginate(stmt, page=page, per_page=25, error_out=False)
    items = list(pagination.items)
    checks = service.check_posts(items)
    banned = queries.banned_among(items)
    return render_template("registry/staff_list.html", org=org, pagination=pagination,
                           items=items, checks=checks, banned=banned, q=q, show_ended=show_ended,
                           lookup=IdLookupForm())


@bp.post("/institutions/<int:org_id>/staff/find")
@permission(can_view_staff, org=load(Organisation, "org_id"))
@lookup_limit
def staff_find(org):
    """Find a staff member by identity number (POSTed: the number never enters a URL)."""
    form = IdLookupForm()
    if form.validate_on_submit():
        person, _err = service_call(service.find_staff_member, current_user, org,
                                    form.id_number.data)
        if person is not None:
            return redirect(url_for("registry.staff_detail", org_id=org.id, person_id=person.id))
        flash(_("Nobody with this identity number works or worked at this institution."), "warning")
    return redirect(url_for("registry.staff_list", org_id=org.id))


@bp.route("/institutions/<int:org_id>/staff/new", methods=["GET", "POST"])
@permission(can_manage_staff, org=load(Organisation, "org_id"))
@lookup_limit
def staff_new(org):
    form = StaffForm()
    form.post.choices = Post.choices()
    if request.method == "GET":
        form.start_date.data = local_today()
    if form.validate_on_submit():
        added, err = service_call(
            service.add_staff, current_user, org, id_number=form.id_number.data,
            name=form.name.data, mobile=form.mobile.data, post=form.post.data,
            start_date=form.start_date.data, is_direct_manager=form.is_direct_manager.data)
        if err is None:
            return render_template("registry/staff_added.html", org=org, added=added,
                                   person=added.employment.person)
        form_error(form, err)
    return render_template("registry/staff_form.html", org=org, form=form)


@bp.get("/institutions/<int:org_id>/staff/<int:person_id>")
@permission(can_view_org_person, org=load(Organisation, "org_id"), person=load(Person, "person_id"))
def staff_detail(org, person):
    return _staff_page(org, person)


def _staff_page(org, person, **context):
    """An institution's view of its (past) staff member: its own employments only, whether
    the person is certified for the post and banned — not other employers' records."""
    if "record_form" not in context and can_record_staff_record(current_user, org=org,
                                                                person=person):
        context["record_form"] = _record_form(StaffRecordForm(formdata=None))
    employments = service.employments_at(org, person)
    today = local_today()
    managers = {e.id: service.direct_manager_row_on(e, today) for e in employments if e.is_current}
    manager_choices = {e.id: service.manager_choices(e) for e in employments
                       if e.is_current and can_manage_employment(current_user, org=org, employment=e)}
    return _person_page("registry/staff_detail.html", person, org=org, employments=employments,
                        managers=managers, manager_choices=manager_choices,
                        manager_form=DirectManagerForm(formdata=None),
                        password_problem=service.may_issue_password(current_user, org, person),
                        **context)


def _person_page(template, person, **context):
    employments = context.pop("employments", None)
    if employments is None:
        employments = person.employments
    checks = service.check_posts(employments)
    ban = service.ban_gate([person.id_number]).get(person.id_number)
    qualifications = db.session.scalars(
        select(Qualification).where(Qualification.person_id == person.id)
        .order_by(Qualification.issued_on.desc())).all()
    has_photo = db.session.get(PersonPhoto, person.id) is not None
    scans = set(db.session.scalars(select(QualificationScan.qualification_id).where(
        QualificationScan.qualification_id.in_([q.id for q in qualifications])))) if qualifications else set()
    actions = {e.id: service.employment_actions(e, current_user) for e in employments}
    # a former employer sees the person's history, not their health checks
    staff_records = (service.staff_record_lines(current_user, person)
                     if can_see_staff_records(current_user, person=person) else None)
    return render_template(template, person=person, employments=employments, checks=checks,
                           staff_records=staff_records, record_form=context.pop("record_form", None),
                           actions=actions, certificate_ids=service.certificate_ids(qualifications),
                           ban=ban, qualifications=qualifications, has_photo=has_photo, scans=scans,
                           end_form=EndEmploymentForm(formdata=None, end_date=local_today()),
                           photo_form=PhotoForm(), confirm=ConfirmForm(), today=local_today(),
                           full_id=context.pop("full_id", None), **context)


@bp.post("/institutions/<int:org_id>/staff/<int:person_id>/reveal")
@permission(can_view_org_person, org=load(Organisation, "org_id"), person=load(Person, "person_id"))
def staff_reveal(org, person):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    number = service.reveal_id_number(current_user, person)
    return _staff_page(org, person, full_id=number)


@bp.post("/institutions/<int:org_id>/staff/<int:person_id>/password")
@permission(can_manage_org_person, org=load(Organisation, "org_id"), person=load(Person, "person_id"))
def staff_password(org, person):
    """A caregiver who forgot their password asks their institution, not the city."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    result, err = service_call(service.issue_staff_password, current_user, org, person)
    if err is not None:
        flash(str(err), "danger")
        return redirect(url_for("registry.staff_detail", org_id=org.id, person_id=person.id))
    _user, password = result
    return render_template("registry/staff_password.html", org=org, person=person,
                           password=password)


@bp.post("/institutions/<int:org_id>/staff/<int:person_id>/photo")
@permission(can_manage_org_person, org=load(Organisation, "org_id"), person=load(Person, "person_id"))
def staff_photo_upload(org, person):
    form = PhotoForm()
    if form.validate_on_submit():
        _p, err = service_call(service.set_photo, current_user, person, form.photo.data.read())
        flash(str(err) if err else _("The photo is saved."), "danger" if err else "success")
    else:
        flash(_("Choose a photo to upload."), "danger")
    return redirect(url_for("registry.staff_detail", org_id=org.id, person_id=person.id))


@bp.get("/institutions/<int:org_id>/staff/<int:person_id>/photo.jpg")
@permission(can_view_org_person, org=load(Organisation, "org_id"), person=load(Person, "person_id"))
def staff_photo(org, person):
    return _photo_response(person)


def _photo_response(person):
    photo = db.session.get(PersonPhoto, person.id)
    if photo is None:
        abort(404)
    return Response(photo.data, mimetype="image/jpeg", headers={"Cache-Control": "private, no-store"})


@bp.post("/institutions/<int:org_id>/employments/<int:employment_id>/end")
@permission(can_manage_employment, org=load(Organisation, "org_id"),
            employment=load(Employment, "employment_id"))
def employment_end(org, employment):
    form = EndEmploymentForm()
    if form.validate_on_submit():
        _r, err = service_call(service.end_employment, current_user, employment,
                               form.end_date.data, form.reason.data)
        flash(str(err) if err else _("The employment has ended; it stays in the history."),
              "danger" if err else "success")
    else:
        flash(_("Give the last day and the reason."), "danger")
    return redirect(url_for("registry.staff_detail", org_id=org.id,
                            person_id=employment.person_id))


@bp.post("/institutions/<int:org_id>/employments/<int:employment_id>/direct-manager")
@permission(can_manage_employment, org=load(Organisation, "org_id"),
            employment=load(Employment, "employment_id"))
def direct_manager_set(org, employment):
    """Record who directly manages an employment from a day on (issue 15)."""
    form = DirectManagerForm()
    choices = service.manager_choices(employment)
    form.manager.choices = [(0, "")] + [(e.id, e.person.name) for e in choices]
    if form.validate_on_submit():
        manager = next((e for e in choices if e.id == form.manager.data), None)
        _r, err = service_call(service.set_direct_manager, current_user, employment, manager,
                               form.from_date.data)
        flash(str(err) if err else _("The direct manager is recorded."),
              "danger" if err else "success")
    else:
        flash(_("Choose the direct manager (or nobody) and the day it applies from."), "danger")
    return redirect(url_for("registry.staff_detail", org_id=org.id,
                            person_id=employment.person_id))


@bp.route("/institutions/<int:org_id>/staff/<int:person_id>/qualifications", methods=["GET", "POST"])
@permission(can_manage_org_person, org=load(Organisation, "org_id"), person=load(Person, "person_id"))
def qualification_new(org, person):
    form = QualificationForm()
    types = list(db.session.scalars(select(QualificationType).order_by(QualificationType.id)))
    form.qualification_type_id.choices = [(t.id, t.name_zh) for t in types]
    if form.validate_on_submit():
        qtype = db.session.get(QualificationType, form.qualification_type_id.data)
        upload = form.scan.data
        scan = upload.read(service.MAX_SCAN_BYTES + 1) if upload and upload.filename else b""
        _q, err = service_call(_record_qualification, person, qtype, form, scan)
        if err is None:
            flash(_("The qualification is recorded."), "success")
            return redirect(url_for("registry.staff_detail", org_id=org.id, person_id=person.id))
        form_error(form, err)
    return render_template("registry/qualification_form.html", org=org, person=person, form=form)


def _record_qualification(person, qtype, form, scan: bytes):
    record = service.add_qualification(
        current_user, person, qtype, issued_on=form.issued_on.data, level=form.level.data,
        expires_on=form.expires_on.data, certificate_no=form.certificate_no.data or "",
        issuer=form.issuer.data or "")
    if scan:
        service.attach_scan(current_user, record, scan)
    return record


@bp.get("/registry/qualifications/<int:qualification_id>/scan")
@permission(can_see_qualification, qualification=load(Qualification, "qualification_id"))
def qualification_scan(qualification):
    scan = db.session.get(QualificationScan, qualification.id)
    if scan is None:
        abort(404)
    extension = mimetypes.guess_extension(scan.content_type) or ".bin"
    response = send_file(io.BytesIO(scan.data), mimetype=scan.content_type, as_attachment=False,
                         download_name=f"scan-{qualification.id}{extension}")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.post("/registry/qualifications/<int:qualification_id>/check")
@permission(can_check_qualification, qualification=load(Qualification, "qualification_id"))
def qualification_check(qualification):
    _r, err = service_call(service.mark_checked, current_user, qualification)
    flash(str(err) if err else _("Marked as checked."), "danger" if err else "success")
    return redirect(url_for("registry.person_detail", person_id=qualification.person_id))


# --- staff records: health checks and certificates of no criminal record ----------------------


def _record_form(form: StaffRecordForm) -> StaffRecordForm:
    form.kind.choices = StaffRecordKind.choices()
    form.result.choices = [("", "—"), *HealthResult.choices()]
    return form


@bp.post("/institutions/<int:org_id>/staff/<int:person_id>/records")
@permission(can_record_staff_record, org=load(Organisation, "org_id"),
            person=load(Person, "person_id"))
def staff_record_new(org, person):
    """Record a health check or a certificate of no criminal record (the form on the staff
    page; a problem shows the page again with the message beside its field)."""
    form = _record_form(StaffRecordForm())
    if form.validate_on_submit():
        upload = form.scan.data
        scan = upload.read(service.MAX_SCAN_BYTES + 1) if upload and upload.filename else None
        record, err = service_call(
            service.record_staff_record, current_user, org, person, kind=form.kind.data,
            issued_on=form.issued_on.data, result=form.result.data or None,
            issuer=form.issuer.data or "", document_no=form.document_no.data or "", scan=scan)
        if err is None:
            flash(_("%(record)s recorded.", record=record.kind_title), "success")
            return redirect(url_for("registry.staff_detail", org_id=org.id, person_id=person.id,
                                    _anchor="staff-records"))
        form_error(form, err)
    return _staff_page(org, person, record_form=form)


@bp.get("/registry/staff-records/<int:staff_record_id>/scan")
@permission(can_see_staff_record, record=load(StaffRecord, "staff_record_id"))
def staff_record_scan(record):
    scan = service.staff_record_scan(current_user, record)
    if scan is None:
        abort(404)
    extension = mimetypes.guess_extension(scan.content_type) or ".bin"
    response = send_file(io.BytesIO(scan.data), mimetype=scan.content_type, as_attachment=False,
                         download_name=f"{record.kind}-{record.id}{extension}")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- roster import ---------------------------------------------------------------------------


@bp.route("/institutions/<int:org_id>/roster", methods=["GET", "POST"])
@permission(can_manage_staff, org=load(Organisation, "org_id"))
def roster_import(org):
    # the file is stored with a job; a worker checks and stores it (eagerly, in tests and
    # without Redis, the job is done before the page is shown)
    form = RosterForm()
    job = None
    if form.validate_on_submit():
        data = form.file.data.read()
        job, err = service_call(roster.start_import, current_user, org, data,
                                max_rows=current_app.config["ROSTER_MAX_ROWS"],
                                locale=str(get_locale()))
        if err is not None:
            form_error(form, err)
            form.file.errors = [str(err)]
        else:
            job = jobs.submit(job)
    elif request.method == "GET" and request.args.get("job", type=int):
        job = db.session.get(jobs.Job, request.args.get("job", type=int))
        if job is None:
            abort(404)
    result = None
    if job is not None:
        try:
            result = roster.result_of(current_user, org, job)
        except LookupError:
            abort(404)
        if result.file_error:
            form.file.errors = [result.file_error]
    return render_template("registry/roster.html", org=org, form=form, result=result,
                           job=job, confirm=ConfirmForm())


@bp.get("/institutions/<int:org_id>/roster/template.xlsx")
@permission(can_manage_staff, org=load(Organisation, "org_id"))
def roster_template(org):
    return _xlsx_response(roster.template_xlsx(), "roster-template.xlsx")


@bp.post("/institutions/<int:org_id>/roster/<batch>/passwords")
@permission(can_manage_staff, org=load(Organisation, "org_id"))
def roster_passwords(org, batch):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    data, err = service_call(roster.issue_batch_passwords, current_user, org, batch)
    if err is not None:
        flash(str(err), "warning")
        return redirect(url_for("registry.roster_import", org_id=org.id))
    return _xlsx_response(data, "initial-passwords.xlsx")


# --- the caregiver's own record ------------------------------------------------------------


@bp.get("/me")
@permission(can_see_own_record)
def my_record():
    person = db.session.get(Person, current_user.person_id)
    return _person_page("registry/my_record.html", person)


@bp.get("/me/photo.jpg")
@permission(can_see_own_record)
def my_photo():
    return _photo_response(db.session.get(Person, current_user.person_id))


# --- registry lookup (regulators and admins) --------------------------------------------------


@bp.route("/registry/lookup", methods=["GET", "POST"])
@permission(can_lookup_registry)
@lookup_limit
def lookup():
    """By identity number and name: the same answer for an unknown number and a wrong name."""
    form = RegistryLookupForm()
    not_found = False
    ban = None
    if form.validate_on_submit():
        answer, err = service_call(service.lookup_person, current_user, form.id_number.data,
                                   form.name.data)
        if err is not None:
            form_error(form, err)
        elif answer.person is not None:
            return redirect(url_for("registry.person_detail", person_id=answer.person.id))
        else:
            ban, not_found = answer.ban, True
    return render_template("registry/lookup.html", form=form, not_found=not_found, ban=ban)


@bp.get("/registry/persons/<int:person_id>")
@permission(can_view_person, person=load(Person, "person_id"))
def person_detail(person):
    return _person_page("registry/person_detail.html", person,
                        employments=service.employments_seen_by(current_user, person))


@bp.post("/registry/persons/<int:person_id>/reveal")
@permission(can_view_person, person=load(Person, "person_id"))
def person_reveal(person):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    number = service.reveal_id_number(current_user, person)
    return _person_page("registry/person_detail.html", person, full_id=number,
                        employments=service.employments_seen_by(current_user, person))


@bp.get("/registry/persons/<int:person_id>/photo.jpg")
@permission(can_view_person, person=load(Person, "person_id"))
def person_photo(person):
    return _photo_response(person)


@bp.get("/registry/institutions")
@permission(can_view_organisation_list)
@reads_from_replica  # the regulator's list: read-heavy, a second's lag is harmless
def institutions():
    """Replaced by the compliance dashboard (issue 14): old links and bookmarks land there."""
    district_id = queries.district_in_scope(current_user, request.args.get("district", type=int))
    if district_id:
        return redirect(url_for("compliance.district", district_id=district_id))
    return redirect(url_for("compliance.dashboard"))


# --- admin: organisations and post requirements -----------------------------------------------


@bp.route("/admin/organisations", methods=["GET", "POST"])
@permission(can_manage_organisations)
def organisations():
    form = OrganisationForm()
    form.kind.choices = OrgKind.choices()
    districts = list(db.session.scalars(select(District).order_by(District.code)))
    form.district_id.choices = [(d.id, d.name) for d in districts]
    if form.validate_on_submit():
        district = db.session.get(District, form.district_id.data)
        org, err = service_call(service.create_organisation, current_user, kind=form.kind.data,
                                name=form.name.data, district=district,
                                credit_code=form.credit_code.data, filing_no=form.filing_no.data,
                                address=form.address.data or "")
        if err is None:
            flash(_("%(name)s is registered.", name=org.name), "success")
            return redirect(url_for("registry.organisations"))
        form_error(form, err)
    page = request.args.get("page", 1, type=int)
    counts = dict(db.session.execute(
        select(Employment.organisation_id, func.count(Employment.id))
        .where(Employment.end_date.is_(None)).group_by(Employment.organisation_id)).all())
    pagination = db.paginate(select(Organisation).order_by(Organisation.kind, Organisation.name),
                             page=page, per_page=50, error_out=False)
    return render_template("registry/organisations.html", form=form, pagination=pagination,
                           counts=counts)


@bp.route("/admin/post-requirements", methods=["GET", "POST"])
@permission(can_manage_post_rules)
def post_requirements():
    form = PostRequirementForm()
    form.post.choices = Post.choices()
    types = list(db.session.scalars(select(QualificationType).order_by(QualificationType.id)))
    form.qualification_type_id.choices = [(t.id, t.name_zh) for t in types]
    if form.validate_on_submit():
        qtype = db.session.get(QualificationType, form.qualification_type_id.data)
        _r, err = service_call(service.add_post_requirement, current_user, form.post.data, qtype,
                               form.min_level.data)
        if err is None:
            flash(_("The rule is added."), "success")
            return redirect(url_for("registry.post_requirements"))
        form_error(form, err)
    rules = list(db.session.scalars(select(PostRequirement).order_by(PostRequirement.post)))
    by_post = {p: [r for r in rules if r.post == p.value] for p in Post}
    return render_template("registry/post_requirements.html", form=form, by_post=by_post,
                           confirm=ConfirmForm())


@bp.post("/admin/post-requirements/<int:rule_id>/delete")
@permission(can_manage_post_rules, rule=load(PostRequirement, "rule_id"))
def post_requirement_delete(rule):
    if ConfirmForm().validate_on_submit():
        _r, err = service_call(service.remove_post_requirement, current_user, rule)
        flash(str(err) if err else _("The rule is removed."), "danger" if err else "success")
    return redirect(url_for("registry.post_requirements"))


# --- home pages --------------------------------------------------------------------------------


def _institution_home(user):
    # both of the institution's sections show the same summary: work it out once per request
    if "institution_home" not in g:
        org = db.session.get(Organisation, user.organisation_id)
        staff = queries.current_staff([org.id])
        g.institution_home = {"org": org, "summary": queries.compliance_summary(staff, org.district_id),
                              "banned": queries.banned_among(staff)}
    return g.institution_home


def _caregiver_home(user):
    person = db.session.get(Person, user.person_id)
    employments = [e for e in person.employments if e.is_current]
    checks = service.check_posts(employments)
    ban = service.ban_gate([person.id_number]).get(person.id_number)
    return {"person": person, "employments": employments, "checks": checks, "ban": ban}


def _regulator_home(user):
    # the figures are the compliance dashboard's (its own home section); this is the lookup
    bans = db.session.scalar(select(func.count(Ban.id)).where(Ban.lifted_at.is_(None)))
    district = db.session.get(District, user.district_id) if user.district_id else None
    return {"district": district, "overview": {"bans": bans}, "lookup": RegistryLookupForm()}


def _admin_home(user):
    overview = queries.district_overview(None)
    counts = dict(db.session.execute(select(Organisation.kind, func.count(Organisation.id))
                                     .group_by(Organisation.kind)).all())
    bans = db.session.scalar(select(func.count(Ban.id)))
    return {"overview": overview, "counts": counts, "bans": bans}


def _organisation_home(user):
    org = db.session.get(Organisation, user.organisation_id) if user.organisation_id else None
    return {"org": org}


HOME_SECTIONS = (
    HomeSection(Role.INSTITUTION_ADMIN.value, "registry/home_institution.html", _institution_home, 10),
    HomeSection(Role.INSTITUTION_ADMIN.value, "registry/home_institution_staff.html",
                _institution_home, 30),
    HomeSection(Role.CAREGIVER.value, "registry/home_caregiver.html", _caregiver_home, 10),
    HomeSection(Role.REGULATOR.value, "registry/home_regulator.html", _regulator_home, 10),
    HomeSection(Role.ADMIN.value, "registry/home_admin.html", _admin_home, 10),
    HomeSection(Role.BASE_STAFF.value, "registry/home_organisation.html", _organisation_home, 10),
    HomeSection(Role.HR_REVIEWER.value, "registry/home_organisation.html", _organisation_home, 10),
)

NAVIGATION = (
    NavEntry(_l("Staff"), "registry.staff_list", "people", is_institution_admin,
             lambda u: {"org_id": u.organisation_id}, order=10),
    NavEntry(_l("Roster import"), "registry.roster_import", "file-earmark-spreadsheet",
             is_institution_admin, lambda u: {"org_id": u.organisation_id}, order=20),
    NavEntry(_l("My record"), "registry.my_record", "person-vcard", can_see_own_record,
             order=10),
    NavEntry(_l("Registry lookup"), "registry.lookup", "search", can_lookup_registry,
             order=30),
    NavEntry(_l("Organisations"), "registry.organisations", "diagram-3",
             can_manage_organisations, order=70),
    NavEntry(_l("Post requirements"), "registry.post_requirements", "patch-check",
             can_manage_post_rules, order=75),
)

#: what this package's audit actions mean, for the audit log (registered in create_app)
AUDIT_TITLES = {
    "registry.lookup": _l("Person looked up by identity number"),
    "registry.staff_lookup": _l("Staff member looked up by identity number"),
    "registry.ban_recorded": _l("Ban recorded"),
    "registry.employment_ended": _l("Employment ended"),
    "registry.direct_manager_set": _l("Direct manager recorded"),
    "registry.employment_started": _l("Employment started"),
    "registry.id_number_viewed": _l("Full identity number viewed"),
    "registry.organisation_created": _l("Organisation created"),
    "registry.person_created": _l("Person registered"),
    "registry.person_updated": _l("Person's details changed"),
    "registry.photo_set": _l("Photo set"),
    "registry.post_requirement_added": _l("Post requirement added"),
    "registry.post_requirement_removed": _l("Post requirement removed"),
    "registry.qualification_added": _l("Certificate recorded"),
    "registry.qualification_checked": _l("Certificate checked against the original"),
    "registry.qualification_type_changed": _l("Certificate type changed"),
    "registry.roster_imported": _l("Roster imported"),
    "registry.roster_import_started": _l("Roster import started"),
    "registry.scan_attached": _l("Certificate scan attached"),
    "registry.staff_record_added": _l("Health check or certificate of no criminal record recorded"),
}
