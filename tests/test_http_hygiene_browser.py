"""The Content-Security-Policy in a real headless Chromium: every kind of page runs under it, unharmed.

Each page is opened with a listener for ``securitypolicyviolation`` installed before any of
its scripts, all requests off the loopback server are refused and recorded, and the page
must still do its job (the map draws its layers, Swagger UI and ReDoc render the API).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_settings
from support import bearer, keep_local, running_app

from layers.maps import load_maps
from server.settings import ROOT

pytestmark = pytest.mark.browser

MAP_IDS = list(load_maps(ROOT / "data"))
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));
"""
GEOJSON = json.dumps({"type": "FeatureCollection", "features": [{
    "type": "Feature", "properties": {"name": "试验地块"},
    "geometry": {"type": "Polygon", "coordinates": [[[108.69, 30.93], [108.71, 30.93], [108.71, 30.95],
                                                     [108.69, 30.95], [108.69, 30.93]]]}}]}).encode()


class Tab:
    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN",
                                           bypass_csp=False)
        self.context.add_init_script(WATCH_CSP)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.console.append(str(e)))
        self.outside = keep_local(self.page)
        self.base = base


    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, path
        assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
        return self.page

    def assert_clean(self, path: str, expected: tuple[str, ...] = ()) -> None:
        violations = [v for v in self.page.evaluate("window.__csp") if not v.startswith(expected)]
        assert violations == [], f"CSP violations on {path}: {violations}"
        csp_console = [m for m in self.console if ("Content Security Policy" in m or "Refused to" in m)
                       and not any(e.split()[-1] in m for e in expected)]
        assert csp_console == [], f"CSP console errors on {path}: {csp_console}"
        outside = [u for u in self.outside if not any(e.split()[-1] in u for e in expected)]
        assert outside == [], f"{path} asked for remote resources: {outside}"


@pytest.fixture
def tab(browser: Any, live_server: str) -> Iterator[Tab]:
    t = Tab(browser, live_server)
    yield t
    t.context.close()


@pytest.mark.parametrize("map_id", MAP_IDS)
def test_map_pages_draw_their_layers_under_the_policy(tab: Tab, map_id: str) -> None:
    page = tab.open(f"/maps/{map_id}")
    page.wait_for_selector("html[data-planview-ready='1']", state="attached", timeout=30_000)
    drawn = page.evaluate("document.querySelectorAll('path[class*=\"pv-layer-\"]').length")
    assert drawn > 0, f"{map_id}: no layer drawn"
    page.mouse.wheel(0, -300)  # zoom: labels and tiles load after the first view
    page.wait_for_timeout(500)
    tab.assert_clean(f"/maps/{map_id}")


@pytest.mark.parametrize("path", ["/", "/plans/yunyang", "/ogc?f=html", "/ogc/collections/cq-counties?f=html"])
def test_pages_run_under_the_policy(tab: Tab, path: str) -> None:
    page = tab.open(path)
    page.wait_for_load_state("networkidle")
    tab.assert_clean(path)


def test_monitor_page_draws_its_charts_and_map_under_the_policy(tab: Tab) -> None:
    page = tab.open("/monitor/yunyang")
    page.wait_for_load_state("networkidle")
    assert page.locator("[role=img]").count() > 0, "no indicator chart drawn"
    tab.assert_clean("/monitor/yunyang")


def test_overlay_result_draws_its_map_under_the_policy(browser: Any, tmp_path: Path) -> None:
    with running_app(make_settings(tmp_path, public_maps=True)) as (server, base):
        auth = bearer(server.config.app, "planner")
        request = urllib.request.Request(base + "/api/overlay?name=csp", data=GEOJSON, method="POST",
                                         headers={"content-type": "application/geo+json", **auth})
        with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310 (loopback)
            ws_id = json.load(r)["id"]
        tab = Tab(browser, base)
        tab.context.set_extra_http_headers(auth)
        try:
            _draw_overlay(tab, ws_id)
        finally:
            tab.context.close()


def _draw_overlay(tab: Tab, ws_id: str) -> None:
    page = tab.open(f"/overlay/{ws_id}")
    page.wait_for_selector("body[data-overlay-ready='1']", timeout=30_000)
    assert page.locator(".leaflet-overlay-pane canvas").count() > 0  # the map draws on a canvas
    tab.assert_clean(f"/overlay/{ws_id}")


def test_swagger_ui_renders_offline(tab: Tab) -> None:
    page = tab.open("/docs")
    page.locator(".swagger-ui .info .title").filter(has_text="planview").wait_for(timeout=30_000)
    assert page.locator(".opblock").count() > 10
    tab.assert_clean("/docs")


def test_redoc_renders_offline(tab: Tab) -> None:
    page = tab.open("/redoc")
    page.locator("h1").filter(has_text="planview").first.wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")
    # ReDoc's "API docs by Redocly" logo is an <img> from cdn.redoc.ly that hides itself on error:
    # the policy refuses it, which is the point (offline, no third-party request).
    tab.assert_clean("/redoc", expected=("img-src https://cdn.redoc.ly/redoc/logo-mini.svg",))


