"""The wire layer's hand-written encoders agree with the schemas they stand in for."""

import json as _json
import math as _math

# The doubles at the edges of the format: written as JSON numbers that parse back to themselves.
EXTREMES = [
    1.7976931348623157e308,
    -1.7976931348623157e308,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    -2.2250738585072014e-308,
    2.225073858507201e-308,
    -0.0,
    0.0,
]


def _assert_parses_back(body: str, values) -> None:
    """Each point's value in ``body`` is the double it was written from (NaN and the infinities
    as MLflow's strings, -0.0 with its sign)."""
    got = [m["value"] for m in _json.loads(body)["metrics"]]
    assert len(got) == len(values)
    for text, value in zip(got, values):
        if _math.isnan(value):
            assert text == "NaN"
        elif _math.isinf(value):
            assert text == ("Infinity" if value > 0 else "-Infinity")
        else:
            assert not isinstance(text, str) and text == value and _math.copysign(1, text) == _math.copysign(1, value)


def test_metric_history_fast_encoder_equals_the_schema():
    """The history page is written without the schema for speed; it must be what MetricOut dumps."""
    import json
    import math

    from flask import Flask

    from mlflow_compat.encoders import metric_points_json
    from mlflow_compat.schemas.tracking import MetricOut
    from mlflow_compat.wire import json_response
    from registry_core.entities import MetricPoint

    rows = [
        (0.5, 1, 0),
        (math.nan, 2, 1),
        (math.inf, 3, 2),
        (-math.inf, 4, 3),
        (1e-300, 5, 4),
        (3.0, 6, 5),
        (-0.0, 7, 6),
        (123456789.125, 8, 7),
    ]
    rows += [(value, 9 + n, 8 + n) for n, value in enumerate(EXTREMES)]
    key = 'a "quoted"/ü key'
    with Flask(__name__).app_context():
        for token in (None, "eyJvZmZzZXQiOiA4fQ=="):
            fast = metric_points_json(key, rows, token).get_data(as_text=True)
            points = [MetricPoint(key, value, ts, step) for value, ts, step in rows]
            slow = json_response({"metrics": MetricOut(many=True).dump(points), "next_page_token": token})
            assert json.loads(fast) == json.loads(slow.get_data(as_text=True))
            assert fast == slow.get_data(as_text=True)
            _assert_parses_back(fast, [value for value, _, _ in rows])
        assert metric_points_json(key, []).get_data(as_text=True) == "{}"
        assert json.loads(metric_points_json(key, [], "t").get_data(as_text=True)) == {"next_page_token": "t"}


def test_model_versions_fast_encoder_equals_the_schema():
    """A version search page is written without the schema for speed; it must be byte for byte
    what ModelVersionOut dumps through json_response, whatever fields a version has set."""
    import json

    from flask import Flask

    from mlflow_compat.encoders import model_version_answer, model_version_json, model_versions_json
    from mlflow_compat.schemas.registry import ModelVersionOut
    from mlflow_compat.wire import json_response
    from registry_core.entities import VersionView

    full = VersionView(
        name='m "quoted" \\ ü/模型 🚀',
        version=12,
        creation_timestamp=1_700_000_000_123,
        last_updated_timestamp=1_800_000_000_456,
        description="line\nbreak\ttab \u2028 \x01 é",
        user_id="alice@example.com",
        current_stage="Production",
        source="runs:/abc/model",
        run_id="0123456789abcdef0123456789abcdef",
        run_link="http://host/#/runs/x?a=1&b=<2>",
        status="READY",
        status_message="ok",
        model_id="m-123",
        storage_location="mlflow-artifacts:/registry/x",
        tags=[("a", "1"), ("ключ", "значение 🚀"), ("empty", ""), ("none", None), ('q"k', 'v\\"')],
        aliases=["champion", "prod-1", "ü"],
    )
    bare = VersionView(
        name="bare",
        version=1,
        creation_timestamp=0,
        last_updated_timestamp=None,
        description=None,
        user_id=None,
        current_stage="None",
        source=None,
        run_id=None,
        run_link=None,
        status="READY",
        status_message=None,
        model_id=None,
        storage_location=None,
    )
    empties = VersionView(
        name="",
        version=3,
        creation_timestamp=5,
        last_updated_timestamp=6,
        description="",
        user_id="",
        current_stage="Archived",
        source="",
        run_id="",
        run_link="",
        status="PENDING_REGISTRATION",
        status_message="",
        model_id="",
        storage_location="",
        tags=[],
        aliases=[],
    )
    deleted = VersionView(
        name="gone",
        version=2,
        creation_timestamp=1,
        last_updated_timestamp=2,
        description=None,
        user_id=None,
        current_stage="Deleted_Internal",
        source="REDACTED-SOURCE-PATH",
        run_id="REDACTED-RUN-ID",
        run_link="REDACTED-RUN-LINK",
        status="READY",
        status_message=None,
        model_id=None,
        storage_location=None,
        tags=[("only", "tag")],
        aliases=[],
    )
    odd = VersionView(  # types the registry never stores: the general path, converted as the schema does
        name="odd",
        version="7",
        creation_timestamp=1.9,
        last_updated_timestamp=True,
        description=5,
        user_id=None,
        current_stage="None",
        source=None,
        run_id=None,
        run_link=None,
        status="READY",
        status_message=None,
        model_id=None,
        storage_location=None,
        aliases=["a"],
    )
    schema = ModelVersionOut()
    with Flask(__name__).app_context():
        for mv in (full, bare, empties, deleted, odd):
            one = json_response({"model_version": schema.dump(mv)}).get_data(as_text=True)
            assert '{"model_version":' + model_version_json(mv) + "}" == one
            assert model_version_answer(mv).get_data(as_text=True) == one
        for versions in ([full, bare, empties, deleted, odd], [bare], []):
            for token in (None, "eyJvZmZzZXQiOiA0fQ=="):
                fast = model_versions_json(versions, token).get_data(as_text=True)
                slow = json_response({"model_versions": schema.dump(versions, many=True), "next_page_token": token})
                assert fast == slow.get_data(as_text=True)
                assert json.loads(fast) == json.loads(slow.get_data(as_text=True))
        assert model_versions_json([]).get_data(as_text=True) == "{}"


