"""Stored layers (the layer store) as OGC API – Features collections, and ``planview layers check`` on the store.

A 400-parcel layer imported into a real GeoPackage store (and PostGIS when
``PLANVIEW_TEST_DATABASE_URL`` is set), read through the API by the test
client, by GDAL's OAPIF driver in its own process, and checked.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from support import running_app
from tests_support_settings import settings_for

from layers.collections import StoredCollection
from layers.store import open_layer_store
from layers.store.check import store_problems
from layers.store.importer import import_layer
from server.app import create_app
from server.settings import ROOT

DB_URL = os.environ.get("PLANVIEW_TEST_DATABASE_URL")
CLASSES = ROOT / "data" / "control-classes.yaml"
X0, Y0, D, SIDE = 108.90, 30.90, 0.001, 20
GK_4545 = "http://www.opengis.net/def/crs/EPSG/0/4545"


def parcels() -> gpd.GeoDataFrame:
    i, j = np.meshgrid(np.arange(SIDE), np.arange(SIDE))
    xs, ys = X0 + i.ravel() * D, Y0 + j.ravel() * D
    cls = np.array(["永久基本农田", "生态保护红线", "城镇开发边界", "一般农用地"])[(i.ravel() // 5) % 4]
    return gpd.GeoDataFrame({"DLMC": cls, "BSM": np.arange(SIDE * SIDE)}, geometry=shapely.box(xs, ys, xs + D, ys + D),
                            crs="EPSG:4326")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("ogc-stored")
    parcels().to_crs("EPSG:4545").to_file(tmp / "三区三线.gpkg", driver="GPKG")
    settings = settings_for(tmp)
    import_layer(tmp / "三区三线.gpkg", layer_id="sqsx", title="三区三线", role="control", class_field="DLMC",
                 class_defaults=CLASSES, gpkg_path=settings.layer_store_gpkg)
    return settings


@pytest.fixture(scope="module")
def client(settings: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def test_stored_layer_is_a_collection(client: TestClient) -> None:
    cols = {c["id"]: c for c in client.get("/ogc/collections").json()["collections"]}
    assert "cq-counties" in cols  # the catalogue's collections are still there
    col = cols["sqsx"]
    assert col["planview"]["featureCount"] == SIDE * SIDE and col["planview"]["stored"]
    assert col["planview"]["geometryType"] == "Polygon"
    assert GK_4545 in col["crs"]
    x0, y0, x1, y1 = col["extent"]["spatial"]["bbox"][0]
    assert abs(x0 - X0) < 1e-6 and abs(y1 - (Y0 + SIDE * D)) < 1e-6
    assert "sqsx" in client.get("/ogc/api").json()["components"]["parameters"]["collectionId"]["schema"]["enum"]
    q = client.get("/ogc/collections/sqsx/queryables").json()["properties"]
    assert q["geometry"]["format"] == "geometry-polygon" and {"DLMC", "BSM", "fid"} <= set(q)


def test_paging_through_every_feature(client: TestClient) -> None:
    seen: list[int] = []
    url: str | None = "/ogc/collections/sqsx/items?limit=150"
    pages = 0
    while url:
        body = client.get(url).json()
        pages += 1
        assert body["numberMatched"] == SIDE * SIDE and body["numberReturned"] == len(body["features"])
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
    assert pages == 3 and sorted(seen) == list(range(1, SIDE * SIDE + 1))


def test_bbox_selects_exactly_the_features_it_meets(client: TestClient) -> None:
    box = (X0 + 0.0025, Y0 + 0.0025, X0 + 0.0061, Y0 + 0.0049)
    expected = {int(b) + 1 for b in parcels().loc[lambda g: g.intersects(shapely.box(*box)), "BSM"]}
    got: set[int] = set()
    offset = 0
    while True:
        body = client.get("/ogc/collections/sqsx/items", params={"bbox": ",".join(map(str, box)), "limit": 7,
                                                                 "offset": offset}).json()
        got |= {f["id"] for f in body["features"]}
        assert "numberMatched" not in body  # not counted: with a bbox that would read every hit
        if not any(link["rel"] == "next" for link in body["links"]):
            break
        offset += 7
    assert got == expected and len(expected) == 5 * 3


def test_item_and_crs(client: TestClient) -> None:
    r = client.get("/ogc/collections/sqsx/items/21", params={"crs": GK_4545})
    assert r.status_code == 200 and r.headers["content-crs"] == f"<{GK_4545}>"
    feature = r.json()
    assert feature["id"] == 21 and feature["properties"]["BSM"] == 20
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:4545", always_xy=True).transform(X0, Y0 + D)  # BSM 20: column 0, row 1
    ring = np.array(feature["geometry"]["coordinates"][0])
    # EPSG:4545 is northing, easting in the authority's axis order
    assert np.min(np.abs(ring[:, 1] - x)) < 0.01 and np.min(np.abs(ring[:, 0] - y)) < 0.01
    assert client.get("/ogc/collections/sqsx/items/99999").status_code == 404
    assert client.get("/ogc/collections/sqsx/items/abc").status_code == 404
    assert client.get("/ogc/collections/sqsx/items?nope=1").status_code == 400
    assert client.get("/ogc/collections/sqsx/items?f=html&limit=5").status_code == 200
    assert client.get("/ogc/collections/sqsx?f=html").status_code == 200


GDAL_SCRIPT = """
import json, sys, pyogrio
url = 'OAPIF:' + sys.argv[1] + '/ogc'
gdf = pyogrio.read_dataframe(url, layer='sqsx', PAGE_SIZE='90')
info = pyogrio.read_info(url, layer='sqsx')
print(json.dumps({'n': len(gdf), 'unique': int(gdf['BSM'].nunique()), 'type': info['geometry_type'],
                  'classes': sorted(set(gdf['DLMC']))}))
