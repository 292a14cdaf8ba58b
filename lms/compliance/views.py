"""Pages of the compliance package."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("compliance", __name__, template_folder="templates")


#: header entries, home sections and audit titles (registered in create_app)
NAVIGATION = ()
HOME_SECTIONS = ()
AUDIT_TITLES = {}