def test_bulk_interval_fast_encoder_equals_the_schema():
    """The bulk-interval answer is written without the schema; it must be byte for byte what
    MetricWithRunIdOut dumps through json_response."""
    import math

    from flask import Flask

    from mlflow_compat.encoders import metric_points_with_run_json
    from mlflow_compat.schemas.tracking import MetricWithRunIdOut
    from mlflow_compat.wire import json_response
    from registry_core.entities import MetricPoint

    key = 'a "quoted"/ü key 🚀'
    values = [
        0.5,
        math.nan,
        math.inf,
        -math.inf,
        1e-300,
        3.0,
        -0.0,
        123456789.125,
        1.7976931348623157e308,
        7,
        -2,
        *EXTREMES,
    ]
    points = [
        MetricPoint(key, value, 1_700_000_000_000 + n, (-1) ** n * 2 ** (n * 5), f"{n % 3:032x}")
        for n, value in enumerate(values)
    ]
    points.append(MetricPoint("k", 1.0, 5, 0, None))  # no run id: left out, as the schema does
    points.append(MetricPoint("k", None, 5, 0, "r"))  # no value: left out, as the schema does
    schema = MetricWithRunIdOut()
    with Flask(__name__).app_context():
        for chosen in (points, points[:1], []):
            fast = metric_points_with_run_json(chosen).get_data(as_text=True)
            slow = json_response({"metrics": schema.dump(chosen, many=True)}).get_data(as_text=True)
            assert fast == slow
        _assert_parses_back(metric_points_with_run_json(points[: len(values)]).get_data(as_text=True), values)
        assert metric_points_with_run_json([]).get_data(as_text=True) == "{}"


def test_run_search_fast_encoder_equals_the_schema():
    """A search page is written without the schemas for speed; it must be what RunOut dumps,
    byte for byte, for runs with every kind of field set or unset."""
    import math

    from flask import Flask

    from mlflow_compat.encoders import runs_json
    from mlflow_compat.schemas.tracking import RunOut
    from mlflow_compat.wire import json_response
    from registry_core.entities import DatasetInputView, MetricPoint, RunView

    odd = 'q"uote\\ back/slash \n\t\x00\x1f \u2028 ü 日本 🚀'
    full = RunView(
        run_id="a" * 32,
        run_name=odd,
        experiment_id=0,
        user_id="",
        status="FINISHED",
        start_time=1_700_000_000_000,
        end_time=2**62,
        artifact_uri="s3://b/ü/" + "a" * 32 + "/artifacts",
        lifecycle_stage="deleted",
        metrics=[
            MetricPoint(k, val, ts, step)
            for k, val, ts, step in [
                ("nan", math.nan, 1, 0),
                ("inf", math.inf, 2, -1),
                ("ninf", -math.inf, 3, 2**40),
                ("tiny", 1e-300, 4, 0),
                ("int-valued", 3.0, 5, 1),
                ("neg-zero", -0.0, 6, 2),
                ("big", 1.7976931348623157e308, 0, 3),
                (odd, 0.1 + 0.2, 7, 4),
            ]
            + [(f"extreme-{n}", value, 8, n) for n, value in enumerate(EXTREMES)]
        ],
        params=[("lr", "0.1"), ("empty", ""), (odd, odd)],
        tags=[("mlflow.runName", odd), ("none", None)],
        dataset_inputs=[
            DatasetInputView(
                "ds",
                "d1",
                "local",
                '{"uri": "/x"}',
                '{"cols": []}',
                '{"rows": 3}',
                [("mlflow.data.context", "train"), (odd, odd)],
            ),
            DatasetInputView(odd, "d2", "s3", "s3://x", None, None, []),
        ],
        model_inputs=["m-1", odd],
        model_outputs=[("m-2", 0), ("m-3", 7)],
    )
    bare = RunView(
        run_id="b" * 32,
        run_name=None,
        experiment_id=12,
        user_id=None,
        status="RUNNING",
        start_time=None,
        end_time=None,
        artifact_uri=None,
        lifecycle_stage="active",
    )
    partial = RunView(
        run_id="c" * 32,
        run_name="r",
        experiment_id=3,
        user_id="u",
        status="RUNNING",
        start_time=0,
        end_time=None,
        artifact_uri="mlflow-artifacts:/3/c/artifacts",
        lifecycle_stage="active",
        tags=[("t", "v")],
        model_outputs=[("m", 1)],
    )
    with Flask(__name__).app_context():
        for runs in ([full, bare, partial], [bare], [partial, full], []):
            for token in (None, "eyJvZmZzZXQiOiAxMDB9"):
                fast = runs_json(runs, token).get_data(as_text=True)
                slow = json_response({"runs": RunOut(many=True).dump(runs), "next_page_token": token})
                assert fast == slow.get_data(as_text=True)
