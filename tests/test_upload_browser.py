"""The upload page in a real Chromium: the file goes up as a job, a progress panel shows its state, the
result page opens when it is done, and a failed job's bilingual message lands in the page's error box.

The pages run under their real Content-Security-Policy (no bypass); requests off the loopback server are
refused and recorded; console errors and CSP violations fail the test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import make_settings
from jobfns import sleep
from support import PASSWORD, add_user, keep_local, running_app

from layers.workspaces import open_store
from server.jobs import app_pool

pytestmark = pytest.mark.browser

GEOJSON = json.dumps({"type": "FeatureCollection", "features": [{
    "type": "Feature", "properties": {"name": "进度地块"},
    "geometry": {"type": "Polygon", "coordinates": [[[108.69, 30.93], [108.71, 30.93], [108.71, 30.95],
                                                     [108.69, 30.95], [108.69, 30.93]]]}}]}, ensure_ascii=False)
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


class Tab:
    """A signed-in planner's tab on ``base``, recording console errors, CSP violations, outside requests, jobs."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": 1100, "height": 800}, locale="zh-CN", bypass_csp=False)
        self.context.add_init_script(WATCH_CSP)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(f"{r.method} {urlsplit(r.url).path}"
                                                               f"{'?' + urlsplit(r.url).query if urlsplit(r.url).query else ''}"))
        self.outside = keep_local(self.page)
        page = self.page
        page.goto(base + "/login?next=/overlay")
        page.fill("#login-name", "进度规划员")
        page.fill("#login-password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(base + "/overlay")


    def submit(self, path: Path) -> None:
        self.page.set_input_files("#ov-file", str(path))
        self.page.click("form.ov-form button[type=submit]")

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.outside == [], self.outside
        assert self.page.evaluate("window.__csp") == []


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_app(make_settings(tmp_path_factory.mktemp("upload-browser"))) as (server, url):
        add_user(server.config.app, "进度规划员", "planner")
        yield url


@pytest.fixture
def tab(browser: Any, base: str) -> Iterator[Tab]:
    t = Tab(browser, base)
    yield t
    t.context.close()


def test_upload_shows_progress_then_opens_the_result(tab: Tab, tmp_path: Path) -> None:
    sample = tmp_path / "进度.geojson"
    sample.write_text(GEOJSON, encoding="utf-8")
    page = tab.page
    tab.submit(sample)
    panel = page.locator("#ov-progress")
    panel.wait_for(state="visible", timeout=5_000)
    assert "进度.geojson" in panel.locator(".ov-progress-title").inner_text()
    assert "秒" in page.locator("#ov-progress-time").inner_text()
    assert panel.get_attribute("data-stage") in ("uploading", "queued", "loading", "reading", "analysing", "saving",
                                                 "done")
    assert page.locator("#ov-progress-bar").is_visible()
    page.wait_for_url(tab.base + "/overlay/*", timeout=60_000)
    page.wait_for_selector("body[data-overlay-ready='1']", timeout=30_000)
    assert "进度地块" in page.locator("#ov-table").inner_text()
    # the form went up as a job (CSRF token in the header), and the page polled the job until it was done
    assert "POST /api/overlay?async=1" in tab.requests
    assert any(r.startswith("GET /api/jobs/") for r in tab.requests), tab.requests
    assert "POST /overlay" not in " ".join(tab.requests)
    tab.assert_clean()


def test_unreadable_file_shows_the_jobs_message(tab: Tab, tmp_path: Path) -> None:
    broken = tmp_path / "坏文件.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [ this is not json', encoding="utf-8")
    page = tab.page
    tab.submit(broken)
    error = page.locator("#ov-error[role=alert]")
    error.wait_for(state="visible", timeout=60_000)
    text = error.inner_text()
    assert "/" in text and any("\u4e00" <= c <= "\u9fff" for c in text) and any(c.isascii() and c.isalpha()
                                                                                for c in text), text
    assert page.locator("#ov-progress").is_hidden()
    assert page.url == tab.base + "/overlay"
    assert page.locator("form.ov-form button[type=submit]").is_enabled()  # ready for a corrected file
    tab.assert_clean()


def test_a_queued_upload_shows_its_place_and_can_be_cancelled(browser: Any, tmp_path: Path) -> None:
    """One worker, busy with another job: the upload waits in the queue (第 1 位); 取消 takes it out
    (DELETE /api/jobs/{id}) and nothing is saved."""
    settings = make_settings(tmp_path, job_workers=1, job_queue=4, job_timeout_s=120)
    with running_app(settings) as (server, url):
        app = server.config.app
        add_user(app, "进度规划员", "planner")
        busy = app_pool(app).submit(sleep, 60)  # the one worker is taken
        deadline = time.time() + 30
        while app_pool(app).stats()["running"] == 0 and time.time() < deadline:
            time.sleep(0.05)
        tab = Tab(browser, url)
        try:
            sample = tmp_path / "取消.geojson"
            sample.write_text(GEOJSON, encoding="utf-8")
            tab.submit(sample)
            page = tab.page
            state = page.locator("#ov-progress-state")
            page.locator("#ov-progress[data-stage=queued]").wait_for(timeout=10_000)
            assert "第 1 位" in state.inner_text()
            with page.expect_response(lambda r: r.request.method == "DELETE" and "/api/jobs/" in r.url) as done:
                page.click("#ov-cancel")
            assert done.value.status == 202
            error = page.locator("#ov-error")
            error.wait_for(state="visible", timeout=10_000)
            assert "取消" in error.inner_text()
            assert page.url == url + "/overlay"
            assert page.locator("form.ov-form button[type=submit]").is_enabled()
            tab.assert_clean()
        finally:
            tab.context.close()
            busy.cancel()
        assert open_store(gpkg_path=settings.workspace_gpkg, database_url=None).count() == 0


def test_a_job_past_its_limit_says_what_to_simplify(browser: Any, tmp_path: Path) -> None:
    # a 0.05 s limit: loading the plans alone takes longer, so the worker is stopped at its limit
    with running_app(make_settings(tmp_path, job_timeout_s=0.05)) as (server, url):
        add_user(server.config.app, "进度规划员", "planner")
        tab = Tab(browser, url)
        try:
            sample = tmp_path / "超时.geojson"
            sample.write_text(GEOJSON, encoding="utf-8")
            tab.submit(sample)
            error = tab.page.locator("#ov-error[role=alert]")
            error.wait_for(state="visible", timeout=60_000)
            text = error.inner_text()
            assert "上限" in text and "简化" in text and "simplify" in text, text
            assert tab.page.url == url + "/overlay"
            tab.assert_clean()
        finally:
            tab.context.close()
