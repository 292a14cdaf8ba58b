"""`flask ledger ...`: checks on the class-hour ledger."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext


@click.group("ledger")
def ledger_group():
    """The class-hour ledger."""


@ledger_group.command("verify")
@with_appcontext
def verify_command():
    """Recompute every yearly total from the entries; exit 1 if any kept total differs."""
    from lms.ledger.service import verify

    differences = verify()
    for d in differences:
        click.echo(f"person {d.person_id} {d.year} {d.category}: kept {d.kept} "
                   f"({d.kept_count} entries), entries add up to {d.from_entries} "
                   f"({d.entry_count} entries)")
    if differences:
        click.echo(f"{len(differences)} total(s) differ from the entries", err=True)
        sys.exit(1)
    click.echo("every yearly total equals its entries")
