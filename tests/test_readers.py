"""Reading planners' files: every format from a real file built here, CRS choice and reasons, hostile input."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import pytest
import shapely
from shapely.geometry import mapping

from geo.crs import LONLAT
from geo.errors import InvalidInput, TooLarge, UnsupportedFormat
from geo.readers import AreaOfInterest, ReadLimits, read_sites
from geo.readers.text import decode
from layers.catalogue import Catalogue
from layers.workspaces.service import overlay_context

# A 200 m x 150 m block in Yunyang's Xiaojiang area (lon/lat) and a point in Wanzhou.
BLOCK = shapely.Polygon([(108.700, 30.950), (108.702, 30.950), (108.702, 30.9515), (108.700, 30.9515)])
POINT = shapely.Point(108.38, 30.81)


@pytest.fixture(scope="module")
def area(catalogue: Catalogue) -> AreaOfInterest:
    context = overlay_context(catalogue)
    assert context.area is not None
    return context.area


def _gdf(crs: int = 4326, **cols: list[object]) -> gpd.GeoDataFrame:
    base = {"名称": ["东区地块"], "行业": ["生物医药"], **cols}
    return gpd.GeoDataFrame(base, geometry=[BLOCK], crs=LONLAT).to_crs(crs)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


ALL_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _shapefile(tmp: Path, gdf: gpd.GeoDataFrame, encoding: str = "UTF-8", parts: tuple[str, ...] = ALL_PARTS
               ) -> bytes:
    path = tmp / "sites.shp"
    gdf.to_file(path, driver="ESRI Shapefile", encoding=encoding)
    present = [ext for ext in parts if (tmp / f"sites{ext}").exists()]
    return _zip({f"地块/sites{ext}": (tmp / f"sites{ext}").read_bytes() for ext in present})


def _same_place(geom: shapely.Geometry, expected: shapely.Geometry = BLOCK, tol: float = 1e-6) -> bool:
    return bool(shapely.equals_exact(shapely.normalize(geom), shapely.normalize(expected), tolerance=tol))


# ---------------------------------------------------------------- formats


def test_geojson_rfc7946_is_wgs84(area: AreaOfInterest) -> None:
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"名称": "东区", "产业": "装备制造"}, "geometry": mapping(BLOCK)}]}
    s = read_sites(json.dumps(fc, ensure_ascii=False).encode(), "sites.geojson", area=area)
    assert s.format == "geojson" and s.crs.crs == "EPSG:4326" and s.crs.source == "inferred"
    assert s.sites.loc[0, "name"] == "东区" and s.sites.loc[0, "industry"] == "装备制造"
    assert _same_place(s.sites.geometry.iloc[0]) and s.warnings == []


def test_geojson_with_crs_member_is_read_in_that_crs(tmp_path: Path, area: AreaOfInterest) -> None:
    path = tmp_path / "gk.geojson"
    _gdf(4545).to_file(path, driver="GeoJSON")
    assert '"crs"' in path.read_text()
    s = read_sites(path.read_bytes(), "gk.geojson", area=area)
    assert s.crs.crs == "EPSG:4545" and s.crs.source == "file" and "crs" in s.crs.reason
    assert _same_place(s.sites.geometry.iloc[0], tol=1e-7)


def test_geojson_in_metres_without_crs_infers_gauss_kruger(area: AreaOfInterest) -> None:
    gk = _gdf(4545).geometry.iloc[0]
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": mapping(gk)}]}
    s = read_sites(json.dumps(fc).encode(), "cad-export.json", area=area)
    assert s.crs.crs == "EPSG:4545" and s.crs.source == "inferred"
    assert "108" in s.crs.reason and "EPSG:4545" in s.crs.reason
    assert _same_place(s.sites.geometry.iloc[0], tol=1e-7)
    assert s.sites.loc[0, "name"] == "场地 1"


def test_zipped_shapefile_with_prj_and_cpg(tmp_path: Path, area: AreaOfInterest) -> None:
    data = _shapefile(tmp_path, _gdf(4524))
    s = read_sites(data, "sites.zip", area=area)
    assert s.format == "shapefile" and s.crs.crs == "EPSG:4524" and s.crs.source == "file" and ".prj" in s.crs.reason
    assert s.sites.loc[0, "name"] == "东区地块" and s.sites.loc[0, "industry"] == "生物医药"
    assert _same_place(s.sites.geometry.iloc[0], tol=1e-7)


def test_gbk_shapefile_without_cpg_shows_chinese_not_mojibake(tmp_path: Path, area: AreaOfInterest) -> None:
    data = _shapefile(tmp_path, _gdf(4326), encoding="GBK", parts=(".shp", ".shx", ".dbf", ".prj"))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        dbf = zf.read("地块/sites.dbf")
    assert "东区地块".encode("gbk") in dbf and not any(n.endswith(".cpg") for n in zf.namelist())
    s = read_sites(data, "sites.zip", area=area)
    assert s.sites.loc[0, "name"] == "东区地块" and s.sites.loc[0, "industry"] == "生物医药"
    assert any("gb18030" in n for n in s.notes)


def test_shapefile_without_prj_infers_from_numbers(tmp_path: Path, area: AreaOfInterest) -> None:
    data = _shapefile(tmp_path, _gdf(4524), parts=(".shp", ".shx", ".dbf", ".cpg"))
    s = read_sites(data, "sites.zip", area=area)
    assert s.crs.crs == "EPSG:4524" and s.crs.source == "inferred" and "36" in s.crs.reason
    assert any(".prj" in n for n in s.notes)


@pytest.mark.parametrize("missing", [".shx", ".dbf"])
def test_shapefile_missing_part_says_what_to_add(tmp_path: Path, missing: str) -> None:
    parts = tuple(p for p in (".shp", ".shx", ".dbf", ".prj") if p != missing)
    with pytest.raises(InvalidInput) as err:
        read_sites(_shapefile(tmp_path, _gdf(), parts=parts), "sites.zip")
    assert missing in err.value.message and "缺少" in err.value.message and "missing" in err.value.message


def _kml(placemarks: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
            f"{placemarks}</Document></kml>").encode()


KML_PLACEMARKS = """
<Placemark><name>东区</name><ExtendedData><Data name="行业"><value>能源电子</value></Data></ExtendedData>
 <Polygon><outerBoundaryIs><LinearRing><coordinates>
  108.700,30.950,0 108.702,30.950,0 108.702,30.9515,0 108.700,30.9515,0 108.700,30.950,0
 </coordinates></LinearRing></outerBoundaryIs>
 <innerBoundaryIs><LinearRing><coordinates>108.7005,30.9503 108.7010,30.9503 108.7010,30.9506 108.7005,30.9503
 </coordinates></LinearRing></innerBoundaryIs></Polygon></Placemark>
