"""The proxied artifact API (``/api/2.0/mlflow-artifacts/*``) and the run / logged-model
artifact listings and UI download routes. Bytes stream through in fixed-size chunks; an upload is
read in large pieces where the server offers a reader (``mlflow_compat.server_environ``)."""

from __future__ import annotations

import io
import mimetypes
import posixpath
import re
import unicodedata
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request
from marshmallow import fields
from werkzeug.http import quote_header_value
from werkzeug.routing import PathConverter

from mlflow_compat.errors import MlflowError, invalid
from mlflow_compat.schemas.base import ProtoSchema, RequestSchema
from mlflow_compat.schemas.tracking import RunRef
from mlflow_compat.server_environ import body_stream, writes_views
from mlflow_compat.wire import Int64, json_response, read_message, rpc
from registry_core import candidates, logged_models
from registry_core.artifacts import MULTIPART_UPLOAD_UNSUPPORTED, ArtifactRepository, Location, clean_path

proxy = Blueprint("mlflow_artifacts", __name__)  # mounted at /api/2.0/mlflow-artifacts
tracking = Blueprint("run_artifacts", __name__)  # mounted at /api/2.0/mlflow
ui = Blueprint("artifact_downloads", __name__)  # mounted at the root
ajax = Blueprint("artifact_uploads", __name__)  # mounted under /ajax-api only, as in MLflow

MAX_UI_UPLOAD = 10 * 1024 * 1024


class _AnyPath(PathConverter):
    """``<path:>`` that also matches a leading ``/``: ``artifacts//etc/passwd`` (or
    ``%2Fetc%2Fpasswd``) reaches the handler, whose path check refuses it with a 400, instead of
    Werkzeug answering a 308 redirect to the slash-merged URL."""

    regex = ".+?"
    part_isolating = False  # else inferred from the regex ("/" not in it) and set to True


# registered before the routes below are added (deferred functions run in declaration order)
proxy.record_once(lambda state: state.app.url_map.converters.setdefault("anypath", _AnyPath))

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def repository() -> ArtifactRepository:
    return current_app.extensions["modelops.artifacts"]


def _serving():
    if not current_app.config["MODELOPS"].serve_artifacts:
        return Response(
            f"Endpoint: {request.url_rule} disabled due to the server running with "
            "`--no-serve-artifacts`. To enable artifacts server functionality, run "
            "`modelops server` with `--serve-artifacts`",
            503,
        )
    return None


proxy.before_request(_serving)


class FileInfoOut(ProtoSchema):
    path = fields.String()
    is_dir = fields.Boolean()
    file_size = fields.Integer()


_files = FileInfoOut(many=True)


def _listing(infos, relative_to: str | None = None) -> list[dict]:
    """FileInfos with paths relative to the listed directory, or to ``relative_to``'s root."""
    out = []
    for info in infos:
        name = posixpath.basename(info.path.rstrip("/"))
        path = posixpath.join(relative_to, name) if relative_to else name
        # as MLflow's FileInfo.to_proto: no file_size for a directory or an empty file
        out.append({"path": path, "is_dir": info.is_dir, "file_size": None if info.is_dir else info.file_size or None})
    return _files.dump(out)


def _content_disposition(name: str) -> str:
    """MLflow's _content_disposition_attachment: the name as a token or a quoted string, and a
    non-ASCII name percent-encoded in ``filename*`` beside an ASCII fallback."""
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii") or "download"
        encoded = quote(name, safe="!#$&+-.^_`|~")
        return f"attachment; filename={quote_header_value(fallback, allow_token=True)}; filename*=UTF-8''{encoded}"
    return f"attachment; filename={quote_header_value(name, allow_token=True)}"


# text types as MLflow's _guess_mime_type names them (mlflow/utils/mime_type_utils.py): served as
# exactly "text/plain", no charset
TEXT_EXTENSIONS = frozenset(
    (
        "txt",
        "log",
        "err",
        "cfg",
        "conf",
        "cnf",
        "cf",
        "ini",
        "properties",
        "prop",
        "hocon",
        "toml",
        "yaml",
        "yml",
        "xml",
        "json",
        "js",
        "py",
        "py3",
        "csv",
        "tsv",
        "md",
        "rst",
        "ipynb",
        "MLmodel",
        "mlproject",
    )
)


