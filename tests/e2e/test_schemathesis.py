"""schemathesis against a live ``modelops server``, from the document the server serves at
``/api/openapi.json``: every operation gets a bounded number of generated requests (valid and
invalid ones, a fixed seed), and none may answer a 5xx, and every 4xx must be MLflow's error
JSON (``{"error_code": str, "message": str}``).

One fresh server per backend (SQLite; PostgreSQL and MariaDB when their URIs are set): the
requests create, rename and delete whatever their random values name, the default experiment
included, which no other test may see. Each failing operation is reported as a subtest of its
own, with the failing request as a curl command (run it against a server started with
``python tests/e2e/server.py``). ``MODELOPS_SCHEMATHESIS_EXAMPLES`` sets the examples per
operation (default 5); the seed is ``MODELOPS_SCHEMATHESIS_SEED`` (default 20).
"""

from __future__ import annotations

import json
import os
import time

import pytest
import schemathesis  # a test extra: missing, the run fails rather than skipping the fuzzing
from hypothesis import HealthCheck, Phase, settings

from tests.e2e import conftest as e2e
from tests.e2e import server as harness

pytestmark = pytest.mark.skipif(harness.is_reference(), reason="the reference server serves no OpenAPI document")

SEED = int(os.environ.get("MODELOPS_SCHEMATHESIS_SEED", "20"))
EXAMPLES = int(os.environ.get("MODELOPS_SCHEMATHESIS_EXAMPLES", "5"))


@pytest.fixture(scope="module", params=e2e._backends())
def fuzzed_server(request, tmp_path_factory):
    """A server of its own on a fresh database: what the requests do stays there."""
    backend = request.param
    database = {
        "postgresql": lambda: e2e._PostgresDatabase(os.environ["MODELOPS_TEST_POSTGRES_URI"]),
        "mysql": lambda: e2e._MysqlDatabase(os.environ["MODELOPS_TEST_MYSQL_URI"]),
    }.get(backend, lambda: None)()
    backend_uri = database.create() if database else None
    try:
        srv = harness.start_modelops(tmp_path_factory.mktemp(f"schemathesis-{backend}"), backend_uri=backend_uri)
        srv.backend = backend
        try:
            yield srv
        finally:
            srv.stop()
    finally:
        if database:
            database.drop()


def _mirror(ctx) -> bool:
    """An operation served by the same view as another one of the document (the /ajax-api copy
    of an /api route, the 2.11 copy of a 2.0 one): fuzzed once, under /api/2.0."""
    path = ctx.operation.path
    twin = path.replace("/ajax-api/", "/api/", 1).replace("/2.11/", "/2.0/", 1)
    return twin != path and twin in ctx.operation.schema.raw_schema["paths"]


@pytest.fixture(scope="module")
def tally(request, fuzzed_server):
    """Operations and requests of the run against one server, reported at its end."""
    counts = {"operations": set(), "requests": 0}
    started = time.monotonic()
    yield counts
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nschemathesis [{fuzzed_server.backend}]: {len(counts['operations'])} operations, "
                f"{counts['requests']} requests, {time.monotonic() - started:.1f} s "
                f"(seed {SEED}, at most {EXAMPLES} generated examples per operation and phase)"
            )


@pytest.fixture(scope="module")
def api_schema(fuzzed_server):
    phases = {"stateful": {"enabled": False}}
    if fuzzed_server.backend != "sqlite":  # methods an operation does not take: answered before any database
        phases["coverage"] = {"unexpected-methods": []}
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "all", "max-examples": EXAMPLES},
            "phases": phases,
            "output": {"sanitization": {"enabled": False}},  # a page_token shown as it was sent: the curl replays
        }
    )
    return schemathesis.openapi.from_url(f"{fuzzed_server.url}/api/openapi.json", config=config)


def _error_body(response):
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    ok = isinstance(body, dict) and isinstance(body.get("error_code"), str) and isinstance(body.get("message"), str)
    return body if ok else None


@schemathesis.check
def no_server_error(ctx, response, case):
    """No 5xx, but a 501 NOT_IMPLEMENTED the document gives the operation (the multipart routes on
    a store without multipart, as MLflow answers them)."""
    status = response.status_code
    if status < 500:
        return None
    body = _error_body(response)
    if (
        str(status) in case.operation.definition.raw.get("responses", {})
        and body
        and body["error_code"] == "NOT_IMPLEMENTED"
    ):
        return None
    raise AssertionError(f"{status} answer: {response.content[:300]!r}")


@schemathesis.check
def mlflow_error_json(ctx, response, case):
    """A 4xx answer is MLflow's error JSON: an object with string error_code and message."""
    if 400 <= response.status_code < 500 and _error_body(response) is None:
        raise AssertionError(f"{response.status_code} answer is not MLflow's error JSON: {response.content[:300]!r}")
    return None


@pytest.fixture(autouse=True)
def _node_id(request):
    """schemathesis 4.32's lazy schema reads and renames ``request.node._nodeid``, which pytest
    9.2 no longer keeps (its ``nodeid`` is computed): the attribute is provided for it to read."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema").exclude(_mirror)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: the curl of the failure is enough
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_4xx_is_mlflow_json(case, tally):
    tally["operations"].add(case.operation.label)
    tally["requests"] += 1
    response = case.call(timeout=30)
    case.validate_response(response, checks=[no_server_error, mlflow_error_json])
