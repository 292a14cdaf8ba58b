"""Domain errors: raised by services, shown to users by views."""


class DomainError(Exception):
    """A rule was broken. `message` is already translated (or lazily translatable);
    `field` names the form field it belongs beside, when there is one."""

    #: the field a subclass's errors usually belong to
    default_field: str | None = None

    def __init__(self, message, *, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field or self.default_field

    def __str__(self) -> str:
        return str(self.message)


class NotFound(DomainError):
    pass


class PermissionDenied(DomainError):
    pass
