"""Starting, timing and stopping the servers under test; the RSS of a process tree; a throwaway
PostgreSQL database."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

READY_PATH = "/api/2.0/mlflow/experiments/get?experiment_id=0"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- process tree and memory -------------------------------------------------------------------
def _stat_fields(pid) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode(errors="replace")
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces: split after the last ')'
    return stat[stat.rfind(")") + 2 :].split()


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(entry)) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that are alive now."""
    children = _children_map()
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        if os.path.exists(f"/proc/{current}"):
            tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_rss(pid: int) -> tuple[int, int]:
    """(sum of VmRSS in bytes, number of processes) over ``pid`` and its descendants."""
    total, count = 0, 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        count += 1
                        break
        except OSError:
            continue
    return total, count


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its live descendants."""
    ticks = 0
    for member in process_tree(pid):
        if (fields := _stat_fields(member)) is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time the machine has spent running anything (user, nice, system, irq, softirq; not idle,
    I/O wait or time stolen by the hypervisor), summed over its cores."""
    with open("/proc/stat") as handle:
        fields = handle.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


# A window in which less than this share of one core was busy counts as quiet.
QUIET_SHARE = 0.10
QUIET_WINDOW = 0.5


def wait_quiet(
    busy=machine_busy_seconds, share: float = QUIET_SHARE, window: float = QUIET_WINDOW, timeout: float = 60.0
) -> tuple[float, bool]:
    """Poll ``busy`` (a CPU-seconds counter) until one ``window`` used less than ``share`` of a core.
    Returns (seconds waited, whether it got quiet before ``timeout``)."""
    started = time.perf_counter()
    while True:
        before, t0 = busy(), time.perf_counter()
        time.sleep(window)
        used, elapsed = busy() - before, time.perf_counter() - t0
        if used < share * elapsed:
            return time.perf_counter() - started, True
        if time.perf_counter() - started > timeout:
            return time.perf_counter() - started, False


# --- a server under test -------------------------------------------------------------------------
@dataclass
class ServerSpec:
    key: str  # short id used in the JSON: modelops, mlflow, fasttrackml, modelops-pg
    label: str  # column title
    argv: list[str]
    workdir: Path
    port: int
    env: dict = field(default_factory=dict)
    notes: str = ""


class Server:
    def __init__(self, spec: ServerSpec):
        self.spec = spec
        self.url = f"http://127.0.0.1:{spec.port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 300.0) -> float:
        """Spawn the server; return the seconds from spawn to the first 200 of an API call."""
        self.spec.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELOPS_"))}
        env.update(self.spec.env)
        self.starts += 1
        log = open(self.spec.workdir / f"server-{self.starts}.log", "wb")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.spec.argv,
            cwd=self.spec.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        session = requests.Session()
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"{self.spec.label} exited with {self.process.returncode} while starting; "
                        f"see {self.spec.workdir}/server-{self.starts}.log"
                    )
                try:
                    response = session.get(self.url + READY_PATH, timeout=2)
                    if response.status_code == 200:
                        return time.perf_counter() - started
                except requests.RequestException:
                    pass
                if time.perf_counter() - started > timeout:
                    self.stop()
                    raise RuntimeError(f"{self.spec.label} did not answer within {timeout:.0f} s")
                time.sleep(0.02)
        finally:
            session.close()

    def settle(self, timeout: float = 120.0) -> tuple[float, bool]:
        """After ``start``: wait until this server's process tree is quiet (mlflow server's
        workers and job runner go on loading for tens of seconds after its first answer). Returns
        (seconds, whether it got quiet)."""
        pid = self.pid
        if pid is None:
            return 0.0, True
        return wait_quiet(lambda: tree_cpu_seconds(pid), timeout=timeout)

    def rss(self) -> tuple[int, int]:
        if not self.process or self.process.poll() is not None:
            return 0, 0
        return tree_rss(self.process.pid)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to this server's process group (and any descendant that left it), then SIGKILL."""
        if not self.process:
            return
        pids = process_tree(self.process.pid)
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            self.process.poll()
            time.sleep(0.1)
        for pid in pids:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.process = None


def _alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


# --- the four configurations of `make bench` --------------------------------------------------
def modelops_spec(
    bin_path: str,
    workdir: Path,
    backend_uri: str | None = None,
    workers: int = 1,
    key: str = "modelops",
    label: str = "modelops (SQLite)",
) -> ServerSpec:
    port = free_port()
    backend_uri = backend_uri or f"sqlite:///{workdir}/modelops.db"
    argv = [
        bin_path,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        str(workdir / "artifacts"),
    ]
    if workers != 1:
        argv += ["--workers", str(workers)]
    return ServerSpec(key, label, argv, workdir, port, env={"MODELOPS_LOG_LEVEL": "warning"})


def mlflow_spec(bin_path: str, workdir: Path) -> ServerSpec:
    port = free_port()
    # mlflow server's own defaults otherwise (uvicorn, 4 workers), as users run it
    argv = [
        bin_path,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{workdir}/mlflow.db",
        "--artifacts-destination",
        str(workdir / "artifacts"),
    ]
    return ServerSpec("mlflow", "mlflow 3.17.2 (SQLite)", argv, workdir, port)


def fasttrackml_spec(bin_path: str, workdir: Path) -> ServerSpec:
    port = free_port()
    # FastTrackML's sqlite URI is sqlite://<path>: an absolute path gives three slashes
    argv = [
        bin_path,
        "server",
        "--listen-address",
        f"127.0.0.1:{port}",
        "--database-uri",
        f"sqlite://{workdir}/fasttrackml.db",
        "--default-artifact-root",
        str(workdir / "artifacts"),
    ]
    return ServerSpec("fasttrackml", "FastTrackML (SQLite)", argv, workdir, port)


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        return (out.stdout or out.stderr).strip().splitlines()[-1]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


# --- a throwaway PostgreSQL database ---------------------------------------------------------------
class PostgresDatabase:
    """``bench_<random>`` created on the server of ``admin_dsn`` and dropped by ``drop()``."""

    def __init__(self, admin_dsn: str):
        import psycopg2  # the project's dependency (psycopg2-binary)

        self._psycopg2 = psycopg2
        self.admin_dsn = admin_dsn
        self.name = "bench_" + secrets.token_hex(4)
        connection = psycopg2.connect(admin_dsn, connect_timeout=5)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            connection.close()
        parts = urlsplit(admin_dsn)
        self.uri = urlunsplit((parts.scheme, parts.netloc, "/" + self.name, parts.query, ""))

    def drop(self) -> None:
        connection = self._psycopg2.connect(self.admin_dsn, connect_timeout=5)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                try:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
                except self._psycopg2.Error:  # PostgreSQL < 13
                    cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
        finally:
            connection.close()
