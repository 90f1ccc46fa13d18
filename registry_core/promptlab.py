"""A prompt-engineering candidate, as MLflow's UI creates one (runs/create-promptlab-run): a run
holding the prompt and model parameters, a ``promptlab`` model and the evaluation table, then
finished (or failed, if its artifacts could not be written), as mlflow.utils.promptlab_utils
does it.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime

from registry_core import candidates
from registry_core.artifacts import ArtifactRepository
from registry_core.clock import now_ms
from registry_core.errors import RegistryError

LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
SOURCE_TYPE_TAG = "mlflow.runSourceType"
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"
EVAL_TABLE = "eval_results_table.json"


def create_run(
    repo: ArtifactRepository,
    experiment_id,
    run_name,
    tags,
    user_id,
    start_time,
    prompt_template,
    prompt_parameters,
    model_route,
    model_parameters,
    model_input,
    model_output,
    model_output_parameters,
    mlflow_version,
) -> candidates.RunView:
    """``*_parameters``: [(key, value)]. Returns the run as it stands at the end."""
    run = candidates.create(experiment_id, user_id, start_time, tags, run_name)
    prompt_parameters = [(k, str(val)) for k, val in prompt_parameters]
    model_parameters = [(k, str(val)) for k, val in model_parameters]
    model_output_parameters = [(k, str(val)) for k, val in model_output_parameters]
    status = "FINISHED"
    try:
        created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        mlmodel = {
            "artifact_path": "model",
            "run_id": run.run_id,
            "utc_time_created": created,
            "mlflow_version": mlflow_version,
            "flavors": {
                "python_function": {
                    "loader_module": "mlflow._promptlab",
                    "python_version": ".".join(map(str, sys.version_info[:3])),
                    "env": {},
                }
            },
        }
        candidates.log_batch(
            run.run_id,
            [],
            [*model_parameters, ("model_route", model_route), ("prompt_template", prompt_template)],
            [
                (LOGGED_ARTIFACTS_TAG, json.dumps([{"path": EVAL_TABLE, "type": "table"}])),
                (SOURCE_TYPE_TAG, "PROMPT_ENGINEERING"),
                (
                    LOG_MODEL_HISTORY_TAG,
                    json.dumps([{k: mlmodel[k] for k in ("artifact_path", "run_id", "utc_time_created", "flavors")}]),
                ),
            ],
        )
        parameters = {
            "prompt_template": prompt_template,
            "prompt_parameters": dict(prompt_parameters),
            "model_parameters": dict(model_parameters),
            "model_route": model_route,
        }
        columns = [k for k, _ in prompt_parameters] + ["prompt", "output"] + [k for k, _ in model_output_parameters]
        data = [v for _, v in prompt_parameters] + [model_input, model_output] + [v for _, v in model_output_parameters]
        # JSON is YAML: MLmodel and parameters.yaml read as MLflow writes them
        files = {
            "model/MLmodel": json.dumps(mlmodel, indent=2),
            "model/parameters.yaml": json.dumps(parameters, indent=2),
            "model/input_example.json": json.dumps({"inputs": [v for _, v in prompt_parameters]}),
            EVAL_TABLE: json.dumps({"columns": columns, "data": [data]}),
        }
        for path, text in files.items():
            body = text.encode()
            repo.write_at(run.artifact_uri, path, io.BytesIO(body), len(body))
    except RegistryError:
        status = "FAILED"
    return candidates.update(run.run_id, status, now_ms(), run_name)
