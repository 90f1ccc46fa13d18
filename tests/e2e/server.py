"""Start and stop a tracking server process for end-to-end tests.

No pytest dependency: this module is imported both by the main venv's
``tests/e2e`` suite (mlflow 3.x client) and by ``tests/mlflow2`` running in
the mlflow 2.x venv, where our package is not installed (only the
``modelops`` binary of the main venv is used, through ``MODELOPS_BIN``).

Environment:
  MODELOPS_BIN          path of the ``modelops`` executable (default: on PATH,
                        else ``<sys.prefix>/bin/modelops``, else the main
                        venv's ``.venv/bin/modelops``)
  MODELOPS_E2E_TARGET   ``mlflow`` starts the stock ``mlflow server`` instead
                        of ours, so the same tests can be validated against
                        the reference implementation
  MLFLOW_BIN            path of the reference ``mlflow`` executable (default:
                        the main venv's ``.venv/bin/mlflow``, else
                        ``<sys.prefix>/bin/mlflow``, else on PATH)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

#: readiness budgets (seconds); the reference server imports a lot of code
MODELOPS_START_TIMEOUT = float(os.environ.get("MODELOPS_E2E_START_TIMEOUT", "30"))
MLFLOW_START_TIMEOUT = float(os.environ.get("MLFLOW_E2E_START_TIMEOUT", "90"))


def target() -> str:
    """``"modelops"`` (default) or ``"mlflow"`` (the reference server)."""
    value = os.environ.get("MODELOPS_E2E_TARGET", "modelops").strip().lower()
    return "mlflow" if value in ("mlflow", "reference") else "modelops"


def is_reference() -> bool:
    return target() == "mlflow"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def modelops_bin() -> str:
    explicit = os.environ.get("MODELOPS_BIN")
    if explicit:
        return explicit
    found = shutil.which("modelops")
    if found:
        return found
    own = Path(sys.prefix) / "bin" / "modelops"
    main_venv = REPO_ROOT / ".venv" / "bin" / "modelops"
    if not own.exists() and main_venv.exists():
        return str(main_venv)
    return str(own)


def mlflow_bin() -> str:
    explicit = os.environ.get("MLFLOW_BIN")
    if explicit:
        return explicit
    # the main venv has the full mlflow 3.17.2 (the 2.x venv only mlflow-skinny)
    candidates = [
        REPO_ROOT / ".venv" / "bin" / "mlflow",
        Path(sys.prefix) / "bin" / "mlflow",
    ]
    for cand in candidates:
        if cand.exists():
            return str(cand)
    return shutil.which("mlflow") or str(candidates[0])


class ServerError(RuntimeError):
    pass


class ServerProcess:
    """A server subprocess, usable as a context manager.

    ``start()`` launches ``cmd`` with stdout/stderr going to log files in
    ``workdir`` and polls ``GET <url>/health`` until it answers 200. If the
    process dies or never gets ready within ``timeout`` seconds, it is stopped
    and ``ServerError`` is raised with the tail of its logs.
    """

    def __init__(self, cmd, host, port, workdir, *, name="server", env=None, timeout=30.0, health_path="/health"):
        self.cmd = [str(c) for c in cmd]
        self.host = host
        self.port = int(port)
        self.workdir = Path(workdir)
        self.name = name
        self.env = env
        self.timeout = float(timeout)
        self.health_path = health_path
        self.proc: subprocess.Popen | None = None
        self.stdout_path = self.workdir / f"{name}.stdout.log"
        self.stderr_path = self.workdir / f"{name}.stderr.log"
        self._stdout = None
        self._stderr = None
        self.killed = False
        self._stopped = False

    # -- properties ---------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self):
        return self.proc.poll() if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> ServerProcess:
        if self.proc is not None:
            raise ServerError(f"{self.name} already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(
                self.cmd,
                stdout=self._stdout,
                stderr=self._stderr,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=str(self.workdir),
                # own process group: stop() can signal gunicorn/uvicorn workers too
                start_new_session=True,
            )
        except OSError as exc:
            self._close_logs()
            raise ServerError(f"cannot start {self.name}: {self.cmd!r}: {exc}") from exc
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        health = self.url + self.health_path
        last_error = "no attempt made"
        delay = 0.05
        while True:
            code = self.proc.poll()
            if code is not None:
                raise ServerError(
                    f"{self.name} exited with code {code} before becoming ready\n"
                    f"command: {' '.join(self.cmd)}\n{self.logs_tail()}"
                )
            try:
                with urllib.request.urlopen(health, timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last_error = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = repr(exc)
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"{self.name} not ready after {self.timeout:.0f}s "
                    f"(GET {health}: {last_error})\ncommand: {' '.join(self.cmd)}\n"
                    f"{self.logs_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM the process group, then SIGKILL it if it lingers.

        ``self.killed`` tells afterwards whether SIGKILL was needed.
        """
        proc = self.proc
        if proc is None:
            return None
        if self._stopped:
            return proc.returncode
        self._stopped = True
        if proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                self._signal(signal.SIGKILL)
                proc.wait(timeout=30)
        # stray children (workers) of our own session
        self._signal(signal.SIGKILL)
        self._close_logs()
        return proc.returncode

    def _signal(self, sig) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            if sig != signal.SIGKILL or self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(sig)

    def _close_logs(self) -> None:
        for f in (self._stdout, self._stderr):
            if f is not None and not f.closed:
                f.close()

    # -- logs -----------------------------------------------------------------
    def logs(self) -> dict:
        out = {}
        for key, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            try:
                out[key] = path.read_text(errors="replace")
            except OSError:
                out[key] = ""
        return out

    def logs_tail(self, chars: int = 4000) -> str:
        logs = self.logs()
        return (
            f"--- {self.name} stdout (tail) ---\n{logs['stdout'][-chars:]}\n"
            f"--- {self.name} stderr (tail) ---\n{logs['stderr'][-chars:]}"
        )

    def __enter__(self) -> ServerProcess:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServerProcess {self.name} {self.url} pid={self.pid}>"


