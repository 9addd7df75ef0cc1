"""OGC API – Features Parts 1 and 2 as other software sees them: GDAL, OWSLib, a validator, Chromium.

GDAL and OWSLib run in their own processes against a live server (pyogrio
holds the GIL while GDAL fetches, which would starve an in-process server).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer

MIXED_LAYERS = ("yy-projects", "yy-agri-park", "yy-wankaiyun-corridor")
GK_4545 = "http://www.opengis.net/def/crs/EPSG/0/4545"
EPSG_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module: every test here only reads (loading the catalogue per test cost ~10 s each)."""
    from server.app import create_app
    from server.settings import Settings

    settings = Settings(workspace_gpkg=tmp_path_factory.mktemp("ogc") / "ws.gpkg", database_url=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as c:
        yield c


def _run(script: str, *args: str) -> Any:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- geometry types

def test_every_collection_has_one_geometry_type(client: TestClient) -> None:
    cols = client.get("/ogc/collections").json()["collections"]
    ids = {c["id"] for c in cols}
    for layer in MIXED_LAYERS:  # mixed layers are split, one collection per family
        assert layer not in ids
        assert {f"{layer}-points", f"{layer}-polygons"} <= ids or {f"{layer}-lines", f"{layer}-points"} <= ids
    for c in cols:
        declared = c["planview"]["geometryType"]
        items = client.get(f"/ogc/collections/{c['id']}/items?limit=10000").json()["features"]
        assert {f["geometry"]["type"] for f in items} == {declared}, c["id"]
        q = client.get(f"/ogc/collections/{c['id']}/queryables").json()
        assert q["properties"]["geometry"]["format"] == "geometry-" + declared.lower()


def test_split_layer_keeps_every_feature_and_the_map_api(client: TestClient) -> None:
    whole = client.get("/api/layers/yy-projects").json()["features"]
    parts = [c for c in client.get("/ogc/collections").json()["collections"] if c["planview"]["layer"] == "yy-projects"]
    split_ids = []
    for c in parts:
        split_ids += [f["id"] for f in client.get(f"/ogc/collections/{c['id']}/items").json()["features"]]
    assert sorted(map(str, split_ids)) == sorted(str(f["id"]) for f in whole)
    summary = next(x for x in client.get("/api/layers").json()["layers"] if x["id"] == "yy-projects")
    assert len(summary["links"]["ogc_collections"]) == len(parts) >= 2
    assert client.get(summary["links"]["ogc"]).status_code == 200
    r = client.get("/ogc/collections/yy-projects")  # the layer id names its parts
    assert r.status_code == 404 and "yy-projects-points" in r.json()["description"]


# ---------------------------------------------------------------- RFC 7946

def _rings(geometry: dict[str, Any]) -> list[tuple[bool, list[list[float]]]]:
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [(i == 0, ring) for poly in polys for i, ring in enumerate(poly)]


@pytest.mark.parametrize("url", ["/ogc/collections/cq-counties/items?limit=100", "/api/layers/cq-counties",
                                 "/api/layers/cq-counties?zoom=7", "/ogc/collections/yy-projects-polygons/items"])
def test_rings_are_rfc7946_oriented(client: TestClient, url: str) -> None:
    checked = 0
    for f in client.get(url).json()["features"]:
        if f["geometry"]["type"] not in ("Polygon", "MultiPolygon"):
            continue
        for exterior, ring in _rings(f["geometry"]):
            ccw = shapely.LinearRing(ring).is_ccw
            assert ccw == exterior, (f["id"], exterior)
            checked += 1
    assert checked > 0


def test_bbox_is_that_of_the_returned_body(client: TestClient) -> None:
    body = client.get("/ogc/collections/cq-counties/items?limit=3").json()
    geoms = [shapely.geometry.shape(f["geometry"]) for f in body["features"]]
    assert body["bbox"] == pytest.approx(list(shapely.total_bounds(np.array(geoms))))
    item = client.get("/ogc/collections/cq-counties/items/500235").json()
    assert item["bbox"] == pytest.approx(list(shapely.geometry.shape(item["geometry"]).bounds))


# ---------------------------------------------------------------- Part 1 details

def test_landing_links_service_desc_and_doc(client: TestClient) -> None:
    links = {link["rel"]: link for link in client.get("/ogc").json()["links"]}
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert links["service-doc"]["type"] == "text/html"
    desc = client.get(links["service-desc"]["href"])
    assert desc.headers["content-type"].startswith("application/vnd.oai.openapi+json;version=3.0")
    assert desc.json()["openapi"].startswith("3.0")
    doc = client.get(links["service-doc"]["href"])
    assert doc.status_code == 200 and doc.headers["content-type"].startswith("text/html")
    assert "/collections/{collectionId}/items" in doc.text


def test_openapi_document_validates_as_3_0(client: TestClient) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV30SpecValidator

    doc = client.get("/ogc/api").json()
    validate(doc, cls=OpenAPIV30SpecValidator)
    params = {p["name"] for p in doc["components"]["parameters"].values()}
    assert {"datetime", "crs", "bbox-crs", "limit", "offset", "bbox", "f"} <= params


def test_queryables_are_a_valid_json_schema(client: TestClient) -> None:
    from jsonschema import Draft202012Validator

    r = client.get("/ogc/collections/cq-counties/queryables")
    assert r.headers["content-type"].startswith("application/schema+json")
    schema = r.json()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["name"]["type"] == "string"
    assert schema["properties"]["geometry"]["format"] == "geometry-multipolygon" or \
        schema["properties"]["geometry"]["format"] == "geometry-polygon"
    # the full feature schema validates the real feature properties
    full = client.get("/ogc/collections/cq-counties/schema").json()
    Draft202012Validator.check_schema(full)
    props_schema = {**full, "properties": {k: v for k, v in full["properties"].items() if k != "geometry"}}
    props = client.get("/ogc/collections/cq-counties/items/500235").json()["properties"]
    Draft202012Validator(props_schema).validate({k: v for k, v in props.items() if v is not None})


def test_item_links_self_and_collection(client: TestClient) -> None:
    item = client.get("/ogc/collections/cq-counties/items/500235")
    assert item.headers["content-type"].startswith("application/geo+json")
    links = {link["rel"]: link["href"] for link in item.json()["links"]}
    assert links["self"].endswith("/ogc/collections/cq-counties/items/500235")
    assert links["collection"].endswith("/ogc/collections/cq-counties")
    assert client.get("/ogc/collections/cq-counties/items/nope").json()["code"]


@pytest.mark.parametrize("url", [
    "/ogc/collections/cq-counties/items?bobx=1,2,3,4",
    "/ogc/collections/cq-counties/items?name=云阳县",
    "/ogc/collections?limit=5",
    "/ogc/collections/cq-counties/items/500235?limit=1",
    "/ogc/collections/cq-counties/items?limit=0",
    "/ogc/collections/cq-counties/items?limit=x",
    "/ogc/collections/cq-counties/items?datetime=yesterday",
    "/ogc/collections/cq-counties/items?crs=EPSG:3857",
    "/ogc/collections/cq-counties/items?f=xml",
])
def test_bad_parameters_get_400_in_the_ogc_exception_shape(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"code", "description"} and body["description"]


def test_not_found_in_the_ogc_exception_shape(client: TestClient) -> None:
    for url in ("/ogc/collections/nope", "/ogc/collections/nope/items", "/ogc/nothing-here"):
        r = client.get(url)
        assert r.status_code == 404
        assert set(r.json()) == {"code", "description"}


def test_limit_above_the_maximum_is_clamped(client: TestClient) -> None:
    r = client.get("/ogc/collections/cq-counties/items?limit=1000000")
    assert r.status_code == 200
    assert r.json()["numberReturned"] == 38


def test_datetime_is_accepted_and_filters_nothing(client: TestClient) -> None:
    for dt in ("2021-01-01T00:00:00Z", "2021-01-01/2025-12-31", "../2025-12-31T00:00:00Z", "2021-01-01"):
        body = client.get(f"/ogc/collections/cq-counties/items?limit=1&datetime={dt}").json()
        assert body["numberMatched"] == 38


def test_paging_links_follow_the_request(client: TestClient) -> None:
    body = client.get("/ogc/collections/cq-counties/items?limit=10&offset=10&bbox=105,28,111,33",
                      headers={"host": "gis.example.test:8443"}).json()
    links = {link["rel"]: link["href"] for link in body["links"]}
    nxt, prev = urlsplit(links["next"]), urlsplit(links["prev"])
    assert nxt.netloc == prev.netloc == "gis.example.test:8443"
    assert parse_qs(nxt.query) == {"limit": ["10"], "offset": ["20"], "bbox": ["105,28,111,33"]}
    assert parse_qs(prev.query)["offset"] == ["0"]
    # a second host gets its own links, not the first one's from a cache
    other = client.get("/ogc/collections/cq-counties/items?limit=10&offset=10&bbox=105,28,111,33",
                       headers={"host": "other.test"}).json()
    assert all("other.test" in link["href"] for link in other["links"] if link["rel"] in ("next", "prev"))


def test_licence_links(client: TestClient) -> None:
    cols = {c["id"]: c for c in client.get("/ogc/collections").json()["collections"]}
    towns = next(link for link in cols["yy-townships"]["links"] if link["rel"] == "license")
    assert towns["href"] == "https://creativecommons.org/licenses/by/4.0/" and "GeoNames" in towns["title"]
    counties = next(link for link in cols["cq-counties"]["links"] if link["rel"] == "license")
    assert "高德" in counties["title"]
    page = client.get(counties["href"])
    assert page.status_code == 200 and 'id="licence"' in page.text


# ---------------------------------------------------------------- Part 2: CRS

def test_crs_round_trip_gauss_kruger_and_cgcs2000(client: TestClient) -> None:
    lonlat = client.get("/ogc/collections/yy-townships/items?limit=1").json()["features"][0]
    fid = lonlat["id"]
    lon, lat = lonlat["geometry"]["coordinates"]
    gk = client.get(f"/ogc/collections/yy-townships/items/{fid}?crs={GK_4545}")
    assert gk.headers["content-crs"] == f"<{GK_4545}>"
    north, east = gk.json()["geometry"]["coordinates"]  # EPSG:4545 axis order: northing (X), easting (Y)
    e, n = Transformer.from_crs("EPSG:4490", "EPSG:4545", always_xy=True).transform(lon, lat)
    assert (north, east) == pytest.approx((n, e), abs=1e-3)
    assert 3.3e6 < north < 3.5e6 and 4e5 < east < 6e5
    geo = client.get(f"/ogc/collections/yy-townships/items/{fid}?crs={EPSG_4490}").json()
    assert geo["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-9)  # EPSG:4490 is lat, lon
    default = client.get(f"/ogc/collections/yy-townships/items/{fid}")
    assert default.headers["content-crs"] == f"<{CRS84}>"


def test_bbox_crs_selects_the_same_features(client: TestClient) -> None:
    plain = client.get("/ogc/collections/cq-counties/items?bbox=108.6,30.8,108.8,31.0").json()
    # the same box as lat/lon in EPSG:4490
    geo = client.get(f"/ogc/collections/cq-counties/items?bbox=30.8,108.6,31.0,108.8&bbox-crs={EPSG_4490}").json()
    assert {f["id"] for f in plain["features"]} == {f["id"] for f in geo["features"]}
    assert "500235" in {f["id"] for f in plain["features"]}
    tr = Transformer.from_crs("EPSG:4490", "EPSG:4545", always_xy=True)
    e, n = tr.transform(108.7, 30.9)
    gk = client.get(f"/ogc/collections/cq-counties/items?bbox={n - 100},{e - 100},{n + 100},{e + 100}"
                    f"&bbox-crs={GK_4545}&crs={GK_4545}")
    assert gk.status_code == 200 and gk.headers["content-crs"] == f"<{GK_4545}>"
    assert {f["id"] for f in gk.json()["features"]} == {"500235"}


def test_collections_declare_their_crs(client: TestClient) -> None:
    col = client.get("/ogc/collections/cq-counties").json()
    assert col["storageCrs"] == CRS84
    assert {CRS84, EPSG_4490, GK_4545, "http://www.opengis.net/def/crs/EPSG/0/4523"} <= set(col["crs"])
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in client.get("/ogc/conformance").json()["conformsTo"]


# ---------------------------------------------------------------- HTML

@pytest.mark.parametrize("url", ["/ogc?f=html", "/ogc/collections?f=html", "/ogc/collections/cq-counties?f=html",
                                 "/ogc/collections/cq-counties/items?f=html&limit=5", "/ogc/conformance?f=html",
                                 "/ogc/collections/cq-counties/items/500235?f=html", "/ogc/api?f=html",
                                 "/ogc/collections/cq-counties/queryables?f=html"])
def test_html_encoding(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in r.text and "http://" not in r.text.split("<body")[0]


def test_accept_header_negotiates_html(client: TestClient) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert client.get("/ogc/collections", headers={"accept": browser}).headers["content-type"].startswith("text/html")
    assert client.get("/ogc/collections", headers={"accept": "application/json"}).json()["collections"]


# ---------------------------------------------------------------- real clients

GDAL_SCRIPT = """
import json, sys, pyogrio
url = 'OAPIF:' + sys.argv[1] + '/ogc'
types = {str(name): str(kind) for name, kind in pyogrio.list_layers(url)}
gdf = pyogrio.read_dataframe(url, layer='cq-counties', PAGE_SIZE='7')  # 6 pages
pts = pyogrio.read_dataframe(url, layer='yy-projects-points', PAGE_SIZE='2')
info = pyogrio.read_info(url, layer='yy-projects-points')
print(json.dumps({'types': types, 'n': len(gdf), 'unique': int(gdf['adcode'].nunique()), 'has': '云阳县' in set(gdf['name']),
                  'points': len(pts), 'point_types': sorted(set(pts.geometry.geom_type)), 'info_type': info['geometry_type']}))
"""


def test_gdal_oapif_pages_through_a_collection_and_sees_one_type_each(live_server: str, client: TestClient) -> None:
    """GDAL (what QGIS uses) opens the API, reads each collection's one type, pages with a small page size."""
    result = _run(GDAL_SCRIPT, live_server)
    assert result["n"] == result["unique"] == 38 and result["has"]  # 6 pages of 7, no feature twice
    expected_points = client.get("/ogc/collections/yy-projects-points").json()["planview"]["featureCount"]
    assert result["points"] == expected_points and result["point_types"] == ["Point"]
    assert result["info_type"] == "Point"
    assert "yy-projects-points" in result["types"] and "yy-projects" not in result["types"]


OWSLIB_SCRIPT = """
import json, sys
from owslib.ogcapi.features import Features
api = Features(sys.argv[1] + '/ogc')
ids = [c['id'] for c in api.collections()['collections']]
conf = api.conformance()['conformsTo']
seen, pages, offset = [], 0, 0
while True:
    page = api.collection_items('cq-counties', limit=5, offset=offset)
    pages += 1
    seen += [f['id'] for f in page['features']]
    nxt = [l for l in page['links'] if l['rel'] == 'next']
    if not nxt:
        break
    offset += page['numberReturned']
q = api.collection_queryables('cq-counties')
item = api.collection_item('cq-counties', '500235')
print(json.dumps({'ids': ids, 'conf': conf, 'seen': seen, 'pages': pages, 'matched': page['numberMatched'],
                  'queryable': sorted(q['properties']), 'name': item['properties']['name']}))
"""


def test_owslib_reads_and_pages_through_all_pages(live_server: str) -> None:
    pytest.importorskip("owslib")
    r = _run(OWSLIB_SCRIPT, live_server)
    assert "cq-counties" in r["ids"] and "yy-projects-points" in r["ids"]
    assert any(c.endswith("/conf/core") for c in r["conf"])
    assert r["pages"] == 8 and r["matched"] == 38
    assert len(r["seen"]) == len(set(r["seen"])) == 38
    assert "name" in r["queryable"] and r["name"] == "云阳县"


@pytest.mark.browser
def test_html_pages_render_offline_in_chromium(browser: Any, live_server: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda req: outside.append(req.url) if not req.url.startswith(live_server) else None)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        for path in ("/ogc", "/ogc/collections", "/ogc/collections/yy-townships/items?limit=5",
                     "/ogc/collections/cq-counties/items/500235"):
            response = page.goto(live_server + path)
            assert response is not None and response.status == 200
            assert response.headers["content-type"].startswith("text/html")
            assert page.locator("h1").count() == 1
        page.goto(live_server + "/ogc/collections/yy-townships/items?limit=5")
        assert page.locator("table tbody tr").count() == 5
        page.goto(live_server + "/ogc/collections/cq-counties")  # long CRS URIs wrap on a phone
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
    assert outside == [] and errors == []


def test_html_escapes_hostile_attribute_text(tmp_path: Any) -> None:
    """Layer attributes (imported layers carry anyone's text) reach the HTML pages as text, never as markup."""
    import shutil

    import yaml

    from server.app import create_app
    from server.settings import ROOT, Settings

    hostile = '<script>window.__pwned=1</script><img src=x onerror="alert(1)">'
    src = ROOT / "data" / "layers" / "cq-counties"
    dst = tmp_path / "data" / "layers" / "cq-counties"
    shutil.copytree(src, dst)
    records = yaml.safe_load((src / "attributes.yaml").read_text(encoding="utf-8"))
    fid = str(records[0]["adcode"])
    records[0]["name"] = hostile
    (dst / "attributes.yaml").write_text(yaml.safe_dump(records, allow_unicode=True), "utf-8")
    settings = Settings(data_dir=tmp_path / "data", build_dir=ROOT / "data" / "build",
                        workspace_gpkg=tmp_path / "ws.gpkg", database_url=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as hostile_client:
        for url in ("/ogc/collections/cq-counties/items?f=html&limit=100", f"/ogc/collections/cq-counties/items/{fid}?f=html"):
            page = hostile_client.get(url).text
            assert "<script>window" not in page and "<img src=x" not in page
            assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
