"""The layer store: import of each format into GeoPackage and PostGIS, versions, provenance, tiles, features.

Small layers built in the test, in the CRSs planners hold them in. PostGIS
parts need ``PLANVIEW_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from geo.errors import InvalidInput
from layers.store import LayerStore, open_layer_store
from layers.store.importer import import_layer
from layers.store.model import DETAIL_ZOOM
from server.app import create_app
from server.settings import ROOT

DB_URL = os.environ.get("PLANVIEW_TEST_DATABASE_URL")
NO_POSTGIS = "PLANVIEW_TEST_DATABASE_URL is not set (.ci/run starts PostgreSQL+PostGIS and sets it)"
CLASSES = ROOT / "data" / "control-classes.yaml"
X0, Y0, D = 108.90, 30.90, 0.001  # a grid of ~95 m parcels in Yunyang
SIDE = 20


def parcels(side: int = SIDE) -> gpd.GeoDataFrame:
    """``side``² square parcels with classes, in lon/lat."""
    i, j = np.meshgrid(np.arange(side), np.arange(side))
    xs, ys = X0 + i.ravel() * D, Y0 + j.ravel() * D
    geoms = shapely.box(xs, ys, xs + D, ys + D)
    cls = np.array(["永久基本农田", "生态保护红线", "城镇开发边界", "一般农用地"])[(i.ravel() // 5) % 4]
    return gpd.GeoDataFrame({"DLMC": cls, "BSM": np.arange(len(geoms)), "面积": np.full(len(geoms), 1.5)},
                            geometry=geoms, crs="EPSG:4326")


def write_format(fmt: str, folder: Path) -> Path:
    gdf = parcels()
    if fmt == "gpkg":
        path = folder / "三区三线.gpkg"
        gdf.to_crs("EPSG:4545").to_file(path, driver="GPKG", layer="sqsx")
    elif fmt == "shp-zip":
        shp = folder / "shp"
        shp.mkdir()
        gdf.to_crs("EPSG:4545").to_file(shp / "sqsx.shp", driver="ESRI Shapefile", encoding="gbk")
        path = folder / "sqsx.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for member in shp.iterdir():
                zf.write(member, member.name)
    elif fmt == "geojson":
        path = folder / "sqsx.geojson"
        gdf.to_file(path, driver="GeoJSON")
    elif fmt == "csv":  # points with coordinate columns, as Excel exports them
        path = folder / "points.csv"
        c = gdf.geometry.centroid
        lines = ["名称,DLMC,经度,纬度"] + [f"p{i},{k},{x:.6f},{y:.6f}" for i, (k, x, y) in
                                           enumerate(zip(gdf["DLMC"], c.x, c.y, strict=True))]
        path.write_text("\n".join(lines), encoding="utf-8")
    elif fmt == "kml":
        path = folder / "sqsx.kml"
        gdf.to_file(path, driver="KML")
    else:
        raise AssertionError(fmt)
    return path


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    if not DB_URL:
        pytest.skip(NO_POSTGIS)
    import psycopg

    schema = f"pv_layers_{uuid.uuid4().hex[:10]}"
    yield schema
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def store_args(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, object]:
    if kind == "gpkg":
        return {"gpkg_path": tmp_path / "layers.gpkg"}
    return {"database_url": DB_URL, "schema": request.getfixturevalue("pg_schema")}


def open_store(args: dict[str, object]) -> LayerStore:
    return open_layer_store(gpkg_path=args.get("gpkg_path"), database_url=args.get("database_url"),  # type: ignore[arg-type]
                            schema=args.get("schema"))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["gpkg", "postgis"])
@pytest.mark.parametrize("fmt", ["gpkg", "shp-zip", "geojson", "csv", "kml"])
def test_import_each_format(fmt: str, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    src = write_format(fmt, tmp_path)
    args = store_args(kind, tmp_path, request)
    layer_id = f"t-{fmt}-{uuid.uuid4().hex[:6]}"
    summary = import_layer(src, layer_id=layer_id, title="三区三线", role="control", class_field="DLMC",
                           class_defaults=CLASSES, **args)  # type: ignore[arg-type]
    assert summary["features"] == SIDE * SIDE
    store = open_store(args)
    layer = next(s for s in store.layers() if s.id == layer_id)
    prov = layer.manifest.provenance
    assert prov["file"] == src.name
    assert prov["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    expected_crs = {"gpkg": "EPSG:4545", "shp-zip": "EPSG:4545"}.get(fmt, "EPSG:4326")
    assert prov["crs"]["code"] == expected_crs
    # reprojected to lon/lat: the layer lies where it was drawn
    x0, y0, x1, y1 = layer.bbox
    assert abs(x0 - X0) < 1e-3 and abs(y0 - Y0) < 1e-3 and abs(x1 - (X0 + SIDE * D)) < 1e-3
    # manifest from the data: legend per class, control semantics from data/control-classes.yaml
    assert layer.manifest.legend is not None
    assert {c.value for c in layer.manifest.legend.categories} == {"永久基本农田", "生态保护红线", "城镇开发边界", "一般农用地"}
    assert layer.manifest.control is not None
    assert layer.manifest.control.effect_of("永久基本农田").effect == "forbid"
    assert layer.manifest.control.effect_of("一般农用地").effect == "restrict"
    # read by area through the index
    batch = store.query(layer, (X0, Y0, X0 + 2.5 * D, Y0 + 2.5 * D), columns=["DLMC"])
    assert len(batch) == 9  # the 3×3 parcels whose bbox meets the box
    assert set(batch.columns["DLMC"]) <= {"永久基本农田"}


@pytest.mark.parametrize("kind", ["gpkg", "postgis"])
def test_versions_are_kept(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    src = write_format("gpkg", tmp_path)
    args = store_args(kind, tmp_path, request)
    layer_id = f"v-{uuid.uuid4().hex[:6]}"
    first = import_layer(src, layer_id=layer_id, title="甲", role="reference", **args)  # type: ignore[arg-type]
    small = parcels(5)
    src2 = tmp_path / "second.geojson"
    small.to_file(src2, driver="GeoJSON")
    second = import_layer(src2, layer_id=layer_id, title="乙", role="reference", **args)  # type: ignore[arg-type]
    assert (first["version"], second["version"]) == (1, 2)
    store = open_store(args)
    versions = store.versions(layer_id)
    assert [v.version for v in versions] == [2, 1]
    assert [v.current for v in versions] == [True, False]
    assert [v.feature_count for v in versions] == [25, SIDE * SIDE]
    current = next(s for s in store.layers() if s.id == layer_id)
    assert current.version == 2 and current.manifest.title == "乙"
    # the old version is still readable
    assert len(store.query(versions[1], (X0, Y0, X0 + 1, Y0 + 1))) == SIDE * SIDE


def test_geopackage_store_is_real(tmp_path: Path) -> None:
    """GDAL opens every stored version as a layer with its R-tree index."""
    src = write_format("gpkg", tmp_path)
    summary = import_layer(src, layer_id="real", title="甲", gpkg_path=tmp_path / "layers.gpkg")
    gdf = pyogrio.read_dataframe(tmp_path / "layers.gpkg", layer=summary["table"], bbox=(X0, Y0, X0 + 0.0015, Y0 + 0.0015))
    assert len(gdf) == 4
    with sqlite3.connect(tmp_path / "layers.gpkg") as conn:
        ext = conn.execute("SELECT extension_name FROM gpkg_extensions WHERE table_name = ?", (summary["table"],)).fetchall()
    assert ext == [("gpkg_rtree_index",)]
    assert pyogrio.read_info(tmp_path / "layers.gpkg", layer=summary["table"])["features"] == SIDE * SIDE


def test_bulk_loaded_rtree_is_a_valid_sqlite_rtree(tmp_path: Path) -> None:
    """The packed R-tree passes SQLite's own rtreecheck(), answers like a row-by-row one, and takes inserts."""
    from layers.store.rtree import bulk_load

    rng = np.random.default_rng(3)
    n = 20_000
    x, y, w = rng.uniform(108, 109, n), rng.uniform(30, 31, n), rng.uniform(0, 0.01, n)
    boxes = np.column_stack([x, y, x + w, y + w])
    ids = np.arange(1, n + 1, dtype=np.int64) * 7
    with sqlite3.connect(tmp_path / "r.db") as conn:
        for name in ("packed", "plain"):
            conn.execute(f"CREATE VIRTUAL TABLE {name} USING rtree(id, minx, maxx, miny, maxy)")
        bulk_load(conn, "packed", ids, boxes)
        conn.executemany("INSERT INTO plain VALUES (?,?,?,?,?)",
                         zip(ids.tolist(), x.tolist(), (x + w).tolist(), y.tolist(), (y + w).tolist(), strict=True))
        assert conn.execute("SELECT rtreecheck('packed')").fetchone()[0] == "ok"
        sql = "SELECT id FROM {} WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ? ORDER BY id"
        for qx, qy in rng.uniform(0, 1, (50, 2)).tolist():
            q = (108 + qx + 0.03, 108 + qx, 30 + qy + 0.03, 30 + qy)
            assert conn.execute(sql.format("packed"), q).fetchall() == conn.execute(sql.format("plain"), q).fetchall()
        conn.execute("INSERT INTO packed VALUES (1, 108.5, 108.6, 30.5, 30.6)")
        assert conn.execute("SELECT rtreecheck('packed')").fetchone()[0] == "ok"
        with pytest.raises(ValueError, match="not empty"):
            bulk_load(conn, "packed", ids, boxes)


