"""Generalised overviews: a dense layer of small parcels is drawn below the detail zoom, honestly labelled.

20 000 squares of 50 m in two classes, built in CGCS2000 / 3° GK 108°E as a
county's 三调 export is, imported into GeoPackage and PostGIS. PostGIS parts
need ``PLANVIEW_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from test_layer_store import CLASSES, open_store, parcels, pg_schema, store_args, tile_of  # noqa: F401 (fixture)

from layers.store.importer import import_layer
from layers.store.mvt import tile_bounds_lonlat
from layers.store.overview import MIN_FEATURES

SIDE = 142  # 142² ≈ 20 000 parcels
SIZE = 50.0  # metres
Z_OVERVIEW = 10
TILE = tile_of(108.9, 30.9, Z_OVERVIEW)


def dense_source(folder: Path) -> tuple[Path, gpd.GeoDataFrame]:
    """The parcels, centred in one z10 tile (so the tile stands for all of them), classes in ~1 km patches."""
    x0, y0, x1, y1 = tile_bounds_lonlat(Z_OVERVIEW, *TILE)
    to_gk = Transformer.from_crs("EPSG:4326", "EPSG:4545", always_xy=True)
    cx, cy = to_gk.transform((x0 + x1) / 2, (y0 + y1) / 2)
    i, j = np.meshgrid(np.arange(SIDE), np.arange(SIDE))
    xs = cx - SIDE * SIZE / 2 + i.ravel() * SIZE
    ys = cy - SIDE * SIZE / 2 + j.ravel() * SIZE
    cls = np.where((i.ravel() // 20 + j.ravel() // 20) % 2 == 0, "永久基本农田", "生态保护红线")
    gdf = gpd.GeoDataFrame({"DLMC": cls, "BSM": np.arange(len(xs))},
                           geometry=shapely.box(xs, ys, xs + SIZE, ys + SIZE), crs="EPSG:4545")
    path = folder / "三调.gpkg"
    gdf.to_file(path, driver="GPKG", layer="dltb")
    return path, gdf.to_crs("EPSG:4326")


def decode(data: bytes, layer_id: str) -> list[dict[str, object]]:
    return mapbox_vector_tile.decode(data)[layer_id]["features"] if data else []  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", ["gpkg", "postgis"])
def test_dense_layer_is_drawn_generalised_below_the_detail_zoom(kind: str, tmp_path: Path,
                                                                request: pytest.FixtureRequest) -> None:
    src, gdf = dense_source(tmp_path)
    args = store_args(kind, tmp_path, request)
    layer_id = f"dltb-{uuid.uuid4().hex[:6]}"
    import_layer(src, layer_id=layer_id, title="三调图斑", role="control", class_field="DLMC",
                 class_defaults=CLASSES, **args)  # type: ignore[arg-type]
    store = open_store(args)
    layer = next(s for s in store.layers() if s.id == layer_id)
    assert layer.feature_count == SIDE * SIDE

    # z10: every parcel is far below a pixel, yet the tile shows them: the overview, per class, with counts
    feats = decode(store.tile(layer, Z_OVERVIEW, *TILE, ["DLMC"]), layer_id)
    assert feats, "a dense layer drew nothing at z10"
    assert all(f["properties"].get("pv_generalised") == 1 for f in feats)  # type: ignore[union-attr]
    assert not any(f.get("id") for f in feats), "a generalised feature must not pose as a clickable parcel"
    assert {f["properties"]["DLMC"] for f in feats} == {"永久基本农田", "生态保护红线"}  # type: ignore[index]
    total = sum(int(f["properties"]["pv_count"]) for f in feats)  # type: ignore[index]
    assert abs(total - SIDE * SIDE) <= 0.02 * SIDE * SIDE, total
    assert all(int(f["properties"]["pv_zoom"]) >= 13 for f in feats)  # type: ignore[index]
    # the overview's area is about the parcels' (a generalisation, not a blob over the whole tile)
    shapes = [shapely.geometry.shape(f["geometry"]) for f in feats]  # type: ignore[arg-type]
    area = sum(s.area for s in shapes) / (4096 * 4096)  # share of the tile
    x0, y0, x1, y1 = tile_bounds_lonlat(Z_OVERVIEW, *TILE)
    tx0, ty0, tx1, ty1 = gpd.GeoSeries([shapely.box(x0, y0, x1, y1)], crs="EPSG:4326").to_crs(3857).total_bounds
    expected = (SIDE * SIZE) ** 2 / np.cos(np.radians(30.9)) ** 2 / ((tx1 - tx0) * (ty1 - ty0))
    assert 0.7 * expected < area < 1.4 * expected, (area, expected)

    # every band below the detail zoom has its overview; the classes sit where the parcels of that class are
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    for z in (6, 8, 9, 12, 13):
        fz = decode(store.tile(layer, z, *tile_of(cx, cy, z), ["DLMC"]), layer_id)
        assert fz and all(f["properties"].get("pv_generalised") == 1 for f in fz), z  # type: ignore[union-attr]
    z = 13
    tx, ty = tile_of(cx, cy, z)
    ref = gdf[gdf.intersects(shapely.box(*tile_bounds_lonlat(z, tx, ty)))]
    f13 = decode(store.tile(layer, z, tx, ty, ["DLMC"]), layer_id)
    assert {f["properties"]["DLMC"] for f in f13} == set(ref["DLMC"])  # type: ignore[index]

    # at the detail zoom: the real parcels (merged per class when dense, but never marked generalised) …
    z = 14
    f14 = decode(store.tile(layer, z, *tile_of(cx, cy, z), ["DLMC"]), layer_id)
    assert f14 and not any(f["properties"].get("pv_generalised") for f in f14)  # type: ignore[union-attr]
    # … and further in, single parcels with their ids
    z = 16
    tx, ty = tile_of(cx, cy, z)
    f16 = decode(store.tile(layer, z, tx, ty, ["DLMC"]), layer_id)
    inside = gdf[gdf.intersects(shapely.box(*tile_bounds_lonlat(z, tx, ty)))]
    assert {int(b) + 1 for b in inside["BSM"]} <= {int(f["id"]) for f in f16}  # type: ignore[call-overload]
    assert not any(f["properties"].get("pv_generalised") for f in f16)  # type: ignore[union-attr]


def test_overview_tables_are_real_geopackage_tables_and_small_layers_have_none(tmp_path: Path) -> None:
    src, _ = dense_source(tmp_path)
    gpkg = tmp_path / "layers.gpkg"
    import_layer(src, layer_id="dltb", title="三调图斑", role="control", class_field="DLMC", class_defaults=CLASSES,
                 gpkg_path=gpkg)
    small = parcels()
    assert len(small) < MIN_FEATURES
    small.to_file(tmp_path / "small.geojson")
    import_layer(tmp_path / "small.geojson", layer_id="small", title="小", role="control", class_field="DLMC",
                 class_defaults=CLASSES, gpkg_path=gpkg)
    with sqlite3.connect(gpkg) as conn:
        tables = {r[0] for r in conn.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'")}
        ext = {r[0] for r in conn.execute("SELECT table_name FROM gpkg_extensions"
                                          " WHERE extension_name = 'gpkg_rtree_index'")}
        overviews = {t for t in tables if t.startswith("lyr_dltb_v1_g")}
        assert overviews == {"lyr_dltb_v1_g8", "lyr_dltb_v1_g10", "lyr_dltb_v1_g12", "lyr_dltb_v1_g13"}
        assert overviews <= ext  # each with its R-tree
        for t in overviews:
            n = conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            assert n == conn.execute(f'SELECT count(*) FROM "rtree_{t}_geom"').fetchone()[0] > 0
        assert not any(t.startswith("lyr_small_v1_g") for t in tables)
    # opened by GDAL as any GeoPackage layer (QGIS sees the same)
    ov = gpd.read_file(gpkg, layer="lyr_dltb_v1_g10")
    assert set(ov["DLMC"]) == {"永久基本农田", "生态保护红线"} and (ov["pv_generalised"] == 1).all()
    assert abs(int(ov["pv_count"].sum()) - SIDE * SIDE) <= 0.02 * SIDE * SIDE


def test_tile_clip_survives_grid_cells_on_the_tile_edge() -> None:
    """A valid overview part (grid-aligned, as at 10/821/420 of the 2×10⁵ benchmark layer) whose corner lies an
    ulp off the buffered tile's edge: GEOS's rectangle clip refuses it; the tile must still be made."""
    from layers.store.mvt import _clip

    ring = [(12107931.028485062, 3602324.2690237854), (12107931.028485062, 3601712.7727975054),
            (12108236.7765982, 3601712.7727975054), (12108236.7765982, 3601101.2765712235),
            (12107625.28037192, 3601407.024684364), (12107625.28037192, 3602324.2690237854)]
    box = (12092337.874714885, 3560742.525636651, 12132696.625649458, 3601101.276571224)
    poly = shapely.Polygon(ring)
    assert shapely.is_valid(poly)
    clipped = _clip(np.array([poly, shapely.box(*box).centroid.buffer(10)], dtype=object), box)
    # the part only touches the box: nothing of it is left (no stray line in a polygon layer); the other is kept
    assert shapely.is_empty(clipped[0]) or shapely.get_type_id(clipped[0]) in (3, 6)
    assert shapely.get_type_id(clipped[1]) == 3 and shapely.area(clipped[1]) > 0


def test_dense_tile_merge_counts_what_overview_features_stand_for() -> None:
    """Parcels drawn singly together with a generalised overview feature (no clean coverage) in a dense tile: one
    feature per class, whose pv_count includes the overview's, still marked generalised."""
    from layers.store.mvt import COALESCE_OVER, encode_tile

    z, (x, y) = 12, tile_of(108.9, 30.9, 12)
    x0, y0, x1, y1 = tile_bounds_lonlat(z, x, y)
    rng = np.random.default_rng(7)
    n = COALESCE_OVER + 50
    cx = rng.uniform(x0, x1, n)
    cy = rng.uniform(y0, y1, n)
    w = (x1 - x0) / 30
    geoms = np.concatenate([shapely.box(cx, cy, cx + w, cy + w),  # overlapping, unnoded
                            [shapely.box(x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)]])
    props = [{"DLMC": "永久基本农田"} for _ in range(n)] + [{"DLMC": "永久基本农田", "pv_count": 1000,
                                                          "pv_generalised": 1, "pv_zoom": 14}]
    feats = decode(encode_tile("t", geoms, [*range(1, n + 1), None], props, z, x, y, coalesce_by=["DLMC"]), "t")
    assert len(feats) == 1
    p = feats[0]["properties"]
    assert p["pv_count"] == n + 1000 and p["pv_generalised"] == 1 and p["pv_zoom"] == 14  # type: ignore[index]