# points in the map's free middle (container pixels), clear of the controls, the layer list and the legend
MEASURE_LINE = [(250, 650), (400, 380), (580, 600)]
MEASURE_BLOCK = [(260, 420), (560, 400), (580, 680), (280, 700)]


def _click(page: Any, pixels: list[tuple[int, int]]) -> None:
    box = page.locator(".folium-map").first.bounding_box()
    for x, y in pixels:
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait_for_timeout(120)


def test_measure_tool_is_geodesic_and_needs_no_eval(tab: Tab) -> None:
    """The map's own measure tool under the policy without 'unsafe-eval': distances within 0.5 % and areas
    within 1 % of pyproj's geodesics on WGS84, in 米/公里 and 平方米/公顷/亩."""
    from pyproj import Geod

    response = tab.page.goto(tab.base + "/maps/yunyang")
    assert response is not None and "'unsafe-eval'" not in response.headers["content-security-policy"]
    page = tab.page
    # start-up over: the tools and the secondary controls are in place before the clicks are aimed
    page.wait_for_function("() => window.planview && window.planview.settled === true", timeout=30_000)
    page.evaluate("window.planview.map.setView([30.93, 108.70], 11, {animate: false})")  # 1 px ≈ 65 m
    page.wait_for_timeout(300)
    page.click(".pv-measure-toggle")
    geod = Geod(ellps="WGS84")
    result = page.locator(".pv-measure-result")

    page.get_by_role("button", name="测距离").click()
    _click(page, MEASURE_LINE)
    clicked = page.evaluate("window.planview.measure.points()")  # [lat, lon] where the clicks landed
    assert len(clicked) == 3
    expected = geod.line_length([p[1] for p in clicked], [p[0] for p in clicked])
    shown = float(result.get_attribute("data-meters"))
    assert abs(shown - expected) / expected < 0.005, (shown, expected)
    assert expected > 10_000 and "公里" in result.inner_text()

    page.get_by_role("button", name="测面积").click()  # a new measurement
    _click(page, MEASURE_BLOCK)
    page.get_by_role("button", name="完成").click()
    clicked = page.evaluate("window.planview.measure.points()")
    assert len(clicked) == 4
    area, perimeter = geod.polygon_area_perimeter([p[1] for p in clicked], [p[0] for p in clicked])
    shown_area = float(result.get_attribute("data-square-meters"))
    assert abs(shown_area - abs(area)) / abs(area) < 0.01, (shown_area, area)
    assert abs(float(result.get_attribute("data-meters")) - perimeter) / perimeter < 0.005
    text = result.inner_text()
    assert "平方米" in text and "公顷" in text and "亩" in text, text
    assert f"{abs(area) / 10_000:,.0f}"[:2] in text  # the figure the user reads is the measured one
    page.mouse.click(10, 400)  # after 完成, clicks on the map add no points
    assert len(page.evaluate("window.planview.measure.points()")) == 4
    page.get_by_role("button", name="清除").click()
    assert result.is_hidden()
    tab.assert_clean("/maps/yunyang")


RENDER_GLYPHS = """async (texts) => {
  await document.fonts.ready;
  const family = getComputedStyle(document.body).fontFamily;
  await Promise.all(texts.map((t) => document.fonts.load("24px " + family, t)));
  const canvas = document.createElement("canvas");
  canvas.width = 40; canvas.height = 40;
  const g = canvas.getContext("2d");
  return texts.map((t) => {
    g.clearRect(0, 0, 40, 40);
    g.font = "24px " + family;
    g.fillText(t, 4, 30);
    return Array.from(g.getImageData(0, 0, 40, 40).data).join(",");
  });
}"""


@pytest.mark.parametrize("path", ["/", "/maps/yunyang"])
def test_chinese_is_drawn_in_a_cjk_font_even_without_one_installed(tab: Tab, path: str) -> None:
    """Two different hanzi draw differently, and unlike a character no font has: not as the same empty box.

    This machine has no CJK system font (fc-list :lang=zh is empty on a fresh Debian), so this holds only
    if the page brings its own (/fonts/cjk.css; the map page loads it once the map is drawn)."""
    page = tab.open(path)
    if path.startswith("/maps/"):
        page.wait_for_selector("html[data-planview-ready='1']", state="attached", timeout=30_000)
        page.evaluate("() => window.planview.fontLoaded")
    else:
        page.wait_for_load_state("networkidle")
    yun, yang, private_use = page.evaluate(RENDER_GLYPHS, ["云", "阳", "\ue000"])
    assert yun != yang and yun != private_use, f"{path}: Chinese drawn as empty boxes (no CJK font)"
    tab.assert_clean(path)
