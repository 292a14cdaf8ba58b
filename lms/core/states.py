"""One small shape for everything that has states (DESIGN §3, the subsidy claims' pattern).

A model's states and actions are TitledEnums; one table maps (state, action) to the next
state; `may(user, obj, action)` says whether a user's role and scope allow the action (the
state aside); an optional `guard(obj, action)` gives a reason the action is not possible now
for reasons beyond the table (a date, a missing score). `apply` authorises the actor, looks the
move up, writes it with a compare-and-set on the row (of two people acting at once one wins,
the other is told), records a StateEvent (who, when, why, with what authority) and an audit
record, and flushes. `allowed_actions` is what pages offer: exactly the actions `apply` would
accept from this user now.

    CERTIFICATE = StateMachine(Certificate, CertState, CertAction, TRANSITIONS, may=may_act,
                               audit_prefix="certificates.certificate")
    CERTIFICATE.apply(actor, cert, CertAction.SUSPEND, reason="…")
    CERTIFICATE.allowed_actions(cert, user)   # -> [CertAction.REVOKE, CertAction.REINSTATE]

Not a framework: no hooks or signals; a service wraps `apply` with its own side effects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from lms.core import audit
from lms.core.actors import is_system
from lms.core.clock import utc_now
from lms.core.errors import DomainError, PermissionDenied
from lms.core.models import StateEvent
from lms.extensions import db


class InvalidTransition(DomainError):
    """The object's state does not allow that action (or someone moved it just now)."""


class ActionNotPossible(DomainError):
    """The table allows the action, but a rule beyond it does not (yet)."""


#: every state machine, so the audit log can title the codes they record
MACHINES: list = []


def audit_titles() -> dict:
    """Audit code -> the action's title for every move a state machine records."""
    titles = {}
    for machine in MACHINES:
        prefix = machine.audit_prefix or machine.model.__tablename__
        for (_state, action) in machine.transitions:
            titles.setdefault(f"{prefix}_{action.value}", action.title)
    return titles


@dataclass(frozen=True)
class StateMachine:
    model: type
    states: type
    actions: type
    #: (state, action) -> next state; nothing else moves the object
    transitions: dict
    #: may(user, obj, action) -> bool: role and scope, the state aside
    may: Callable
    #: guard(obj, action) -> None or a translated reason the action cannot be taken now
    guard: Callable | None = None
    #: the model's state attribute (and column)
    column: str = "state"
    #: the audit action prefix: f"{audit_prefix}_{action}"
    audit_prefix: str = ""

    def __post_init__(self):
        MACHINES.append(self)

    def state_of(self, obj):
        return self.states(getattr(obj, self.column))

    def next_state(self, obj, action):
        """The state `action` leads to from `obj`'s state, or InvalidTransition."""
        action = self.parse_action(action)
        state = self.state_of(obj)
        target = self.transitions.get((state, action))
        if target is None:
            raise InvalidTransition(_l("%(action)s is not possible while it is %(state)s.",
                                       action=action.title, state=state.title))
        return target

    def parse_action(self, action):
        try:
            return self.actions(action)
        except ValueError:
            raise InvalidTransition(_l("Unknown action.")) from None

    def allowed_actions(self, obj, user) -> list:
        """The actions this user may take on `obj` now, in the table's order."""
        if user is None or not getattr(user, "is_authenticated", False):
            return []
        state = self.state_of(obj)
        return [action for (source, action) in self.transitions
                if source == state and (is_system(user) or self.may(user, obj, action))
                and not (self.guard and self.guard(obj, action))]

    def apply(self, actor, obj, action, *, reason: str = "", authority: str = "",
              values: dict | None = None, **audit_details):
        """Move `obj` by one action of the table, or refuse with a typed error."""
        action = self.parse_action(action)
        if actor is None or isinstance(actor, str) or not getattr(actor, "is_authenticated", False):
            raise PermissionDenied(_l("Please sign in to do that."))
        if not is_system(actor) and not self.may(actor, obj, action):
            raise PermissionDenied(_l("You may not %(action)s this.", action=action.title))
        source = self.state_of(obj)
        target = self.next_state(obj, action)
        problem = self.guard(obj, action) if self.guard else None
        if problem:
            raise ActionNotPossible(problem)
        column = getattr(self.model, self.column)
        moved = db.session.execute(
            update(self.model).where(self.model.id == obj.id, column == source.value)
            .values({self.column: target.value, **(values or {})})
            .execution_options(synchronize_session=False)).rowcount
        if moved != 1:
            db.session.refresh(obj)
            raise InvalidTransition(_l("Someone else changed this just now; it is %(state)s.",
                                       state=self.state_of(obj).title))
        db.session.refresh(obj)
        reason = (reason or "").strip()
        db.session.add(StateEvent(
            object_type=self.model.__tablename__, object_id=obj.id, action=action.value,
            from_state=source.value, to_state=target.value, actor_id=getattr(actor, "id", None),
            actor_label=getattr(actor, "display_name", "") or "", authority=authority,
            reason=reason, created_at=utc_now()))
        audit.record(actor, f"{self.audit_prefix or self.model.__tablename__}_{action.value}", obj,
                     from_state=source.value, to_state=target.value, reason=reason,
                     authority=authority, **audit_details)
        db.session.flush()
        return obj

    def record_start(self, actor, obj, *, reason: str = "", authority: str = "") -> None:
        """Record an object's first state (creation) as an event, so its history is whole."""
        db.session.add(StateEvent(
            object_type=self.model.__tablename__, object_id=obj.id, action="create",
            from_state="", to_state=self.state_of(obj).value, actor_id=getattr(actor, "id", None),
            actor_label=getattr(actor, "display_name", "") or "", authority=authority,
            reason=(reason or "").strip(), created_at=utc_now()))

    def history(self, obj) -> list[StateEvent]:
        """Every move of `obj`, oldest first."""
        return list(db.session.scalars(
            select(StateEvent).where(StateEvent.object_type == self.model.__tablename__,
                                     StateEvent.object_id == obj.id)
            .order_by(StateEvent.created_at, StateEvent.id)))
