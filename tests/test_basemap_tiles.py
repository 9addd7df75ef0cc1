"""Offline basemaps an office holds: MBTiles and PMTiles files (raster or vector) named in settings,
served by planview itself and drawn in a real Chromium when chosen in the basemap switcher."""

from __future__ import annotations

import gzip
import io
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer
from support import map_module, running_app

from server.app import create_app
from server.settings import ROOT, Settings

MAGENTA = (230, 0, 200)
ORANGE = (250, 140, 0)
WATER = (169, 204, 227)  # the fill of "water" in static/planview/vectorbase.js (#a9cce3)
BBOX = (108.2, 30.4, 109.5, 31.6)  # around Yunyang


def _tile_range(z: int) -> tuple[range, range]:
    def tx(lon: float) -> int:
        return int((lon + 180) / 360 * 2**z)

    def ty(lat: float) -> int:
        r = math.radians(lat)
        return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * 2**z)

    return range(tx(BBOX[0]), tx(BBOX[2]) + 1), range(ty(BBOX[3]), ty(BBOX[1]) + 1)


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(buf, "PNG")
    return buf.getvalue()


def _mvt() -> bytes:
    """A vector tile: water over the whole tile, a road, and a layer no style table knows."""
    return mapbox_vector_tile.encode([
        {"name": "water", "features": [{"geometry": "POLYGON ((-64 -64, 4160 -64, 4160 4160, -64 4160, -64 -64))",
                                        "properties": {"class": "lake"}}]},
        {"name": "transportation", "features": [{"geometry": "LINESTRING (0 100, 4096 100)",
                                                 "properties": {"class": "primary"}}]},
        {"name": "mystery", "features": [{"geometry": "LINESTRING (100 0, 100 4096)", "properties": {}}]},
        {"name": "place", "features": [{"geometry": "POINT (2048 2048)", "properties": {"name": "某镇"}}]},
    ])


def make_pmtiles(path: Path, tile: bytes, tile_type: TileType, compression: Compression,
                 zooms: tuple[int, ...] = (8, 9), name: str = "测试PM") -> int:
    """A small PMTiles v3 archive written with protomaps' writer; returns the number of tiles."""
    tiles = sorted((zxy_to_tileid(z, x, y), tile) for z in zooms for x in _tile_range(z)[0] for y in _tile_range(z)[1])
    with path.open("wb") as f:
        writer = Writer(f)
        for tile_id, data in tiles:
            writer.write_tile(tile_id, data)
        writer.finalize({"tile_type": tile_type, "tile_compression": compression,
                         "min_lon_e7": int(BBOX[0] * 1e7), "min_lat_e7": int(BBOX[1] * 1e7),
                         "max_lon_e7": int(BBOX[2] * 1e7), "max_lat_e7": int(BBOX[3] * 1e7)},
                        {"name": name, "attribution": "© PM测试"})
    return len(tiles)


