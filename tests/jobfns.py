"""Small job functions for tests/test_jobs.py, in a light module: a worker imports it to run them."""

from __future__ import annotations

import os
import time

from geo.errors import InvalidInput


def add(a: int, b: int) -> int:
    return a + b


def pid() -> int:
    return os.getpid()


def refuse(text: str) -> None:
    raise InvalidInput(text)


def crash() -> None:
    raise ZeroDivisionError("boom")


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def hog(mb: int) -> int:
    blocks = [bytearray(1024 * 1024) for _ in range(mb)]  # touched: resident, not just reserved
    return len(blocks)


def stages(names: list[str], pause: float) -> int:
    """Report each stage (as an analysis reports reading/analysing), pausing after each."""
    from layers.jobs.worker import progress

    for name in names:
        progress(name)
        time.sleep(pause)
    return len(names)


def niceness() -> int:
    return os.nice(0)
