"""My hours, an institution's staff hours, external hours and corrections."""

from __future__ import annotations

import io
import mimetypes

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from lms.auth.models import Role
from lms.core.clock import local_today
from lms.core.navigation import HomeSection, NavEntry
from lms.core.permissions import load, permission
from lms.core.replica import reads_from_replica
from lms.core.web import form_error, service_call
from lms.extensions import db
from lms.ledger import service
from lms.ledger.forms import DecideExternalForm, ExternalHoursForm, ReverseForm
from lms.ledger.models import Category, ExternalRecord, ExternalState, LedgerEntry
from lms.ledger.permissions import (
    can_confirm_external,
    can_correct_ledger,
    can_open_staff_ledgers,
    can_record_external,
    can_see_own_hours,
    can_view_evidence,
    can_view_external_record,
    can_view_person_hours,
    can_view_staff_hours,
)
from lms.registry.models import Organisation, Person
from lms.registry.permissions import is_institution_admin

bp = Blueprint("ledger", __name__, template_folder="templates")


def _year() -> int:
    this_year = local_today().year
    year = request.args.get("year", this_year, type=int)
    return year if 2000 <= year <= this_year + 1 else this_year


@bp.get("/hours")
@permission(can_see_own_hours)
def my_hours():
    me = db.session.get(Person, current_user.person_id)
    year = _year()
    years = sorted(set(service.years_with_entries(me)) | {local_today().year}, reverse=True)
    return render_template("ledger/my_hours.html", person=me, year=year, years=years,
                           progress=service.year_progress(me, year),
                           entries=service.entries_for(me, year))


@bp.get("/institutions/<int:org_id>/hours")
@permission(can_view_staff_hours, org=load(Organisation, "org_id"))
@reads_from_replica  # an institution's whole staff's yearly totals: read-heavy
def staff_hours(org):
    year = _year()
    sort = request.args.get("sort", "behind")
    sort = sort if sort in service.STAFF_SORTS else "behind"
    descending = request.args.get("dir") == "desc"
    rows = service.staff_hours(org, year, sort=sort, descending=descending)
    return render_template("ledger/staff_hours.html", org=org, rows=rows, year=year, sort=sort,
                           descending=descending, behind=sum(1 for r in rows if r.behind),
                           link_people=can_open_staff_ledgers(current_user, org=org))


@bp.get("/ledger/persons/<int:person_id>")
@permission(can_view_person_hours, person=load(Person, "person_id"))
def person_hours(person):
    year = request.args.get("year", type=int)
    return render_template("ledger/person_hours.html", person=person, year=year,
                           entries=service.entries_for(person, year),
                           progress=service.year_progress(person, year or local_today().year),
                           reverse_form=ReverseForm())


@bp.post("/ledger/entries/<int:entry_id>/reverse")
@permission(can_correct_ledger, entry=load(LedgerEntry, "entry_id"))
def reverse_entry(entry):
    form = ReverseForm()
    if not form.validate_on_submit():
        flash(_("Give the reason for the correction."), "danger")
    else:
        _correction, err = service_call(service.reverse, current_user, entry, form.reason.data)
        if err is not None:
            flash(str(err), "danger")
        else:
            flash(_("The entry is reversed; both entries stay in the ledger."), "success")
    return redirect(url_for("ledger.person_hours", person_id=entry.person_id))


@bp.route("/ledger/external", methods=["GET", "POST"])
@permission(can_record_external)
def external_hours():
    form = ExternalHoursForm()
    form.category.choices = Category.choices()
    if request.method == "GET":
        form.year.data = local_today().year
    if form.validate_on_submit():
        record, err = service_call(_record_external, form)
        if err is None:
            if record.state == ExternalState.CONFIRMED:
                flash(_("Recorded %(hours)s class hours for %(name)s.", hours=record.hours.normalize(),
                        name=record.person.name), "success")
            else:
                flash(_("Recorded %(hours)s class hours for %(name)s; they count once an "
                        "administrator or regulator confirms them.", hours=record.hours.normalize(),
                        name=record.person.name), "info")
            return redirect(url_for("ledger.external_hours"))
        form_error(form, err)
    return render_template("ledger/external.html", form=form,
                           recent=service.recent_external(current_user))


def _record_external(form):
    person = service.identify_for_external(current_user, form.id_number.data, form.name.data)
    upload = form.evidence.data
    return service.record_external(
        current_user, person, year=form.year.data, category=form.category.data,
        hours=form.hours.data, provider=form.provider.data, reference=form.reference.data,
        evidence_name=upload.filename or "evidence", evidence=upload.read(service.MAX_EVIDENCE_BYTES + 1),
        note=form.note.data or "")


@bp.get("/ledger/external/queue")
@permission(can_confirm_external)
def external_queue():
    return render_template("ledger/external_queue.html", records=service.external_queue(current_user))


@bp.get("/ledger/external/<int:record_id>")
@permission(can_view_external_record, record=load(ExternalRecord, "record_id"))
def external_record(record):
    return render_template("ledger/external_record.html", record=record,
                           actions=service.external_actions(record, current_user),
                           history=service.external_history(record), form=DecideExternalForm(),
                           state_titles={s.value: s.title for s in ExternalState})


@bp.post("/ledger/external/<int:record_id>/decide")
@permission(can_confirm_external, record=load(ExternalRecord, "record_id"))
def external_decide(record):
    form = DecideExternalForm()
    form.validate_on_submit()
    _record, err = service_call(service.decide_external, current_user, record, form.action.data,
                                form.reason.data or "")
    if err is not None:
        flash(str(err), "danger")
        return redirect(url_for("ledger.external_record", record_id=record.id))
    flash(_("The external hours are %(state)s.", state=record.state_title), "success")
    return redirect(url_for("ledger.external_queue"))


@bp.get("/ledger/external/<int:record_id>/evidence")
@permission(can_view_evidence, record=load(ExternalRecord, "record_id"))
def evidence(record):
    return send_file(io.BytesIO(record.evidence_data), mimetype=record.evidence_type, as_attachment=True,
                     download_name="evidence" + (mimetypes.guess_extension(record.evidence_type) or ".bin"))


def _institution_home(user):
    """The institution's home: how many staff are behind on this year's hours."""
    org = db.session.get(Organisation, user.organisation_id)
    year = local_today().year
    rows = service.staff_hours(org, year)
    return {"org": org, "year": year, "staff": len(rows), "behind": sum(1 for r in rows if r.behind)}


HOME_SECTIONS = (
    HomeSection(Role.INSTITUTION_ADMIN.value, "ledger/home_institution.html", _institution_home, 20),
)


def _regulator_confirms(user) -> bool:
    # administrators reach the queue from the external hours page (their header is full)
    return can_confirm_external(user) and user.role == Role.REGULATOR


def _institution_args(user):
    return {"org_id": user.organisation_id}


NAVIGATION = (
    NavEntry(_l("My hours"), "ledger.my_hours", "hourglass-split", can_see_own_hours, order=12),
    NavEntry(_l("Staff hours"), "ledger.staff_hours", "hourglass-split", is_institution_admin,
             args=_institution_args, order=21),
    NavEntry(_l("External hours"), "ledger.external_hours", "box-arrow-in-down",
             can_record_external, order=60),
    NavEntry(_l("Hours to confirm"), "ledger.external_queue", "patch-check",
             _regulator_confirms, order=61),
)

#: what this package's audit actions mean, for the audit log (registered in create_app)
AUDIT_TITLES = {
    "ledger.external_recorded": _l("External class hours recorded"),
    "ledger.reversed": _l("Ledger entry reversed"),
}
