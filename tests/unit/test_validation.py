"""registry_core.validation: MLflow's key rules, value limits and batch sizes (spec section D)."""

from __future__ import annotations

import math

import pytest

from registry_core import validation as v
from registry_core.errors import InvalidInput


def raises(fn, *args, fragment: str = "", **kwargs) -> str:
    with pytest.raises(InvalidInput) as info:
        fn(*args, **kwargs)
    assert fragment in info.value.message, info.value.message
    return info.value.message


# --- keys ---------------------------------------------------------------------------------------

GOOD_KEYS = ["a", "loss", "val/loss", "a b", "a:b", "a.b", "a-b_c", "x" * 250, "épsilon", "a/b/c", "a..b", "1", "a."]
BAD_CHAR_KEYS = ["a!", "a|b", "a\\b", "tab\tkey", "new\nline", "a*b", "a?b", "a'b", 'a"b', "a,b", "a+b", "a=b"]
BAD_PATH_KEYS = ["..a", "../x", "/abs", "a/../b", ".", "..", "a/", "a//b", "./a", "a/./b", "../"]


@pytest.mark.parametrize("kind", ["metric", "param", "tag"])
def test_validate_key(kind):
    for key in GOOD_KEYS:
        assert v.validate_key(kind, key) == key
    for key in BAD_CHAR_KEYS:
        message = raises(v.validate_key, kind, key, fragment="Names may only contain alphanumerics")
        assert kind in message
    for key in BAD_PATH_KEYS:
        raises(v.validate_key, kind, key, fragment="Names may be treated as files")
    raises(v.validate_key, kind, "x" * 251, fragment="exceeds the maximum length of 250 characters")
    raises(v.validate_key, kind, None, fragment="Missing value for required parameter 'key'")
    raises(v.validate_key, kind, "", fragment="Missing value for required parameter 'key'")
    raises(v.validate_key, kind, 5, fragment="must be a string")


def test_key_rules_agree_with_mlflow():
    from mlflow.utils.validation import path_not_unique, validate_param_and_metric_name

    for key in GOOD_KEYS + BAD_CHAR_KEYS + BAD_PATH_KEYS:
        mlflow_ok = bool(validate_param_and_metric_name(key)) and not path_not_unique(key)
        try:
            v.validate_key("param", key)
            ours = True
        except InvalidInput:
            ours = False
        assert ours == mlflow_ok, key
    # the path message names what the key would resolve to, as MLflow's does
    assert "'b'" in raises(v.validate_key, "param", "a/../b")


# --- values --------------------------------------------------------------------------------------


def test_truncation_of_param_and_tag_values():
    assert v.truncate(None, 5) is None
    assert v.truncate("abc", 5) == "abc"
    assert v.truncate("abcdefg", 5) == "abcde"
    assert v.param_value("p" * 7000) == "p" * 6000
    assert v.param_value("p" * 6000) == "p" * 6000
    assert v.param_value(5) == "5"
    assert v.param_value("") == ""
    raises(v.param_value, None, fragment="Missing value for required parameter 'value'")
    assert v.tag_value("t" * 9000) == "t" * 8000
    assert v.tag_value("t" * 8000) == "t" * 8000
    assert v.tag_value(None) == ""
    assert v.tag_value(3) == "3"


# Every double whose stored form needs care: the extremes, subnormals, signed zeros, NaN, infinities.
SPECIAL_DOUBLES = [
    1.7976931348623157e308,
    -1.7976931348623157e308,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    -2.2250738585072014e-308,
    2.225073858507201e-308,
    0.0,
    -0.0,
    math.inf,
    -math.inf,
    math.nan,
    0.1 + 0.2,
    1e300,
    -1e-300,
]


