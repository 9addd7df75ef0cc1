"""Drawing a site on a map in a real Chromium: Geoman's polygon tool -> the check in the panel -> a workspace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import PASSWORD, add_user, running_app

from layers.workspaces import open_store
from server.settings import Settings

pytestmark = pytest.mark.browser

# a small square in 云阳县 over 小江科创城 (lon, lat)
SQUARE = [(108.700, 30.950), (108.712, 30.950), (108.712, 30.960), (108.700, 30.960)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    tmp = tmp_path_factory.mktemp("draw-browser")
    settings = Settings(workspace_gpkg=tmp / "ws.gpkg", layer_store_gpkg=tmp / "layers.gpkg", database_url=None)
    with running_app(settings) as (server, url):
        add_user(server.config.app, "画图规划员", "planner")
        add_user(server.config.app, "只读员", "viewer")
        yield url, settings


def _sign_in(page: Any, base: str, name: str) -> None:
    page.goto(base + "/login?next=/maps/yunyang")
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/maps/yunyang")
    page.wait_for_function("window.planview && window.planview.settled === true", timeout=30_000)


def _draw_square(page: Any) -> None:
    """Click Geoman's polygon button, then the corners on the map, then the first corner again to close it."""
    page.locator(".leaflet-pm-toolbar .leaflet-pm-icon-polygon").first.click()
    # the square small in the middle of the map, clear of the layer control and the legend
    page.evaluate("pts => { const m = window.planview.map, b = L.latLngBounds(pts.map(p => [p[1], p[0]]));"
                  " m.setView(b.getCenter(), m.getBoundsZoom(b) - 2, {animate: false}); }", SQUARE)
    box = page.locator(".folium-map").first.bounding_box()
    if box["width"] < 500:
        # on a phone the toolbars fill the left half and Geoman's 完成/取消 row opens to the right of the
        # polygon button, at mid-height: draw in the upper right quarter, clear of both
        page.evaluate("([pts, tx, ty]) => { const m = window.planview.map;"
                      " const c = m.latLngToContainerPoint(L.latLngBounds(pts.map(p => [p[1], p[0]])).getCenter());"
                      " m.panBy([c.x - tx, c.y - ty], {animate: false}); }",
                      [SQUARE, box["width"] * 0.68, box["height"] * 0.25])
    page.wait_for_timeout(400)
    points = page.evaluate("pts => pts.map(p => { const c = window.planview.map.latLngToContainerPoint([p[1], p[0]]);"
                           " return [c.x, c.y]; })", SQUARE)
    for x, y in [*points, points[0]]:
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait_for_timeout(150)


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_draw_check_and_save(browser: Any, site: tuple[str, Settings], viewport: dict[str, int],
                             tmp_path: Path) -> None:
    base, settings = site
    context = browser.new_context(viewport=viewport, locale="zh-CN", has_touch=viewport["width"] < 500)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, base, "画图规划员")
    # Leaflet-Geoman loads after the map is drawn (it is off the first view's path)
    page.wait_for_function("!!(window.L && L.PM) && !!document.querySelector('.leaflet-pm-toolbar')",
                           timeout=10_000)
    with page.expect_response(lambda r: r.url.endswith("/api/overlay/check")) as checked:
        _draw_square(page)
    assert checked.value.status == 200
    result = page.locator("#pv-draw-result")
    result.locator(".pv-draw-report").wait_for(timeout=5_000)
    text = result.inner_text()
    assert "云阳县" in text and "小江科创城" in text and "公顷" in text and "亩" in text, text
    assert result.is_visible()
    if viewport["width"] < 500:  # the phone shows the check in the bottom sheet, opened
        assert page.locator("#pv-panel").get_attribute("data-sheet") in ("half", "full")
        box = result.bounding_box()
        assert box is not None and box["y"] < viewport["height"] and box["y"] + box["height"] > 0
    page.screenshot(path=str(tmp_path / f"draw-{viewport['width']}.png"))
    store = open_store(gpkg_path=settings.workspace_gpkg, database_url=None)
    page.locator("#pv-draw-save").click()
    page.locator("#pv-draw-saved a, #pv-draw-result .pv-draw-error").first.wait_for(timeout=60_000)
    assert page.locator("#pv-draw-saved a").count() == 1, result.inner_text()
    ws_id = page.evaluate("window.planview.draw.saved")
    saved = store.get(ws_id)
    assert saved.report["sites"][0]["county"]["name"] == "云阳县" and len(saved.sites) == 1
    assert saved.sites.geometry.iloc[0].geom_type == "Polygon"
    assert not errors, errors
    context.close()


def test_typed_coordinates_and_viewer(browser: Any, site: tuple[str, Settings]) -> None:
    base, _ = site
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    _sign_in(page, base, "只读员")
    page.select_option("#pv-draw-form select[name=system]", "gk108")
    page.fill("#pv-draw-form textarea[name=coordinates]", "3425641.02 566888.63")  # X 北, Y 东 -> 108.70, 30.95
    page.click("#pv-draw-form button[type=submit]")
    page.locator("#pv-draw-result .pv-draw-report").wait_for(timeout=10_000)
    assert "云阳县" in page.locator("#pv-draw-result").inner_text()
    assert page.locator("#pv-draw-save").count() == 0  # a viewer cannot save; a hint says so
    assert "规划人员" in page.locator("#pv-draw-result").inner_text()
    page.fill("#pv-draw-form textarea[name=coordinates]", "<img/src=x/onerror=alert(1)> 30")
    page.click("#pv-draw-form button[type=submit]")
    err = page.locator("#pv-draw-result .pv-draw-error")
    err.wait_for(timeout=10_000)
    assert "<img" in err.inner_text() and page.locator("#pv-draw-result img").count() == 0
    context.close()


def test_anonymous_sees_a_login_hint(browser: Any, site: tuple[str, Settings]) -> None:
    base, _ = site
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(base + "/maps/yunyang")
    page.wait_for_function("window.planview && window.planview.settled === true", timeout=30_000)
    assert "登录" in page.locator("#pv-draw").inner_text()
    assert page.locator("#pv-draw-form").count() == 0 and page.locator(".leaflet-pm-toolbar").count() == 0
    page.wait_for_timeout(300)
    assert not page.evaluate("!!(window.L && L.PM)")  # nobody to draw: Geoman (300 kB) is never loaded
    context.close()