def server_env() -> dict:
    env = dict(os.environ)
    # never let a tracking URI of the test process leak into the server
    env.pop("MLFLOW_TRACKING_URI", None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.setdefault("DO_NOT_TRACK", "true")
    return env


def start_modelops(
    tmpdir, backend_uri=None, extra_args=(), *, port=None, timeout=None, artifact_root=None
) -> ServerProcess:
    """Start ``modelops server`` (or the reference server when
    ``MODELOPS_E2E_TARGET=mlflow``) and wait until it is ready.

    ``artifact_root``: the ``--default-artifact-root`` (default ``<tmpdir>/artifacts``); a local
    folder is created, a URI such as ``mlflow-artifacts:/`` is passed as it is."""
    tmpdir = Path(tmpdir)
    tmpdir.mkdir(parents=True, exist_ok=True)
    if is_reference():
        return start_reference_mlflow(tmpdir, backend_uri=backend_uri, port=port)
    backend_uri = backend_uri or f"sqlite:///{tmpdir / 'mlflow.db'}"
    artifacts = artifact_root if artifact_root is not None else tmpdir / "artifacts"
    if ":/" not in str(artifacts):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    cmd = [
        modelops_bin(),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri,
        "--default-artifact-root",
        str(artifacts),
        *extra_args,
    ]
    if not Path(cmd[0]).exists() and shutil.which(cmd[0]) is None:
        raise ServerError(
            f"modelops binary not found at {cmd[0]!r}; set MODELOPS_BIN or `pip install -e .` into the venv"
        )
    server = ServerProcess(
        cmd, "127.0.0.1", port, tmpdir, name="modelops", env=server_env(), timeout=timeout or MODELOPS_START_TIMEOUT
    )
    return server.start()


def start_reference_mlflow(tmpdir, backend_uri=None, *, port=None, timeout=None) -> ServerProcess:
    """Start the stock ``mlflow server`` (slow: 20-40 s) and wait for it."""
    tmpdir = Path(tmpdir)
    tmpdir.mkdir(parents=True, exist_ok=True)
    backend_uri = backend_uri or f"sqlite:///{tmpdir / 'mlflow.db'}"
    artifacts = tmpdir / "art"
    artifacts.mkdir(exist_ok=True)
    port = port or free_port()
    cmd = [
        mlflow_bin(),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri,
        "--default-artifact-root",
        str(artifacts),
        "--workers",
        "1",
    ]
    server = ServerProcess(
        cmd, "127.0.0.1", port, tmpdir, name="mlflow", env=server_env(), timeout=timeout or MLFLOW_START_TIMEOUT
    )
    return server.start()


def start_server(tmpdir, backend_uri=None) -> ServerProcess:
    """The server selected by ``MODELOPS_E2E_TARGET``."""
    return start_modelops(tmpdir, backend_uri=backend_uri)


if __name__ == "__main__":  # manual use: python tests/e2e/server.py [mlflow]
    if len(sys.argv) > 1:
        os.environ["MODELOPS_E2E_TARGET"] = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="e2e-") as d, start_server(d) as srv:
        print(f"{target()} ready at {srv.url} (pid {srv.pid}); Ctrl-C to stop", flush=True)
        try:
            while srv.alive():
                time.sleep(1)
        except KeyboardInterrupt:
            pass
