"""The map pages in a real headless Chromium: offline, complete, escaped, linkable.

One browser and one live server for the session (conftest); a second live
server on a temporary data dir serves a layer with hostile feature names.
Skipped with a reason when no Chromium is present (the ``browser`` fixture).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from support import keep_local, running_app

from layers.maps import load_maps
from server.settings import ROOT, Settings

pytestmark = pytest.mark.browser

MAP_IDS = list(load_maps(ROOT / "data"))
HOSTILE_NAME = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">县'
HOSTILE_STRINGS = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '" onmouseover="x', "'&<>`="]


class PageProbe:
    """A page that records console errors, page errors, dialogs and non-loopback requests."""

    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.outside = keep_local(self.page)
        self.base = base

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


    def open(self, path: str) -> Any:
        self.page.goto(self.base + path)
        self.page.wait_for_function("window.planview && window.planview.settled === true", timeout=30_000)
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def probe(browser: Any, live_server: str) -> Iterator[PageProbe]:
    p = PageProbe(browser, live_server)
    yield p
    p.close()


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server whose only layer is cq-counties with a hostile name for one county."""
    tmp = tmp_path_factory.mktemp("hostile-browser")
    data = tmp / "data"
    src = ROOT / "data" / "layers" / "cq-counties"
    shutil.copytree(src, data / "layers" / "cq-counties")
    records = yaml.safe_load((src / "attributes.yaml").read_text(encoding="utf-8"))
    records[0]["name"] = HOSTILE_NAME
    (data / "layers" / "cq-counties" / "attributes.yaml").write_text(
        yaml.safe_dump(records, allow_unicode=True), "utf-8")
    (data / "maps").mkdir()
    (data / "maps" / "hostile.yaml").write_text(yaml.safe_dump({
        "id": "hostile", "title": "转义测试", "plan": "chongqing", "description": "escaping",
        "bounds": [105.28, 28.16, 110.19, 32.20], "layers": [{"id": "cq-counties"}, {"id": "absent-layer"}],
    }, allow_unicode=True), "utf-8")
    settings = Settings(data_dir=data, build_dir=ROOT / "data" / "build", workspace_gpkg=tmp / "ws.gpkg",
                        database_url=None)  # type: ignore[call-arg]
    with running_app(settings) as (_, url):
        yield url


def _config(page: Any) -> dict[str, Any]:
    return page.evaluate("window.planview.config")  # type: ignore[no-any-return]


def _paths(page: Any, layer_id: str) -> int:
    return page.evaluate(f"document.querySelectorAll('path.pv-layer-{layer_id}').length")  # type: ignore[no-any-return]


def _legend_visible(page: Any, layer_id: str) -> bool:
    # the legend, too, folds when it would cover the plan at the first view
    if page.locator(".pv-legend.pv-collapsed").count():
        page.locator(".pv-legend .pv-legend-toggle").click()
    return page.locator(f'.pv-legend-section[data-layer="{layer_id}"]').is_visible()  # type: ignore[no-any-return]


def _control_checkbox(page: Any, title: str) -> Any:
    # the layer control folds when it would cover the plan at the first view (or on a narrow screen)
    if page.locator(".leaflet-control-layers.pv-collapsed").count():
        page.locator(".leaflet-control-layers .pv-ctl-toggle").click()
    label = page.locator(".leaflet-control-layers-overlays label").filter(has_text=title)
    return label.locator("input[type=checkbox]")


