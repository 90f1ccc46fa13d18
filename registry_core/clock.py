"""Wall-clock milliseconds, the time unit of every timestamp in the registry."""

import time


def now_ms() -> int:
    return int(time.time() * 1000)
