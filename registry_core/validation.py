"""The rules every write obeys: key names, value limits, batch sizes (MLflow's own limits)."""

from __future__ import annotations

import math
import posixpath
import re
import struct

from registry_core.errors import InvalidInput

MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500
MAX_RUN_NAME_LENGTH = 250

# Stored in the orderable ``value`` column in place of +/-Infinity (MySQL has no infinite
# doubles), so that SQL filters and orderings treat infinities as the largest doubles; the true
# value is kept beside it in ``value_bits``.
FLOAT_MAX = 1.7976931348623157e308


def float_bits(value: float) -> int:
    """The IEEE-754 bits of a double as a signed 64-bit integer (what a BIGINT holds)."""
    return struct.unpack("<q", struct.pack("<d", value))[0]


def float_from_bits(bits: int) -> float:
    """The double whose IEEE-754 bits are ``bits`` (a signed 64-bit integer)."""
    known = _SPECIAL_VALUES.get(bits)
    if known is not None:
        return known
    return struct.unpack("<d", struct.pack("<q", int(bits)))[0]


# The only values whose stored ``value`` differs from the logged one (NaN has ``is_nan``).
INF_BITS = float_bits(math.inf)
NEG_INF_BITS = float_bits(-math.inf)
NEG_ZERO_BITS = float_bits(-0.0)
_SPECIAL_VALUES = {INF_BITS: math.inf, NEG_INF_BITS: -math.inf, NEG_ZERO_BITS: -0.0}

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_EXPERIMENT_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")

_BAD_CHARS = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), "
    "spaces ( ), colon(:) and slashes (/)."
)
_BAD_PATH = "Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '{}'"


def _path_not_unique(name: str) -> bool:
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith(("..", "/"))


def validate_key(kind: str, key) -> str:
    """Metric, param and run-tag keys (``kind`` is 'metric', 'param' or 'tag')."""
    if key.__class__ is str and (kind, key) in _VALID_KEYS:  # a batch repeats its keys
        return key
    _check_key(kind, key)
    if len(_VALID_KEYS) > 65536:
        _VALID_KEYS.clear()
    _VALID_KEYS.add((kind, key))
    return key


_VALID_KEYS: set = set()


def _check_key(kind: str, key) -> None:
    if key is None or key == "":
        raise InvalidInput("Missing value for required parameter 'key'. A key name must be provided.")
    if not isinstance(key, str):
        raise InvalidInput(f"Invalid value {key!r} for parameter 'key' supplied: must be a string")
    if not _KEY_RE.match(key):
        raise InvalidInput(f"Invalid {kind} name: '{key}'. {_BAD_CHARS}")
    if _path_not_unique(key):
        raise InvalidInput(f"Invalid {kind} name: '{key}'. " + _BAD_PATH.format(posixpath.normpath(key)))
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise InvalidInput(f"'key' exceeds the maximum length of {MAX_ENTITY_KEY_LENGTH} characters")


def truncate(value: str | None, limit: int) -> str | None:
    """MLflow silently truncates over-long param and tag values (MLFLOW_TRUNCATE_LONG_VALUES)."""
    if value is not None and len(value) > limit:
        return value[:limit]
    return value


def param_value(value) -> str:
    if value is None:
        raise InvalidInput("Missing value for required parameter 'value'.")
    return truncate(str(value), MAX_PARAM_VAL_LENGTH)


def tag_value(value) -> str:
    return truncate("" if value is None else str(value), MAX_TAG_VAL_LENGTH)


def metric_value(key: str, value) -> tuple[float, bool, int | None]:
    """(stored value, is_nan, value_bits) for a metric value.

    ``value`` is what the orderable ``value`` column holds: the value itself, except +/-FLOAT_MAX
    for +/-Infinity, 0.0 for -0.0 and 0.0 for NaN (with ``is_nan``). ``value_bits`` is None
    unless the stored value differs from the logged one (infinities, -0.0): then the logged
    value's IEEE-754 bits, from which every read restores it exactly. The bits are worked out for
    those rare values only: this runs for each of a log-batch's 1,000 points."""
    if isinstance(value, bool) or value is None:
        raise InvalidInput(
            f"Got invalid value {value} for metric '{key}' (timestamp=..). "
            "Please specify value as a valid double (64-bit floating point)"
        )
    if isinstance(value, str):
        special = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "inf": math.inf, "-inf": -math.inf}
        lowered = value.strip().lower()
        if lowered in special:
            value = special[lowered]
        else:
            try:
                value = float(value)
            except ValueError:
                raise InvalidInput(
                    f"Got invalid value {value} for metric '{key}'. "
                    "Please specify value as a valid double (64-bit floating point)"
                ) from None
    if not isinstance(value, (int, float)):
        raise InvalidInput(
            f"Got invalid value {value} for metric '{key}'. "
            "Please specify value as a valid double (64-bit floating point)"
        )
    value = float(value)
    if -FLOAT_MAX <= value <= FLOAT_MAX:  # every finite double (NaN fails both comparisons)
        if value == 0.0 and math.copysign(1.0, value) < 0:
            return 0.0, False, NEG_ZERO_BITS
        return value, False, None
    if value != value:
        return 0.0, True, None
    return (FLOAT_MAX, False, INF_BITS) if value > 0 else (-FLOAT_MAX, False, NEG_INF_BITS)