def mime_type(name: str) -> str:
    """The Content-Type MLflow sends a download with."""
    extension = posixpath.splitext(name)[1].replace(".", "") or name  # MLmodel, MLproject: no extension
    if extension in TEXT_EXTENSIONS:
        return "text/plain"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def send_artifact(where: Location | str) -> Response:
    """Stream a stored file, honouring a single byte ``Range``; ``where``: a ``Location`` or a
    destination path."""
    repo = repository()
    store_path = where.path if isinstance(where, Location) else where
    start = end = None
    status = 200
    match = _RANGE.match(request.headers.get("Range", ""))
    if match and (match.group(1) or match.group(2)):
        total = repo.size(where)
        if match.group(1):
            start = int(match.group(1))
            end = min(int(match.group(2)), total - 1) if match.group(2) else total - 1
        else:
            start, end = max(0, total - int(match.group(2))), total - 1
        if start >= total or start > end:  # MLflow's error JSON, as every other refusal
            body = MlflowError(
                f"The requested range {request.headers['Range']} is not satisfiable: the file holds {total} bytes",
                "BAD_REQUEST",
            ).to_json()
            return json_response(body, 416, {"Content-Range": f"bytes */{total}"})
        status = 206
    # our gunicorn worker sends each chunk before it asks for the next; another server may not
    chunks, total = repo.download(where, start, end, views=writes_views(request.environ))
    name = posixpath.basename(store_path)
    headers = {
        "Content-Type": mime_type(name),
        "Content-Disposition": _content_disposition(name),
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
    }
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        headers["Content-Length"] = str(end - start + 1)
    else:
        headers["Content-Length"] = str(total)
    return Response(chunks, status=status, headers=headers, direct_passthrough=True)


# --- /api/2.0/mlflow-artifacts ---------------------------------------------------------------


@proxy.get("/artifacts/<anypath:artifact_path>")
def download(artifact_path):
    return send_artifact(artifact_path)


@proxy.put("/artifacts/<anypath:artifact_path>")
def upload(artifact_path):
    repository().upload(artifact_path, body_stream(), request.content_length)
    return json_response({})


class _ListPath(RequestSchema):
    path = fields.String(load_default=None)


@proxy.get("/artifacts")
@rpc(_ListPath)
def list_artifacts(m):
    return {"files": _listing(repository().list(m["path"] or ""))}


@proxy.delete("/artifacts/<anypath:artifact_path>")
def delete(artifact_path):
    repository().delete(artifact_path)
    return json_response({})


class _CreateMultipart(RequestSchema):
    path = fields.String(required=True)
    num_parts = Int64(load_default=1)


class _PartIn(RequestSchema):
    part_number = Int64(required=True)
    etag = fields.String(required=True)
    url = fields.String(load_default=None)


class _CompleteMultipart(RequestSchema):
    path = fields.String(required=True)
    upload_id = fields.String(required=True)
    parts = fields.List(fields.Nested(_PartIn), required=True)


class _AbortMultipart(RequestSchema):
    path = fields.String(required=True)
    upload_id = fields.String(required=True)


def _require_multipart():
    if not repository().supports_multipart:
        raise MlflowError(MULTIPART_UPLOAD_UNSUPPORTED, "NOT_IMPLEMENTED")


@proxy.post("/mpu/create/<anypath:artifact_path>")
def mpu_create(artifact_path):
    m = read_message(_CreateMultipart())
    _require_multipart()
    if not 1 <= m["num_parts"] <= 10000:
        raise invalid("num_parts must be between 1 and 10000")
    upload_id, parts = repository().create_multipart(artifact_path, m["path"], m["num_parts"])
    credentials = [{"part_number": p.part_number, "url": p.url, "headers": p.headers or {}} for p in parts]
    return json_response({"upload_id": upload_id, "credentials": credentials})


