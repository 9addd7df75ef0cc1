"""The site-check report: a real GeoJSON upload through /api/overlay, then the PDF read back and checked."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from support import signed_in

from layers.report import DISCLAIMER_GENERAL, DISCLAIMER_MEASURE, DISCLAIMER_SCHEMATIC, site_row
from server.app import create_app
from server.settings import Settings

# Three sites near Yunyang's Xiaojiang Science City (WGS84): a polygon over the science city, a point
# to its east, a polygon in Wanzhou. Names and industries are Chinese, as staff upload them.
SITES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"名称": "小江新材料项目", "产业": "新材料"},
     "geometry": {"type": "Polygon", "coordinates": [[[108.69, 30.97], [108.71, 30.97], [108.71, 30.99],
                                                      [108.69, 30.99], [108.69, 30.97]]]}},
    {"type": "Feature", "properties": {"名称": "农业示范点", "产业": "现代农业"},
     "geometry": {"type": "Point", "coordinates": [108.80, 31.05]}},
    {"type": "Feature", "properties": {"名称": "万州协作地块", "产业": "电子信息"},
     "geometry": {"type": "Polygon", "coordinates": [[[108.38, 30.80], [108.40, 30.80], [108.40, 30.82],
                                                      [108.38, 30.82], [108.38, 30.80]]]}},
]}
FILENAME = "云阳选址<测试>.geojson"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any], bytes]]:
    settings = Settings(workspace_gpkg=tmp_path_factory.mktemp("report") / "ws.gpkg", database_url=None)
    data = json.dumps(SITES, ensure_ascii=False).encode("utf-8")
    with signed_in(create_app(settings)) as client:
        r = client.post("/api/overlay", files={"file": (FILENAME, data, "application/geo+json")})
        assert r.status_code == 201, r.text
        yield client, r.json(), data


@pytest.fixture(scope="module")
def report_pdf(uploaded: tuple[TestClient, dict[str, Any], bytes]) -> tuple[bytes, dict[str, str]]:
    client, report, _data = uploaded
    r = client.get(f"/api/overlay/{report['id']}/report.pdf")
    assert r.status_code == 200, r.text
    return r.content, dict(r.headers)


def test_report_is_a_multipage_pdf_with_embedded_fonts(report_pdf: tuple[bytes, dict[str, str]]) -> None:
    content, headers = report_pdf
    assert headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''" in headers["content-disposition"]
    headers["content-disposition"].encode("latin-1")
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) >= 2
    for page in reader.pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            for d in font.get("/DescendantFonts") or [font]:
                descriptor = d.get_object()["/FontDescriptor"].get_object()
                assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))


def test_report_traces_file_crs_and_every_site(report_pdf: tuple[bytes, dict[str, str]],
                                               uploaded: tuple[TestClient, dict[str, Any], bytes]) -> None:
    _client, report, data = uploaded
    reader = PdfReader(io.BytesIO(report_pdf[0]))
    pages = [squash(p.extract_text() or "") for p in reader.pages]
    text = "".join(pages)
    # The overview map on page 1: title, legend of the plan layers, the upload, the disclaimer.
    assert "选址核查报告" in pages[0] and "图例" in pages[0] and "上传地块" in pages[0]
    assert "示意范围" in pages[0]
    # The file, exactly: name (markup kept literal), SHA-256 of the bytes sent, the CRS used.
    assert squash(FILENAME) in text
    assert hashlib.sha256(data).hexdigest() == report["sha256"]
    assert report["sha256"] in text
    assert squash(report["crs"]["label"]) in text
    assert "EPSG:4545" in text  # the overview map's Gauss–Krüger zone
    # One row per site with its county, group, zones in 公顷/亩/share, nearest zone and distance.
    for site in report["sites"]:
        assert squash(site["name"]) in text
        if site["county"]:
            assert squash(site["county"]["name"]) in text
            assert squash(site["county"]["group"]) in text
        for zone in site["zones"]:
            assert squash(zone["name"]) in text
            if zone["overlap_ha"] is not None:
                assert f"{zone['overlap_ha']:.4f}公顷" in text
                assert f"{zone['overlap_mu']:.2f}亩" in text
                assert f"占{zone['share'] * 100:.1f}%" in text
        if site["nearest"]:
            assert f"{site['nearest']['distance_m']:,.0f}米" in text
    assert any(site["zones"] for site in report["sites"]), "the test sites should overlap a plan zone"
    for disclaimer in (DISCLAIMER_GENERAL, DISCLAIMER_MEASURE, DISCLAIMER_SCHEMATIC):
        assert squash(disclaimer) in text
    assert f"第{len(pages)}页/共{len(pages)}页" in pages[-1]


def test_site_row_units_and_verdicts() -> None:
    row = site_row({"site_no": 7, "name": "甲", "area_m2": 15000.0, "area_ha": 1.5, "area_mu": 22.5,
                    "county": {"name": "云阳县", "group": "渝东北三峡库区城镇群"}, "other_counties": [],
                    "zones": [{"name": "园区", "layer_title": "高新区", "overlap_ha": 0.75, "overlap_mu": 11.25,
                               "share": 0.5, "schematic": True, "industry_match": False}],
                    "in_corridor": False, "corridors": [], "nearest": None, "industry": "化工",
                    "flags": ["示意范围，结果仅供参考 / schematic zone: results are indicative only"]})
    assert row[2] == "1.5000 公顷\n22.50 亩"
    assert row[4] == "园区（高新区）：0.7500 公顷 / 11.25 亩，占 50.0%〔示意范围〕"
    assert row[7] == "化工\n不符：园区"
    assert row[8] == "示意范围，结果仅供参考"  # the Chinese half of the bilingual flag


def test_unknown_workspace_is_a_bilingual_404(uploaded: tuple[TestClient, dict[str, Any], bytes]) -> None:
    client = uploaded[0]
    for ref in ("0" * 32, "not-an-id", "..%2F..%2Fetc"):
        r = client.get(f"/api/overlay/{ref}/report.pdf")
        assert r.status_code == 404, (ref, r.text)
        assert re.search(r"[\u4e00-\u9fff]", r.json()["message"])


def test_export_draws_the_upload_on_top(uploaded: tuple[TestClient, dict[str, Any], bytes]) -> None:
    client, report, _data = uploaded
    r = client.get("/api/export", params={"map": "yunyang", "format": "pdf", "overlay": report["id"],
                                          "date": "2025-01-01"})
    assert r.status_code == 200, r.text
    text = squash("".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(r.content)).pages))
    assert "上传地块" in text and squash(FILENAME) in text
    assert "小江新材料项目" in text  # sites are labelled
    assert report["sha256"][:16] in text  # the upload is cited with its checksum


def test_result_page_links_the_report(uploaded: tuple[TestClient, dict[str, Any], bytes]) -> None:
    client, report, _data = uploaded
    r = client.get(f"/overlay/{report['id']}")
    assert r.status_code == 200
    assert f'href="/api/overlay/{report["id"]}/report.pdf"' in r.text
    assert "生成报告 (PDF)" in r.text