def stored_metric_value(value: float, is_nan, bits: int | None) -> float:
    """The logged value back from its stored form (``value``, ``is_nan``, ``value_bits``)."""
    if is_nan:
        return math.nan
    if bits is not None:
        return float_from_bits(bits)
    return value


def int_value(name: str, value, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"Invalid value {value} for parameter '{name}' supplied")
    try:
        number = int(value)
        if isinstance(value, float) and number != value:
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidInput(f"Invalid value {value!r} for parameter '{name}' supplied") from None
    if minimum is not None and number < minimum:
        raise InvalidInput(f"Invalid value {value} for parameter '{name}' supplied. It must be >= {minimum}")
    if not -(2**63) <= number < 2**63:
        raise InvalidInput(f"Invalid value {value} for parameter '{name}' supplied: out of range for a 64-bit integer.")
    return number


def experiment_id(value) -> int:
    """Experiment ids are strings on the wire and integers in the store."""
    text = str(value) if value is not None else ""
    if not _EXPERIMENT_ID_RE.match(text):
        raise InvalidInput(f"Invalid experiment ID: '{value}'")
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"Invalid experiment ID '{value}'. Experiment ID must be a valid integer.") from None


def experiment_name(name) -> str:
    if name is None or name == "":
        raise InvalidInput("Invalid experiment name: ''")
    if not isinstance(name, str):
        raise InvalidInput(f"Invalid experiment name: {name!r}. Expects a string.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidInput(
            f"Invalid experiment name: '{name[:50]}...'. Experiment name exceeds the maximum "
            f"length of {MAX_EXPERIMENT_NAME_LENGTH} characters"
        )
    return name


def experiment_tag(key, value) -> tuple[str, str]:
    validate_key("tag", key)
    if len(key) > MAX_EXPERIMENT_TAG_KEY_LENGTH:
        raise InvalidInput(f"'key' exceeds the maximum length of {MAX_EXPERIMENT_TAG_KEY_LENGTH} characters")
    value = "" if value is None else str(value)
    if len(value) > MAX_EXPERIMENT_TAG_VAL_LENGTH:
        raise InvalidInput(f"'value' exceeds the maximum length of {MAX_EXPERIMENT_TAG_VAL_LENGTH} characters")
    return key, value


def batch_sizes(n_metrics: int, n_params: int, n_tags: int) -> None:
    if n_metrics > MAX_METRICS_PER_BATCH:
        raise InvalidInput(
            f"A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. "
            f"Got {n_metrics} metrics. Please split up metrics across multiple requests and try again."
        )
    if n_params > MAX_PARAMS_TAGS_PER_BATCH:
        raise InvalidInput(
            f"A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} params. "
            f"Got {n_params} params. Please split up params across multiple requests and try again."
        )
    if n_tags > MAX_PARAMS_TAGS_PER_BATCH:
        raise InvalidInput(
            f"A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} tags. "
            f"Got {n_tags} tags. Please split up tags across multiple requests and try again."
        )
    total = n_metrics + n_params + n_tags
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidInput(
            f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} metrics, params, "
            f"and tags. Got {total} metrics, params, and tags. Please split up metrics, params, and "
            "tags across multiple requests and try again."
        )


def limited(name: str, value: str | None, limit: int, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"Missing value for required parameter '{name}'.")
        return value
    if len(value) > limit:
        raise InvalidInput(f"'{name}' exceeds the maximum length of {limit} characters")
    return value


# --- the model registry ----------------------------------------------------------------------

MAX_REGISTRY_TAG_VALUE = 100_000


def model_name(name) -> str:
    """A registered model's name: not empty, no '/' or ':', at most 256 characters."""
    if not name or not isinstance(name, str):
        raise InvalidInput("Registered model name cannot be empty.")
    if "/" in name or ":" in name:
        raise InvalidInput(f"Invalid name: '{name}'. Registered model name cannot contain '/' or ':'.")
    if len(name) > 256:
        raise InvalidInput("Registered model name exceeds the maximum length of 256 characters")
    return name


def registry_tag(key, value) -> tuple[str, str]:
    """A registered model's or model version's tag: a valid key, a value as text (None is "")."""
    validate_key("tag", key)
    value = "" if value is None else str(value)
    if len(value) > MAX_REGISTRY_TAG_VALUE:
        raise InvalidInput(f"'value' exceeds the maximum length of {MAX_REGISTRY_TAG_VALUE} characters")
    return key, value