@pytest.mark.parametrize("map_id", MAP_IDS)
def test_map_page_loads_offline_and_shows_every_layer(probe: PageProbe, map_id: str) -> None:
    page = probe.open(f"/maps/{map_id}")
    config = _config(page)
    assert config["layers"], "a map with no available layer"
    # each visible layer's data is fetched exactly once (the head's prefetch is reused, not repeated)
    fetched = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)"
                            ".filter(n => n.indexOf('/api/layers/') >= 0)")
    assert sorted(u.split("/api/layers/")[1].split("?")[0] for u in fetched) == sorted(
        lc["id"] for lc in config["layers"] if lc["visible"])
    for layer in config["layers"]:
        checkbox = _control_checkbox(page, layer["title"])
        assert checkbox.count() == 1, f"{layer['id']} missing from the layer control"
        if not layer["visible"]:
            checkbox.check()
            page.wait_for_function(f"window.planview.layerState({layer['id']!r}).loaded")
        fetched = page.evaluate(f"window.planview.layerState({layer['id']!r}).features")
        # all features, or those around the view when zoomed in far enough for bbox requests
        assert 0 < fetched <= layer["feature_count"], layer["id"]
        assert _paths(page, layer["id"]) == fetched, layer["id"]
        assert _legend_visible(page, layer["id"])
    # toggling a layer off hides its features and its legend; on again restores both
    first = config["layers"][-1]
    _control_checkbox(page, first["title"]).uncheck()
    assert _paths(page, first["id"]) == 0 and not _legend_visible(page, first["id"])
    _control_checkbox(page, first["title"]).check()
    assert _paths(page, first["id"]) > 0 and _legend_visible(page, first["id"])
    # schematic features are drawn dashed
    for layer in config["layers"]:
        if layer["precision"] == "schematic":
            dash = page.locator(f"path.pv-layer-{layer['id']}").first.get_attribute("stroke-dasharray")
            assert dash, f"schematic layer {layer['id']} not dashed"
    assert probe.errors == [], probe.errors
    assert probe.outside == [], probe.outside
    notice = page.locator("#pv-notice")
    assert notice.is_visible() == bool(config["unavailable"])


def test_popup_shows_plan_sentence_and_citation(probe: PageProbe) -> None:
    page = probe.open("/maps/yunyang")
    page.fill("#pv-search", "云阳县")
    page.locator("button.pv-result").first.click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "云阳县" in popup.inner_text()
    assert popup.locator(".pv-quote").count() == 1 and popup.locator(".pv-cite").count() == 1
    assert "chongqing-sti-plan-2021-2025.txt" in popup.locator(".pv-cite").inner_text()
    assert "云阳县" in page.locator("#pv-feature-body").inner_text()
    # the indicator table of the map's plan, or a graceful note when it is absent
    page.wait_for_function("document.querySelector('#pv-indicators-body').textContent.indexOf('加载中') < 0")
    body = page.locator("#pv-indicators-body")
    assert body.locator("table").count() == 1 or "暂未" in body.inner_text()
    assert probe.errors == [] and probe.outside == []


def test_hostile_names_are_shown_as_text(browser: Any, hostile_server: str) -> None:
    probe = PageProbe(browser, hostile_server)
    try:
        page = probe.open("/maps/hostile")
        for s in HOSTILE_STRINGS:  # the page's own escaping function
            escaped = page.evaluate("s => window.planview.escapeHtml(s)", s)
            assert not any(c in escaped for c in "<>\"'`")
            assert page.evaluate("s => { const d = document.createElement('div'); d.innerHTML = s; "
                                 "return d.textContent; }", escaped) == s
        page.fill("#pv-search", "window.__pwned")
        page.locator("button.pv-result").first.click()
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for()
        assert HOSTILE_NAME in popup.inner_text()
        for where in (".leaflet-popup-content", "#pv-feature-body", "#pv-search-results"):
            assert page.locator(f"{where} img, {where} script").count() == 0, where
        # let the zoom's finer geometry replace the drawn layer first (a tooltip goes with its layer)
        page.wait_for_timeout(400)
        page.evaluate("window.planview.refresh()")
        page.evaluate("""() => window.planview.map.eachLayer(l => {
            // a hover over the feature: the event bubbles to its layer, whose one tooltip names this feature
            if (l.feature && !l.eachLayer && String(l.feature.properties.name).indexOf('__pwned') >= 0)
                l.fire('mouseover', {latlng: l.getLatLng ? l.getLatLng() : l.getBounds().getCenter()}, true);
        })""")
        assert HOSTILE_NAME in page.locator(".leaflet-tooltip").inner_text()
        assert page.locator(".leaflet-tooltip img, .leaflet-tooltip script").count() == 0
        assert page.evaluate("window.__pwned") is None and probe.dialogs == []
        # a layer the map lists but the catalogue lacks: the map opens and says which one
        assert "absent-layer" in page.locator("#pv-notice").inner_text()
        # this data dir has no indicator tables: the side panel says so instead of failing
        page.wait_for_function("document.querySelector('#pv-indicators-body').textContent.indexOf('加载中') < 0")
        assert "暂未" in page.locator("#pv-indicators-body").inner_text()
        assert probe.outside == [] and probe.errors == [], probe.errors
    finally:
        probe.close()


