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

# mlflow/error_classification.py: what MLflow 3.17.2 adds to an error answer, by error code
_SQLSTATE = {
    "BAD_REQUEST": "KAM00",
    "CUSTOMER_UNAUTHORIZED": "KAM00",
    "ENDPOINT_NOT_FOUND": "KAM00",
    "FEATURE_DISABLED": "KAM00",
    "INTERNAL_ERROR": "XXM00",
    "INVALID_PARAMETER_VALUE": "KAM00",
    "INVALID_STATE": "XXM00",
    "NOT_FOUND": "KAM00",
    "PERMISSION_DENIED": "KAM00",
    "RESOURCE_ALREADY_EXISTS": "KAM00",
    "RESOURCE_DOES_NOT_EXIST": "KAM00",
    "TEMPORARILY_UNAVAILABLE": "XXM00",
}
_ERROR_CLASS = {
    "BAD_REQUEST": "INVALID_PARAMETER_VALUE",
    "CUSTOMER_UNAUTHORIZED": "PERMISSION_DENIED",
    "ENDPOINT_NOT_FOUND": "RESOURCE_NOT_FOUND",
    "FEATURE_DISABLED": "FEATURE_DISABLED",
    "INTERNAL_ERROR": "CLIENT_INTERNAL_ERROR",
    "INVALID_PARAMETER_VALUE": "INVALID_PARAMETER_VALUE",
    "INVALID_STATE": "CLIENT_INTERNAL_ERROR",
    "NOT_FOUND": "RESOURCE_NOT_FOUND",
    "PERMISSION_DENIED": "PERMISSION_DENIED",
    "RESOURCE_ALREADY_EXISTS": "RESOURCE_ALREADY_EXISTS",
    "RESOURCE_DOES_NOT_EXIST": "RESOURCE_NOT_FOUND",
    "TEMPORARILY_UNAVAILABLE": "CLIENT_INTERNAL_ERROR",
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
        """MLflow's error JSON: code and message, then the classification 3.x adds where it has
        one for the code (``sqlstate``, ``error_class``)."""
        body = {"error_code": self.error_code, "message": self.message}
        if self.error_code in _SQLSTATE:
            body["sqlstate"] = _SQLSTATE[self.error_code]
        if self.error_code in _ERROR_CLASS:
            body["error_class"] = _ERROR_CLASS[self.error_code]
        return body

    @classmethod
    def from_core(cls, exc: core.RegistryError) -> "MlflowError":
        for klass, code in _CORE_CODES:
            if isinstance(exc, klass):
                return cls(exc.message, code)
        return cls(exc.message, "INTERNAL_ERROR")


def invalid(message: str) -> MlflowError:
    return MlflowError(message, "INVALID_PARAMETER_VALUE")
