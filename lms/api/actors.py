"""The actor another system is when it calls the API with a token.

Not a SystemActor (trusted code that passes every gate): an API client is an outsider with a
scope, so services authorise it through their named predicates like a signed-in user, and the
audit log names it ("api:<client name>")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

#: what API clients are, as services' predicates see it (never one of auth's roles, so no
#: predicate written for people lets a token through by accident)
API_ROLE = "api_client"


@dataclass(frozen=True)
class ApiClientActor:
    client_id: int
    token_id: int
    client_name: str
    #: lms.api.models.Scope value: district | city | bans_feed
    scope: str
    #: the district a district-scoped client reads; None otherwise
    district_id: int | None = None
    #: when the token was last marked used, as authenticate read it (record_call's throttle)
    last_used_at: datetime | None = field(default=None, compare=False)

    id = None  # no users.id: audit rows carry the label
    role = API_ROLE
    person_id = None
    organisation_id = None
    locale = None  # the request's Accept-Language decides
    must_change_password = False
    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_system = False

    @property
    def display_name(self) -> str:
        return f"api:{self.client_name}"

    def get_id(self):  # never signs in: the token is checked on every request
        return None


def is_api_client(actor) -> bool:
    return isinstance(actor, ApiClientActor)