def test_a_layer_that_fails_to_load_is_named_and_the_map_still_opens(probe: PageProbe) -> None:
    probe.page.route("**/api/layers/cq-counties?*", lambda route: route.fulfill(
        status=503, content_type="application/json",
        body='{"error":"storage","message":"存储暂不可用 / storage unavailable"}'))
    page = probe.open("/maps/chongqing")
    notice = page.locator("#pv-notice")
    assert notice.is_visible()
    title = next(lc["title"] for lc in _config(page)["layers"] if lc["id"] == "cq-counties")
    assert title in notice.inner_text() and "存储暂不可用" in notice.inner_text()
    others = [lc for lc in _config(page)["layers"] if lc["visible"] and lc["id"] != "cq-counties"]
    assert others and all(_paths(page, lc["id"]) > 0 for lc in others)


def test_permalink_restores_view_and_layers_and_export_follows(probe: PageProbe) -> None:
    page = probe.open("/maps/yunyang")
    config = _config(page)
    hidden = config["layers"][-1]
    _control_checkbox(page, hidden["title"]).uncheck()
    page.evaluate("window.planview.map.setView([30.95, 108.69], 12, {animate: false})")
    page.wait_for_function("location.hash.indexOf('map=12/') >= 0")
    link = page.url
    export = page.locator("#pv-export").get_attribute("href")
    query = parse_qs(urlsplit(export).query)
    assert urlsplit(export).path == "/api/export"
    assert query["map"] == ["yunyang"] and query["format"] == ["pdf"] and query["paper"] == ["A4"]
    assert query["orientation"] == ["landscape"]
    minx, miny, maxx, maxy = (float(v) for v in query["bbox"][0].split(","))
    assert minx < 108.69 < maxx and miny < 30.95 < maxy and maxx - minx < 0.5
    assert hidden["id"] not in query["layers"][0].split(",")

    other = PageProbe(probe.page.context.browser, probe.base)
    try:
        page2 = other.open(urlsplit(link).path + "#" + urlsplit(link).fragment)
        centre = page2.evaluate("(() => { const c = window.planview.map.getCenter(); "
                                "return [c.lat, c.lng, window.planview.map.getZoom()]; })()")
        assert abs(centre[0] - 30.95) < 1e-3 and abs(centre[1] - 108.69) < 1e-3 and centre[2] == 12
        assert hidden["id"] not in page2.evaluate("window.planview.visibleLayerIds()")
        assert not _control_checkbox(page2, hidden["title"]).is_checked()
        # geometry at that zoom comes from a bbox-limited, finer request
        state = page2.evaluate(f"window.planview.layerState({config['layers'][0]['id']!r})")
        assert state["zoom"] == 12 and state["bbox"] is not None
        assert other.errors == []
    finally:
        other.close()


def test_catalogue_page_and_404_render_offline(probe: PageProbe) -> None:
    page = probe.page
    page.goto(probe.base + "/")
    cards = page.locator(".pv-card")
    assert cards.count() == len(MAP_IDS)
    page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    page.locator(f'.pv-card[data-map="{MAP_IDS[0]}"] a').first.click()
    page.wait_for_function("window.planview && window.planview.settled === true")
    assert page.url.split("#")[0].endswith(f"/maps/{MAP_IDS[0]}")
    response = page.goto(probe.base + "/maps/no-such-map")
    assert response.status == 404 and "找不到" in page.content()
    page.locator('a[href="/"]').last.click()
    page.wait_for_selector(".pv-cards")
    # the 404 response itself is logged by the browser; nothing else may fail
    assert [e for e in probe.errors if "404" not in e] == [] and probe.outside == []


LABEL_BOXES = """() => Array.from(document.querySelectorAll('.pv-label:not([hidden])')).map(el => {
    const r = el.getBoundingClientRect();
    return {layer: el.dataset.layer, text: el.textContent, box: [r.left, r.top, r.right, r.bottom]};
})"""


