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


@lms_group.command("rotate-keys")
@with_appcontext
def rotate_keys_command():
    """Re-encrypt identity and bank account numbers (and the stored files that carry them)
    under the newest key of LMS_DATA_KEYS, and recompute the lookup hashes under LMS_LOOKUP_KEY.
    Safe to interrupt and repeat. Rotation: put the new key first in LMS_DATA_KEYS, restart,
    run this, then drop the old key (README, "Keys")."""
    from lms.core.crypto import rotate

    changed = rotate(progress=lambda table, n: None)
    click.echo("re-encrypted: " + ", ".join(f"{table}={n:,}" for table, n in changed.items()))


@lms_group.command("generate-province")
@click.option("--persons", type=int, default=1_000_000, show_default=True)
@click.option("--institutions", type=int, default=20_000, show_default=True)
@click.option("--districts", type=int, default=100, show_default=True)
@click.option("--bans", type=int, default=300, show_default=True)
@with_appcontext
def generate_province_command(persons, institutions, districts, bans):
    """Build a synthetic province (for benchmarks) in bulk: COPY and INSERT ... SELECT."""
    import time

    from lms.province import LEDGER_ENTRIES_PER_PERSON, ProvinceExists, Size, generate
    from lms.registry.service import ensure_reference_data

    if min(persons, institutions, districts) < 1 or institutions > persons:
        raise click.UsageError("persons >= institutions >= 1 and districts >= 1")
    if db.engine.dialect.name != "postgresql":
        click.echo("note: this is meant for PostgreSQL; on SQLite keep the province small", err=True)
    ensure_reference_data()
    size = Size(persons=persons, institutions=institutions, districts=districts, bans=bans)
    # rows to write, roughly: the bar moves by each step's count
    total = districts + institutions + persons * (4 + LEDGER_ENTRIES_PER_PERSON) + bans
    started = time.monotonic()
    with click.progressbar(length=total, label="generating", show_eta=True, show_percent=True) as bar:
        try:
            built = generate(size, progress=lambda step, n: bar.update(n))
        except ProvinceExists as exc:
            raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(", ".join(f"{k}={v:,}" for k, v in vars(built).items())
               + f" in {time.monotonic() - started:.0f} s")