def test_bad_input_is_refused(tmp_path: Path) -> None:
    src = write_format("gpkg", tmp_path)
    with pytest.raises(InvalidInput, match="class field"):
        import_layer(src, layer_id="x", title="甲", role="control", class_field="NOPE", gpkg_path=tmp_path / "l.gpkg")
    with pytest.raises(InvalidInput, match="needs --class-field"):
        import_layer(src, layer_id="x", title="甲", role="control", gpkg_path=tmp_path / "l.gpkg")
    with pytest.raises(InvalidInput, match="layer id"):
        import_layer(src, layer_id="Bad Id", title="甲", gpkg_path=tmp_path / "l.gpkg")


# ---------------------------------------------------------------- tiles


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * 2**z)
    return x, y


@pytest.mark.parametrize("kind", ["gpkg", "postgis"])
def test_tiles_hold_the_right_features(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    src = write_format("gpkg", tmp_path)
    args = store_args(kind, tmp_path, request)
    layer_id = f"tiles-{uuid.uuid4().hex[:6]}"
    import_layer(src, layer_id=layer_id, title="甲", role="control", class_field="DLMC", **args)  # type: ignore[arg-type]
    store = open_store(args)
    layer = next(s for s in store.layers() if s.id == layer_id)
    z = 16
    x, y = tile_of(X0 + 0.0035, Y0 + 0.0035, z)
    tile = mapbox_vector_tile.decode(store.tile(layer, z, x, y, ["DLMC"]))
    feats = tile[layer_id]["features"]
    from layers.store.mvt import tile_bounds_lonlat

    t0, u0, t1, u1 = tile_bounds_lonlat(z, x, y)
    grid = parcels()
    inside = grid[grid.intersects(shapely.box(t0, u0, t1, u1))]
    ids = {int(f["id"]) for f in feats}
    # every parcel meeting the tile is in it (plus possibly neighbours within the 64-unit buffer)
    assert {int(b) + 1 for b in inside["BSM"]} <= ids
    assert all(f["properties"]["DLMC"] for f in feats)
    # far below DETAIL_ZOOM the ~95 m parcels are sub-pixel: the tile leaves them out
    zl = 9
    assert zl < DETAIL_ZOOM
    xl, yl = tile_of(X0, Y0, zl)
    assert store.tile(layer, zl, xl, yl, ["DLMC"]) in (b"", None) or not mapbox_vector_tile.decode(
        store.tile(layer, zl, xl, yl, ["DLMC"]))


def test_dense_tiles_are_merged_per_class_with_honest_counts(tmp_path: Path) -> None:
    """A tile of more features than COALESCE_OVER holds one feature per class, whose pv_count add up to the
    features the tile stands for; a zoom further in, they are single features again."""
    from layers.store.mvt import COALESCE_OVER, tile_bounds_lonlat

    side = 40  # 1600 parcels of ~95 m in one ~3.8 km square
    parcels(side).to_file(tmp_path / "dense.geojson")
    import_layer(tmp_path / "dense.geojson", layer_id="dense", title="密", role="control", class_field="DLMC",
                 class_defaults=CLASSES, gpkg_path=tmp_path / "l.gpkg")
    store = open_layer_store(gpkg_path=tmp_path / "l.gpkg")
    layer = store.layers()[0]
    z = 14
    x, y = tile_of(X0 + 0.02, Y0 + 0.02, z)
    raw = store.query(layer, tile_bounds_lonlat(z, x, y, buffer=64), zoom=z)
    assert len(raw) > COALESCE_OVER
    feats = mapbox_vector_tile.decode(store.tile(layer, z, x, y, ["DLMC"]))["dense"]["features"]
    assert sorted(f["properties"]["DLMC"] for f in feats) == sorted(set(parcels(side)["DLMC"]))
    assert sum(f["properties"]["pv_count"] for f in feats) == len(raw)
    assert all("id" not in f or not f["id"] for f in feats)
    zi = 17
    xi, yi = tile_of(X0 + 0.0205, Y0 + 0.0205, zi)
    fine = mapbox_vector_tile.decode(store.tile(layer, zi, xi, yi, ["DLMC"]))["dense"]["features"]
    assert 0 < len(fine) <= COALESCE_OVER and all(f["id"] for f in fine)
    assert all("pv_count" not in f["properties"] for f in fine)
    # points are never merged: a dense tile of points keeps every one, with its id
    pts = parcels(side).assign(geometry=lambda g: g.geometry.centroid)
    pts.to_file(tmp_path / "pts.geojson")
    import_layer(tmp_path / "pts.geojson", layer_id="pts", title="点", gpkg_path=tmp_path / "l.gpkg")
    player = next(s for s in store.layers() if s.id == "pts")
    praw = store.query(player, tile_bounds_lonlat(z, x, y, buffer=64), zoom=z)
    pfeats = mapbox_vector_tile.decode(store.tile(player, z, x, y, ["DLMC"]))["pts"]["features"]
    assert len(praw) > COALESCE_OVER and len(pfeats) == len(praw) and all(f["id"] for f in pfeats)


def test_tiles_are_simplified_per_zoom(tmp_path: Path) -> None:
    circle = shapely.Point(108.9, 30.9).buffer(0.05, quad_segs=500)  # 2000 vertices, ~5 km radius
    gpd.GeoDataFrame({"name": ["圆"]}, geometry=[circle], crs="EPSG:4326").to_file(tmp_path / "c.geojson")
    import_layer(tmp_path / "c.geojson", layer_id="circle", title="圆", gpkg_path=tmp_path / "l.gpkg")
    store = open_layer_store(gpkg_path=tmp_path / "l.gpkg")
    layer = store.layers()[0]

    def vertices(z: int, lon: float) -> int:
        x, y = tile_of(lon, 30.9, z)
        tile = mapbox_vector_tile.decode(store.tile(layer, z, x, y, ["name"]))
        geom = tile["circle"]["features"][0]["geometry"]
        return sum(len(ring) for ring in geom["coordinates"])

    # the whole circle (31 km of edge, 2000 vertices) at zoom 8, where a tile unit is 33 m, against the
    # ~2.1 km stretch of its edge in one zoom-14 tile (0.5 m per unit): far fewer vertices per km at zoom 8
    low, high = vertices(8, 108.9), vertices(14, 108.95)
    assert low < 60, low
    assert high / 2.1 > 5 * low / 31.4, (low, high)


def test_tile_and_feature_routes(tmp_path: Path) -> None:
    from tests_support_settings import settings_for

    settings = settings_for(tmp_path)
    src = write_format("gpkg", tmp_path)
    import_layer(src, layer_id="sqsx", title="三区三线", role="control", class_field="DLMC",
                 gpkg_path=settings.layer_store_gpkg, class_defaults=CLASSES)
    with TestClient(create_app(settings)) as client:
        listed = {layer["id"]: layer for layer in client.get("/api/layers").json()["layers"]}
        assert listed["sqsx"]["stored"] and listed["sqsx"]["provenance"]["file"] == src.name
        z = 16
        x, y = tile_of(X0 + 0.0035, Y0 + 0.0035, z)
        r = client.get(f"/tiles/sqsx/{z}/{x}/{y}.mvt")
        assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        fid = mapbox_vector_tile.decode(r.content)["sqsx"]["features"][0]["id"]
        again = client.get(f"/tiles/sqsx/{z}/{x}/{y}.mvt", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304
        feature = client.get(f"/api/layers/sqsx/features/{fid}").json()
        assert feature["id"] == fid and feature["properties"]["DLMC"] in {"永久基本农田", "生态保护红线"}
        assert set(feature["properties"]) == {"DLMC", "BSM", "面积"}
        # catalogue layers have tiles too, and their features by the id in the tile
        zx, zy = tile_of(108.93, 30.95, 10)
        ct = client.get(f"/tiles/cq-counties/10/{zx}/{zy}.mvt")
        assert ct.status_code == 200
        cfeat = mapbox_vector_tile.decode(ct.content)["cq-counties"]["features"]
        first = cfeat[0]
        body = client.get(f"/api/layers/cq-counties/features/{first['id']}").json()
        assert body["properties"]["name"] == first["properties"]["name"]
        # errors are 4xx with a reason
        assert client.get("/tiles/sqsx/3/99/0.mvt").status_code == 400
        assert client.get("/tiles/nope/3/1/1.mvt").status_code == 404
        assert client.get("/api/layers/sqsx/features/999999").status_code == 404
        assert client.get("/api/layers/sqsx").status_code == 400  # a stored layer only by area
        part = client.get(f"/api/layers/sqsx?bbox={X0},{Y0},{X0 + 0.0025},{Y0 + 0.0025}").json()
        assert len(part["features"]) == 9
        meta = client.get("/ogc/collections/sqsx/tiles").json()
        assert meta["tilesets"][0]["tileMatrixSetURI"].endswith("WebMercatorQuad")
        assert client.get("/ogc/tileMatrixSets/WebMercatorQuad").json()["tileMatrices"][0]["matrixWidth"] == 1
