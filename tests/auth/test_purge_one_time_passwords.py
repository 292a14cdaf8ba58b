"""The schedule's purge: one-time passwords past their validity are removed (they open nothing);
fresh ones and chosen passwords stay."""

from __future__ import annotations

from datetime import timedelta

from lms.auth.service import hash_one_time_password
from lms.auth.tasks import purge_expired_one_time_passwords
from lms.core.actors import system_actor
from lms.core.clock import utc_now
from lms.extensions import db


def test_expired_one_time_passwords_are_removed(app, world):
    stale, fresh, chosen = (world.users[k] for k in ("caregiver", "caregiver_other", "inst_admin"))
    stale.password_hash = hash_one_time_password("Aa3456789x", issued_at=utc_now() - timedelta(days=30))
    fresh.password_hash = hash_one_time_password("Bb3456789x", issued_at=utc_now() - timedelta(hours=1))
    kept = chosen.password_hash
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["jobs", "run", "purge-one-time-passwords"])
    assert result.exit_code == 0 and "'purged': 1" in result.output
    db.session.expire_all()
    assert stale.password_hash is None
    assert fresh.password_hash.startswith("otp$") and chosen.password_hash == kept
    assert purge_expired_one_time_passwords(system_actor("jobs:test")) == 0
