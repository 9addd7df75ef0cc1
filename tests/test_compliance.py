"""合规性审查: areas and shares per control class against a hand-computed case, in both stores."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from support import signed_in

from layers.compliance import check_sites, control_sources
from layers.store import open_layer_store
from layers.store.importer import import_layer
from server.app import create_app
from server.settings import ROOT

DB_URL = os.environ.get("PLANVIEW_TEST_DATABASE_URL")
CLASSES = ROOT / "data" / "control-classes.yaml"
# Gauss–Krüger zone CM 108°E (EPSG:4545) metres near Yunyang: 200 m × 100 m blocks
E0, N0 = 560_000.0, 3_420_000.0


def control_file(folder: Path) -> Path:
    """永久基本农田 [E0, E0+100] and 城镇开发边界 [E0+100, E0+200], each 100 m × 100 m (1 公顷 = 15 亩)."""
    gdf = gpd.GeoDataFrame({"DLMC": ["永久基本农田", "城镇开发边界", "一般农用地"]},
                           geometry=[shapely.box(E0, N0, E0 + 100, N0 + 100),
                                     shapely.box(E0 + 100, N0, E0 + 200, N0 + 100),
                                     shapely.box(E0 + 1000, N0, E0 + 1100, N0 + 100)], crs="EPSG:4545")
    path = folder / "三区三线.gpkg"
    gdf.to_file(path, driver="GPKG")
    return path


def sites() -> gpd.GeoDataFrame:
    """Site 1: [E0+50, E0+150] × [N0, N0+100] — half on each class (0.5 公顷 = 7.5 亩 each, 50 %).
    Site 2: far away. Site 3: a point on the farmland."""
    geoms = gpd.GeoSeries([shapely.box(E0 + 50, N0, E0 + 150, N0 + 100), shapely.box(E0 + 5000, N0, E0 + 5100, N0 + 100),
                           shapely.Point(E0 + 20, N0 + 20)], crs="EPSG:4545").to_crs("EPSG:4326")
    return gpd.GeoDataFrame({"name": ["甲", "乙", "丙"]}, geometry=geoms, crs="EPSG:4326")


@pytest.mark.parametrize("kind", ["gpkg", "postgis"])
def test_areas_by_class_hand_computed(kind: str, tmp_path: Path) -> None:
    if kind == "postgis" and not DB_URL:
        pytest.skip("PLANVIEW_TEST_DATABASE_URL is not set (.ci/run starts PostgreSQL+PostGIS and sets it)")
    schema = f"pv_comp_{uuid.uuid4().hex[:8]}"
    args = {"gpkg_path": tmp_path / "l.gpkg"} if kind == "gpkg" else {"database_url": DB_URL, "schema": schema}
    try:
        import_layer(control_file(tmp_path), layer_id="sqsx", title="三区三线", role="control", class_field="DLMC",
                     class_defaults=CLASSES, **args)  # type: ignore[arg-type]
        store = open_layer_store(**args)  # type: ignore[arg-type]
        per_site, layers = check_sites(sites(), control_sources(store, store.layers()))
    finally:
        if kind == "postgis":
            import psycopg

            with psycopg.connect(DB_URL, autocommit=True) as conn:  # type: ignore[arg-type]
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    first = {c["class"]: c for c in per_site[0]["classes"]}
    assert set(first) == {"永久基本农田", "城镇开发边界"}
    for cls in first.values():
        # 5 000 m² measured in the equal-area projection; the GK zone's scale error here is < 0.05 %
        assert cls["area_m2"] == pytest.approx(5000, rel=5e-4)
        assert cls["area_ha"] == pytest.approx(0.5, rel=5e-4)
        assert cls["area_mu"] == pytest.approx(7.5, rel=5e-4)
        assert cls["share"] == pytest.approx(0.5, abs=1e-3)
    assert first["永久基本农田"]["effect"] == "forbid" and first["城镇开发边界"]["effect"] == "allow"
    assert len(per_site[0]["conflicts"]) == 1 and "永久基本农田" in per_site[0]["conflicts"][0]
    assert per_site[1] == {"classes": [], "conflicts": [], "notes": []}
    point = per_site[2]["classes"]
    assert [c["class"] for c in point] == ["永久基本农田"] and point[0]["area_m2"] is None
    assert layers[0]["file"] == "三区三线.gpkg" and layers[0]["crs"].startswith("EPSG:4545")


def test_compliance_in_result_page_csv_and_geojson(tmp_path: Path) -> None:
    from tests_support_settings import settings_for

    settings = settings_for(tmp_path, job_timeout_s=600)  # a shared, busy machine: time is not what is tested
    import_layer(control_file(tmp_path), layer_id="sqsx", title="三区三线", role="control", class_field="DLMC",
                 class_defaults=CLASSES, gpkg_path=settings.layer_store_gpkg)
    upload = sites().iloc[:1].to_json().encode()
    app = create_app(settings)
    with signed_in(app) as client:  # uploads need the planner right (#11)
        r = client.post("/api/overlay", files={"file": ("sites.geojson", upload, "application/geo+json")})
        assert r.status_code == 201, r.text
        report = r.json()
        assert report["compliance"]["conflicts"] == 1
        assert report["compliance"]["layers"][0]["sha256"]
        ws = report["id"]
        page = client.get(f"/overlay/{ws}").text
        assert "合规性审查" in page and "冲突（禁止建设）" in page and "三区三线.gpkg" in page
        csv_text = client.get(f"/api/overlay/{ws}.csv").content.decode("utf-8-sig")
        assert "合规性审查" in csv_text and "三区三线·永久基本农田 0.5" in csv_text
        gj = json.loads(client.get(f"/api/overlay/{ws}.geojson").content)
        assert gj["features"][0]["properties"]["compliance"]["conflicts"]
        pdf = client.get(f"/api/overlay/{ws}/report.pdf")
        assert pdf.status_code == 200
        from io import BytesIO

        from pypdf import PdfReader

        text = "".join(page.extract_text() for page in PdfReader(BytesIO(pdf.content)).pages)
        assert "合规性审查" in text and "冲突" in text
