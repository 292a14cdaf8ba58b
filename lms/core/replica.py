"""Read-heavy pages may read from a PostgreSQL read replica (`DATABASE_REPLICA_URL`).

SQLAlchemy's routing-session pattern ("Custom Vertical Partitioning" / "Session.get_bind" in
the ORM documentation): a Session subclass whose `get_bind` chooses the engine per statement.
The replica is Flask-SQLAlchemy's bind ``"replica"`` (`SQLALCHEMY_BINDS`); no model is bound to
it, so nothing is ever created or migrated there. A statement goes to the replica only when

- the view is marked `@reads_from_replica` and the request is a GET or HEAD,
- the statement is a SELECT, and
- this session has written nothing yet in the request (no pending, changed or deleted
  objects, no flush, no UPDATE/INSERT/DELETE statement): once a request has written, every
  later read in it is pinned to the primary, so it reads its own writes.

Everything else — every other view, every write, the CLI and jobs — uses the primary. Without
`DATABASE_REPLICA_URL` there is no replica bind and everything uses the primary.

If the replica does not answer, a marked view is answered from the primary instead, and this
process leaves the replica alone for RETRY_REPLICA_AFTER seconds.

A replica lags the primary by a little (asynchronous streaming replication: usually well under
a second). Mark only pages where that is harmless: the regulator's lists, dashboards and
exports. Never a page a user lands on right after a change they expect to see there.
"""

from __future__ import annotations

import logging
import time
from functools import wraps

from flask import current_app, g, has_request_context, request
from flask_sqlalchemy.session import Session
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

#: the name of the replica's bind in SQLALCHEMY_BINDS
REPLICA = "replica"
_WROTE = "lms_wrote"
#: after the replica fails to answer, this process reads from the primary for this long
#: (a health note, not data: each server finds out for itself)
RETRY_REPLICA_AFTER = 30.0
_replica_down_until = 0.0
log = logging.getLogger(__name__)


def binds(replica_url: str | None) -> dict:
    """SQLALCHEMY_BINDS for the environment: the replica's bind when a URL is given."""
    return {REPLICA: replica_url} if replica_url else {}


class RoutingSession(Session):
    """Flask-SQLAlchemy's session, sending a replica-eligible view's reads to the replica."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and self._routes_to_replica(clause):
            return self._db.engines[REPLICA]
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)

    def _routes_to_replica(self, clause) -> bool:
        if not (has_request_context() and g.get("read_replica")):
            return False
        if clause is None or not getattr(clause, "is_select", False):
            return False
        if self._flushing or self.info.get(_WROTE) or self.new or self.dirty or self.deleted:
            return False
        return REPLICA in self._db.engines


@event.listens_for(RoutingSession, "after_flush")
def _pin_after_flush(session, _context):
    session.info[_WROTE] = True


@event.listens_for(RoutingSession, "do_orm_execute")
def _pin_after_write_statement(state):
    if not state.is_select:
        state.session.info[_WROTE] = True


def reads_from_replica(view):
    """Mark a read-only view whose queries may be answered by the read replica."""

    @wraps(view)
    def routed(*args, **kwargs):
        global _replica_down_until
        if request.method not in ("GET", "HEAD") or time.monotonic() < _replica_down_until:
            return view(*args, **kwargs)
        from lms.extensions import db

        g.read_replica = True
        try:
            return view(*args, **kwargs)
        except OperationalError:
            if REPLICA not in current_app.config.get("SQLALCHEMY_BINDS", {}):
                raise
            # the replica is down or unreachable: this read-only view answers from the
            # primary instead (if the primary is the one down, this raises again)
            log.warning("read replica unavailable; reading from the primary for %ss",
                        RETRY_REPLICA_AFTER)
            _replica_down_until = time.monotonic() + RETRY_REPLICA_AFTER
            db.session.rollback()
            g.read_replica = False
            return view(*args, **kwargs)
        finally:
            g.read_replica = False

    routed.reads_from_replica = True
    return routed


def replica_endpoints(app) -> list[str]:
    """The endpoints marked @reads_from_replica (for the deployment notes and the tests)."""
    return sorted(endpoint for endpoint, view in app.view_functions.items()
                  if _marked(view))


def _marked(view) -> bool:
    while view is not None:
        if getattr(view, "reads_from_replica", False):
            return True
        view = getattr(view, "__wrapped__", None)
    return False
