"""py-spy around one workload (``bench.py --py-spy DIR``): record the server's process tree only
while the timed workload runs (not the seeding), then summarize the collapsed stacks as the
functions with the most samples, inclusive and self. The raw files load in speedscope or
flamegraph.pl for a closer look.

Sampling slows the server down a little: numbers measured with --py-spy are for finding hot
spots, not for the table."""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import time
from pathlib import Path

PROJECT = ("mlflow_compat/", "registry_core/", "storage/")
# leaf frames of threads that only wait: the gthread pool's idle threads, the worker's and the
# arbiter's event loops. py-spy counts them as busy; they are left out of the percentages.
IDLE_LEAVES = (
    "ThreadWorker._serve_events (modelops_server/worker.py)",  # a pool thread in epoll_wait
    "ThreadWorker._linger (modelops_server/worker.py)",  # a pool thread polling a lone client's socket
    "Checkpointer._next (registry_core/checkpointer.py)",  # the WAL checkpointer waiting for commits
    "Condition.wait (threading.py)",  # the worker's main thread between heartbeats
    "_worker (concurrent/futures/thread.py)",
    "EpollSelector.select (selectors.py)",
    "select (selectors.py)",
    "Arbiter.sleep (gunicorn/arbiter.py)",
    "Arbiter.wait_for_signals (gunicorn/arbiter.py)",
)


def find_py_spy() -> str | None:
    here = Path(__file__).resolve().parents[2] / ".venv/bin/py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Profiler:
    def __init__(self, pid: int, output: Path, rate: int = 100):
        self.output = output
        binary = find_py_spy()
        if not binary:
            raise RuntimeError("py-spy not found: .venv/bin/pip install py-spy")
        output.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(output.with_suffix(".log"), "wb")
        self.process = subprocess.Popen(
            [
                binary,
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--format",
                "raw",
                "--rate",
                str(rate),
                "--function",
                "--output",
                str(output),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # let it attach before the workload starts

    def stop(self) -> Path:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.output


def _frame_name(frame: str) -> str:
    # "function (path/file.py:12)" -> "function (path/file.py)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0] if ":" in where else where
    return f"{name} ({path})" if path else name


def summarize(raw: Path, top: int = 12) -> str:
    """The functions with the most samples: inclusive (project code first) and self."""
    if not raw.exists() or raw.stat().st_size == 0:
        return f"(no samples in {raw})"
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    total = 0
    with open(raw) as handle:
        for line in handle:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [_frame_name(f) for f in stack.split(";")]
            # the first frame is "process <pid>:<cmd>" with --subprocesses
            frames = [f for f in frames if not f.startswith("process ")]
            if not frames or frames[-1] in IDLE_LEAVES:
                continue
            total += n
            for frame in set(frames):
                inclusive[frame] += n
            own[frames[-1]] += n
    if not total:
        return "(no samples)"

    def pct(n: int) -> str:
        return f"{100.0 * n / total:5.1f}%"

    project = [(f, n) for f, n in inclusive.most_common() if any(p in f for p in PROJECT)]
    lines = [f"{total} busy samples (idle pool threads and event loops left out)", "", "inclusive, project code:"]
    lines += [f"  {pct(n)}  {f}" for f, n in project[:top]]
    lines += ["", "self (where the CPU actually is):"]
    lines += [f"  {pct(n)}  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def main(argv=None) -> int:
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python scripts/bench/profile.py RAW_FILE [TOP]")
        return 2
    print(summarize(Path(args[0]), int(args[1]) if len(args) > 1 else 12))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
