"""Pages of the compliance package."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("compliance", __name__, template_folder="templates")


#: header entries, home sections and audit titles (registered in create_app)
NAVIGATION = ()
HOME_SECTIONS = ()
AUDIT_TITLES = {}

# The regulator's dashboards and exports, when they land here, are read-heavy: mark each
# read-only one @reads_from_replica (lms.core.replica) so a city with DATABASE_REPLICA_URL
# answers them from the read replica, as registry.institutions does.
