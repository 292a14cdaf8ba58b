"""`flask compliance ...` commands: front doors that call the package's services as a system actor."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from lms.core.actors import system_actor
from lms.extensions import db

compliance_group = AppGroup("compliance", help="Compliance commands.")


@compliance_group.command("refresh")
@click.option("--all", "full", is_flag=True, help="Recompute everyone, not only the people "
              "whose records changed.")
def refresh_command(full: bool) -> None:
    """Bring the compliance summary rows and snapshots up to date now."""
    from lms.compliance import rollups

    result = rollups.refresh(system_actor("cli:compliance refresh"), full=full)
    db.session.commit()
    click.echo(f"refreshed {result.persons} people, {result.institutions} institutions, "
               f"{result.districts} districts{' (full)' if result.full else ''} "
               f"at {result.computed_at:%Y-%m-%d %H:%M:%S} UTC")


@compliance_group.command("check")
@click.option("--sample", default=50, show_default=True, type=click.IntRange(1, 100000),
              help="How many institutions to recompute from the raw rows.")
@click.option("--seed", type=int, default=None, help="Seed of the random sample.")
def check_command(sample: int, seed: int | None) -> None:
    """Recompute a sample of snapshots from the raw rows; exit 1 on any difference."""
    from lms.compliance import rollups

    differences, skipped = rollups.check(system_actor("cli:compliance check"), sample, seed)
    db.session.rollback()
    if skipped:
        click.echo(f"{skipped} institutions skipped: their people wait for a refresh")
    for d in differences:
        click.echo(f"DIFFERENT {d.scope} {d.scope_id} {d.name}: kept {d.kept} "
                   f"recomputed {d.recomputed}", err=True)
    if differences:
        sys.exit(1)
    click.echo("snapshots agree with the raw rows")
