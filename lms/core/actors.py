"""Who acts when no person does: the command line, the demo, background jobs.

Every state-changing service takes the acting user as its first argument. A front door with
no signed-in person (a CLI command, a scheduled job, the demo builder) passes a named
`SystemActor`, never a bare string, so the audit log says which door it was and the
service's authorisation knows it is trusted code, not a person.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SystemActor:
    #: what acted, as the audit log shows it: "cli", "demo", "job:close_sessions", ...
    name: str

    id = None
    role = "system"
    person_id = None
    organisation_id = None
    district_id = None
    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_system = True

    @property
    def display_name(self) -> str:
        return self.name

    def get_id(self):  # never signs in
        return None


#: the command line (flask lms …, flask registry …)
CLI = SystemActor("cli")
#: the demo builder and the test fixtures' reference data
DEMO = SystemActor("demo")


def system_actor(name: str) -> SystemActor:
    """A named system actor for a job or command: system_actor("job:close_sessions")."""
    return SystemActor(name)


def is_system(actor) -> bool:
    return isinstance(actor, SystemActor)
