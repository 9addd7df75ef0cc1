"""The web side of the job pool: the app's pool, awaiting a job without blocking, ``/api/jobs/{id}``.

Request handlers submit heavy work with :func:`submit` and either await it
with :func:`await_job` (which cancels the job when the client disconnects,
so an abandoned upload is never saved) or answer 202 with ``/api/jobs/{id}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from geo.errors import NotFound
from layers.accounts import Role
from layers.jobs import JobHandle, JobPool, JobState, shared_pool
from server.auth.state import current_principal
from server.settings import Settings

router = APIRouter(tags=["jobs"])
DISCONNECT_POLL_S = 0.25


class ClientGone(Exception):  # noqa: N818 - not an error of the caller's: they are gone
    """The client disconnected while its job ran; the job was cancelled (answered with an empty 499)."""


def app_pool(app: FastAPI) -> JobPool:
    """The pool for the app's settings: shared by every app in the process, started on first use."""
    pool: JobPool | None = getattr(app.state, "job_pool", None)
    if pool is None:
        settings: Settings = app.state.settings
        pool = shared_pool(workers=settings.job_workers, timeout_s=settings.job_timeout_s,
                           memory_mb=settings.job_memory_mb, queue_size=settings.job_queue, nice=settings.job_nice)
        app.state.job_pool = pool
    return pool


def submit(request: Request, fn: Callable[..., Any], *args: Any, label: str,
           finish: Callable[[Any], Any] | None = None, **kwargs: Any) -> JobHandle:
    """Queue a job on the app's pool (raises Busy -> 503 at once when full), owned by the signed-in user:
    only they (and admins) may read its status at ``/api/jobs/{id}``."""
    handle = app_pool(request.app).submit(fn, *args, label=label, finish=finish, **kwargs)
    handle.meta["owner"] = current_principal(request).name
    return handle


async def await_job(request: Request, handle: JobHandle) -> Any:
    """The job's result; cancels the job (nothing saved) if the client goes away while we wait."""
    future = asyncio.wrap_future(handle.future)
    while True:
        done, _ = await asyncio.wait({future}, timeout=DISCONNECT_POLL_S)
        if done:
            return future.result()
        if await request.is_disconnected():
            handle.cancel()
            raise ClientGone(handle.id)


def job_url(handle: JobHandle) -> str:
    return f"/api/jobs/{handle.id}"


def describe(pool: JobPool, handle: JobHandle) -> dict[str, Any]:
    """The job as its status page shows it: state, stage, place in the queue, elapsed time, its URL."""
    body = {**handle.as_dict(), "url": job_url(handle)}
    position = pool.position(handle)
    if position is not None:
        body["position"] = position
    return body


def accepted(request: Request, handle: JobHandle) -> JSONResponse:
    """202 Accepted with the job's status URL (``Location`` and in the body)."""
    url = job_url(handle)
    return JSONResponse(describe(app_pool(request.app), handle), status_code=202,
                        headers={"Location": url, "Retry-After": "1"})


def wants_async(request: Request) -> bool:
    """``Prefer: respond-async`` (RFC 7240) or ``?async=1``: answer 202 with a job URL instead of waiting."""
    prefer = request.headers.get("prefer", "").lower()
    return "respond-async" in prefer or request.query_params.get("async") in ("1", "true")


def _own_job(request: Request, job_id: str) -> JobHandle:
    """The job, if the caller submitted it (or is an admin); to anyone else it does not exist (404)."""
    handle = app_pool(request.app).get(job_id)
    principal = current_principal(request)
    if principal.role is not Role.ADMIN and (principal.name is None or handle.meta.get("owner") != principal.name):
        raise NotFound(f"任务 {job_id[:40]} 不存在或已过期 / job {job_id[:40]} not found or expired")
    return handle


def _status(request: Request, handle: JobHandle, status: int = 200) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if handle.state in (JobState.queued, JobState.running):
        headers["Retry-After"] = "1"
    return JSONResponse(describe(app_pool(request.app), handle), status_code=status, headers=headers)


@router.get("/api/jobs/{job_id}")
def job_status(job_id: str, request: Request) -> JSONResponse:
    """A job's state (queued/running/done/failed/cancelled), ``stage`` while it runs (loading, reading,
    analysing, saving), ``position`` in the queue while it waits, elapsed time, error, and a result link
    when done.

    Only the user who submitted the job (and admins) may see it; to anyone else it does not exist (404),
    so job ids do not reveal others' uploads or imports."""
    return _status(request, _own_job(request, job_id))


@router.delete("/api/jobs/{job_id}", status_code=202)
def cancel_job(job_id: str, request: Request) -> JSONResponse:
    """Cancel one's own job (admins: any): a queued job never starts, a running one is stopped, nothing
    is saved. 202: the job ends shortly (poll its URL); a job already finished is left as it was."""
    handle = _own_job(request, job_id)
    if not handle.is_finished:
        handle.cancel()
    return _status(request, handle, 202)
