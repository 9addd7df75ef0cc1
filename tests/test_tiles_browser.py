"""Large layers in the browser: drawn from vector tiles, a click fetches the feature and opens its popup.

A control layer is imported into a private store, a real server serves it,
headless Chromium opens the Yunyang map on it. Skipped with a reason when no
Chromium is present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from support import running_app
from tests_support_settings import settings_for

from layers.store.importer import import_layer
from server.settings import ROOT

pytestmark = pytest.mark.browser


def test_tiled_layer_draws_and_its_popup_works(browser: Any, tmp_path: Path) -> None:
    i, j = np.meshgrid(np.arange(30), np.arange(30))
    xs, ys = 108.90 + i.ravel() * 0.001, 30.90 + j.ravel() * 0.001
    cls = np.where((i.ravel() + j.ravel()) % 2 == 0, "永久基本农田", "城镇开发边界")
    gdf = gpd.GeoDataFrame({"DLMC": cls, "TBBH": [f"图斑{k}" for k in range(len(xs))]},
                           geometry=shapely.box(xs, ys, xs + 0.001, ys + 0.001), crs="EPSG:4326")
    src = tmp_path / "sqsx.gpkg"
    gdf.to_crs("EPSG:4545").to_file(src, driver="GPKG")
    settings = settings_for(tmp_path)
    import_layer(src, layer_id="sqsx", title="三区三线", role="control", class_field="DLMC",
                 gpkg_path=settings.layer_store_gpkg, class_defaults=ROOT / "data" / "control-classes.yaml")
    with running_app(settings) as (_, base):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        logs: list[str] = []
        page.on("console", lambda m: logs.append(m.text))
        page.on("request", lambda r: logs.append("REQ " + r.url))
        tiles: list[str] = []
        page.on("response", lambda r: tiles.append(r.url) if "/tiles/sqsx/" in r.url and r.status == 200 else None)
        # only the control layer visible, zoomed to the parcels
        page.goto(f"{base}/maps/yunyang#map=17/30.9145/108.9145&layers=sqsx")
        page.wait_for_function("window.planview && planview.tiles && planview.tiles.sqsx", timeout=30000)
        page.wait_for_selector(".leaflet-pv-sqsx-pane path.leaflet-interactive", timeout=30000)
        assert tiles, "no vector tile was loaded"
        assert not any("/api/layers/sqsx?" in u for u in logs), "a tiled layer was fetched whole as GeoJSON"
        container = page.locator(".leaflet-container").first.bounding_box()
        assert container is not None
        x, y = container["x"] + container["width"] / 2, container["y"] + container["height"] / 2
        under = page.evaluate(f"document.elementFromPoint({x}, {y}).closest('.leaflet-pane').className")
        assert "pv-sqsx" in under, under
        try:
            with page.expect_response(lambda r: "/api/layers/sqsx/features/" in r.url, timeout=20000) as info:
                page.mouse.click(x, y)
        except Exception:
            raise AssertionError(str(logs[-15:]) + str(errors)) from None
        assert info.value.status == 200
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=10000)
        text = popup.inner_text()
        assert "三区三线" in text and "图斑" in text
        assert ("永久基本农田" in text) or ("城镇开发边界" in text)
        assert "图斑" in page.locator("#pv-feature-body").inner_text()
        assert not errors, errors
        context.close()


def test_dense_layer_far_out_is_drawn_generalised_and_says_so(browser: Any, tmp_path: Path) -> None:
    """At z11 every 50 m parcel is sub-pixel: the map draws the layer's generalised overview, and a click says it
    is one (about how many parcels, which zoom shows them singly) instead of posing as a parcel."""
    n = 120  # 14 400 parcels of ~50 m in two classes, ~6 km square
    i, j = np.meshgrid(np.arange(n), np.arange(n))
    d = 0.0005
    xs, ys = 108.88 + i.ravel() * d, 30.88 + j.ravel() * d
    cls = np.where((i.ravel() // 30 + j.ravel() // 30) % 2 == 0, "永久基本农田", "生态保护红线")
    gdf = gpd.GeoDataFrame({"DLMC": cls}, geometry=shapely.box(xs, ys, xs + d, ys + d), crs="EPSG:4326")
    src = tmp_path / "dltb.gpkg"
    gdf.to_file(src, driver="GPKG")
    settings = settings_for(tmp_path)
    import_layer(src, layer_id="dltb", title="三调图斑", role="control", class_field="DLMC",
                 gpkg_path=settings.layer_store_gpkg, class_defaults=ROOT / "data" / "control-classes.yaml")
    with running_app(settings) as (_, base):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        feature_requests: list[str] = []
        page.on("request", lambda r: feature_requests.append(r.url) if "/features/" in r.url else None)
        page.goto(f"{base}/maps/yunyang#map=11/30.91/108.91&layers=dltb")
        page.wait_for_function("window.planview && planview.tiles && planview.tiles.dltb", timeout=30000)
        page.wait_for_selector(".leaflet-pv-dltb-pane path.leaflet-interactive", timeout=30000)
        container = page.locator(".leaflet-container").first.bounding_box()
        assert container is not None
        x, y = container["x"] + container["width"] / 2, container["y"] + container["height"] / 2
        under = page.evaluate(f"document.elementFromPoint({x}, {y}).closest('.leaflet-pane').className")
        assert "pv-dltb" in under, under
        page.mouse.click(x, y)
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=10000)
        text = popup.inner_text()
        assert "概化显示" in text and "个图斑" in text and "14 级" in text, text
        assert not feature_requests, "a generalised feature was fetched as if it were a parcel"
        assert not errors, errors
        context.close()
