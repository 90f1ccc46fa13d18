"""Serving through gunicorn (gthread workers), configured from Python rather than a file."""
from __future__ import annotations

import os

from gunicorn.app.base import BaseApplication
from gunicorn.config import Config

from mlflow_compat.config import ServerConfig


class _App(BaseApplication):
    def __init__(self, config: ServerConfig, options: dict, argv: list[str]):
        self._config = config
        self._options = options
        self._argv = argv
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)
        if self._argv:
            parser = Config(usage="").parser()
            parsed = parser.parse_args(self._argv)
            for key, value in vars(parsed).items():
                if value is not None and key in self.cfg.settings and key != "args":
                    self.cfg.set(key, value)

    def load(self):
        # Each worker opens its own connections after the fork.
        from mlflow_compat.app import create_app

        return create_app(self._config)


def _limit_malloc_arenas(server=None, worker=None) -> None:
    """glibc gives each thread that allocates its own malloc arena and keeps each arena's peak:
    with 8 threads building search pages and history pages, a worker's RSS grew from ~110 MB to
    ~275 MB (bench W7). Two arenas keep it near the working set (MALLOC_ARENA_MAX=2)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, int(os.environ.get("MODELOPS_MALLOC_ARENAS", "2")))  # M_ARENA_MAX
    except (OSError, AttributeError, ValueError):
        pass  # not glibc: nothing to tune


def run_gunicorn(config: ServerConfig, host: str, port: int, workers: int, threads: int, argv: list[str]):
    options = {
        "bind": f"{host}:{port}",
        "workers": max(1, workers),
        "worker_class": "mlflow_compat.worker.ThreadWorker",
        "threads": max(1, threads),
        "timeout": 120,
        "graceful_timeout": 3,
        "keepalive": 5,
        "limit_request_line": 16384,
        "errorlog": "-",
        "loglevel": os.environ.get("MODELOPS_LOG_LEVEL", "info"),
        "proc_name": "modelops",
        # Several servers may run side by side (tests, benchmarks): no shared control socket.
        "control_socket_disable": True,
        "post_fork": _limit_malloc_arenas,
    }
    _App(config, options, argv).run()
