"""Signing in and out in a real Chromium: the form, the HttpOnly cookie, the CSRF token, logout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import PASSWORD, add_user, running_app

from server.settings import Settings

GEOJSON = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"甲"},'
           '"geometry":{"type":"Point","coordinates":[108.7,30.95]}}]}')


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    settings = Settings(workspace_gpkg=tmp_path_factory.mktemp("auth-browser") / "ws.gpkg", database_url=None)
    with running_app(settings) as (server, url):
        app = server.config.app
        add_user(app, "李工", "planner")
        yield url, app


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_login_upload_logout_in_chromium(browser: Any, site: tuple[str, Any], viewport: dict[str, int],
                                         tmp_path: Path) -> None:
    base, app = site
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        response = page.goto(f"{base}/overlay")
        assert response.status == 401 and page.locator("#login-form").is_visible()
        page.fill("#login-name", "李工")
        page.fill("#login-password", "not the password")
        page.click("#login-form button[type=submit]")
        assert "用户名或密码错误" in page.locator("#login-error").inner_text()
        page.fill("#login-password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"{base}/overlay")
        assert page.locator("#pv-account").inner_text() == "李工"
        cookie = next(c for c in context.cookies() if c["name"] == "planview_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert "planview_session" not in page.evaluate("document.cookie")  # scripts cannot read the session
        # the upload form posts with the token in its action; a script's POST needs the token too
        sample = tmp_path / "甲.geojson"
        sample.write_text(GEOJSON, encoding="utf-8")
        page.set_input_files("#ov-file", str(sample))
        page.click("form.ov-form button[type=submit]")
        page.wait_for_url(f"{base}/overlay/*")
        page.wait_for_function("document.body.getAttribute('data-overlay-ready') === '1'", timeout=30_000)
        assert "甲" in page.locator("#ov-table").inner_text()
        ws_id = page.url.rsplit("/", 1)[1]
        without = page.evaluate(f"fetch('/api/overlay/{ws_id}', {{method: 'DELETE'}}).then(r => r.status)")
        assert without == 403
        with_token = page.evaluate(
            "id => fetch('/api/overlay/' + id, {method: 'DELETE', headers: {'X-CSRF-Token': "
            "document.querySelector('meta[name=csrf-token]').content}}).then(r => r.status)", ws_id)
        assert with_token == 204
        page.goto(f"{base}/overlay")
        page.click("#pv-logout")
        page.wait_for_url(f"{base}/")
        assert page.locator("#pv-login").is_visible()
        assert page.goto(f"{base}/overlay").status == 401
        assert errors == []
        actions = [r.action for r in app.state.auth.audit.query(actor="李工", limit=1000)[0]]
        assert {"login", "upload", "read", "delete", "logout"} <= set(actions)
    finally:
        context.close()
