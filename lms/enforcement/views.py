"""Pages of the enforcement package."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("enforcement", __name__, template_folder="templates")



# --- bans ---


# --- inspections, 人证合一 checks ---

#: header entries, home sections and audit titles (registered in create_app)
NAVIGATION = ()
HOME_SECTIONS = ()
AUDIT_TITLES = {}
