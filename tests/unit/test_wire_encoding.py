"""The wire layer's hand-written encoders agree with the schemas they stand in for."""

def test_metric_history_fast_encoder_equals_the_schema():
    """The history page is written without the schema for speed; it must be what MetricOut dumps."""
    import json
    import math

    from flask import Flask

    from mlflow_compat.schemas.tracking import MetricOut
    from mlflow_compat.wire import json_response, metric_points_json
    from registry_core.entities import MetricPoint

    rows = [(0.5, 1, 0), (math.nan, 2, 1), (math.inf, 3, 2), (-math.inf, 4, 3), (1e-300, 5, 4),
            (3.0, 6, 5), (-0.0, 7, 6), (123456789.125, 8, 7)]
    key = 'a "quoted"/ü key'
    with Flask(__name__).app_context():
        for token in (None, "eyJvZmZzZXQiOiA4fQ=="):
            fast = metric_points_json(key, rows, token).get_data(as_text=True)
            points = [MetricPoint(key, value, ts, step) for value, ts, step in rows]
            slow = json_response({"metrics": MetricOut(many=True).dump(points), "next_page_token": token})
            assert json.loads(fast) == json.loads(slow.get_data(as_text=True))
            assert fast == slow.get_data(as_text=True)
        assert metric_points_json(key, []).get_data(as_text=True) == "{}"
        assert json.loads(metric_points_json(key, [], "t").get_data(as_text=True)) == {"next_page_token": "t"}
