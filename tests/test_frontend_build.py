"""The map page's front end: its ES modules as they are, or their first-view build (server/mapview/frontend.py).

The build is real esbuild (node_modules, from package.json) run by the same code as ``planview js build``;
the page is opened in a real Chromium with the modules as they are, the way a page falls back whenever
the build is missing or older than the sources.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import make_settings
from support import keep_local, running_app

from geo.errors import InvalidInput
from server.cli_js import DEFAULT_ESBUILD, build_js
from server.mapview.frontend import front_end, sources
from server.settings import ROOT


@pytest.fixture
def esbuild() -> Path:
    if not DEFAULT_ESBUILD.is_file():
        pytest.skip("no esbuild in node_modules (run make, or npm ci)")
    return DEFAULT_ESBUILD


def _static_copy(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    shutil.copytree(ROOT / "static" / "planview", static / "planview")
    shutil.copy(ROOT / "static" / "monitor-map.js", static / "monitor-map.js")
    return static


def test_without_a_build_the_page_loads_the_modules_the_first_view_needs(tmp_path: Path) -> None:
    static = _static_copy(tmp_path)
    page = front_end(static, tmp_path / "js")
    assert not page.built and page.main == "/static/planview/main.js"
    assert page.boot == (static / "planview" / "boot.js").read_text(encoding="utf-8")  # inline in the page
    assert {"/static/planview/data.js", "/static/planview/firstview.js", "/static/planview/main.js"} <= set(page.preload)
    # the tools are imported once the map is drawn: preloading them would compete with the first view
    for later in ("measure", "draw", "plantext", "extras", "tiles", "upload"):
        assert f"/static/planview/{later}.js" not in page.preload, later
    assert "/static/planview/boot.js" not in page.preload  # the page's inline classic script, not a module
    assert front_end(static, None) == page


def test_a_current_build_is_served_and_an_edit_falls_back_to_the_modules(tmp_path: Path, esbuild: Path) -> None:
    static, js = _static_copy(tmp_path), tmp_path / "js"
    manifest = build_js(static, js, esbuild)
    page = front_end(static, js)
    assert page.built and re.fullmatch(r"/static/build/main-\w+\.js", page.main) and page.preload == (page.main,)
    assert "planviewBoot" in page.boot  # the head's classic script is never part of the build
    assert set(manifest["sources"]) == {p.relative_to(static).as_posix() for p in sources(static)}  # type: ignore[arg-type]
    bundle = (js / str(manifest["main"])).read_text(encoding="utf-8")
    # every import() was followed into the one file: no module can be loaded a second time beside it
    assert "import(" not in bundle and not re.search(r"""from\s*["']""", bundle)
    legend = static / "planview" / "legend.js"
    legend.write_text(legend.read_text(encoding="utf-8") + "\n// an edit\n", encoding="utf-8")
    assert not front_end(static, js).built  # at once, without restarting anything
    build_js(static, js, esbuild)
    assert front_end(static, js).built
    for old in js.glob("main-*.js"):
        old.unlink()
    assert not front_end(static, js).built  # a manifest without its bundle is no build
    (js / "manifest.json").write_text("{not json", encoding="utf-8")
    assert not front_end(static, js).built


def test_a_failed_build_says_why_and_keeps_the_pages_working(tmp_path: Path, esbuild: Path) -> None:
    static, js = _static_copy(tmp_path), tmp_path / "js"
    build_js(static, js, esbuild)
    (static / "planview" / "legend.js").write_text("export function (\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="esbuild"):
        build_js(static, js, esbuild)
    assert list(js.glob("main-*.js"))  # the previous build is left as it was ...
    assert not front_end(static, js).built  # ... and not served: it is older than the sources
    with pytest.raises(InvalidInput, match="esbuild"):
        build_js(static, js, tmp_path / "no-esbuild")


@pytest.mark.browser
@pytest.mark.parametrize("built", [False, True], ids=["modules-as-they-are", "build"])
def test_the_map_draws_and_loads_its_tools_from_either(browser: Any, tmp_path: Path, built: bool,
                                                        esbuild: Path) -> None:
    """Both ways the page can be served draw every layer, then add the tools, the secondary controls and
    the monitoring hooks, each module once (the status colouring reaches the layers' own style module)."""
    js = tmp_path / "js"
    if built:
        build_js(ROOT / "static", js, esbuild)
    settings = make_settings(tmp_path, js_build_dir=js, js_build=built)
    with running_app(settings) as (_, url):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        outside = keep_local(page)
        scripts: list[str] = []
        page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
        page.goto(url + "/maps/chongqing")
        page.wait_for_function("window.planview && window.planview.settled === true", timeout=30_000)
        planview_scripts = [s for s in scripts if "/static/planview/" in s or "/static/build/" in s]
        if built:
            assert not [s for s in planview_scripts if "/static/planview/" in s]
        else:
            assert not [s for s in planview_scripts if "/static/build/" in s]
        assert len(planview_scripts) == len(set(planview_scripts))  # each module once
        for layer in page.evaluate("window.planview.visibleLayerIds()"):
            assert page.evaluate("id => window.planview.layerState(id).features", layer) > 0, layer
        for control in (".pv-measure-toggle", ".leaflet-control-zoom-fullscreen", ".leaflet-control-mouseposition",
                        "#pv-status-colouring"):
            assert page.locator(control).count() == 1, control
        # where the Folium plugins put them: full screen in the zoom buttons' bar, coordinates under the legend
        assert page.evaluate("""() => {
            const zoom = document.querySelector('.leaflet-control-zoom');
            const corner = Array.from(document.querySelector('.leaflet-bottom.leaflet-right').children);
            const at = (cls) => corner.findIndex((el) => el.classList.contains(cls));
            return zoom.querySelector('.leaflet-control-zoom-fullscreen') !== null
                && at('leaflet-control-mouseposition') > at('pv-legend') && at('pv-legend') >= 0;
        }""")
        box = page.locator(".folium-map").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        shown = page.locator(".leaflet-control-mouseposition").inner_text()
        lon, lat = (float(v) for v in shown.removeprefix("经纬度 ").split(", "))
        centre = page.evaluate("(() => { const c = window.planview.map.getCenter(); return [c.lng, c.lat]; })()")
        assert abs(lon - centre[0]) < 0.05 and abs(lat - centre[1]) < 0.05, (shown, centre)
        full = page.locator(".leaflet-control-zoom-fullscreen")
        on = "document.fullscreenElement !== null || document.querySelector('.leaflet-pseudo-fullscreen') !== null"
        pressed = "document.querySelector('.leaflet-control-zoom-fullscreen').getAttribute('aria-pressed')"
        full.click()  # the button says so once the browser has changed mode (fullscreenchange)
        page.wait_for_function(f"{pressed} === 'true'", timeout=5000)
        assert page.evaluate(on) and full.get_attribute("title") == "退出全屏"
        full.click()
        page.wait_for_function(f"{pressed} === 'false'", timeout=5000)
        assert not page.evaluate(on) and full.get_attribute("title") == "全屏"
        fill = "document.querySelector('path.pv-layer-cq-innovation-zones').getAttribute('fill')"
        before = page.evaluate(fill)
        page.click("#pv-status-colouring")
        page.wait_for_function(f"{fill} !== {before!r}", timeout=5000)
        assert errors == [] and outside == []
        context.close()