def make_mbtiles(path: Path, zooms: tuple[int, ...] = (8, 9), tile: bytes | None = None, fmt: str = "png",
                 name: str = "测试影像") -> int:
    """A small MBTiles (Pillow PNG tiles unless `tile` is given, TMS rows); returns the number of tiles."""
    png = tile if tile is not None else _png(MAGENTA)
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE metadata (name TEXT, value TEXT);
        CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
        CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
    """)
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [
        ("name", name), ("format", fmt), ("minzoom", str(min(zooms))), ("maxzoom", str(max(zooms))),
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
    make_pmtiles(tmp / "raster.pmtiles", _png(ORANGE), TileType.PNG, Compression.NONE, name="测试PM影像")
    make_mbtiles(tmp / "vector.mbtiles", tile=gzip.compress(_mvt()), fmt="pbf", name="测试矢量MB")
    make_pmtiles(tmp / "vector.pmtiles", gzip.compress(_mvt()), TileType.MVT, Compression.GZIP, name="测试矢量PM")
    make_pmtiles(tmp / "plain.pmtiles", _mvt(), TileType.MVT, Compression.NONE, name="测试矢量无压缩")
    return Settings(workspace_gpkg=tmp / "ws.gpkg", database_url=None,  # type: ignore[call-arg]
                    basemap_files={"test": tmp / "test.mbtiles", "pmraster": tmp / "raster.pmtiles",
                                   "vecmb": tmp / "vector.mbtiles", "vecpm": tmp / "vector.pmtiles",
                                   "vecplain": tmp / "plain.pmtiles"})


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
        script = map_module(page)
    assert "/basemap/test/{z}/{x}/{y}" in script and json.dumps("测试影像（本地离线瓦片）")[1:-1] in script
    assert "\\u0026lt;b\\u0026gt;2024" in script or "&lt;b&gt;2024" in script  # attribution escaped
    assert "<b>2024" not in script and "<b>2024" not in page


@pytest.mark.parametrize("name", ["vecmb", "vecpm", "vecplain"])
def test_vector_tiles_are_served_as_mvt(tiles_settings: Settings, name: str) -> None:
    xs, ys = _tile_range(9)
    with TestClient(create_app(tiles_settings)) as c:
        r = c.get(f"/basemap/{name}/9/{xs[0]}/{ys[0]}")  # httpx inflates gzip itself
        assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        assert r.headers.get("content-encoding") == ("gzip" if name != "vecplain" else None)
        assert r.headers["etag"] and "Accept-Encoding" in r.headers["vary"]
        layers = mapbox_vector_tile.decode(r.content)
        assert {"water", "transportation", "mystery"} <= set(layers)
        raw = c.get(f"/basemap/{name}/9/{xs[0]}/{ys[0]}", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in raw.headers and mapbox_vector_tile.decode(raw.content) == layers
        assert raw.headers["etag"] != r.headers["etag"] or name == "vecplain"
        assert c.get(f"/basemap/{name}/9/{xs[0]}/{ys[0]}", headers={"if-none-match": r.headers["etag"]}
                     ).status_code == 304
        assert c.get(f"/basemap/{name}/9/0/0").status_code == 204
        assert c.get(f"/basemap/{name}/31/0/0").status_code == 204
        page = c.get("/maps/yunyang").text
        script = map_module(page)
    assert "Leaflet.VectorGrid.bundled.min.js" in page  # the renderer comes with a vector basemap
    titles = {"vecmb": "测试矢量MB", "vecpm": "测试矢量PM", "vecplain": "测试矢量无压缩"}
    assert json.dumps(titles[name] + "（本地离线矢量瓦片）")[1:-1] in script


def test_pmtiles_raster_is_served(tiles_settings: Settings) -> None:
    xs, ys = _tile_range(8)
    with TestClient(create_app(tiles_settings)) as c:
        r = c.get(f"/basemap/pmraster/8/{xs[-1]}/{ys[-1]}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert "content-encoding" not in r.headers
        assert Image.open(io.BytesIO(r.content)).getpixel((10, 10)) == ORANGE
        assert c.get(f"/basemap/pmraster/8/{xs[-1]}/{ys[-1]}", headers={"if-none-match": r.headers["etag"]}
                     ).status_code == 304
        assert c.get("/basemap/pmraster/8/0/0").status_code == 204
        assert c.get("/basemap/raster.pmtiles/8/0/0").status_code == 404  # names, never file names
        script = map_module(c.get("/maps/yunyang").text)
    assert "/basemap/pmraster/{z}/{x}/{y}" in script and json.dumps("测试PM影像（本地离线瓦片）")[1:-1] in script


def _open_map(browser: Any, url: str, hash_: str) -> tuple[Any, Any, list[str]]:
    """A desktop tab on the Yunyang map at ``hash_``, ready; and the list its page errors go to."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/maps/yunyang" + hash_)
    page.wait_for_function("window.planview && window.planview.settled === true", timeout=30_000)
    return context, page, errors


def _switch_to(page: Any, title: str) -> None:
    if page.locator(".leaflet-control-layers.pv-collapsed").count():
        page.locator(".leaflet-control-layers .pv-ctl-toggle").click()
    page.locator(".leaflet-control-layers-base label").filter(has_text=title).locator("input").check()


def _share(page: Any, colour: tuple[int, int, int], tolerance: int = 30) -> float:
    """Share of a band of the map (below the opened layer control) drawn in `colour`."""
    shot = Image.open(io.BytesIO(page.screenshot(clip={"x": 100, "y": 560, "width": 400, "height": 120})))
    pixels = list(shot.convert("RGB").getdata())
    near = [p for p in pixels if all(abs(a - b) <= tolerance for a, b in zip(p, colour, strict=True))]
    return len(near) / len(pixels)


def _settled_share(page: Any, colour: tuple[int, int, int], tolerance: int = 30, want: float = 0.6) -> float:
    """``_share`` once the tiles have faded in (Leaflet animates their opacity): polled for up to 5 s."""
    share = 0.0
    for _ in range(25):
        share = _share(page, colour, tolerance)
        if share > want:
            break
        page.wait_for_timeout(200)
    return share


@pytest.mark.browser
def test_pmtiles_and_vector_basemaps_are_drawn_in_chromium(browser: Any, tiles_settings: Settings) -> None:
    with running_app(tiles_settings) as (_, url):
        context, page, errors = _open_map(browser, url, "#map=9/31.00000/108.85000&layers=")
        _switch_to(page, "测试PM影像")
        page.wait_for_function("Array.from(document.querySelectorAll('img.leaflet-tile-loaded'))"
                               ".filter(i => i.src.indexOf('/basemap/pmraster/9/') >= 0 && i.naturalWidth === 256)"
                               ".length >= 4", timeout=20_000)
        assert _settled_share(page, ORANGE, 10) > 0.6
        assert "PM测试" in page.locator(".leaflet-control-attribution").inner_text()
        for name, title in (("vecmb", "测试矢量MB"), ("vecpm", "测试矢量PM")):
            _switch_to(page, title)
            page.wait_for_function(f"window.planview.base() === '{name}'")
            # VectorGrid draws each tile on a canvas in the tile pane, under the plan layers
            page.wait_for_function(
                f"(() => {{ const l = window.planview.vectorBasemaps['{name}']; if (!l || !l._map) return false;"
                " return Object.keys(l._tiles).filter(k => l._tiles[k].loaded).length >= 4; })()", timeout=20_000)
            assert page.evaluate(f"window.planview.vectorBasemaps['{name}'].getPane().classList"
                                 ".contains('leaflet-tile-pane')")
            assert page.locator(".leaflet-tile-pane canvas").count() >= 4
            assert _settled_share(page, WATER, 6) > 0.6, name
            assert "base=" + name in page.evaluate("window.location.hash")
        assert errors == []
        context.close()


