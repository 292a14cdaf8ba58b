"""`flask compliance ...` commands: front doors that call the package's services as a system actor."""

from __future__ import annotations

import click  # noqa: F401 (the commands below use it)
from flask.cli import AppGroup

compliance_group = AppGroup("compliance", help="Compliance commands.")