def _overlapping(labels: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            (a0, a1, a2, a3), (b0, b1, b2, b3) = a["box"], b["box"]
            if a0 < b2 - 0.5 and b0 < a2 - 0.5 and a1 < b3 - 0.5 and b1 < a3 - 0.5:
                out.append((a["text"], b["text"]))
    return out


def test_names_are_on_the_map_without_overlap_and_follow_their_layer(probe: PageProbe) -> None:
    page = probe.open("/maps/chongqing")
    page.evaluate("window.planview.placeLabels()")
    labels = page.evaluate(LABEL_BOXES)
    counties = [lb for lb in labels if lb["layer"] == "cq-counties"]
    assert len(counties) >= 20, "most county names fit at the first view"
    assert "渝中区" in {lb["text"] for lb in labels} or len(counties) < 38  # the crowded centre may drop some
    assert _overlapping(labels) == []
    # halo: readable over any fill
    assert "1.5px" in page.locator(".pv-label:not([hidden])").first.evaluate("el => el.style.textShadow")
    # labels follow their layer's visibility
    title = next(lc["title"] for lc in _config(page)["layers"] if lc["id"] == "cq-counties")
    _control_checkbox(page, title).uncheck()
    page.evaluate("window.planview.placeLabels()")
    assert not [lb for lb in page.evaluate(LABEL_BOXES) if lb["layer"] == "cq-counties"]
    _control_checkbox(page, title).check()
    page.evaluate("window.planview.placeLabels()")
    assert [lb for lb in page.evaluate(LABEL_BOXES) if lb["layer"] == "cq-counties"]
    assert probe.errors == [] and probe.outside == []


def test_township_names_appear_from_zoom_10(probe: PageProbe) -> None:
    page = probe.open("/maps/yunyang#map=9/30.95/108.75&layers=cq-counties,yy-townships")
    page.evaluate("window.planview.placeLabels()")
    assert not [lb for lb in page.evaluate(LABEL_BOXES) if lb["layer"] == "yy-townships"]
    page.evaluate("window.planview.map.setZoom(11, {animate: false})")
    page.evaluate("window.planview.refresh()")
    page.evaluate("window.planview.placeLabels()")
    labels = page.evaluate(LABEL_BOXES)
    towns = [lb for lb in labels if lb["layer"] == "yy-townships"]
    assert len(towns) >= 3 and _overlapping(labels) == []
    assert probe.errors == []


def test_zooming_out_fetches_geometry_as_coarse_as_the_view(probe: PageProbe) -> None:
    """Geometry is drawn as the server simplified it for its zoom (Leaflet does not simplify it again), so
    after zooming out well below the data's detail the coarser geometry is fetched, not the finer kept
    (the whole layer at zoom 10 covers any view: only its detail asks for the new request)."""
    page = probe.open("/maps/yunyang#map=10/30.95/108.75&layers=cq-counties")
    state = page.evaluate("window.planview.layerState('cq-counties')")
    assert state["zoom"] == 10 and state["bbox"] is None
    smooth = page.evaluate("(() => { const out = []; window.planview.map.eachLayer(l => { if (l.feature && l._parts) "
                           "out.push(l.options.smoothFactor); }); return out; })()")
    assert smooth and set(smooth) == {0}
    page.evaluate("window.planview.map.setZoom(9, {animate: false})")
    page.evaluate("window.planview.refresh()")
    assert page.evaluate("window.planview.layerState('cq-counties').zoom") == 10  # a level finer: kept
    page.evaluate("window.planview.map.setZoom(7, {animate: false})")
    page.evaluate("window.planview.refresh()")
    state = page.evaluate("window.planview.layerState('cq-counties')")
    assert state["zoom"] == 7 and state["bbox"] is None and state["features"] > 0
    assert probe.errors == []


COVERED_PLAN = """ids => {
    const classes = ids.map(id => 'pv-layer-' + id);
    const out = [];
    for (const sel of ['.leaflet-control-layers:not(.pv-collapsed)', '.pv-legend:not(.pv-collapsed):not([hidden])']) {
        const el = document.querySelector(sel);
        if (!el) continue;
        const r = el.getBoundingClientRect();
        for (let i = 1; i < 10; i++) for (let j = 1; j < 10; j++) {
            const under = document.elementsFromPoint(r.left + r.width * i / 10, r.top + r.height * j / 10);
            if (under.some(e => e.classList && classes.some(c => e.classList.contains(c)))) { out.push(sel); break; }
        }
    }
    return out;
}"""


@pytest.mark.parametrize("map_id", MAP_IDS)
def test_legend_and_layer_control_never_hide_the_plan_at_first_view(probe: PageProbe, map_id: str) -> None:
    page = probe.open(f"/maps/{map_id}")
    plan_ids = [lc["id"] for lc in _config(page)["layers"] if lc["role"] == "plan"]
    assert page.evaluate(COVERED_PLAN, plan_ids) == []
    # both stay usable: the layer control's toggle opens and closes its list
    toggle = page.locator(".leaflet-control-layers .pv-ctl-toggle")
    before = page.locator(".leaflet-control-layers-list").is_visible()
    toggle.click()
    assert page.locator(".leaflet-control-layers-list").is_visible() != before


@pytest.fixture
def phone(browser: Any, live_server: str) -> Iterator[PageProbe]:
    p = PageProbe(browser, live_server)
    p.context.close()
    p.context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                    is_mobile=True, has_touch=True, locale="zh-CN")
    p.page = p.context.new_page()
    p.page.on("console", lambda m: p.errors.append(m.text) if m.type == "error" else None)
    p.page.on("pageerror", lambda e: p.errors.append(str(e)))
    p.outside = keep_local(p.page)
    yield p
    p.close()


