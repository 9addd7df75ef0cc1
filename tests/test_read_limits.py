"""Limits hold while reading (#8): hostile inputs are refused before anything large is built.

Each input is built here, small on disk and huge once expanded; every test asserts the
refusal (a 413 ``TooLarge`` or a 400 ``InvalidInput``) and that it came quickly and with
bounded memory (peak traced allocations), i.e. before the expansion happened.
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import mapping

from geo.errors import InvalidInput, TooLarge
from geo.readers import ReadLimits, read_sites
from geo.readers.dxf_budget import budget

SECONDS = 5.0
PEAK_MB = 200.0


def refused(call: Callable[[], Any], kind: type[Exception] = TooLarge) -> str:
    """Run ``call``; assert it raises ``kind`` within SECONDS and PEAK_MB; return the message."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(kind) as info:
            call()
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < SECONDS, f"refused only after {elapsed:.1f} s"
    assert peak / 2**20 < PEAK_MB, f"peak {peak / 2**20:.0f} MB before refusing"
    return str(info.value)


def minsert_dxf(cols: int, rows: int, *, nested: bool = False) -> bytes:
    """A tiny DXF: block SQ (one closed square), model space one array insert of it (MINSERT)."""
    square = ["0", "LWPOLYLINE", "8", "0", "90", "4", "70", "1",
              "10", "0", "20", "0", "10", "1", "20", "0", "10", "1", "20", "1", "10", "0", "20", "1"]
    blocks = ["0", "BLOCK", "2", "SQ", "70", "0", "10", "0", "20", "0", *square, "0", "ENDBLK"]
    target = "SQ"
    if nested:  # ROW holds 100 copies of SQ; the model inserts ROW cols x rows times
        blocks += ["0", "BLOCK", "2", "ROW", "70", "0", "10", "0", "20", "0",
                   "0", "INSERT", "2", "SQ", "10", "0", "20", "0", "70", "100", "71", "1", "44", "2",
                   "0", "ENDBLK"]
        target = "ROW"
    entities = ["0", "INSERT", "8", "0", "2", target, "10", "500000", "20", "3400000",
                "70", str(cols), "71", str(rows), "44", "2", "45", "2"]
    lines = ["0", "SECTION", "2", "HEADER", "9", "$ACADVER", "1", "AC1015", "0", "ENDSEC",
             "0", "SECTION", "2", "BLOCKS", *blocks, "0", "ENDSEC",
             "0", "SECTION", "2", "ENTITIES", *entities, "0", "ENDSEC", "0", "EOF"]
    return ("\n".join(lines) + "\n").encode()


def test_minsert_2000_by_2000_is_refused_before_gdal_expands_it() -> None:
    data = minsert_dxf(2000, 2000)
    assert len(data) < 450
    message = refused(lambda: read_sites(data, "array.dxf"))
    assert "MINSERT" in message and "SQ" in message and "4,000,000" in message


def test_nested_inserts_multiply() -> None:
    counted = budget(minsert_dxf(300, 100, nested=True).decode())
    assert counted.features == 300 * 100 * 100
    assert counted.vertices == 300 * 100 * 100 * 4
    refused(lambda: read_sites(minsert_dxf(300, 100, nested=True), "nested.dxf"))


def test_a_block_that_inserts_itself_is_refused() -> None:
    text = minsert_dxf(1, 1).decode().replace("0\nENDBLK", "0\nINSERT\n2\nSQ\n10\n0\n20\n0\n0\nENDBLK")
    message = refused(lambda: read_sites(text.encode(), "loop.dxf"), InvalidInput)
    assert "SQ" in message


def test_a_small_array_insert_still_reads() -> None:
    sites = read_sites(minsert_dxf(3, 2), "small.dxf", crs="EPSG:4545")
    assert len(sites.sites) == 6


