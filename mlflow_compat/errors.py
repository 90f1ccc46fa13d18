"""MLflow's error protocol: ``{"error_code": ..., "message": ...}`` with MLflow's HTTP status."""
from registry_core import errors as core

# ERROR_CODE_TO_HTTP_STATUS of mlflow/exceptions.py
HTTP_STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "BAD_REQUEST": 400,
    "MALFORMED_REQUEST": 400,
    "UNAUTHENTICATED": 401,
    "CUSTOMER_UNAUTHORIZED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "RESOURCE_CONFLICT": 409,
    "ALREADY_EXISTS": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL_ERROR": 500,
    "INVALID_STATE": 500,
    "DATA_LOSS": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

_CORE_CODES = (
    (core.InvalidInput, "INVALID_PARAMETER_VALUE"),
    (core.NotFound, "RESOURCE_DOES_NOT_EXIST"),
    (core.AlreadyExists, "RESOURCE_ALREADY_EXISTS"),
    (core.InvalidState, "INVALID_STATE"),
    (core.Busy, "TEMPORARILY_UNAVAILABLE"),
    (core.StoreUnavailable, "TEMPORARILY_UNAVAILABLE"),
    (core.Unsupported, "NOT_IMPLEMENTED"),
    (core.Forbidden, "PERMISSION_DENIED"),
)


class MlflowError(Exception):
    """An error answered on the wire exactly as MLflow answers it."""

    def __init__(self, message: str, error_code: str = "INVALID_PARAMETER_VALUE"):
        super().__init__(message)
        self.message = message
        self.error_code = error_code

    @property
    def status(self) -> int:
        return HTTP_STATUS.get(self.error_code, 500)

    def to_json(self) -> dict:
        return {"error_code": self.error_code, "message": self.message}

    @classmethod
    def from_core(cls, exc: core.RegistryError) -> "MlflowError":
        for klass, code in _CORE_CODES:
            if isinstance(exc, klass):
                return cls(exc.message, code)
        return cls(exc.message, "INTERNAL_ERROR")


def invalid(message: str) -> MlflowError:
    return MlflowError(message, "INVALID_PARAMETER_VALUE")
