"""The job pool with real worker processes: results, errors, time and memory limits, a full queue, cancellation."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import make_settings
from jobfns import add, crash, hog, niceness, pid, refuse, sleep, stages
from support import bearer, running_app, signed_in

from geo.errors import Busy, InvalidInput, JobLimitExceeded
from layers.jobs import JobPool, JobState
from server.app import create_app
from server.jobs import app_pool


@pytest.fixture
def pool() -> Iterator[JobPool]:
    p = JobPool(workers=1, timeout_s=3, memory_mb=300, queue_size=1)
    yield p
    p.close()


def test_result_and_errors_come_back(pool: JobPool) -> None:
    assert pool.run(add, 2, 3) == 5
    with pytest.raises(InvalidInput, match="fix this"):
        pool.run(refuse, "fix this")
    with pytest.raises(Exception) as info:
        pool.run(crash)
    assert "boom" not in str(info.value)  # internals go to the log, not to users
    assert pool.run(add, 1, 1) == 2  # the worker lives on after errors


def test_time_limit_kills_and_replaces_the_worker(pool: JobPool) -> None:
    first = pool.run(pid)
    started = time.monotonic()
    with pytest.raises(JobLimitExceeded, match="3 s"):
        pool.run(sleep, 30)
    assert time.monotonic() - started < 6
    assert pool.run(pid) != first


def test_memory_limit_kills_and_replaces_the_worker(pool: JobPool) -> None:
    first = pool.run(pid)
    with pytest.raises(JobLimitExceeded, match="300 MB"):
        pool.run(hog, 2000)
    assert pool.run(pid) != first
    assert pool.run(hog, 50) == 50  # a job within the limit still runs


def test_full_queue_refuses_at_once(pool: JobPool) -> None:
    running = pool.submit(sleep, 1.5)
    time.sleep(0.3)  # the dispatcher holds it (starting the worker or running it)
    queued = pool.submit(add, 1, 2)
    started = time.monotonic()
    with pytest.raises(Busy) as info:
        pool.submit(add, 3, 4)
    assert time.monotonic() - started < 0.5
    assert info.value.retry_after >= 1
    assert running.result(10) == 1.5 and queued.result(10) == 3


def test_cancelled_job_runs_no_finish(pool: JobPool) -> None:
    saved: list[object] = []

    def save(value: object) -> object:
        saved.append(value)
        return value

    handle = pool.submit(sleep, 2, finish=save)
    deadline = time.time() + 60  # the first job waits for its worker to start
    while handle.state != JobState.running:
        assert time.time() < deadline
        time.sleep(0.05)
    handle.cancel()
    with pytest.raises(Exception, match="取消"):
        handle.result(5)
    assert handle.state == JobState.cancelled and saved == []
    done = pool.submit(sleep, 0.01, finish=save)
    assert done.result(10) == 0.01 and saved == [0.01]
    assert pool.get(done.id).as_dict()["state"] == "done"


def test_a_running_job_reports_its_stages_and_a_queued_one_its_place(pool: JobPool) -> None:
    running = pool.submit(stages, ["reading", "analysing"], 0.8)
    queued = pool.submit(add, 1, 2)
    deadline = time.time() + 5
    while not running.dispatched and time.time() < deadline:  # a dispatcher takes the first job at once
        time.sleep(0.01)
    assert pool.position(queued) == 1 and queued.as_dict().get("stage") is None
    seen = set()
    deadline = time.time() + 20
    while not running.is_finished and time.time() < deadline:
        seen.add(running.as_dict().get("stage"))
        time.sleep(0.05)
    assert {"reading", "analysing"} <= seen, seen
    assert running.result(5) == 2 and "stage" not in running.as_dict()  # a finished job has no stage
    assert queued.result(10) == 3 and pool.position(queued) is None


def test_workers_run_below_the_servers_cpu_priority() -> None:
    """Reads stay quick while jobs compute: the workers yield the CPU to the server's request threads."""
    import os

    lower = JobPool(workers=1, timeout_s=10, memory_mb=300, queue_size=1, nice=5)
    try:
        assert lower.run(niceness) == min(19, os.nice(0) + 5)
    finally:
        lower.close()