@pytest.mark.parametrize("map_id", MAP_IDS)
def test_phone_map_fills_the_screen_and_draws_every_layer(phone: PageProbe, map_id: str) -> None:
    page = phone.open(f"/maps/{map_id}")
    box = page.locator(".pv-mapwrap").bounding_box()
    assert box["width"] == 390 and box["height"] >= 0.85 * 844
    # the sheet rests as a peek bar: the visible map is most of the screen
    sheet_top = page.locator("#pv-panel").bounding_box()["y"]
    assert sheet_top >= 844 - 80
    for layer in _config(page)["layers"]:
        if layer["visible"]:
            assert _paths(page, layer["id"]) > 0, layer["id"]
    # collapsed controls on a phone, thumb-sized buttons
    assert page.locator(".leaflet-control-layers.pv-collapsed").count() == 1
    zoom_in = page.locator(".leaflet-control-zoom-in").bounding_box()
    assert zoom_in["width"] >= 40 and zoom_in["height"] >= 40
    assert phone.errors == [] and phone.outside == []


def test_phone_tap_opens_details_and_the_sheet_opens_and_closes(phone: PageProbe) -> None:
    page = phone.open("/maps/yunyang")
    panel = page.locator("#pv-panel")
    marker = page.locator("path.pv-layer-yy-projects").first
    marker.tap()
    page.wait_for_function("document.getElementById('pv-panel').getAttribute('data-sheet') === 'half'")
    assert page.locator(".leaflet-popup-content").count() == 0  # details in the sheet, not a second popup
    page.wait_for_timeout(300)  # the sheet's transition
    detail = page.locator("#pv-feature-body .pv-card-title")
    assert detail.is_visible() and detail.inner_text()
    handle = page.locator("#pv-sheet-handle")
    handle.tap()
    assert panel.get_attribute("data-sheet") == "full"
    handle.tap()
    assert panel.get_attribute("data-sheet") == "peek"
    page.wait_for_timeout(300)
    assert panel.bounding_box()["y"] >= 844 - 80
    handle.tap()
    page.wait_for_timeout(300)
    assert panel.get_attribute("data-sheet") == "half" and panel.bounding_box()["y"] < 844 / 2 + 60
    assert phone.errors == []


