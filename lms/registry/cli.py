"""Registry commands: `flask registry import-roster`, `flask registry ban`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import or_, select

from lms.core.actors import CLI
from lms.core.clock import local_today
from lms.core.errors import DomainError
from lms.core.idnumber import clean
from lms.extensions import db
from lms.registry import roster, service
from lms.registry.models import BanKind, Organisation


def _organisation(ref: str) -> Organisation:
    ref = clean(ref)
    stmt = select(Organisation).where(or_(Organisation.credit_code == ref,
                                          Organisation.filing_no == ref))
    org = db.session.scalar(stmt)
    if org is None and ref.isdigit():
        org = db.session.get(Organisation, int(ref))
    if org is None:
        raise click.ClickException(f"no organisation with id, credit code or filing number {ref}")
    return org


@click.group("registry")
def registry_group():
    """The practitioner registry."""


@registry_group.command("import-roster")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--institution", required=True,
              help="Institution id, unified social credit code or filing number.")
@with_appcontext
def import_roster_command(path: Path, institution: str):
    """Import a staff roster (.xlsx): every row valid, or nothing stored."""
    org = _organisation(institution)
    bars: dict[str, click.progressbar] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = click.progressbar(length=max(total, 1), label=f"{stage:>8}",
                                                  file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    try:
        result = roster.import_roster(CLI, org, path.read_bytes(), progress=progress)
    except DomainError as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from None
    if result.errors:
        db.session.rollback()
        for e in result.errors[:200]:
            column = f" [{e.column_title}]" if e.column else ""
            click.echo(f"row {e.row}{column}: {e.message}", err=True)
        if len(result.errors) > 200:
            click.echo(f"... and {len(result.errors) - 200} more", err=True)
        raise click.ClickException(f"{len(result.errors)} problems; nothing was imported")
    db.session.commit()
    click.echo(f"imported {result.employments} employments for {org.name}: "
               f"{result.persons_created} new persons, {result.persons_linked} already registered, "
               f"{result.accounts_created} without an account yet (batch {result.batch_id}; "
               "the institution issues their one-time passwords on the roster page)")
    if result.staff_records:
        click.echo(f"recorded {result.staff_records} health checks and certificates of no "
                   "criminal record")


@registry_group.command("ban")
@click.option("--id-number", required=True)
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice([k.value for k in BanKind]), required=True)
@click.option("--starts", "starts_on", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--ends", "ends_on", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="For a term ban: the first day the person may work again.")
@click.option("--reason", required=True)
@click.option("--decision", "decision_ref", default="", help="Decision document reference.")
@with_appcontext
def ban_command(id_number, name, kind, starts_on, ends_on, reason, decision_ref):
    """Record a ban decision only (no effects: regulators impose bans, with their effects, on the
    ban pages of the enforcement package)."""
    try:
        ban = service.record_ban(
            CLI, id_number=id_number, name=name, kind=kind,
            starts_on=starts_on.date() if starts_on else local_today(),
            ends_on=ends_on.date() if ends_on else None, reason=reason, decision_ref=decision_ref)
    except DomainError as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from None
    db.session.commit()
    click.echo(f"ban {ban.id} recorded ({ban.kind})")
