"""Pages of the api package."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, template_folder="templates")


#: header entries, home sections and audit titles (registered in create_app)
NAVIGATION = ()
HOME_SECTIONS = ()
AUDIT_TITLES = {}
