"""Offline basemaps an office holds: an MBTiles file named in settings, served by planview itself
and drawn by Leaflet in a real Chromium when chosen in the basemap switcher."""

from __future__ import annotations

import io
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from support import running_app

from server.app import create_app
from server.settings import ROOT, Settings

MAGENTA = (230, 0, 200)
BBOX = (108.2, 30.4, 109.5, 31.6)  # around Yunyang


def _tile_range(z: int) -> tuple[range, range]:
    def tx(lon: float) -> int:
        return int((lon + 180) / 360 * 2**z)

    def ty(lat: float) -> int:
        r = math.radians(lat)
        return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * 2**z)

    return range(tx(BBOX[0]), tx(BBOX[2]) + 1), range(ty(BBOX[3]), ty(BBOX[1]) + 1)


def make_mbtiles(path: Path, zooms: tuple[int, ...] = (8, 9)) -> int:
    """A small raster MBTiles (PNG tiles made by Pillow, TMS rows); returns the number of tiles."""
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), MAGENTA).save(buf, "PNG")
    png = buf.getvalue()
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE metadata (name TEXT, value TEXT);
        CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
        CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
    """)
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [
        ("name", "测试影像"), ("format", "png"), ("minzoom", str(min(zooms))), ("maxzoom", str(max(zooms))),
        ("attribution", "© 测试测绘院 <b>2024</b>"), ("bounds", ",".join(map(str, BBOX)))])
    n = 0
    for z in zooms:
        xs, ys = _tile_range(z)
        for x in xs:
            for y in ys:
                con.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, 2**z - 1 - y, png))
                n += 1
    con.commit()
    con.close()
    return n


@pytest.fixture(scope="module")
def tiles_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("basemap")
    make_mbtiles(tmp / "test.mbtiles")
    return Settings(workspace_gpkg=tmp / "ws.gpkg", database_url=None,  # type: ignore[call-arg]
                    basemap_files={"test": tmp / "test.mbtiles"})


def test_tiles_are_served_with_etag_range_and_no_content_outside(tiles_settings: Settings) -> None:
    xs, ys = _tile_range(9)
    with TestClient(create_app(tiles_settings)) as c:
        r = c.get(f"/basemap/test/9/{xs[0]}/{ys[0]}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(r.content)).getpixel((10, 10)) == MAGENTA
        assert c.get(f"/basemap/test/9/{xs[0]}/{ys[0]}", headers={"if-none-match": r.headers["etag"]}
                     ).status_code == 304
        part = c.get(f"/basemap/test/9/{xs[0]}/{ys[0]}", headers={"range": "bytes=0-7"})
        assert part.status_code == 206 and part.content == r.content[:8]
        assert part.headers["content-range"] == f"bytes 0-7/{len(r.content)}"
        assert c.get(f"/basemap/test/9/{xs[0]}/{ys[0]}.png").status_code == 200
        assert c.get("/basemap/test/9/0/0").status_code == 204  # not in the file: an empty square
        assert c.get("/basemap/test/40/0/0").status_code == 204
        assert c.get("/basemap/nope/9/0/0").status_code == 404  # only configured names, never paths
        assert c.get("/basemap/..%2F..%2Fetc/9/0/0").status_code == 404
        page = c.get("/maps/yunyang").text
        script = c.get("/maps/yunyang/map.js").text
    assert "/basemap/test/{z}/{x}/{y}" in script and json.dumps("测试影像（本地离线瓦片）")[1:-1] in script
    assert "\\u0026lt;b\\u0026gt;2024" in script or "&lt;b&gt;2024" in script  # attribution escaped
    assert "<b>2024" not in script and "<b>2024" not in page


@pytest.mark.browser
def test_mbtiles_basemap_is_drawn_in_chromium(browser: Any, tiles_settings: Settings) -> None:
    with running_app(tiles_settings) as (_, url):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/maps/yunyang#map=9/31.00000/108.85000&layers=")
        page.wait_for_function("window.planview && window.planview.ready === true", timeout=30_000)
        page.locator(".leaflet-control-layers .pv-ctl-toggle").click() if page.locator(
            ".leaflet-control-layers.pv-collapsed").count() else None
        page.locator(".leaflet-control-layers-base label").filter(has_text="测试影像").locator("input").check()
        page.wait_for_function("Array.from(document.querySelectorAll('img.leaflet-tile-loaded'))"
                               ".filter(i => i.src.indexOf('/basemap/test/9/') >= 0 && i.naturalWidth === 256"
                               # Leaflet fades a loaded tile in: sample it once it is opaque
                               " && getComputedStyle(i).opacity === '1')"
                               ".length >= 4", timeout=20_000)
        # A band of the map below the opened layer control (which covers the top of the map): most
        # of it is the tile colour; labels, halos and outlines drawn over it may take a few pixels.
        shot = Image.open(io.BytesIO(page.screenshot(clip={"x": 100, "y": 560, "width": 400, "height": 120})))
        pixels = list(shot.convert("RGB").getdata())
        magenta = [p for p in pixels if p[0] > 180 and p[1] < 80 and p[2] > 150]
        assert len(magenta) > 0.6 * len(pixels), (len(magenta), len(pixels), shot.getpixel((200, 60)))
        assert "测试测绘院" in page.locator(".leaflet-control-attribution").inner_text()
        assert errors == []
        context.close()


def test_settings_name_the_file_not_the_url(tmp_path: Path) -> None:
    """A broken or vector file is left out with a log line; the map still opens."""
    bad = tmp_path / "bad.mbtiles"
    bad.write_bytes(b"not sqlite")
    settings = Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None,  # type: ignore[call-arg]
                        basemap_files={"bad": bad, "Bad Name": ROOT / "missing.mbtiles"})
    with TestClient(create_app(settings)) as c:
        assert c.get("/maps/yunyang").status_code == 200
        assert "/basemap/bad/" not in c.get("/maps/yunyang/map.js").text


@pytest.mark.browser
def test_layers_follow_a_gcj02_basemap_and_come_back(browser: Any, tmp_path: Path) -> None:
    """With the Amap (GCJ-02) basemap on, the WGS84 layers are drawn shifted onto it (~500 m)."""
    settings = Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None, enable_amap=True)  # type: ignore[call-arg]
    marker = """() => { let out = null; window.planview.map.eachLayer(l => {
        if (!out && l.feature && l.getLatLng && l.feature.properties) out = [l.getLatLng().lng, l.getLatLng().lat];
    }); return out; }"""
    with running_app(settings) as (_, url):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        page = context.new_page()
        page.route("https://**/*", lambda route: route.abort())  # no tiles from the internet in tests
        page.goto(url + "/maps/yunyang")
        page.wait_for_function("window.planview && window.planview.ready === true", timeout=30_000)
        before = page.evaluate(marker)
        if page.locator(".leaflet-control-layers.pv-collapsed").count():
            page.locator(".leaflet-control-layers .pv-ctl-toggle").click()
        page.locator(".leaflet-control-layers-base label").filter(has_text="高德").locator("input").check()
        page.wait_for_function("window.planview.datum() === 'gcj02'")
        after = page.evaluate(marker)
        dx = (after[0] - before[0]) * 111_320 * math.cos(math.radians(before[1]))
        dy = (after[1] - before[1]) * 110_540
        assert 300 < math.hypot(dx, dy) < 900, (dx, dy)
        assert "GCJ-02" in page.locator("#pv-notice").inner_text()
        page.locator(".leaflet-control-layers-base label").filter(has_text="离线矢量底图").locator("input").check()
        page.wait_for_function("window.planview.datum() === 'wgs84'")
        back = page.evaluate(marker)
        assert abs(back[0] - before[0]) < 1e-9 and abs(back[1] - before[1]) < 1e-9
        context.close()
