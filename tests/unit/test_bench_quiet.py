"""The bench's wait for a quiet machine (scripts/bench/servers.py): measured against counters whose
CPU use is known, and against a real busy process tree."""

import subprocess
import sys

from scripts.bench import servers


def test_quiet_counter_returns_after_the_first_quiet_window():
    busy = {"calls": 0}

    def counter():  # 1 s of CPU per call for the first four reads (two busy windows), then none
        busy["calls"] += 1
        return float(min(busy["calls"], 4))

    waited, quiet = servers.wait_quiet(counter, window=0.01, timeout=5)
    assert quiet
    assert busy["calls"] == 6  # two busy windows, then one quiet one
    assert waited < 1


def test_a_counter_that_stays_busy_times_out():
    ticks = iter(range(10**6))
    waited, quiet = servers.wait_quiet(lambda: float(next(ticks)), window=0.01, timeout=0.05)
    assert not quiet
    assert waited >= 0.05


def test_a_spinning_process_tree_is_busy_and_an_idle_one_quiet():
    spinner = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"]
    )
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _, quiet = servers.wait_quiet(lambda: servers.tree_cpu_seconds(spinner.pid), window=0.1, timeout=0.3)
        assert not quiet
        waited, quiet = servers.wait_quiet(lambda: servers.tree_cpu_seconds(sleeper.pid), window=0.1, timeout=5)
        assert quiet and waited < 1
    finally:
        spinner.kill()
        sleeper.kill()
        spinner.wait()
        sleeper.wait()
