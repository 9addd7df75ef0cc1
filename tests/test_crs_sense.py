"""CRSs that make no sense for sites are refused with the reason (#8), whether chosen or declared."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geo.errors import InvalidInput
from geo.readers import read_sites

CSV_DEGREES = "名称,经度,纬度\n甲,108.90,30.90\n乙,108.95,30.93\n".encode()
CSV_GK = "名称,X,Y\n甲,486000,3420000\n乙,489000,3423000\n".encode()


@pytest.mark.parametrize("crs", ["EPSG:4978", "+proj=geocent +datum=WGS84 +units=m"])
def test_geocentric_is_refused(crs: str) -> None:
    with pytest.raises(InvalidInput) as info:
        read_sites(CSV_GK, "sites.csv", crs=crs)
    assert "地心" in info.value.message and "geocentric" in info.value.message


def test_orthographic_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        read_sites(CSV_GK, "sites.csv", crs="+proj=ortho +lat_0=30 +lon_0=108 +datum=WGS84")
    assert "正射" in info.value.message and "orthographic" in info.value.message


def test_vertical_crs_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        read_sites(CSV_GK, "sites.csv", crs="EPSG:5773")  # EGM96 height
    assert "neither geographic nor projected" in info.value.message


def test_area_of_use_must_cover_the_sites() -> None:
    ok = read_sites(CSV_GK, "sites.csv", crs="EPSG:4545")
    assert len(ok.sites) == 2
    with pytest.raises(InvalidInput) as info:
        read_sites(CSV_DEGREES, "sites.csv", crs="EPSG:4258")  # ETRS89: Europe only
    message = info.value.message
    assert "适用范围" in message and "area of use" in message and "108.90" in message


def test_declared_crs_outside_its_area_is_refused(tmp_path: Path) -> None:
    # a GeoPackage that declares British National Grid for coordinates that put the site in China's latitudes
    path = tmp_path / "bng.gpkg"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(400000, 3_400_000, 400100, 3_400_100)],
                     crs="EPSG:27700").to_file(path)
    with pytest.raises(InvalidInput) as info:
        read_sites(path.read_bytes(), "bng.gpkg")
    assert "EPSG:27700" in info.value.message


def test_degrees_and_the_right_zone_still_read() -> None:
    assert len(read_sites(CSV_DEGREES, "sites.csv", crs="EPSG:4490").sites) == 2
    assert len(read_sites(CSV_DEGREES, "sites.csv").sites) == 2