@proxy.post("/mpu/complete/<anypath:artifact_path>")
def mpu_complete(artifact_path):
    m = read_message(_CompleteMultipart())
    _require_multipart()
    parts = [(p["part_number"], p["etag"]) for p in m["parts"]]
    repository().complete_multipart(artifact_path, m["path"], m["upload_id"], parts)
    return json_response({})


@proxy.post("/mpu/abort/<anypath:artifact_path>")
def mpu_abort(artifact_path):
    m = read_message(_AbortMultipart())
    _require_multipart()
    repository().abort_multipart(artifact_path, m["path"], m["upload_id"])
    return json_response({})


@proxy.get("/presigned/<anypath:artifact_path>")
def presigned(artifact_path):
    if not repository().supports_multipart:
        raise MlflowError(
            "Presigned download URLs are not supported for the current artifact repository", "NOT_IMPLEMENTED"
        )
    url, headers, size = repository().presigned_get(artifact_path)
    return json_response({"url": url, "headers": headers or {}, "file_size": size})


# --- /api/2.0/mlflow/artifacts/list and logged-model artifact listings ------------------------


class _RunArtifacts(RunRef):
    path = fields.String(load_default=None)
    page_token = fields.String(load_default=None)


@tracking.get("/artifacts/list")
@rpc(_RunArtifacts)
def list_run_artifacts(m):
    path = clean_path(m["path"])  # first, as MLflow checks it: "Invalid path"
    run = candidates.get(m["run_id"])
    repo = repository()
    infos = repo.list(repo.locate(run.artifact_uri, path))
    return {"root_uri": run.artifact_uri, "files": _listing(infos, path or None)}


class _ModelArtifacts(RequestSchema):
    artifact_directory_path = fields.String(load_default=None)


@tracking.get("/logged-models/<model_id>/artifacts/directories")
@rpc(_ModelArtifacts)
def list_logged_model_artifacts(m):
    path = clean_path(m["artifact_directory_path"])
    model = logged_models.get(m["model_id"])
    repo = repository()
    infos = repo.list(repo.locate(model.artifact_location, path))
    return {"root_uri": model.artifact_location, "files": _listing(infos, path or None)}


@tracking.get("/logged-models/<model_id>/artifacts/files")
def download_logged_model_artifact(model_id):
    path = request.args.get("artifact_file_path")
    if not path:
        raise MlflowError('Request must include the "artifact_file_path" query parameter.', "BAD_REQUEST")
    path = clean_path(path)
    model = logged_models.get(model_id)
    return send_artifact(repository().locate(model.artifact_location, path))


# --- UI download routes ----------------------------------------------------------------------


@ui.get("/get-artifact")
def get_run_artifact():
    run_id = request.args.get("run_id") or request.args.get("run_uuid")
    path = request.args.get("path")
    if not run_id or not path:
        raise invalid("Both 'run_id' and 'path' query parameters are required.")
    path = clean_path(path)
    run = candidates.get(run_id)
    return send_artifact(repository().locate(run.artifact_uri, path))


@ajax.post("/upload-artifact")
def upload_run_artifact():
    """The UI's upload of a file into a run's artifacts (MLflow's upload_artifact_handler): the
    raw body, at most 10 MB, written at ``path`` below the run's artifact URI."""
    run_id = request.args.get("run_uuid")
    if not run_id:
        raise invalid("Request must specify run_uuid.")
    path = request.args.get("path")
    if not path:
        raise invalid("Request must specify path.")
    path = clean_path(path)
    if (request.content_length or 0) > MAX_UI_UPLOAD:
        raise invalid("Artifact size is too large. Max size is 10MB.")
    data = body_stream().read(MAX_UI_UPLOAD + 1)
    if not data:
        raise invalid("Request must specify data.")
    if len(data) > MAX_UI_UPLOAD:
        raise invalid("Artifact size is too large. Max size is 10MB.")
    run = candidates.get(run_id)
    repository().write_at(run.artifact_uri, path, io.BytesIO(data), len(data))
    return json_response({})
