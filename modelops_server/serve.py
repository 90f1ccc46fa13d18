"""Serving through gunicorn (this package's worker, or stock gthread), configured from Python
rather than a file."""

from __future__ import annotations

import gc
import os

from gunicorn.app.base import BaseApplication
from gunicorn.config import Config

from mlflow_compat.config import ServerConfig
from modelops_server.worker import HAS_EPOLL


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


# The youngest generation is collected after this many allocations (CPython's default: 700).
GC_YOUNG_THRESHOLD = 50_000


def _settle_heap(worker=None) -> None:
    """Once a worker has loaded the app: its ~60,000 long-lived objects (Flask, peewee,
    marshmallow, the schemas) are frozen out of the cyclic collector's walks, and the youngest
    generation waits for 50,000 allocations. A search page of 500 versions, 1,000 runs or a
    history page of 25,000 points allocates thousands of objects that reference counting frees
    at the end of the request; with the defaults they set off several collections mid-request,
    now and then one that walks the whole heap (7-10% of a W6 search in process). Cyclic garbage
    (rare here) is still collected, later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    if worker is not None:
        worker.log.info(
            "Worker heap settled: %d objects frozen, young generation collected every %d allocations",
            gc.get_freeze_count(),
            GC_YOUNG_THRESHOLD,
        )


def worker_class(worker: str) -> str:
    """gunicorn's ``worker_class`` for ``--worker``: ``modelops``, this package's worker (which
    patches gunicorn in its process, ``gunicorn_process.settle_process``), or ``gthread``,
    gunicorn's own threaded worker as released, which serves the same app through plain WSGI."""
    if worker == "gthread":
        return "gthread"
    if worker != "modelops":
        raise ValueError(f"unknown worker {worker!r}: 'modelops' or 'gthread'")
    return "modelops_server.worker." + ("ThreadWorker" if HAS_EPOLL else "PortableThreadWorker")


def run_gunicorn(
    config: ServerConfig,
    host: str,
    port: int,
    workers: int,
    threads: int,
    argv: list[str],
    worker: str = "modelops",
):
    options = {
        "bind": f"{host}:{port}",
        "workers": max(1, workers),
        "worker_class": worker_class(worker),
        "threads": max(1, threads),
        "timeout": 120,
        "graceful_timeout": 3,
        "keepalive": 5,
        # mlflow server (uvicorn, h11) takes request heads up to 16 KiB; gunicorn reads any
        # limit above 8190 as 8190, and 0 as "no limit of its own" (1 MiB in its C parser). The
        # head stays bounded by limit_request_fields x limit_request_field_size (about 800 KiB).
        "limit_request_line": 0,
        "errorlog": "-",
        "loglevel": os.environ.get("MODELOPS_LOG_LEVEL", "info"),
        "proc_name": "modelops",
        # Several servers may run side by side (tests, benchmarks): no shared control socket.
        "control_socket_disable": True,
        "post_fork": _limit_malloc_arenas,
        "post_worker_init": _settle_heap,
    }
    _App(config, options, argv).run()
