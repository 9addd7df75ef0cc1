"""Each input that used to answer 500 (issue #8), built here, now answers a 4xx that says what to fix, or works."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import make_settings
from support import signed_in

from geo.errors import InvalidInput
from geo.readers import read_sites
from layers.catalogue import Catalogue
from layers.export import ExportOptions, export_map, overlay_from_workspace
from layers.maps import load_maps
from layers.report import render_report
from layers.workspaces.service import analyse_upload
from server.app import create_app
from server.overlay_api import clean_filename
from server.settings import ROOT

NOT_TEXT_CODECS = ["rot13", "base64", "hex", "zlib", "bz2", "uu", "quopri"]
CSV = "名称,x,y\n东区,108.69,30.93\n".encode()
GEOJSON = json.dumps({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"名称": "东区"}, "geometry": {"type": "Point", "coordinates": [108.69, 30.93]}}]
}).encode()
LANDTXT = ("[地块坐标]\n4,1,1,A,面,,,,@\nJ1,1,3423456.7,36512345.6\nJ2,1,3423466.7,36512345.6\n"
           "J3,1,3423466.7,36512355.6\nJ1,1,3423456.7,36512345.6\n").encode()
DXF = b"0\nSECTION\n2\nENTITIES\n0\nPOINT\n8\n0\n10\n108.69\n20\n30.93\n0\nENDSEC\n0\nEOF\n"


@pytest.mark.parametrize("codec", NOT_TEXT_CODECS)
@pytest.mark.parametrize("name,data", [("a.csv", CSV), ("a.geojson", GEOJSON), ("a.txt", LANDTXT), ("a.dxf", DXF)])
def test_codecs_that_are_not_text_encodings_are_refused(codec: str, name: str, data: bytes) -> None:
    with pytest.raises(InvalidInput, match="utf-8 或 gbk"):
        read_sites(data, name, encoding=codec)


def test_the_form_refuses_a_non_text_codec(tmp_path: Path) -> None:
    with signed_in(create_app(make_settings(tmp_path))) as c:  # uploading needs the planner right (#11)
        r = c.post("/overlay", files={"file": ("a.csv", CSV)}, data={"encoding": "rot13"})
        assert r.status_code == 400 and "utf-8 或 gbk" in r.text


@pytest.mark.parametrize("ring", ["inf", "-inf", "nan", "1e400", "1.5"])
def test_land_txt_ring_number_must_be_a_small_whole_number(ring: str) -> None:
    data = LANDTXT.replace(b"J2,1,", f"J2,{ring},".encode())
    with pytest.raises(InvalidInput, match="第 4 行"):
        read_sites(data, "a.txt")


def test_land_txt_with_thousands_of_rings_nests_them_fast() -> None:
    lines = ["[属性描述]", "带号=36", "[地块坐标]", "0,1,1,大地块,面,,,,@"]
    x0, y0 = 3423000.0, 36512000.0
    lines += [f"J{i},1,{x},{y}" for i, (x, y) in enumerate(
        [(x0, y0), (x0 + 5000, y0), (x0 + 5000, y0 + 5000), (x0, y0 + 5000), (x0, y0)])]
    for k in range(2000):  # 2000 small holes inside ring 1
        cx, cy = x0 + 100 + (k % 45) * 100, y0 + 100 + (k // 45) * 100
        sq = [(cx, cy), (cx + 10, cy), (cx + 10, cy + 10), (cx, cy + 10), (cx, cy)]
        lines += [f"J{j},{k + 2},{x},{y}" for j, (x, y) in enumerate(sq)]
    started = time.monotonic()
    sites = read_sites("\n".join(lines).encode(), "big.txt").sites
    assert time.monotonic() - started < 15
    assert len(sites) == 1 and len(sites.geometry.iloc[0].interiors) == 2000


def test_degenerate_polygon_is_refused_with_its_name() -> None:
    data = json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"名称": "点状地块"},
                       "geometry": {"type": "Polygon", "coordinates": [[[108.69, 30.93]] * 4]}}]}).encode()
    with pytest.raises(InvalidInput, match="点状地块"):
        read_sites(data, "d.geojson")


@pytest.fixture(scope="module")
def loaded() -> tuple[Catalogue, dict]:  # type: ignore[type-arg]
    return Catalogue.load(ROOT / "data", ROOT / "data" / "build"), load_maps(ROOT / "data")


@pytest.mark.parametrize("name", ["$x^2$ 地块 $\\frac{1}{0}$", "火箭 🚀 基地", "tab\there", "zero\u200bwidth", "$"])
def test_site_names_are_drawn_as_text_in_svg_and_the_report(name: str, loaded: tuple[Catalogue, dict]) -> None:  # type: ignore[type-arg]
    catalogue, maps = loaded
    data = json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"名称": name},
                       "geometry": {"type": "Point", "coordinates": [108.69, 30.93]}}]}).encode()
    workspace = analyse_upload(data, "s.geojson", catalogue)
    svg = export_map(catalogue, maps, "yunyang", ExportOptions(format="svg"), overlay=overlay_from_workspace(workspace))
    text = svg.content.decode()
    assert "@font-face" in text and "data:font/ttf;base64," in text  # Chinese shows without CJK fonts
    if name.startswith("$x"):
        assert "$x^2$" in text  # literally, not as mathtext
    pdf = render_report(catalogue, maps, workspace, date="2026-01-01")
    assert pdf.startswith(b"%PDF")


def test_small_png_at_high_dpi_is_a_400_saying_what_to_change(loaded: tuple[Catalogue, dict]) -> None:  # type: ignore[type-arg]
    catalogue, maps = loaded
    with pytest.raises(InvalidInput, match="dpi"):
        export_map(catalogue, maps, "yunyang", ExportOptions(format="png", width_px=800, height_px=600))
    small = export_map(catalogue, maps, "yunyang", ExportOptions(format="png", width_px=800, height_px=600, dpi=96))
    assert small.content.startswith(b"\x89PNG")


def test_huge_multipart_boundary_and_nul_in_file_name(tmp_path: Path) -> None:
    b = "x" * 5000
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n"
            f"x,y\r\n1,2\r\n--{b}--\r\n").encode()
    with signed_in(create_app(make_settings(tmp_path))) as c:  # uploading needs the planner right (#11)
        r = c.post("/api/overlay", content=body, headers={"content-type": f"multipart/form-data; boundary={b}"})
        assert r.status_code == 400 and "boundary" in r.json()["message"]
    assert clean_filename("a\x00b\x01.csv") == "ab.csv"
    assert clean_filename("C:\\dir\\名单.csv") == "名单.csv" and clean_filename("\x00") == "upload"
