"""Course files: lesson images (from the database) and lesson videos (from the media store)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, send_from_directory
from flask_babel import lazy_gettext as _l

from lms.catalog import service
from lms.catalog.models import Course
from lms.catalog.permissions import can_browse_courses
from lms.core.permissions import load, permission

bp = Blueprint("catalog", __name__)

#: an image is a drawing: even an SVG opened on its own may run nothing and load nothing
ASSET_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


@bp.get("/courses/<int:course_id>/files/<path:path>")
@permission(can_browse_courses, course=load(Course, "course_id"))
def asset(course, path):
    found = service.asset(course, path)
    if found is None:
        abort(404)
    response = Response(found.data, mimetype=found.content_type)
    response.headers["Content-Security-Policy"] = ASSET_CSP
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.set_etag(found.sha256)
    return response


@bp.get("/media/<path:filename>")
@permission(can_browse_courses)
def media(filename):
    # send_from_directory refuses paths that leave the folder, and serves byte ranges
    response = send_from_directory(current_app.config["MEDIA_PATH"], filename, conditional=True)
    response.headers["Content-Security-Policy"] = ASSET_CSP
    return response


#: what this package's audit actions mean, for the audit log (registered in create_app)
AUDIT_TITLES = {
    "catalog.exam_bank_imported": _l("Exam question bank imported"),
    "catalog.course_imported": _l("Course imported"),
}
