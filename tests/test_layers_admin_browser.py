"""The admin's layer import page in a real Chromium: the file goes up as a job, the page follows it
(static/planview/jobs.js) and shows the imported layer, or the job's message when the import fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import make_settings
from support import PASSWORD, add_user, keep_local, running_app

pytestmark = pytest.mark.browser

PARCELS = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"DLMC": "永久基本农田"},
     "geometry": {"type": "Polygon", "coordinates": [[[108.70, 30.93], [108.71, 30.93], [108.71, 30.94],
                                                      [108.70, 30.94], [108.70, 30.93]]]}}]}


def _import(page: Any, path: Path, layer_id: str) -> None:
    page.set_input_files("#li-file", str(path))
    page.fill("#li-id", layer_id)
    page.fill("#li-title", "测试三区三线")
    page.fill("#li-class", "DLMC")
    page.click("#li-submit")


def test_import_is_followed_to_its_end(browser: Any, tmp_path: Path) -> None:
    with running_app(make_settings(tmp_path)) as (server, url):
        add_user(server.config.app, "图层管理员", "admin")
        context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN", bypass_csp=False)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        outside = keep_local(page)
        page.goto(url + "/login?next=/admin/layers")
        page.fill("#login-name", "图层管理员")
        page.fill("#login-password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(url + "/admin/layers")
        good = tmp_path / "sqsx.geojson"
        good.write_text(json.dumps(PARCELS, ensure_ascii=False), encoding="utf-8")
        _import(page, good, "sqsx-test")
        done = page.locator("#li-done")
        done.wait_for(timeout=60_000)
        assert "sqsx-test" in done.inner_text() and "1 个要素" in done.inner_text()
        bad = tmp_path / "broken.geojson"
        bad.write_text("{not json", encoding="utf-8")
        _import(page, bad, "broken-test")
        status = page.locator("#li-status.au-error")
        status.wait_for(timeout=60_000)
        assert status.inner_text().strip() and "HTTP 200" not in status.inner_text()
        assert errors == [] and outside == []
        context.close()
