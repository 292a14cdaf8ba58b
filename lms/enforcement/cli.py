"""`flask enforcement ...` commands: front doors that call the package's services as a system actor."""

from __future__ import annotations

import click
from flask.cli import AppGroup

enforcement_group = AppGroup("enforcement", help="Enforcement commands.")


# --- bans ---


@enforcement_group.command("expire-bans")
def expire_bans_command():
    """End the term bans whose end date has come (run daily)."""
    from lms.core.actors import system_actor
    from lms.enforcement import service
    from lms.extensions import db

    expired = service.expire_term_bans(system_actor("job:expire_bans"))
    db.session.commit()
    click.echo(f"{len(expired)} term ban(s) expired")


@enforcement_group.command("rescreen")
def rescreen_command():
    """Check every employed person against the ban list (yearly; a ban imposed screens its own):
    banned people still employed become alerts on the regulators' and institutions' home pages."""
    from lms.core.actors import system_actor
    from lms.enforcement import service
    from lms.extensions import db

    outcome = service.rescreen(system_actor("job:rescreen"))
    db.session.commit()
    click.echo(f"{outcome.screened} employment(s) screened, {len(outcome.new_alerts)} new alert(s), "
               f"{outcome.resolved} resolved")


# --- inspections, 人证合一 checks, credit feed ---

