"""The layer API and OGC API – Features, including GDAL's own OAPIF client."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient


def test_catalogue_lists_layers_with_metadata(client: TestClient) -> None:
    body = client.get("/api/layers").json()
    ids = [layer["id"] for layer in body["layers"]]
    assert "cq-counties" in ids and "yy-xiaojiang-science-city" in ids
    counties = next(layer for layer in body["layers"] if layer["id"] == "cq-counties")
    assert counties["feature_count"] == 38
    assert counties["precision_mix"] == {"official": 38}
    assert counties["plan"] == "chongqing"
    x0, y0, x1, y1 = counties["bbox"]
    assert 105 < x0 < x1 < 111 and 28 < y0 < y1 < 33
    assert counties["schema"]["name"] == "string"


def test_layer_is_geojson_with_provenance(client: TestClient) -> None:
    r = client.get("/api/layers/yy-xiaojiang-science-city")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["features"]
    props = fc["features"][0]["properties"]
    assert {"source", "quote", "precision", "placement_basis", "uncertainty_m"} <= set(props)


def test_bbox_filters_features(client: TestClient) -> None:
    all_ids = {f["id"] for f in client.get("/api/layers/cq-counties?zoom=6").json()["features"]}
    near_yunyang = {f["id"] for f in client.get("/api/layers/cq-counties?zoom=6&bbox=108.6,30.8,108.8,31.0").json()["features"]}
    assert "500235" in near_yunyang and "500103" not in near_yunyang
    assert near_yunyang < all_ids


def test_zoom_simplifies_without_gaps(client: TestClient) -> None:
    full = client.get("/api/layers/cq-counties")
    low = client.get("/api/layers/cq-counties?zoom=6")
    assert len(low.content) * 5 < len(full.content)
    geoms = np.array([shapely.from_geojson(__import__("json").dumps(f["geometry"])) for f in low.json()["features"]])
    assert shapely.is_valid(geoms).all()
    assert shapely.coverage_is_valid(geoms)  # neighbours still share their edges: no gaps, no overlaps


def test_etag_and_gzip(client: TestClient) -> None:
    r = client.get("/api/layers/cq-counties?zoom=7", headers={"accept-encoding": "gzip"})
    assert r.headers.get("content-encoding") == "gzip"
    assert "max-age" in r.headers["cache-control"]
    again = client.get("/api/layers/cq-counties?zoom=7", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(("url", "status"), [
    ("/api/layers/no-such-layer", 404),
    ("/api/layers/cq-counties?bbox=1,2,3", 400),
    ("/api/layers/cq-counties?bbox=200,0,210,10", 400),
    ("/api/layers/cq-counties?bbox=110,30,105,31", 400),
    ("/api/layers/cq-counties?bbox=a,b,c,d", 400),
    ("/api/layers/cq-counties?zoom=99", 400),
])
def test_bad_requests_get_json_4xx(client: TestClient, url: str, status: int) -> None:
    r = client.get(url)
    assert r.status_code == status
    body = r.json()
    assert body["error"] and body["message"]


def test_ogc_errors_use_the_ogc_exception_shape(client: TestClient) -> None:
    r = client.get("/ogc/collections/nope/items")
    assert r.status_code == 404
    assert set(r.json()) == {"code", "description"}


def test_indicators_endpoint(client: TestClient) -> None:
    assert len(client.get("/api/indicators/yunyang").json()["indicators"]) == 8
    assert client.get("/api/indicators/nowhere").status_code == 404


def test_ogc_core_endpoints(client: TestClient) -> None:
    landing = client.get("/ogc").json()
    assert {link["rel"] for link in landing["links"]} >= {"conformance", "data"}
    assert any("core" in c for c in client.get("/ogc/conformance").json()["conformsTo"])
    cols = client.get("/ogc/collections").json()["collections"]
    assert any(c["id"] == "cq-counties" for c in cols)
    page = client.get("/ogc/collections/cq-counties/items?limit=10").json()
    assert page["numberMatched"] == 38 and page["numberReturned"] == 10
    assert any(link["rel"] == "next" for link in page["links"])
    item = client.get("/ogc/collections/cq-counties/items/500235").json()
    assert item["properties"]["name"] == "云阳县"


def test_gdal_oapif_driver_reads_a_collection(live_server: str) -> None:
    """GDAL (what QGIS uses) opens our OGC API directly.

    GDAL runs in its own process, as QGIS would: pyogrio holds the GIL while
    GDAL fetches, which would starve the in-process test server.
    """
    script = (
        "import json, sys, pyogrio\n"
        "url = 'OAPIF:' + sys.argv[1] + '/ogc'\n"
        "names = [str(n) for n in pyogrio.list_layers(url)[:, 0]]\n"
        "gdf = pyogrio.read_dataframe(url, layer='cq-counties')\n"
        "print(json.dumps({'layers': names, 'n': len(gdf), 'names': sorted(gdf['name'])}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, live_server], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "cq-counties" in result["layers"]
    assert result["n"] == 38
    assert "云阳县" in result["names"]


def test_gzipped_layer_body_is_the_same_geojson(client: TestClient) -> None:
    plain = client.get("/api/layers/cq-counties?zoom=6", headers={"accept-encoding": "identity"})
    packed = client.get("/api/layers/cq-counties?zoom=6", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) * 3 < len(plain.content)
    assert packed.json() == plain.json()  # httpx decodes the gzip body


def test_static_assets_are_cacheable(client: TestClient) -> None:
    vendor = client.get("/static/vendor/leaflet/leaflet.js")
    own = client.get("/static/planview/main.js")
    assert vendor.status_code == own.status_code == 200
    assert "max-age=86400" in vendor.headers["cache-control"]
    assert "max-age=300" in own.headers["cache-control"] and own.headers.get("etag")