"""


def test_gdal_oapif_reads_the_stored_layer_page_by_page(settings: Any) -> None:
    with running_app(settings) as (_, url):
        out = subprocess.run([sys.executable, "-c", GDAL_SCRIPT, url], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["n"] == r["unique"] == SIDE * SIDE and r["type"] == "Polygon" and len(r["classes"]) == 4


@pytest.mark.skipif(not DB_URL, reason="PLANVIEW_TEST_DATABASE_URL is not set")
def test_postgis_pages_and_checks_like_the_geopackage(tmp_path: Path) -> None:
    parcels().to_file(tmp_path / "p.geojson")
    schema = f"t_{uuid.uuid4().hex[:8]}"
    import_layer(tmp_path / "p.geojson", layer_id="sqsx", title="三区三线", role="control", class_field="DLMC",
                 class_defaults=CLASSES, database_url=DB_URL, schema=schema)
    store = open_layer_store(database_url=DB_URL, schema=schema)
    col = StoredCollection(store.layers()[0], store)
    page = col.page(None, 390, 100)
    assert page.fids == list(range(391, 401)) and page.matched == SIDE * SIDE and not page.more
    box = (X0 + 0.0025, Y0 + 0.0025, X0 + 0.0061, Y0 + 0.0049)
    assert len(col.page(box, 0, 100).fids) == 15
    assert store_problems(store) == []
    import psycopg

    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute(f"DELETE FROM {schema}.{store.layers()[0].table} WHERE fid = 1")
        assert any("399 rows, but 400 recorded" in p for p in store_problems(store))
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_layers_check_covers_the_store(settings: Any, tmp_path: Path) -> None:
    store = open_layer_store(gpkg_path=settings.layer_store_gpkg)
    assert store_problems(store) == []
    broken = tmp_path / "broken.gpkg"
    broken.write_bytes(settings.layer_store_gpkg.read_bytes())
    table = store.layers()[0].table
    with sqlite3.connect(broken) as conn:
        conn.execute(f'DELETE FROM "rtree_{table}_geom" WHERE id <= 3')
    problems = store_problems(open_layer_store(gpkg_path=broken))
    assert any("spatial index holds 397 of 400 rows" in p for p in problems), problems
    with sqlite3.connect(broken) as conn:
        conn.execute(f'DROP TABLE "{table}"')
    assert any("table is missing" in p for p in store_problems(open_layer_store(gpkg_path=broken)))
    # the CLI reports the store with the catalogue
    env = {**os.environ, "PLANVIEW_LAYER_STORE_GPKG": str(broken)}
    out = subprocess.run([sys.executable, "-m", "server.cli", "layers", "check"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and f"stored layer sqsx v1 ({table}): table is missing" in out.stdout