def same_double(a: float, b: float) -> bool:
    """Equal as doubles are told apart: NaN equals NaN, -0.0 differs from 0.0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def test_metric_values():
    assert v.metric_value("m", 1) == (1.0, False, None)
    assert v.metric_value("m", -2.5) == (-2.5, False, None)
    assert v.metric_value("m", "3.25") == (3.25, False, None)
    assert v.metric_value("m", 0) == (0.0, False, None)
    stored, is_nan, bits = v.metric_value("m", math.nan)
    assert (stored, is_nan, bits) == (0.0, True, None)
    for text in ("NaN", "nan", " NaN "):
        assert v.metric_value("m", text) == (0.0, True, None)
    for inf in (math.inf, "Infinity", "inf", "infinity"):
        assert v.metric_value("m", inf) == (v.FLOAT_MAX, False, v.INF_BITS)
    for ninf in (-math.inf, "-Infinity", "-inf"):
        assert v.metric_value("m", ninf) == (-v.FLOAT_MAX, False, v.NEG_INF_BITS)
    # the largest doubles are themselves (no bits): only the infinities stand in for them
    assert v.metric_value("m", v.FLOAT_MAX) == (v.FLOAT_MAX, False, None)
    assert v.metric_value("m", -v.FLOAT_MAX) == (-v.FLOAT_MAX, False, None)
    # -0.0 is stored as 0.0 (SQL compares and orders it so), its sign in the bits
    for negative_zero in (-0.0, "-0.0", "-0"):
        stored, is_nan, bits = v.metric_value("m", negative_zero)
        assert (stored, is_nan, bits) == (0.0, False, v.NEG_ZERO_BITS) and math.copysign(1.0, stored) == 1.0
    assert (v.INF_BITS, v.NEG_INF_BITS, v.NEG_ZERO_BITS) == (0x7FF0000000000000, -(2**52), -(2**63))
    for tiny in (5e-324, -5e-324, 2.2250738585072014e-308):
        assert v.metric_value("m", tiny) == (tiny, False, None)
    for bad in (True, False, None, "abc", "", [1], {"a": 1}, object()):
        raises(v.metric_value, "m", bad, fragment="Got invalid value")
    assert "'m'" in raises(v.metric_value, "m", "abc")
    assert "valid double" in raises(v.metric_value, "m", True)


def test_stored_metric_values_round_trip():
    for value in SPECIAL_DOUBLES:
        stored, is_nan, bits = v.metric_value("m", value)
        assert same_double(v.stored_metric_value(stored, is_nan, bits), value), value
        # value_bits only where the stored value is not the logged one
        assert (bits is not None) == (not math.isnan(value) and not same_double(stored, value)), value
        # the stored value orders as the logged one does: infinities as the largest doubles
        assert stored == (0.0 if math.isnan(value) else max(-v.FLOAT_MAX, min(v.FLOAT_MAX, value)))
    assert math.isnan(v.stored_metric_value(*v.metric_value("m", "NaN")))
    assert v.stored_metric_value(*v.metric_value("m", "Infinity")) == math.inf
    assert v.stored_metric_value(*v.metric_value("m", "-Infinity")) == -math.inf
    assert v.stored_metric_value(v.FLOAT_MAX, False, None) == v.FLOAT_MAX  # no longer read as inf
    assert v.stored_metric_value(v.FLOAT_MAX, False, v.INF_BITS) == math.inf
    assert v.stored_metric_value(0.0, True, None) != v.stored_metric_value(0.0, True, None)  # NaN


def test_float_bits_round_trip():
    for value in SPECIAL_DOUBLES:
        bits = v.float_bits(value)
        assert -(2**63) <= bits < 2**63  # a BIGINT
        assert same_double(v.float_from_bits(bits), value), value


def test_int_value():
    assert v.int_value("step", 5) == 5
    assert v.int_value("step", "12") == 12
    assert v.int_value("step", -3) == -3
    assert v.int_value("step", 4.0) == 4
    assert v.int_value("timestamp", 0, 0) == 0
    raises(v.int_value, "timestamp", -1, 0, fragment="It must be >= 0")
    raises(v.int_value, "step", True, fragment="'step'")
    raises(v.int_value, "step", 1.5, fragment="'step'")
    raises(v.int_value, "step", "x", fragment="'step'")
    raises(v.int_value, "step", None, fragment="'step'")


# --- ids and experiment names/tags ----------------------------------------------------------------


def test_ids():
    assert v.experiment_id("0") == 0
    assert v.experiment_id(0) == 0
    assert v.experiment_id("42") == 42
    assert v.experiment_id(7) == 7
    for bad in ("", None, "-1", "../1", "1 2", "a" * 65, "1/2"):
        raises(v.experiment_id, bad, fragment="Invalid experiment ID")
    # well-formed but not a number: a 400, with MLflow's SQL-store message
    with pytest.raises(InvalidInput) as info:
        v.experiment_id("abc")
    assert "Invalid experiment ID 'abc'. Experiment ID must be a valid integer." in info.value.message


def test_experiment_names_and_tags():
    assert v.experiment_name("exp") == "exp"
    assert v.experiment_name("n" * 500) == "n" * 500
    assert v.experiment_name("with/slash and spaces!") == "with/slash and spaces!"
    raises(v.experiment_name, "", fragment="Invalid experiment name")
    raises(v.experiment_name, None, fragment="Invalid experiment name")
    raises(v.experiment_name, 5, fragment="Expects a string")
    raises(v.experiment_name, "n" * 501, fragment="exceeds the maximum length of 500")

    assert v.experiment_tag("k", "v") == ("k", "v")
    assert v.experiment_tag("k", None) == ("k", "")
    assert v.experiment_tag("k" * 250, "v" * 20000) == ("k" * 250, "v" * 20000)
    raises(v.experiment_tag, "k", "v" * 20001, fragment="'value' exceeds the maximum length of 20000")
    raises(v.experiment_tag, "k" * 251, "v", fragment="exceeds the maximum length of 250")
    raises(v.experiment_tag, "../k", "v", fragment="Names may be treated as files")
    raises(v.experiment_tag, "k!", "v", fragment="Names may only contain")


# --- batches and other limits ---------------------------------------------------------------------


def test_batch_sizes_with_mlflows_messages():
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_batch_log_limits

    v.batch_sizes(0, 0, 0)
    v.batch_sizes(1000, 0, 0)
    v.batch_sizes(0, 100, 100)
    v.batch_sizes(800, 100, 100)
    cases = [(1001, 0, 0), (0, 101, 0), (0, 0, 101), (1000, 1, 0), (900, 100, 1), (1001, 101, 101), (0, 101, 101)]
    for n_metrics, n_params, n_tags in cases:
        ours = raises(v.batch_sizes, n_metrics, n_params, n_tags)
        with pytest.raises(MlflowException) as info:
            _validate_batch_log_limits([0] * n_metrics, [0] * n_params, [0] * n_tags)
        assert ours == info.value.message, (n_metrics, n_params, n_tags)
    assert raises(v.batch_sizes, 1001, 0, 0) == (
        "A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please split up "
        "metrics across multiple requests and try again."
    )


def test_limited():
    assert v.limited("dataset.name", "n", 5) == "n"
    assert v.limited("dataset.name", "n" * 5, 5) == "n" * 5
    raises(v.limited, "dataset.name", "n" * 6, 5, fragment="'dataset.name' exceeds the maximum length of 5")
    raises(v.limited, "dataset.digest", None, 5, fragment="Missing value for required parameter 'dataset.digest'")
    raises(v.limited, "dataset.digest", "", 5, fragment="Missing value")
    assert v.limited("dataset.schema", None, 5, required=False) is None
    assert v.limited("dataset.schema", "", 5, required=False) == ""
    assert v.MAX_DATASET_DIGEST_SIZE == 36 and v.MAX_DATASET_NAME_SIZE == 500
    assert v.MAX_INPUT_TAG_KEY_SIZE == 255 and v.MAX_INPUT_TAG_VALUE_SIZE == 500


def test_limits_match_mlflow():
    import mlflow.utils.validation as mv

    assert v.MAX_ENTITY_KEY_LENGTH == mv.MAX_ENTITY_KEY_LENGTH
    assert v.MAX_PARAM_VAL_LENGTH == mv.MAX_PARAM_VAL_LENGTH
    assert v.MAX_TAG_VAL_LENGTH == mv.MAX_TAG_VAL_LENGTH
    assert v.MAX_EXPERIMENT_NAME_LENGTH == mv.MAX_EXPERIMENT_NAME_LENGTH
    assert v.MAX_EXPERIMENT_TAG_KEY_LENGTH == mv.MAX_EXPERIMENT_TAG_KEY_LENGTH
    assert v.MAX_EXPERIMENT_TAG_VAL_LENGTH == mv.MAX_EXPERIMENT_TAG_VAL_LENGTH
    assert v.MAX_PARAMS_TAGS_PER_BATCH == mv.MAX_PARAMS_TAGS_PER_BATCH
    assert v.MAX_METRICS_PER_BATCH == mv.MAX_METRICS_PER_BATCH
    assert v.MAX_ENTITIES_PER_BATCH == mv.MAX_ENTITIES_PER_BATCH
    assert v.MAX_DATASET_NAME_SIZE == mv.MAX_DATASET_NAME_SIZE
    assert v.MAX_DATASET_DIGEST_SIZE == mv.MAX_DATASET_DIGEST_SIZE
    assert v.MAX_INPUT_TAG_KEY_SIZE == mv.MAX_INPUT_TAG_KEY_SIZE
    assert v.MAX_INPUT_TAG_VALUE_SIZE == mv.MAX_INPUT_TAG_VALUE_SIZE
