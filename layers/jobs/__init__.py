"""Heavy work (reading uploads, analysis, exports, reports) in a bounded pool of worker processes.

Public API (web-free; the server maps the errors to HTTP)::

    from layers.jobs import shared_pool, JobHandle, JobState

    pool = shared_pool(workers=2, timeout_s=60, memory_mb=1536, queue_size=16, nice=10)
        # nice: workers run below the server's CPU priority, so reads stay quick under load
    handle = pool.submit(fn, *args, label="export", finish=None, **kwargs)
        # fn: a module-level (picklable) function; args/kwargs picklable.
        # Raises geo.errors.Busy at once when the queue is full (-> 503 + Retry-After).
        # finish(result) runs in this process after the worker returned (e.g. save to the
        # store); it is skipped when the job was cancelled, so a cancelled job saves nothing.
    handle.id, handle.state                 # JobState.queued/running/done/failed/cancelled
    handle.result(timeout=None)             # the value, or raises the job's PlanviewError
    handle.future                           # concurrent.futures.Future (asyncio.wrap_future for async code)
    handle.cancel()                         # queued: never starts; running: worker killed
    handle.as_dict()                        # for a status page: id, label, state, stage, elapsed_s, error, meta...
    pool.position(handle)                   # place in the queue (1 = next), None once it runs
    # in a job: layers.jobs.worker.progress("reading") reports its stage (handle.stage) to the pool
    pool.get(job_id) -> JobHandle           # raises geo.errors.NotFound
    pool.run(fn, *args, timeout=None)       # submit + wait

Limits: a job running longer than ``timeout_s`` or growing past ``memory_mb``
(address-space limit in the worker, RSS watchdog in the pool) is killed and
fails with :class:`geo.errors.JobLimitExceeded` (413, says what to simplify);
the worker is replaced, so the memory comes back. Exceptions other than
PlanviewError fail the job with a generic message (details in the log).

In the web app use ``server.jobs`` (``app_pool``, ``await_job``), which also
cancels a job when its client disconnects.
"""

from layers.jobs.pool import JobHandle, JobPool, JobState, close_shared_pools, shared_pool

__all__ = ["JobHandle", "JobPool", "JobState", "close_shared_pools", "shared_pool"]
