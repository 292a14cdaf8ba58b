"""Pages of the compliance package: the regulator's dashboard, the drill-down city → district →
institution → person, the institutions' own view with its to-do list, and the exports."""

from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.exceptions import BadRequest

from lms.auth.forms import ConfirmForm
from lms.auth.models import Role
from lms.core.job_views import export_reply
from lms.core.models import District
from lms.core.navigation import HomeSection, NavEntry
from lms.core.permissions import load, permission
from lms.core.replica import reads_from_replica
from lms.core.web import query_int, service_call
from lms.extensions import db
from lms.registry.models import Organisation, Person

from . import rollups, service
from .permissions import (
    can_refresh_compliance,
    can_view_city_compliance,
    can_view_compliance,
    can_view_district_compliance,
    can_view_institution_compliance,
    can_view_person_compliance,
)

bp = Blueprint("compliance", __name__, template_folder="templates")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _int_arg(name: str, default: int = 1) -> int:
    """An int from the query string; garbage or a number beyond any page gives the default."""
    raw = request.args.getlist(name)
    try:
        return query_int(raw[0]) if raw else default
    except (ValueError, BadRequest):
        return default


def _area_args() -> dict:
    return {"sort": request.args.get("sort", "name")[:40], "descending": request.args.get("desc") == "1",
            "q": request.args.get("q", "")[:40], "problem": request.args.get("problem", "")[:40],
            "page": _int_arg("page")}


def _staff_args() -> dict:
    return {"sort": request.args.get("sort", "name")[:40], "descending": request.args.get("desc") == "1",
            "q": request.args.get("q", "")[:40], "gap": request.args.get("gap", "")[:40],
            "page": _int_arg("page")}


def _xlsx(data: bytes, filename: str):
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True, download_name=filename)


def _export(kind: str, obj, args: dict, filename: str, back: str):
    # past EXPORT_JOB_ROWS rows a worker makes the file: a link shows the size and a button
    # (POST) starts the job, whose page the user then watches
    result, err = service_call(service.start_export, current_user, kind, obj, filename=filename,
                               locale=str(get_locale()), queue=request.method == "POST", **args)
    if err is not None:
        flash(str(err), "danger")
        return redirect(back)
    return export_reply(result, lambda r: _xlsx(r[0], filename), back)


# --- the regulator's dashboard --------------------------------------------------------------------


@bp.get("/compliance")
@permission(can_view_compliance)
@reads_from_replica  # the regulator's figures: read-heavy, a second's lag is harmless
def dashboard():
    if current_user.role == Role.INSTITUTION_ADMIN:
        return redirect(url_for("compliance.institution", org_id=current_user.organisation_id))
    board = service.dashboard(current_user, **_area_args())
    return render_template("compliance/dashboard.html", board=board, confirm=ConfirmForm(),
                           endpoint="compliance.dashboard" if board.district is None
                           else "compliance.district",
                           url_args={} if board.district is None
                           else {"district_id": board.district.id})


@bp.get("/compliance/districts/<int:district_id>")
@permission(can_view_district_compliance, district=load(District, "district_id"))
@reads_from_replica
def district(district):
    board = service.dashboard(current_user, district, **_area_args())
    return render_template("compliance/dashboard.html", board=board, confirm=ConfirmForm(),
                           endpoint="compliance.district", url_args={"district_id": district.id})


@bp.route("/compliance/export.xlsx", methods=["GET", "POST"])
@permission(can_view_city_compliance)
@reads_from_replica
def export_city():
    return _export("city", None, _area_args(), "compliance-city.xlsx",
                   url_for("compliance.dashboard"))


@bp.route("/compliance/districts/<int:district_id>/export.xlsx", methods=["GET", "POST"])
@permission(can_view_district_compliance, district=load(District, "district_id"))
@reads_from_replica
def export_district(district):
    return _export("district", district, _area_args(), f"compliance-{district.code}.xlsx",
                   url_for("compliance.district", district_id=district.id))


@bp.post("/compliance/refresh")
@permission(can_refresh_compliance)
def refresh_now():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    result = rollups.refresh(current_user)
    flash(_("Figures refreshed: %(n)d people recomputed.", n=result.persons), "success")
    return redirect(url_for("compliance.dashboard"))


# --- an institution ----------------------------------------------------------------------------------


@bp.get("/compliance/institutions/<int:org_id>")
@permission(can_view_institution_compliance, org=load(Organisation, "org_id"))
@reads_from_replica
def institution(org):
    args = _staff_args()
    table = service.institution_table(current_user, org, **args)
    everyone = service.institution_table(current_user, org, per_page=None) \
        if table.filters["gap"] or table.filters["q"] else table
    return render_template("compliance/institution.html", org=org, table=table,
                           counts=everyone.totals, rates=service.rates_of(everyone.totals),
                           targets=service.targets(org.district_id),
                           to_do=service.to_do(everyone.all_rows), gap_titles=service.GAP_TITLES,
                           gap_codes=service.GapCode.ALL)


@bp.route("/compliance/institutions/<int:org_id>/export.xlsx", methods=["GET", "POST"])
@permission(can_view_institution_compliance, org=load(Organisation, "org_id"))
@reads_from_replica
def export_institution(org):
    return _export("institution", org, _staff_args(), f"compliance-institution-{org.id}.xlsx",
                   url_for("compliance.institution", org_id=org.id))


# --- a person -------------------------------------------------------------------------------------------


@bp.get("/compliance/persons/<int:person_id>")
@permission(can_view_person_compliance, person=load(Person, "person_id"))
def person(person):
    pc = service.person_compliance(current_user, person)
    return render_template("compliance/person.html", pc=pc, person=person)


# --- header and home page --------------------------------------------------------------------------------


def _regulator_home(user):
    board = service.dashboard(user, per_page=5, sort="certified")
    return {"board": board}


def _institution_home(user):
    org = db.session.get(Organisation, user.organisation_id)
    rows = service.staff_compliance(user, org, messages=False)  # codes and counts only
    return {"org": org, "to_do": service.to_do(rows), "people": len(rows),
            "compliant": sum(pc.is_compliant for pc in rows)}


NAVIGATION = (
    NavEntry(_l("Compliance"), "compliance.dashboard", "clipboard2-check", can_view_compliance,
             order=34),
)
HOME_SECTIONS = (
    HomeSection(Role.REGULATOR.value, "compliance/home_regulator.html", _regulator_home, 15),
    HomeSection(Role.ADMIN.value, "compliance/home_regulator.html", _regulator_home, 15),
    HomeSection(Role.INSTITUTION_ADMIN.value, "compliance/home_institution.html",
                _institution_home, 20),
)
AUDIT_TITLES = {
    "compliance.refreshed": _l("Compliance figures refreshed"),
    "compliance.hours_reminders_sent": _l("Caregivers behind on their hours reminded"),
}