@pytest.mark.browser
def test_basemap_in_the_permalink(browser: Any, tiles_settings: Settings) -> None:
    """&base=id opens the map on that basemap; an unknown id leaves the default, without an error."""
    with running_app(tiles_settings) as (_, url):
        context, page, errors = _open_map(browser, url, "#map=9/31.00000/108.85000&layers=&base=test")
        assert page.evaluate("window.planview.base()") == "test"
        assert page.locator(".leaflet-control-layers-base label").filter(has_text="测试影像").locator(
            "input").is_checked()
        page.wait_for_function("Array.from(document.querySelectorAll('img.leaflet-tile-loaded'))"
                               ".filter(i => i.src.indexOf('/basemap/test/9/') >= 0).length >= 4", timeout=20_000)
        page.wait_for_function("window.location.hash.indexOf('base=test') >= 0")
        _switch_to(page, "离线矢量底图")
        page.wait_for_function("window.location.hash.indexOf('base=') < 0")  # the default is not written
        page.goto("about:blank")
        page.goto(url + "/maps/yunyang#map=9/31.00000/108.85000&layers=&base=nope")
        page.wait_for_function("window.planview && window.planview.settled === true", timeout=30_000)
        assert page.evaluate("window.planview.base()") == "offline"
        assert page.locator(".leaflet-control-layers-base label").filter(has_text="离线矢量底图").locator(
            "input").is_checked()
        assert errors == []
        context.close()


@pytest.mark.browser
def test_mbtiles_basemap_is_drawn_in_chromium(browser: Any, tiles_settings: Settings) -> None:
    with running_app(tiles_settings) as (_, url):
        context, page, errors = _open_map(browser, url, "#map=9/31.00000/108.85000&layers=")
        _switch_to(page, "测试影像")
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
    """A broken file or a bad name is left out with a log line; the map still opens."""
    bad = tmp_path / "bad.mbtiles"
    bad.write_bytes(b"not sqlite")
    settings = Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None,  # type: ignore[call-arg]
                        basemap_files={"bad": bad, "Bad Name": ROOT / "missing.mbtiles"})
    with TestClient(create_app(settings)) as c:
        assert c.get("/maps/yunyang").status_code == 200
        assert "/basemap/bad/" not in map_module(c.get("/maps/yunyang").text)


@pytest.mark.browser
def test_layers_follow_a_gcj02_basemap_and_come_back(browser: Any, tmp_path: Path) -> None:
    """With the Amap (GCJ-02) basemap on, the WGS84 layers are drawn shifted onto it (~500 m)."""
    settings = Settings(workspace_gpkg=tmp_path / "ws.gpkg", database_url=None, enable_amap=True)  # type: ignore[call-arg]
    # one marker, the same before and after (the redraw adds the layers again, in another order)
    marker = """(name) => { let out = null; window.planview.map.eachLayer(l => {
        if (!out && l.feature && l.getLatLng && l.feature.properties && (name === null || l.feature.properties.name === name))
            out = [l.getLatLng().lng, l.getLatLng().lat, l.feature.properties.name];
    }); return out; }"""
    with running_app(settings) as (_, url):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        page = context.new_page()
        page.route("https://**/*", lambda route: route.abort())  # no tiles from the internet in tests
        page.goto(url + "/maps/yunyang")
        page.wait_for_function("window.planview && window.planview.settled === true", timeout=30_000)
        before = page.evaluate(marker, None)
        if page.locator(".leaflet-control-layers.pv-collapsed").count():
            page.locator(".leaflet-control-layers .pv-ctl-toggle").click()
        page.locator(".leaflet-control-layers-base label").filter(has_text="高德").locator("input").check()
        page.wait_for_function("window.planview.datum() === 'gcj02'")
        after = page.evaluate(marker, before[2])
        dx = (after[0] - before[0]) * 111_320 * math.cos(math.radians(before[1]))
        dy = (after[1] - before[1]) * 110_540
        assert 300 < math.hypot(dx, dy) < 900, (dx, dy)
        assert "GCJ-02" in page.locator("#pv-notice").inner_text()
        page.locator(".leaflet-control-layers-base label").filter(has_text="离线矢量底图").locator("input").check()
        page.wait_for_function("window.planview.datum() === 'wgs84'")
        back = page.evaluate(marker, before[2])
        assert abs(back[0] - before[0]) < 1e-9 and abs(back[1] - before[1]) < 1e-9
        context.close()
