"""The worker side of :mod:`layers.jobs.pool`: one process, one job at a time, under an address-space limit.

Kept small and import-light: the fork server preloads it, and every worker
forked from there starts with the heavy libraries already imported.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from multiprocessing.connection import Connection
from typing import Any

_CONN: Connection | None = None  # the pipe to the pool while this process serves jobs


def progress(stage: str) -> None:
    """Tell the pool what the running job is doing now (shown on status pages); a no-op outside a worker."""
    if _CONN is not None:
        with contextlib.suppress(OSError, ValueError):
            _CONN.send(("progress", stage))


def _vsize_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def limit_memory(memory_mb: float) -> None:
    """Cap the address space at what the worker uses now plus ``memory_mb``: a runaway allocation fails fast."""
    if memory_mb <= 0:
        return
    limit = _vsize_bytes() + int(memory_mb * 1024 * 1024)
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass  # not permitted here: the RSS watchdog in the pool still applies


def lower_priority(nice: int) -> None:
    """Yield the CPU to the server: with ``nice`` > 0, request threads win when the cores are busy."""
    if nice > 0:
        with contextlib.suppress(OSError):
            os.nice(nice)


def serve(conn: Connection, memory_mb: float, nice: int = 0) -> None:
    """Receive ``(fn, args, kwargs)``, answer ``("ok", result)`` / ``("error"|"memory", PlanviewError)``, repeat."""
    from layers.jobs.pool import worker_error

    global _CONN
    _CONN = conn
    lower_priority(nice)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server; it stops us
    limit_memory(memory_mb)
    conn.send(("ready", os.getpid()))  # the job's clock starts now, not while the libraries load
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        fn, args, kwargs = job
        reply: tuple[str, Any]
        try:
            reply = ("ok", fn(*args, **kwargs))
        except MemoryError as exc:
            reply = ("memory", worker_error(exc))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the pool, the worker lives on
            reply = ("error", worker_error(exc))
        del job, fn, args, kwargs
        try:
            conn.send(reply)
        except MemoryError as exc:
            conn.send(("memory", worker_error(exc)))
        except Exception as exc:  # noqa: BLE001 - an unpicklable result
            conn.send(("error", worker_error(exc)))
