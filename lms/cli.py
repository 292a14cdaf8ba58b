"""Operator commands: `flask lms ...`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from lms.extensions import db


@click.group("lms")
def lms_group():
    """Set up and run the system."""


@lms_group.command("init")
@with_appcontext
def init_command():
    """Load reference data (qualification types, default post rules); safe to repeat."""
    from lms.registry.service import ensure_reference_data
    from lms.subsidies.service import ensure_standards

    ensure_reference_data()
    ensure_standards()
    db.session.commit()
    click.echo("reference data ready")


@lms_group.command("demo")
@with_appcontext
def demo_command():
    """Build the demo city once (running it again changes nothing)."""
    from lms.demo import build_demo_city, import_demo_courses
    from lms.registry.service import ensure_reference_data
    from lms.subsidies.service import ensure_standards

    ensure_reference_data()
    ensure_standards()
    import_demo_courses()  # new or changed course files are picked up on every run
    summary = build_demo_city()
    db.session.commit()
    if summary.get("created"):
        click.echo("demo city created: " + ", ".join(
            f"{k}={v}" for k, v in summary.items() if isinstance(v, int) and not isinstance(v, bool)))
        click.echo(f"demo sign-ins (password {summary['password']}): "
                   + ", ".join(summary["logins"]) + f"; caregiver by mobile {summary['caregiver_mobile']}")
        click.echo(f"banned identity number (try registering it): {summary['banned_id_number']}")
    else:
        click.echo("demo city already present; nothing changed")
