"""`flask enforcement ...` commands: front doors that call the package's services as a system actor."""

from __future__ import annotations

import click  # noqa: F401 (the commands below use it)
from flask.cli import AppGroup

enforcement_group = AppGroup("enforcement", help="Enforcement commands.")


# --- bans ---


# --- inspections, 人证合一 checks, credit feed ---

