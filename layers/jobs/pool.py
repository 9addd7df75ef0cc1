"""A bounded pool of worker processes with a time and a memory limit per job.

Why processes and not threads: reading a hostile upload or rendering a large
sheet is CPU- and memory-bound work inside GEOS/GDAL/matplotlib. In a thread
it holds the GIL for seconds, cannot be stopped, and the memory it grew stays
with the server. In a worker process it runs beside the server, is killed
when it passes its wall-time limit (``timeout_s``) or its memory limit
(``memory_mb``: ``RLIMIT_AS`` in the worker plus an RSS watchdog here), and
the killed worker is replaced by a fresh one, so the memory goes back to the
system.

The queue is bounded: when ``queue_size`` jobs already wait, :meth:`JobPool.submit`
raises :class:`~geo.errors.Busy` at once (the server answers 503 with
``Retry-After``) instead of letting requests pile up.

Each worker slot has one dispatcher thread in this process; it hands a job
to its worker over a pipe and watches the clock, the worker's RSS and the
job's ``cancelled`` flag while it waits. An optional ``finish`` callable
runs here, in the dispatcher thread, after the worker returned: it is where a
result gets saved, and it is skipped when the job was cancelled, so a job
whose client went away saves nothing.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
import queue
import secrets
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from geo.errors import Busy, JobLimitExceeded, NotFound, PlanviewError

log = logging.getLogger(__name__)

POLL_S = 0.05
STARTUP_S = 120.0
KEEP_FINISHED = 500  # finished jobs remembered for status look-ups
KEEP_FINISHED_S = 3600.0
# Imported once in the fork server, so a new worker starts in milliseconds, not seconds.
PRELOAD = ["layers.jobs.worker", "layers.jobs.tasks", "numpy", "shapely", "pyproj", "pandas", "geopandas", "pyogrio",
           "matplotlib", "matplotlib.pyplot"]


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


@dataclass(eq=False)
class JobHandle:
    """One submitted job: its state for status pages, and a Future for its result."""

    id: str
    label: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    finish: Callable[[Any], Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    state: JobState = JobState.queued
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: PlanviewError | None = None
    future: Future[Any] = field(default_factory=Future)
    cancel_requested: bool = False
    dispatched: bool = False  # taken off the queue by a dispatcher (its worker may still be starting)
    stage: str | None = None  # what a running job reports it is doing (``progress()`` in the worker), or "saving"

    @property
    def is_finished(self) -> bool:
        return self.state in (JobState.done, JobState.failed, JobState.cancelled)

    def result(self, timeout: float | None = None) -> Any:
        """Block until done; returns the result or raises the job's error (a PlanviewError)."""
        try:
            return self.future.result(timeout)
        except FutureTimeout:
            raise JobLimitExceeded("等待任务结果超时 / timed out waiting for the job") from None

    def cancel(self) -> None:
        """Ask for cancellation: a queued job never starts, a running one is killed, nothing is saved."""
        self.cancel_requested = True

    def as_dict(self) -> dict[str, Any]:
        now = time.time()
        out: dict[str, Any] = {
            "id": self.id, "label": self.label, "state": str(self.state),
            "created": self.created, "started": self.started, "finished": self.finished,
            "elapsed_s": round((self.finished or now) - (self.started or self.created), 2),
        }
        if self.stage is not None and not self.is_finished:
            out["stage"] = self.stage
        if self.error is not None:
            out["error"] = {"code": self.error.code, "message": self.error.message}
        out.update(self.meta)
        return out