def test_phone_sheet_lists_what_else_is_here_and_popups_fit_the_screen(phone: PageProbe) -> None:
    """The sheet shows "此处还有" (the other features under the tap) like the desktop popup; any popup
    stays inside a 390 px screen and wraps its text."""
    page = phone.open("/maps/yunyang")
    page.locator("path.pv-layer-yy-projects").first.tap()
    page.wait_for_function("document.getElementById('pv-panel').getAttribute('data-sheet') === 'half'")
    also = page.locator("#pv-feature-body .pv-also .pv-also-item")
    assert also.count() >= 1
    assert "此处还有" in page.locator("#pv-feature-body .pv-also").inner_text()
    first_title = page.locator("#pv-feature-body .pv-card-title").inner_text()
    other = also.first.inner_text().split("\n")[0]
    page.wait_for_timeout(300)  # the sheet's transition
    also.first.tap()
    page.wait_for_function("t => document.querySelector('#pv-feature-body .pv-card-title').innerText !== t",
                           arg=first_title)
    assert other in page.locator("#pv-feature-body .pv-card-title").inner_text()
    # the list now offers the feature shown first
    names = page.locator("#pv-feature-body .pv-also-item").all_inner_texts()
    assert any(first_title.split("\n")[0] in n for n in names), (first_title, names)
    assert page.locator(".leaflet-popup").count() == 0
    for options in ("{}", "{className: 'pv-popup', maxWidth: 380}", "{maxWidth: 900}"):
        page.evaluate("""o => { const m = window.planview.map;
            L.popup(o).setLatLng(m.getCenter()).setContent('<b>' + '规划用地范围'.repeat(40) + '</b> ' +
              'x'.repeat(120)).openOn(m); }""", page.evaluate(f"({options})"))
        page.wait_for_timeout(400)  # autopan
        box = page.locator(".leaflet-popup-content-wrapper").bounding_box()
        assert box["width"] <= 390 - 24 + 0.5, (options, box)
        assert box["x"] >= -0.5 and box["x"] + box["width"] <= 390.5, (options, box)
        assert page.locator(".leaflet-popup-content").bounding_box()["height"] > 60  # wrapped, not one long line
        page.evaluate("window.planview.map.closePopup()")
    assert phone.errors == []


def test_phone_permalink_opens_the_same_view(phone: PageProbe) -> None:
    page = phone.open("/maps/yunyang#map=12/30.95000/108.69000&layers=cq-counties,yy-projects")
    centre = page.evaluate("(() => { const c = window.planview.map.getCenter(); "
                           "return [c.lat, c.lng, window.planview.map.getZoom()]; })()")
    assert abs(centre[0] - 30.95) < 1e-3 and abs(centre[1] - 108.69) < 1e-3 and centre[2] == 12
    assert sorted(page.evaluate("window.planview.visibleLayerIds()")) == ["cq-counties", "yy-projects"]


def test_host_sites_show_their_uncertainty_ring_badge_and_legend(probe: PageProbe) -> None:
    """A site the plan places only in its district: marker at the seat, a dashed ring, "仅知所在区域"."""
    page = probe.open("/maps/chongqing?feature=cq-sites/cq-blockchain-base")
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert "国家区块链产业创新示范基地" in text and "仅知所在区域" in text and "定位依据" in text
    rings = page.locator("path.pv-uncertainty-ring")
    assert rings.count() >= 5  # one per located/host point of cq-sites loaded for the view
    assert page.locator(".pv-legend-placed").is_visible()
    assert probe.errors == [] and probe.outside == [], probe.errors


@pytest.mark.parametrize("size", [(768, 1024), (1024, 768)], ids=["tablet-portrait", "tablet-landscape"])
def test_tablet_shows_the_map_first_and_every_layer(browser: Any, live_server: str,
                                                    size: tuple[int, int]) -> None:
    """A tablet, either way round: the map takes most of the first screen (the panel beside or below it),
    every visible layer is drawn, a tap on a feature shows its details."""
    width, height = size
    p = PageProbe(browser, live_server)
    p.context.close()
    p.context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=True,
                                    has_touch=True, locale="zh-CN")
    p.page = p.context.new_page()
    p.page.on("pageerror", lambda e: p.errors.append(str(e)))
    p.outside = keep_local(p.page)
    try:
        page = p.open("/maps/yunyang")
        box = page.locator(".pv-mapwrap").bounding_box()
        assert box["width"] * box["height"] >= 0.55 * width * height, box
        assert box["y"] < 80 and box["x"] < 1
        for layer in _config(page)["layers"]:
            if layer["visible"]:
                assert _paths(page, layer["id"]) > 0, layer["id"]
        plan_ids = [lc["id"] for lc in _config(page)["layers"] if lc["role"] == "plan"]
        assert page.evaluate(COVERED_PLAN, plan_ids) == []  # legend and layer control clear of the plan
        page.locator("path.pv-layer-yy-projects").first.tap()
        page.locator("#pv-feature-body .pv-card-title").wait_for(timeout=5_000)
        assert page.locator("#pv-feature-body .pv-card-title").inner_text()
        assert p.errors == [] and p.outside == []
    finally:
        p.close()
