"""Domain errors. The protocol layer maps each class to its wire error code and status."""


class RegistryError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(RegistryError):
    """The request is malformed or breaks a rule (limits, names, immutability)."""


class NotFound(RegistryError):
    """The named object does not exist (or not in the lifecycle stage asked for)."""


class AlreadyExists(RegistryError):
    """An object with that identity exists already."""


class InvalidState(RegistryError):
    """The object exists but is in a state that forbids the operation."""


class Busy(RegistryError):
    """The database could not take the write now; nothing was applied, retry is safe."""


class Unsupported(RegistryError):
    """The backend cannot do this (multipart upload on local disk, ...)."""


class StoreUnavailable(RegistryError):
    """The artifact store could not be reached; nothing was changed."""


class Forbidden(RegistryError):
    """The operation would change something the registry keeps immutable."""
