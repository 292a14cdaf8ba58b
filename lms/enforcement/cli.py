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

from datetime import datetime  # noqa: E402


@enforcement_group.command("credit-feed")
@click.option("--since", required=True,
              help="ISO 8601 time, e.g. 2026-01-01T00:00:00+08:00 (without an offset: the city's time).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--kind", type=click.Choice(["bans", "certificates"]), default="bans", show_default=True)
@click.option("--output", type=click.File("wb"), default="-", help="File to write (default: stdout).")
def credit_feed_command(since, fmt, kind, output):
    """The credit feed (full identity numbers, audited) for the public credit platform."""
    from lms.core.actors import system_actor
    from lms.core.errors import DomainError
    from lms.enforcement import credit_feed
    from lms.extensions import db

    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        raise click.BadParameter("not an ISO 8601 time", param_hint="--since") from None
    try:
        data, _mimetype, _name = credit_feed.export(system_actor("cli:credit-feed"), moment, kind, fmt)
    except DomainError as err:
        raise click.ClickException(str(err)) from None
    db.session.commit()  # the audit record of the export
    output.write(data)


@enforcement_group.command("verify-draw")
@click.argument("task_id", type=int)
def verify_draw_command(task_id):
    """Run an inspection task's draw again from its seed and pools and compare."""
    from lms.enforcement import inspections
    from lms.enforcement.models import InspectionTask
    from lms.extensions import db

    task = db.session.get(InspectionTask, task_id)
    if task is None:
        raise click.ClickException(f"no task {task_id}")
    check = inspections.verify_draw(task)
    if not check.ok:
        raise click.ClickException("; ".join(check.problems))
    click.echo(f"task {task_id}: the draw verifies (seed {task.draw.seed}, digest {task.draw.digest})")
