"""`flask certificates ...`: render certificate PDFs in bulk."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("certificates")
def certificates_group():
    """Certificates."""


@certificates_group.command("render")
@click.option("--workers", default=2, show_default=True,
              help="PDFs made at once (one wkhtmltopdf per core).")
@with_appcontext
def render_command(workers: int):
    """Make the PDF of every certificate in force that has none for its current copy."""
    from lms.certificates.service import missing_pdfs, render_many
    from lms.core.actors import CLI

    ids = missing_pdfs()
    if not ids:
        click.echo("every certificate has its PDF")
        return
    with click.progressbar(length=len(ids), label=f"{len(ids)} PDFs") as bar:
        made = render_many(CLI, ids, workers=workers, progress=bar.update)
    click.echo(f"{made} PDFs made")
