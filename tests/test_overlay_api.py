"""``/api/overlay``, ``/overlay`` and ``planview overlay``: upload, check, keep; hostile input gets a 4xx."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from support import bearer, running_app, signed_in

from server.app import create_app
from server.cli import main as cli_main
from server.settings import Settings

DB_URL = os.environ.get("PLANVIEW_TEST_DATABASE_URL")
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
GEOJSON = json.dumps({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"名称": "东区地块", "行业": "生物医药"}, "geometry": {"type": "Polygon",
     "coordinates": [[[108.70, 30.95], [108.71, 30.95], [108.71, 30.96], [108.70, 30.96], [108.70, 30.95]]]}},
    {"type": "Feature", "properties": {"名称": HOSTILE, "行业": "=HYPERLINK(\"http://x\")"},
     "geometry": {"type": "Point", "coordinates": [108.38, 30.81]}},
]}, ensure_ascii=False).encode()


def _settings(tmp: Path, **overrides: Any) -> Settings:
    return Settings(workspace_gpkg=tmp / "ws.gpkg", database_url=None, **overrides)


def _post(client: TestClient, data: bytes, name: str = "sites.geojson", **fields: str) -> httpx.Response:
    return client.post("/api/overlay", files={"file": (name, data)}, data=fields)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return buf.getvalue()


def test_upload_list_get_formats_delete(client: TestClient) -> None:
    r = _post(client, GEOJSON)
    assert r.status_code == 201, r.text
    report = r.json()
    ws_id = report["id"]
    assert r.headers["location"] == f"/api/overlay/{ws_id}"
    assert report["crs"]["code"] == "EPSG:4326" and report["crs"]["reason"]
    assert report["filename"] == "sites.geojson" and len(report["sha256"]) == 64
    first, second = report["sites"]
    assert first["name"] == "东区地块" and first["county"]["name"] == "云阳县" and first["area_mu"] > 0
    assert second["name"] == HOSTILE
    listed = client.get("/api/overlay").json()["workspaces"]
    assert [w["id"] for w in listed] == [ws_id] and listed[0]["site_count"] == 2
    assert client.get(f"/api/overlay/{ws_id}").json() == report
    assert client.get(f"/api/overlay/{ws_id}.json").json() == report

    r_csv = client.get(f"/api/overlay/{ws_id}.csv")
    assert r_csv.status_code == 200 and r_csv.headers["content-type"].startswith("text/csv")
    assert r_csv.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r_csv.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["序号", "名称", "申报产业"] and rows[1][1] == "东区地块"
    assert rows[2][2].startswith("'=HYPERLINK") and not any(c.startswith(("=", "+", "@")) for r in rows for c in r)

    gj = client.get(f"/api/overlay/{ws_id}.geojson")
    assert gj.headers["content-type"].startswith("application/geo+json")
    fc = gj.json()
    assert len(fc["features"]) == 2 and fc["features"][0]["properties"]["county"]["name"] == "云阳县"

    assert client.delete(f"/api/overlay/{ws_id}").status_code == 204
    missing = client.get(f"/api/overlay/{ws_id}")
    assert missing.status_code == 404 and "/ " in missing.json()["message"]
    assert client.delete(f"/api/overlay/{ws_id}").status_code == 404
    assert client.get(f"/api/overlay/{ws_id}.xls").status_code == 404


def test_crs_and_encoding_fields_are_used(client: TestClient) -> None:
    text = "名称,x,y\n甲,566888.63,3425641.02\n".encode("gbk")
    r = _post(client, text, "sites.csv", crs="EPSG:4545", encoding="gbk")
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["crs"]["code"] == "EPSG:4545" and rep["crs"]["source"] == "user" and rep["sites"][0]["name"] == "甲"
    assert rep["sites"][0]["county"]["name"] == "云阳县"


SHP_NO_SHX = _zip({"a.shp": b"\x00\x00\x27\x0a" + b"\x00" * 96, "a.dbf": b"\x03" + b"\x00" * 40})


@pytest.mark.parametrize(("data", "name", "fields", "status", "needle"), [
    (b"", "empty.geojson", {}, 400, "文件为空"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a.png", {}, 415, "不支持"),
    (SHP_NO_SHX, "a.zip", {}, 400, ".shx"),
    (_zip({"../../evil.csv": b"name,lng,lat\nA,108,30\n"}), "a.zip", {}, 400, ".."),
    (b'{"type":"FeatureCollection","features":[]}', "none.geojson", {}, 400, "0 个场地"),
    (b"name,lng,lat\nA,108.38,30.81\n", "a.csv", {"crs": "EPSG:0"}, 400, "EPSG:4545"),
    (b"name,lng,lat\nA,108.38,30.81\n", "a.csv", {"encoding": "klingon"}, 400, "gbk"),
    (b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]><kml><Placemark>'
     b"<name>&x;</name></Placemark></kml>", "evil.kml", {}, 400, "拒绝"),
    (b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon",'
     b'"coordinates":[[' + b",".join(f"[{108 + i * 1e-6},{30 + (i % 2) * 1e-6}]".encode() for i in range(3000))
     + b",[108,30]]]}}]}", "big.geojson", {}, 413, "顶点"),
])
def test_hostile_input_is_a_bilingual_4xx(tmp_path: Path, data: bytes, name: str, fields: dict[str, str],
                                         status: int, needle: str) -> None:
    with signed_in(create_app(_settings(tmp_path, max_vertices=2000))) as client:
        r = _post(client, data, name, **fields)
        assert r.status_code == status, r.text
        body = r.json()
        assert needle in body["message"] and "/ " in body["message"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])  # Chinese …
        assert re.search(r"[a-z]{4,}", body["message"].split("/ ", 1)[1])  # … and English
        assert client.get("/api/overlay").json()["workspaces"] == []


def test_size_limit_is_enforced_while_streaming(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, max_upload_mb=0.05))
    big = b"name,lng,lat\n" + b"A,108.38,30.81\n" * 10_000  # ~150 kB
    with signed_in(app) as client:
        r = _post(client, big, "big.csv")
        assert r.status_code == 413 and "MB" in r.json()["message"]
        boundary = "pvboundary"
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
                "Content-Type: text/csv\r\n\r\n").encode()
        sent = {"bytes": 0}

        def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count as it reads
            yield head
            for _ in range(10_000):
                sent["bytes"] += 16 * 1024
                yield b"A,108.38,30.81\n" * 1000
            yield f"\r\n--{boundary}--\r\n".encode()

        r = client.post("/api/overlay", content=chunks(),
                        headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 413
        assert client.get("/api/overlay").json()["workspaces"] == []


def test_not_multipart_is_400(client: TestClient) -> None:
    r = client.post("/api/overlay", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "multipart" in r.json()["message"]
    r = client.post("/api/overlay", data={"crs": "EPSG:4545"}, files={"other": ("a.txt", b"x")})
    assert r.status_code == 400 and "file" in r.json()["message"]


def test_geojson_body_is_checked_like_an_upload(client: TestClient) -> None:
    """Scripts (and the map's drawing tool) POST GeoJSON directly; same reader, analysis and storage."""
    r = client.post("/api/overlay?name=画的地块", content=GEOJSON, headers={"content-type": "application/geo+json"})
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["filename"] == "画的地块.geojson" and rep["sites"][0]["county"]["name"] == "云阳县"
    assert rep["sites"][0]["area_mu"] > 0 and client.get(r.headers["location"]).status_code == 200
    bad = client.post("/api/overlay", content=b"{\"type\": \"Nope\"}", headers={"content-type": "application/geo+json"})
    assert 400 <= bad.status_code < 500 and bad.json()["message"]
    empty = client.post("/api/overlay", content=b"", headers={"content-type": "application/geo+json"})
    assert empty.status_code == 400


def test_pages_form_submit_result_and_delete(client: TestClient) -> None:
    form = client.get("/overlay")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text and "EPSG:4545" in form.text
    r = client.post("/overlay", files={"file": ("sites.geojson", GEOJSON)}, data={"crs": ""}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    html = page.text
    assert page.status_code == 200 and "东区地块" in html and "云阳县" in html
    assert "<script>window.__pwned" not in html and "&lt;script&gt;window.__pwned" in html
    assert "/static/vendor/leaflet/leaflet.js" in html and "/static/overlay.js" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # offline: nothing remote
    assert "公顷" in html and "亩" in html and "示意" in html
    listing = client.get("/overlay").text
    assert "sites.geojson" in listing
    ws_id = r.headers["location"].rsplit("/", 1)[1]
    gone = client.post(f"/overlay/{ws_id}/delete", follow_redirects=False)
    assert gone.status_code == 303 and client.get(f"/overlay/{ws_id}").status_code == 404


def test_form_errors_are_shown_on_the_form(client: TestClient) -> None:
    r = client.post("/overlay", files={"file": ("a.csv", b"name,addr\nA,B\n")}, data={"crs": ""})
    assert r.status_code == 400 and 'id="ov-error"' in r.text and "找不到坐标列" in r.text
    assert 'enctype="multipart/form-data"' in r.text


def test_cli_overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PLANVIEW_WORKSPACE_GPKG", str(tmp_path / "cli.gpkg"))
    monkeypatch.delenv("PLANVIEW_DATABASE_URL", raising=False)
    src = tmp_path / "sites.geojson"
    src.write_bytes(GEOJSON)
    assert cli_main(["overlay", str(src)]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["sites"][0]["county"]["name"] == "云阳县" and f"workspace {report['id']} saved" in err
    assert cli_main(["overlay", str(src), "--format", "csv"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("\ufeff序号") or out.startswith("序号")
    assert cli_main(["overlay", str(src), "--format", "geojson", "--crs", "EPSG:4326"]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "FeatureCollection"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2\n")
    assert cli_main(["overlay", str(bad)]) == 2
    assert "找不到坐标列" in capsys.readouterr().err


# ---------------------------------------------------------------- a real server, both stores


@pytest.fixture(params=["gpkg", "postgis"], scope="module")
def overlay_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[str, dict[str, str]]]:
    """(base URL, headers signing in as a planner) of a real server on either store."""
    schema = None
    if request.param == "postgis":
        if not DB_URL:
            pytest.skip("PLANVIEW_TEST_DATABASE_URL is not set (.ci/run starts PostgreSQL+PostGIS and sets it)")
        from layers.workspaces import open_store

        schema = f"pv_api_{uuid.uuid4().hex[:10]}"
        open_store(database_url=DB_URL, schema=schema)
        url = DB_URL
        settings = Settings(workspace_gpkg=tmp_path_factory.mktemp("unused") / "x.gpkg", database_url=url)
    else:
        settings = Settings(workspace_gpkg=tmp_path_factory.mktemp("live-overlay") / "ws.gpkg", database_url=None)
    with running_app(settings) as (server, base):
        if schema:
            # point the app's store at the private schema
            from layers.workspaces import open_store

            server.config.app.state.workspace_store = open_store(database_url=DB_URL, schema=schema)
            server.config.app.state.auth.use_schema(schema)
        yield base, bearer(server.config.app, "planner", "planner")
    if schema:
        import psycopg

        with psycopg.connect(DB_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_twenty_parallel_http_uploads_lose_nothing(overlay_server: tuple[str, dict[str, str]]) -> None:
    base, auth = overlay_server

    def upload(i: int) -> str:
        data = GEOJSON.replace("东区地块".encode(), f"东区地块{i}".encode())
        with httpx.Client(base_url=base, timeout=120, headers=auth) as c:
            r = c.post("/api/overlay", files={"file": (f"s{i}.geojson", data)})
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(upload, range(20)))
    with httpx.Client(base_url=base, timeout=60, headers=auth) as c:
        listed = {w["id"]: w for w in c.get("/api/overlay").json()["workspaces"]}
        assert set(ids) <= set(listed) and len(set(ids)) == 20
        for i, ws_id in enumerate(ids):
            rep = c.get(f"/api/overlay/{ws_id}").json()
            assert rep["filename"] == f"s{i}.geojson" and rep["sites"][0]["name"] == f"东区地块{i}"


@pytest.mark.browser
def test_result_page_draws_sites_and_rows_zoom(browser: Any, overlay_server: tuple[str, dict[str, str]],
                                               request: pytest.FixtureRequest) -> None:
    if request.node.callspec.params["overlay_server"] != "gpkg":
        pytest.skip("the page is the same for both stores; drawn once, with the GeoPackage store")
    base, auth = overlay_server
    with httpx.Client(base_url=base, timeout=60, headers=auth) as c:
        ws_id = c.post("/api/overlay", files={"file": ("s.geojson", GEOJSON)}).json()["id"]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", extra_http_headers=auth)
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r: Any) -> None:
        if r.request.url.startswith(base):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    try:
        page.goto(f"{base}/overlay/{ws_id}")
        page.wait_for_function("document.body.getAttribute('data-overlay-ready') === '1'", timeout=30_000)
        assert page.evaluate("document.body.getAttribute('data-sites-drawn')") == "2"
        assert page.evaluate("window.__pwned === undefined")
        before = page.evaluate("window.planviewOverlayMap.getZoom()")
        page.click('#ov-table tbody tr[data-site="2"]')
        page.wait_for_timeout(400)
        after = page.evaluate("window.planviewOverlayMap.getZoom()")
        centre = page.evaluate("[window.planviewOverlayMap.getCenter().lng, window.planviewOverlayMap.getCenter().lat]")
        assert after >= before and abs(centre[0] - 108.38) < 0.01 and abs(centre[1] - 30.81) < 0.01
        row_class = page.evaluate("document.querySelector('#ov-table tbody tr[data-site=\"2\"]').className")
        assert "ov-active" in row_class
        assert errors == [] and outside == []
    finally:
        context.close()


def test_geopackage_export_has_one_geometry_type_per_layer(client: TestClient, tmp_path: Path) -> None:
    """QGIS shows one type per layer: points and polygons go to their own layers, GeoPackage 1.2."""
    import sqlite3

    import pyogrio
    import shapely

    cw = [[108.70, 30.95], [108.70, 30.96], [108.71, 30.96], [108.71, 30.95], [108.70, 30.95]]  # clockwise
    multi = [[[[108.72, 30.95], [108.73, 30.95], [108.73, 30.96], [108.72, 30.95]]],
             [[[108.74, 30.95], [108.75, 30.95], [108.75, 30.96], [108.74, 30.95]]]]
    data = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"名称": "甲"}, "geometry": {"type": "Polygon", "coordinates": [cw]}},
        {"type": "Feature", "properties": {"名称": "乙"}, "geometry": {"type": "MultiPolygon", "coordinates": multi}},
        {"type": "Feature", "properties": {"名称": "丙"}, "geometry": {"type": "Point", "coordinates": [108.6, 30.9]}},
    ]}, ensure_ascii=False).encode()
    ws_id = _post(client, data).json()["id"]
    r = client.get(f"/api/overlay/{ws_id}.gpkg")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geopackage+sqlite3"
    path = tmp_path / "export.gpkg"
    path.write_bytes(r.content)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 10200  # GeoPackage 1.2
        declared = dict(conn.execute("SELECT table_name, geometry_type_name FROM gpkg_geometry_columns"))
    assert declared == {"sites_points": "POINT", "sites_polygons": "MULTIPOLYGON"}
    assert dict(pyogrio.list_layers(path)) == {"sites_points": "Point", "sites_polygons": "MultiPolygon"}
    polys = pyogrio.read_dataframe(path, layer="sites_polygons")
    assert sorted(polys["name"]) == ["乙", "甲"] and set(polys.geometry.geom_type) == {"MultiPolygon"}
    first = polys[polys["name"] == "甲"].geometry.iloc[0].geoms[0]
    assert shapely.LinearRing(first.exterior.coords).is_ccw  # RFC 7946 / OGC orientation
    fc = client.get(f"/api/overlay/{ws_id}.geojson").json()
    ring = next(f for f in fc["features"] if f["properties"]["name"] == "甲")["geometry"]["coordinates"][0]
    assert shapely.LinearRing(ring).is_ccw
