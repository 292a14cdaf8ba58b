"""flask auth …: account housekeeping for operators and the scheduler."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from lms.core.actors import system_actor
from lms.extensions import db

auth_group = AppGroup("auth", help="Accounts: retention of security data.")


@auth_group.command("purge")
def purge_command():
    """Delete security events past their retention period, expired remembered browsers and
    expired one-time passwords (the audit log is kept: it is append-only)."""
    from lms.auth.service import purge_expired

    counts = purge_expired(system_actor("cli:auth-purge"))
    db.session.commit()
    for name, count in counts.items():
        click.echo(f"{name}: {count}")