def recursive_view_gpkg(tmp_path: Path) -> bytes:
    """A real GeoPackage (written by GDAL) plus a layer that is a recursive SQL view of 3 million rows."""
    path = tmp_path / "view.gpkg"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(108.9, 30.9, 108.91, 30.91)],
                     crs="EPSG:4326").to_file(path, layer="real", driver="GPKG")
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE VIEW boom AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)
            SELECT i AS fid, (SELECT geom FROM real LIMIT 1) AS geom, 'x' || i AS name FROM n;
        INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES ('boom', 'features', 'boom', 4326);
        INSERT INTO gpkg_geometry_columns VALUES ('boom', 'geom', 'POLYGON', 4326, 0, 0);
    """)
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_geopackage_with_a_recursive_view_is_refused(tmp_path: Path) -> None:
    data = recursive_view_gpkg(tmp_path)
    assert len(data) < 200_000
    message = refused(lambda: read_sites(data, "view.gpkg"), InvalidInput)
    assert "boom" in message and "视图" in message and "view" in message


def test_geopackage_feature_count_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "many.gpkg"
    boxes = [shapely.box(108.9 + i * 1e-4, 30.9, 108.9 + i * 1e-4 + 5e-5, 30.90005) for i in range(300)]
    gpd.GeoDataFrame({"name": [str(i) for i in range(300)]}, geometry=boxes, crs="EPSG:4326").to_file(path)
    message = refused(lambda: read_sites(path.read_bytes(), "many.gpkg", limits=ReadLimits(max_features=100)))
    assert "300" in message
    assert len(read_sites(path.read_bytes(), "many.gpkg").sites) == 300


def test_geojson_over_the_feature_limit_is_refused() -> None:
    features = ",".join('{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[108.9,30.9]}}'
                        for _ in range(500))
    data = ('{"type":"FeatureCollection","features":[' + features + "]}").encode()
    refused(lambda: read_sites(data, "pts.geojson", limits=ReadLimits(max_features=100)))


def big_xlsx(rows: int, *, wide: bool = False) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("sites")
    ws.append(["名称", "经度", "纬度"])
    for i in range(rows):
        row: list[object] = [f"场地{i}", 108.9 + i * 1e-6, 30.9]
        if wide:  # a stray value far to the right on every row
            row += [None] * 1000 + ["x"]
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_xlsx_rows_are_counted_while_streaming() -> None:
    data = big_xlsx(60_000)
    message = refused(lambda: read_sites(data, "big.xlsx", limits=ReadLimits(max_features=1000)))
    assert "1,000" in message


def test_xlsx_with_a_far_away_cell_stops_at_the_cell_budget() -> None:
    data = big_xlsx(2000, wide=True)
    message = refused(lambda: read_sites(data, "wide.xlsx", limits=ReadLimits(max_cells=1_000_000)))
    assert "单元格" in message and "cells" in message


def test_kmz_whose_header_lies_about_its_size_is_refused() -> None:
    kml = ('<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
           + "<!-- pad -->" * 200_000 + "</Document></kml>").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", kml)
    data = bytearray(buf.getvalue())
    # patch both headers to claim 100 bytes uncompressed
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(sig)
        data[at + offset:at + offset + 4] = (100).to_bytes(4, "little")
    refused(lambda: read_sites(bytes(data), "lie.kmz"), InvalidInput)


def test_a_scribble_of_4000_random_vertices_is_refused_quickly() -> None:
    rng = np.random.default_rng(8)
    xy = np.column_stack([108.9 + rng.random(4000) * 0.01, 30.9 + rng.random(4000) * 0.01])
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "乱线"},
                                                     "geometry": mapping(shapely.Polygon(xy))}]}
    data = json.dumps(fc).encode()
    message = refused(lambda: read_sites(data, "scribble.geojson"))
    assert "乱线" in message and "simplify" in message


def test_a_few_self_intersections_are_repaired_and_counted() -> None:
    # a 2 000-vertex zig-zag boundary crossing itself twice (two bow-tie twists)
    t = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    ring = np.column_stack([108.9 + 0.01 * np.cos(t), 30.9 + 0.01 * np.sin(t)])
    ring[[100, 101]] = ring[[101, 100]]
    ring[[900, 901]] = ring[[901, 900]]
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "圆"},
                                                     "geometry": mapping(shapely.Polygon(ring))}]}
    sites = read_sites(json.dumps(fc).encode(), "twisted.geojson")
    assert sites.sites.geometry.iloc[0].is_valid
    assert any("自动修复 2 处自相交" in n and "2 self-intersections" in n for n in sites.notes)


def test_a_parcel_with_thousands_of_rings_reads_in_bounded_time() -> None:
    holes = [shapely.box(108.9 + i * 1e-4, 30.9 + j * 1e-4, 108.9 + i * 1e-4 + 5e-5, 30.9 + j * 1e-4 + 5e-5)
             for i in range(1, 50) for j in range(1, 50)]
    outer = shapely.box(108.9, 30.9, 108.906, 30.906)
    poly = shapely.Polygon(outer.exterior.coords, [h.exterior.coords for h in holes])
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                                                     "geometry": mapping(poly)}]}
    start = time.perf_counter()
    sites = read_sites(json.dumps(fc).encode(), "holes.geojson")
    assert time.perf_counter() - start < SECONDS
    assert len(shapely.get_rings(sites.sites.geometry.iloc[0])) == 1 + len(holes)