# ---------------------------------------------------------------- through HTTP

GEOJSON = json.dumps({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"名称": "东区地块"},
     "geometry": {"type": "Polygon", "coordinates": [[[108.69, 30.93], [108.70, 30.93], [108.70, 30.94],
                                                      [108.69, 30.94], [108.69, 30.93]]]}}]}).encode()


def test_async_upload_answers_202_and_the_job_names_the_workspace(tmp_path: Path) -> None:
    with signed_in(create_app(make_settings(tmp_path))) as c:
        r = c.post("/api/overlay", files={"file": ("s.geojson", GEOJSON)}, headers={"Prefer": "respond-async"})
        assert r.status_code == 202, r.text
        url = r.headers["location"]
        assert url.startswith("/api/jobs/") and r.json()["url"] == url
        deadline = time.time() + 60
        while (job := c.get(url).json())["state"] in ("queued", "running"):
            assert time.time() < deadline
            time.sleep(0.1)
        assert job["state"] == "done", job
        report = c.get(job["result"]).json()
        assert report["id"] == job["workspace"] and report["sites"][0]["name"] == "东区地块"
        assert c.get(job["page"]).status_code == 200
        assert c.get("/api/jobs/nope").status_code == 404


def test_full_queue_is_503_with_retry_after_at_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, job_workers=1, job_queue=0, job_timeout_s=20)
    with signed_in(create_app(settings)) as c:
        blocker = app_pool(c.app).submit(sleep, 2)  # type: ignore[arg-type]
        time.sleep(0.3)
        started = time.monotonic()
        r = c.post("/api/overlay", files={"file": ("s.geojson", GEOJSON)})
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
        assert "busy" in r.json()["message"] and time.monotonic() - started < 2
        r = c.get("/api/export", params={"map": "yunyang", "format": "png", "width": 1200, "height": 800})
        assert r.status_code == 503
        assert c.get("/api/layers").status_code == 200  # reads never queue behind the jobs
        blocker.result(10)


def test_a_job_whose_client_left_is_cancelled_and_saves_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, job_workers=1, job_queue=4, job_timeout_s=25)
    with running_app(settings) as (server, base):
        pool = app_pool(server.config.app)
        blocker = pool.submit(sleep, 3)
        time.sleep(0.3)
        auth = bearer(server.config.app, "planner")
        with pytest.raises(httpx.ReadTimeout), httpx.Client(base_url=base, timeout=1, headers=auth) as c:
            c.post("/api/overlay", files={"file": ("s.geojson", GEOJSON)})
        blocker.result(10)
        time.sleep(1)
        uploads = [j for j in pool._jobs.values() if j.label == "upload"]
        assert uploads and uploads[-1].state == JobState.cancelled
        with httpx.Client(base_url=base, timeout=30, headers=auth) as c:
            assert c.get("/api/overlay").json()["workspaces"] == []


def test_delete_cancels_ones_own_queued_job_only(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, job_workers=1, job_queue=4, job_timeout_s=25)
    app = create_app(settings)
    with signed_in(app, "甲") as owner, signed_in(app, "乙") as other:
        blocker = app_pool(app).submit(sleep, 3)
        time.sleep(0.3)
        r = owner.post("/api/overlay?async=1", files={"file": ("s.geojson", GEOJSON)})
        assert r.status_code == 202 and r.json()["state"] == "queued" and r.json()["position"] == 1, r.text
        url = r.json()["url"]
        assert other.delete(url).status_code == 404  # someone else's job does not exist for them
        assert owner.get(url).json()["state"] == "queued"
        r = owner.delete(url)
        assert r.status_code == 202 and r.json()["url"] == url
        blocker.result(10)
        deadline = time.time() + 10
        while (job := owner.get(url).json())["state"] not in ("cancelled", "failed", "done") and time.time() < deadline:
            time.sleep(0.1)
        assert job["state"] == "cancelled" and "取消" in job["error"]["message"], job
        assert owner.get("/api/overlay").json()["workspaces"] == []  # nothing saved
        assert owner.delete("/api/jobs/nope").status_code == 404