<Placemark><name>两块</name><MultiGeometry><Point><coordinates>108.38,30.81</coordinates></Point>
 <Point><coordinates>108.39,30.82</coordinates></Point></MultiGeometry></Placemark>
"""


def test_kml_and_kmz(area: AreaOfInterest) -> None:
    kml = _kml(KML_PLACEMARKS)
    for data, name, fmt in ((kml, "sites.kml", "kml"), (_zip({"doc.kml": kml}), "sites.kmz", "kmz")):
        s = read_sites(data, name, area=area)
        assert s.format == fmt and s.crs.crs == "EPSG:4326" and s.crs.source == "file" and "KML" in s.crs.reason
        assert list(s.sites["name"]) == ["东区", "两块"] and s.sites.loc[0, "industry"] == "能源电子"
        poly = s.sites.geometry.iloc[0]
        assert len(poly.interiors) == 1 and s.sites.geometry.iloc[1].geom_type == "MultiPoint"


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
])
def test_kml_entities_are_refused(doctype: str) -> None:
    body = ('<?xml version="1.0"?>' + doctype + '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark>'
            "<name>&xxe;</name><Point><coordinates>108.7,30.9</coordinates></Point></Placemark></kml>")
    body = body.replace("&xxe;", "&b;") if "ENTITY b" in doctype else body
    with pytest.raises(InvalidInput) as err:
        read_sites(body.encode(), "evil.kml")
    assert "拒绝" in err.value.message and "refused" in err.value.message


def test_geopackage(tmp_path: Path, area: AreaOfInterest) -> None:
    path = tmp_path / "sites.gpkg"
    pyogrio.write_dataframe(_gdf(4524), path, layer="地块")
    s = read_sites(path.read_bytes(), "sites.gpkg", area=area)
    assert s.format == "gpkg" and s.crs.crs == "EPSG:4524" and s.crs.source == "file"
    assert s.sites.loc[0, "name"] == "东区地块" and _same_place(s.sites.geometry.iloc[0], tol=1e-7)


@pytest.mark.parametrize("codec", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_encodings(codec: str, area: AreaOfInterest) -> None:
    text = "项目名称,经度,纬度,行业\n万州项目,108.38,30.81,汽车\n云阳项目,108.70,30.95,生物医药\n"
    s = read_sites(text.encode(codec), "sites.csv", area=area)
    assert list(s.sites["name"]) == ["万州项目", "云阳项目"] and list(s.sites["industry"]) == ["汽车", "生物医药"]
    assert s.crs.crs == "EPSG:4326" and s.sites.geometry.iloc[0].equals(POINT)


def test_csv_surveyor_xy_northing_first_is_swapped_and_zone_inferred(area: AreaOfInterest) -> None:
    from geo.crs import transformer

    e, n = transformer(LONLAT, "EPSG:4545").transform(108.70, 30.95)
    text = f"名称,X,Y\n甲,{n:.3f},{e:.3f}\n乙,{n + 100:.3f},{e + 100:.3f}\n"
    s = read_sites(text.encode(), "surveyed.csv", area=area)
    assert s.crs.crs == "EPSG:4545" and s.crs.swap_xy and "北坐标" in s.crs.reason
    assert s.sites.geometry.iloc[0].distance(shapely.Point(108.70, 30.95)) < 1e-7


def test_csv_lat_lon_swapped_values_are_detected(area: AreaOfInterest) -> None:
    s = read_sites(b"name,lng,lat\nA,30.81,108.38\n", "a.csv", area=area)
    assert s.crs.swap_xy and s.sites.geometry.iloc[0].equals(POINT)


def test_csv_from_amap_by_file_name_is_gcj02(area: AreaOfInterest) -> None:
    from geo.datum import wgs84_to_gcj02

    gx, gy = wgs84_to_gcj02(108.38, 30.81)
    s = read_sites(f"name,lng,lat\nA,{float(gx):.8f},{float(gy):.8f}\n".encode(), "高德拾取坐标.csv", area=area)
    assert s.crs.crs == "gcj02" and s.crs.source == "inferred"
    assert s.sites.geometry.iloc[0].distance(POINT) < 1e-6


def test_user_crs_overrides_inference() -> None:
    from geo.datum import wgs84_to_bd09

    bx, by = wgs84_to_bd09(108.38, 30.81)
    s = read_sites(f"name,lng,lat\nA,{float(bx):.8f},{float(by):.8f}\n".encode(), "a.csv", crs="bd09")
    assert s.crs.source == "user" and s.crs.crs == "bd09" and s.sites.geometry.iloc[0].distance(POINT) < 1e-6


def test_xlsx_with_title_row_and_dms(tmp_path: Path, area: AreaOfInterest) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["拟建项目选址一览表"])
    ws.append(["序号", "项目名称", "经度", "纬度", "所属行业"])
    ws.append([1, "万州项目", "108°22'48\"", "30°48'36\"", "汽车"])
    ws.append([2, "云阳项目", 108.70, 30.95, "生物医药"])
    ws.append([3, "缺坐标", None, None, "x"])
    path = tmp_path / "sites.xlsx"
    wb.save(path)
    s = read_sites(path.read_bytes(), "sites.xlsx", area=area)
    assert s.format == "xlsx" and list(s.sites["name"]) == ["万州项目", "云阳项目"]
    assert s.sites.geometry.iloc[0].distance(POINT) < 1e-9 and any("跳过" in n for n in s.notes)


DXF = """0
SECTION
2
ENTITIES
0
LWPOLYLINE
5
A1
8
SITES
90
4
70
1
10
{x0}
20
{y0}
10
{x1}
20
{y0}
10
{x1}
20
{y1}
10
{x0}
20
{y1}
0
TEXT
5
A2
8
LABELS
10
{xc}
20
{yc}
40
5.0
1
一号地块
0
LINE
5
A3
8
ROADS
10
0
20
0
11
{x1}
21
{y1}
0
ENDSEC
0
EOF
"""


@pytest.mark.parametrize("codec", ["utf-8", "gbk"])
def test_dxf_closed_polyline_is_a_polygon_named_by_its_text(codec: str, area: AreaOfInterest) -> None:
    gk = _gdf(4524).geometry.iloc[0]
    x0, y0, x1, y1 = gk.bounds
    text = DXF.format(x0=x0, y0=y0, x1=x1, y1=y1, xc=(x0 + x1) / 2, yc=(y0 + y1) / 2)
    s = read_sites(text.encode(codec), "总图.dxf", area=area)
    assert s.format == "dxf" and len(s.sites) == 1 and s.sites.geometry.iloc[0].geom_type == "Polygon"
    assert s.sites.loc[0, "name"] == "一号地块" and s.crs.crs == "EPSG:4524"
    assert any("非闭合" in n for n in s.notes)


def _landtxt(codec: str = "gbk") -> bytes:
    from geo.crs import transformer

    t = transformer(LONLAT, "EPSG:4524")
    outer = [t.transform(x, y) for x, y in BLOCK.exterior.coords]
    hole = [t.transform(x, y) for x, y in [(108.7005, 30.9503), (108.7010, 30.9503), (108.7010, 30.9506)]]
    lines = ["[属性描述]", "格式版本号=1.01版本", "坐标系=2000国家大地坐标系", "几度分带=3", "投影类型=高斯克吕格",
             "计量单位=米", "带号=36", "[地块坐标]", f"{len(outer) + len(hole) + 1},3.0,1,东区地块,面,,工业用地,,@"]
    for i, (e, n) in enumerate(outer):
        lines.append(f"J{i % (len(outer) - 1) + 1},1,{n:.3f},{e:.3f}")
    for i, (e, n) in enumerate([*hole, hole[0]]):
        lines.append(f"J{i % 3 + 10},2,{n:.3f},{e:.3f}")
    e, n = t.transform(108.38, 30.81)
    lines += ["4,0.1,2,西区地块,面,,商业用地,,@", f"J1,1,{n:.3f},{e:.3f}", f"J2,1,{n:.3f},{e + 30:.3f}",
              f"J3,1,{n + 30:.3f},{e + 30:.3f}", f"J1,1,{n:.3f},{e:.3f}"]
    return "\r\n".join(lines).encode(codec)


def test_land_txt_boundary_points(area: AreaOfInterest) -> None:
    s = read_sites(_landtxt(), "报批坐标.txt", area=area)
    assert s.format == "landtxt" and s.crs.crs == "EPSG:4524" and s.crs.source == "file"
    assert list(s.sites["name"]) == ["东区地块", "西区地块"]
    first = s.sites.geometry.iloc[0]
    assert len(first.interiors) == 1 and _same_place(shapely.Polygon(first.exterior), tol=1e-7)
    assert s.sites.loc[0, "attributes"]["地块用途"] == "工业用地"


# ---------------------------------------------------------------- CRS diagnosis


def test_far_away_sites_warn_with_the_likely_cause(area: AreaOfInterest) -> None:
    from geo.crs import transformer

    e, n = transformer(LONLAT, "EPSG:4545").transform(108.70, 30.95)
    s = read_sites(f"name,x,y\nA,{e:.2f},{n:.2f}\n".encode(), "a.csv", crs="EPSG:4544", area=area)  # wrong zone
    assert len(s.warnings) == 1
    warning = s.warnings[0]
    assert "重庆市以外" in warning and "EPSG:4545" in warning and "wrong zone" in warning


def test_swapped_axes_are_named_as_the_cause(area: AreaOfInterest) -> None:
    from geo.crs import transformer

    e, n = transformer(LONLAT, "EPSG:4545").transform(108.70, 30.95)
    # read as chosen the site lands outside EPSG:4545's area of use: refused (#8), the likely cause named
    with pytest.raises(InvalidInput) as err:
        read_sites(f"name,x,y\nA,{n:.2f},{e:.2f}\n".encode(), "a.csv", crs="EPSG:4545", area=area)
    assert "area of use" in err.value.message and "swapped" in err.value.message and "颠倒" in err.value.message
    with pytest.raises(InvalidInput) as err:
        read_sites(b"name,lng,lat\nA,30.81,108.38\n", "a.csv", crs="EPSG:4326", area=area)
    assert "颠倒" in err.value.message and "swapped" in err.value.message


def test_wrong_lonlat_choice_for_metres_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput) as err:
        read_sites(b"name,x,y\nA,566888.6,3425641.0\n", "a.csv", crs="EPSG:4326")
    assert "EPSG:4545" in err.value.message


def test_unknown_crs_option() -> None:
    with pytest.raises(InvalidInput) as err:
        read_sites(b"name,lng,lat\nA,108.38,30.81\n", "a.csv", crs="EPSG:99999999")
    assert "EPSG:4545" in err.value.message


# ---------------------------------------------------------------- hostile input


def test_empty_and_unknown() -> None:
    with pytest.raises(InvalidInput, match="文件为空"):
        read_sites(b"", "a.csv")
    with pytest.raises(InvalidInput, match="empty"):
        read_sites(b"  \n", "a.geojson")
    with pytest.raises(UnsupportedFormat, match="不支持"):
        read_sites(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.png")
    with pytest.raises(UnsupportedFormat, match="DXF"):
        read_sites(b"AC1032\x00\x00\x00\x00binary", "drawing.dwg")
    with pytest.raises(InvalidInput, match="zip"):
        read_sites(b"\x00\x00\x27\x0a" + b"\x00" * 96, "sites.shp")


def test_zero_features() -> None:
    with pytest.raises(InvalidInput) as err:
        read_sites(b'{"type":"FeatureCollection","features":[]}', "none.geojson")
    assert "0" in err.value.message and "no features" in err.value.message


@pytest.mark.parametrize("name", ["../evil.geojson", "/etc/evil.geojson", "a/../../evil.geojson", "C:/evil.geojson"])
def test_archive_paths_are_checked_before_extraction(name: str) -> None:
    data = _zip({name: b'{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[108,30]}}'})
    with pytest.raises(InvalidInput) as err:
        read_sites(data, "sites.zip")
    assert ".." in err.value.message and "refused" in err.value.message


def test_archive_bomb_and_file_count() -> None:
    limits = ReadLimits(max_uncompressed_bytes=1_000_000, max_archive_files=5)
    bomb = _zip({"big.csv": b"0" * 5_000_000})
    assert len(bomb) < 50_000
    with pytest.raises(TooLarge, match="MB"):
        read_sites(bomb, "sites.zip", limits=limits)
    many = _zip({f"f{i}.txt": b"x" for i in range(10)})
    with pytest.raises(TooLarge, match="too many files"):
        read_sites(many, "sites.zip", limits=limits)


def test_bow_tie_is_repaired_and_reported(area: AreaOfInterest) -> None:
    bow = shapely.Polygon([(108.70, 30.95), (108.71, 30.96), (108.71, 30.95), (108.70, 30.96)])
    assert not bow.is_valid
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "蝴蝶"},
                                                     "geometry": mapping(bow)}]}
    s = read_sites(json.dumps(fc).encode(), "bow.geojson", area=area)
    g = s.sites.geometry.iloc[0]
    assert g.is_valid and g.geom_type == "MultiPolygon" and g.area == pytest.approx(0.5 * 0.01 * 0.01)
    assert any("make_valid" in n and "蝴蝶" in n for n in s.notes)


def test_vertex_and_feature_limits() -> None:
    ring = shapely.Point(108.7, 30.95).buffer(0.01, quad_segs=2000)
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": mapping(ring)}]}
    with pytest.raises(TooLarge) as err:
        read_sites(json.dumps(fc).encode(), "big.geojson", limits=ReadLimits(max_vertices=5000))
    assert "顶点" in err.value.message and "vertices" in err.value.message
    rows = "".join(f"p{i},108.7,30.9\n" for i in range(20))
    with pytest.raises(TooLarge, match="too many"):
        read_sites(("name,lng,lat\n" + rows).encode(), "a.csv", limits=ReadLimits(max_features=10))


def test_csv_without_coordinate_columns_lists_columns() -> None:
    with pytest.raises(InvalidInput) as err:
        read_sites("名称,地址\n甲,云阳县\n".encode(), "a.csv")
    assert "地址" in err.value.message and "经度/纬度" in err.value.message


def test_decode_prefers_explicit_encoding() -> None:
    assert decode("云阳".encode("gbk"), "gbk") == ("云阳", "gb18030")
    with pytest.raises(InvalidInput, match="utf-8"):
        decode("云阳".encode("gbk"), "utf-8")


def test_site_text_is_kept_as_text() -> None:
    s = read_sites(b'name,lng,lat\n"<script>alert(1)</script>",108.38,30.81\n', "a.csv")
    assert s.sites.loc[0, "name"] == "<script>alert(1)</script>"
    assert np.isfinite(shapely.get_coordinates(s.sites.geometry.values)).all()


def test_truncated_and_corrupted_files_are_always_4xx(tmp_path: Path) -> None:
    """Every format, cut short or with bytes flipped: either read, or a PlanviewError (never a crash)."""
    from geo.errors import PlanviewError

    gpkg = tmp_path / "s.gpkg"
    pyogrio.write_dataframe(_gdf(4524), gpkg)
    wb = openpyxl.Workbook()
    wb.active.append(["名称", "经度", "纬度"])
    wb.active.append(["甲", 108.7, 30.9])
    xlsx = io.BytesIO()
    wb.save(xlsx)
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"n": 1},
                                                     "geometry": mapping(BLOCK)}]}
    samples = {
        "s.geojson": json.dumps(fc).encode(), "s.zip": _shapefile(tmp_path, _gdf(4524)),
        "s.kmz": _zip({"doc.kml": _kml(KML_PLACEMARKS)}), "s.kml": _kml(KML_PLACEMARKS),
        "s.gpkg": gpkg.read_bytes(), "s.xlsx": xlsx.getvalue(), "s.txt": _landtxt(),
        "s.dxf": DXF.format(x0=0, y0=0, x1=1, y1=1, xc=0.5, yc=0.5).encode(),
        "s.csv": "名称,经度,纬度\n甲,108.7,30.9\n".encode(),
    }
    rng = np.random.default_rng(0)
    for name, data in samples.items():
        variants = [data[: int(len(data) * f)] for f in (0.05, 0.3, 0.6, 0.95)]
        for _ in range(3):
            flipped = bytearray(data)
            for i in rng.integers(0, len(data), 8):
                flipped[i] ^= 0xFF
            variants.append(bytes(flipped))
        for variant in variants:
            try:
                read_sites(variant, name)
            except PlanviewError as exc:
                assert "/ " in exc.message, (name, exc.message)