class _Worker:
    """One worker process and the pipe to it."""

    def __init__(self, ctx: Any, memory_mb: float, nice: int = 0) -> None:
        from layers.jobs.worker import serve

        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child, memory_mb, nice), daemon=True, name="planview-job")
        self.process.start()
        child.close()
        self.jobs_done = 0
        # Wait for the worker to have loaded its libraries: start-up time is not the job's time.
        if not self.conn.poll(STARTUP_S) or self.conn.recv()[0] != "ready":
            self.kill()
            raise RuntimeError("job worker did not start")

    def rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.process.pid}/statm") as fh:
                pages = int(fh.read().split()[1])
        except (OSError, ValueError, IndexError):
            return 0.0
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.join(timeout=5)
        except (OSError, ValueError, AssertionError):
            pass
        self.conn.close()


class JobPool:
    """``workers`` processes, ``queue_size`` waiting jobs at most, limits per job.

    Workers are started lazily (the first job) and replaced after any job that
    was killed or that left the worker above half its memory limit. They run
    ``nice`` steps below this process's CPU priority, so when the cores are
    busy the server's request threads (reading pages, layers, tiles) go first.
    """

    def __init__(self, *, workers: int = 2, timeout_s: float = 120.0, memory_mb: float = 2048.0,
                 queue_size: int = 32, start_method: str | None = None, nice: int = 0) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError("workers >= 1 and queue_size >= 0")
        self.workers = workers
        self.nice = nice
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.queue_size = queue_size
        method = start_method or ("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        self._ctx = mp.get_context(method)
        if method == "forkserver":
            self._ctx.set_forkserver_preload(PRELOAD)
        self._queue: queue.Queue[JobHandle | None] = queue.Queue()
        self._waiting = 0
        self._busy = 0  # dispatchers holding a job (starting a worker or running it)
        self._jobs: OrderedDict[str, JobHandle] = OrderedDict()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._seq = itertools.count()

    # ------------------------------------------------------------ public API

    def submit(self, fn: Callable[..., Any], *args: Any, label: str = "job",
               finish: Callable[[Any], Any] | None = None, **kwargs: Any) -> JobHandle:
        """Queue ``fn(*args, **kwargs)`` (a picklable module-level function); raises :class:`Busy` when full."""
        if self._closed:
            raise Busy("服务正在关闭 / the server is shutting down", retry_after=5)
        with self._lock:
            if self._waiting >= self.queue_size + self._idle_slots():
                raise Busy("服务繁忙，排队的任务已满，请稍后重试 / the server is busy (job queue full); "
                           "try again shortly", retry_after=max(2, int(self.timeout_s // 10)))
            handle = JobHandle(id=f"{next(self._seq):x}{secrets.token_hex(6)}", label=label, fn=fn, args=args,
                               kwargs=kwargs, finish=finish)
            self._waiting += 1
            self._remember(handle)
            self._start_threads()
        self._queue.put(handle)
        return handle

    def run(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None, label: str = "job",
            **kwargs: Any) -> Any:
        """Submit and wait: the result, or the job's PlanviewError."""
        handle = self.submit(fn, *args, label=label, **kwargs)
        try:
            return handle.result(timeout)
        except JobLimitExceeded:
            handle.cancel()
            raise

    def get(self, job_id: str) -> JobHandle:
        with self._lock:
            handle = self._jobs.get(job_id)
        if handle is None:
            raise NotFound(f"任务 {job_id[:40]} 不存在或已过期 / job {job_id[:40]} not found or expired")
        return handle

    def cancel(self, job_id: str) -> None:
        self.get(job_id).cancel()

    def position(self, handle: JobHandle) -> int | None:
        """1 for the next queued job to start, 2 for the one after it...; None once it runs (or ended)."""
        with self._lock:
            if handle.state is not JobState.queued or handle.cancel_requested or handle.dispatched:
                return None
            ahead = 0
            for job in self._jobs.values():  # submission order, which is the queue's order
                if job is handle:
                    return ahead + 1
                if job.state is JobState.queued and not job.cancel_requested and not job.dispatched:
                    ahead += 1
        return None

    def stats(self) -> dict[str, int]:
        with self._lock:
            running = sum(1 for j in self._jobs.values() if j.state == JobState.running)
            return {"workers": self.workers, "running": running, "queued": self._waiting,
                    "queue_size": self.queue_size}

    def close(self) -> None:
        """Stop the dispatchers and their workers (running jobs are cancelled)."""
        self._closed = True
        with self._lock:
            for handle in self._jobs.values():
                if not handle.is_finished:
                    handle.cancel()
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout=10)

    # ------------------------------------------------------------ internals

    def _idle_slots(self) -> int:
        return max(0, self.workers - self._busy)

    def _remember(self, handle: JobHandle) -> None:
        self._jobs[handle.id] = handle
        cutoff = time.time() - KEEP_FINISHED_S
        finished = [j for j in self._jobs.values() if j.is_finished]
        for old in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            self._jobs.pop(old.id, None)
        for old in finished:
            if old.finished and old.finished < cutoff:
                self._jobs.pop(old.id, None)

    def _start_threads(self) -> None:
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._dispatch, name=f"planview-jobs-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _dispatch(self) -> None:
        worker: _Worker | None = None
        try:
            while True:
                handle = self._queue.get()
                if handle is None:
                    return
                with self._lock:
                    self._waiting -= 1
                    self._busy += 1
                    handle.dispatched = True
                try:
                    worker = self._take(worker, handle)
                finally:
                    with self._lock:
                        self._busy -= 1
        finally:
            if worker is not None:
                worker.kill()

    def _take(self, worker: _Worker | None, handle: JobHandle) -> _Worker | None:
        """Start (or reuse) a worker for ``handle`` and run it; returns the worker to keep."""
        if handle.cancel_requested:
            self._settle(handle, JobState.cancelled, error=_cancelled())
            return worker
        if worker is None or not worker.process.is_alive():
            if worker is not None:
                worker.kill()
            try:
                worker = _Worker(self._ctx, self.memory_mb, self.nice)
            except (RuntimeError, OSError, EOFError) as exc:
                log.error("could not start a job worker: %s", exc)
                self._settle(handle, JobState.failed, error=Busy(
                    "处理进程无法启动，请稍后重试 / no worker process could be started; try again shortly",
                    detail=repr(exc)))
                return None
        if handle.cancel_requested:
            self._settle(handle, JobState.cancelled, error=_cancelled())
            return worker
        return self._run_one(worker, handle)

    def _run_one(self, worker: _Worker, handle: JobHandle) -> _Worker | None:
        """Run one job on ``worker``; returns the worker to keep (None: it was killed)."""
        handle.state = JobState.running
        handle.started = time.time()
        try:
            worker.conn.send((handle.fn, handle.args, handle.kwargs))
        except Exception as exc:  # noqa: BLE001 - an unpicklable job is a programming error, reported as such
            log.exception("job %s could not be sent to a worker", handle.label)
            self._settle(handle, JobState.failed, error=PlanviewError("任务无法启动 / the job could not be started",
                                                                      detail=repr(exc)))
            return worker
        deadline = handle.started + self.timeout_s
        while True:
            try:
                ready = worker.conn.poll(POLL_S)
            except (EOFError, OSError):
                ready = True
            if ready:
                try:
                    status, payload = worker.conn.recv()
                except (EOFError, OSError, Exception):  # noqa: BLE001 - a worker killed by the kernel (RLIMIT/OOM) or a bad pickle
                    worker.kill()
                    self._settle(handle, JobState.failed, error=self._limit_error("died"))
                    return None
                if status == "progress":  # the job said what it is doing; it goes on
                    handle.stage = str(payload)[:40]
                    continue
                break
            reason = None
            if handle.cancel_requested:
                reason = "cancelled"
            elif time.time() > deadline:
                reason = "time"
            elif not worker.process.is_alive():
                reason = "died"
            elif worker.rss_mb() > self.memory_mb:
                reason = "memory"
            if reason is not None:
                worker.kill()
                log.warning("job %s (%s) stopped: %s after %.1f s", handle.id, handle.label, reason,
                            time.time() - handle.started)
                if reason == "cancelled":
                    self._settle(handle, JobState.cancelled, error=_cancelled())
                else:
                    self._settle(handle, JobState.failed, error=self._limit_error(reason))
                return None
        worker.jobs_done += 1
        if status == "ok":
            self._finish(handle, payload)
        else:
            self._settle(handle, JobState.failed, error=payload)
        if status == "memory" or worker.rss_mb() > self.memory_mb / 2:
            worker.kill()  # give the memory back: a fresh worker next time
            return None
        return worker

    def _finish(self, handle: JobHandle, value: Any) -> None:
        if handle.cancel_requested:
            self._settle(handle, JobState.cancelled, error=_cancelled())
            return
        if handle.finish is not None:
            handle.stage = "saving"
            try:
                value = handle.finish(value)
            except PlanviewError as exc:
                self._settle(handle, JobState.failed, error=exc)
                return
            except Exception as exc:  # noqa: BLE001 - reported on the job, logged with its traceback
                log.exception("finishing job %s failed", handle.label)
                self._settle(handle, JobState.failed,
                             error=PlanviewError("任务结果保存失败 / saving the job's result failed", detail=repr(exc)))
                return
        handle.state = JobState.done
        handle.finished = time.time()
        handle.future.set_result(value)

    def _settle(self, handle: JobHandle, state: JobState, *, error: PlanviewError) -> None:
        handle.state = state
        handle.error = error
        handle.finished = time.time()
        if not handle.future.done():
            handle.future.set_exception(error)

    def _limit_error(self, reason: str) -> PlanviewError:
        if reason == "time":
            return JobLimitExceeded(
                f"处理超过 {self.timeout_s:g} 秒上限，已停止。请简化几何（减少顶点/环）、减少要素或分批上传 / "
                f"stopped after the {self.timeout_s:g} s limit; simplify the geometry (fewer vertices/rings), "
                "send fewer features or split the file")
        if reason == "memory" or reason == "died":
            return JobLimitExceeded(
                f"处理所需内存超过 {self.memory_mb:g} MB 上限，已停止。请简化几何、减少要素或分批上传 / "
                f"stopped at the {self.memory_mb:g} MB memory limit; simplify the geometry, send fewer "
                "features or split the file")
        return PlanviewError("任务失败 / the job failed", detail=reason)


def _cancelled() -> PlanviewError:
    return PlanviewError("任务已取消 / the job was cancelled")


def worker_error(exc: BaseException) -> PlanviewError:
    """What a worker sends back for an exception: PlanviewErrors as they are, others as a generic failure."""
    if isinstance(exc, PlanviewError):
        return exc
    if isinstance(exc, MemoryError):
        return JobLimitExceeded("处理所需内存超过上限，请简化几何、减少要素或分批上传 / the job ran out of its memory "
                                "limit; simplify the geometry, send fewer features or split the file")
    return PlanviewError("服务器内部错误 / internal server error",
                         detail="".join(traceback.format_exception(exc))[-4000:])


# ---------------------------------------------------------------- one pool per process

_SHARED: dict[tuple[Any, ...], JobPool] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(*, workers: int, timeout_s: float, memory_mb: float, queue_size: int, nice: int = 0) -> JobPool:
    """The process-wide pool for these limits (tests build many apps; they share one pool, not dozens)."""
    key = (workers, timeout_s, memory_mb, queue_size, nice)
    with _SHARED_LOCK:
        pool = _SHARED.get(key)
        if pool is None or pool._closed:
            pool = JobPool(workers=workers, timeout_s=timeout_s, memory_mb=memory_mb, queue_size=queue_size,
                           nice=nice)
            _SHARED[key] = pool
        return pool


def close_shared_pools() -> None:
    with _SHARED_LOCK:
        pools = list(_SHARED.values())
        _SHARED.clear()
    for pool in pools:
        pool.close()
