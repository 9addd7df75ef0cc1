"""GCJ-02 / BD-09 conversions: exact inverses, right magnitude, vectorised."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import Polygon

from geo.datum import (
    bd09_to_wgs84,
    gcj02_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")
SEAT = (108.71044, 30.92624)  # 双江街道, GeoNames WGS84


def test_gcj02_offset_near_yunyang_is_hundreds_of_metres() -> None:
    gx, gy = wgs84_to_gcj02(*SEAT)
    metres = GEOD.inv(SEAT[0], SEAT[1], float(gx), float(gy))[2]
    assert 400 < metres < 600


def test_gcj02_inverse_is_exact_over_chongqing() -> None:
    rng = np.random.default_rng(1)
    lon = rng.uniform(105.3, 110.2, 10_000)
    lat = rng.uniform(28.2, 32.2, 10_000)
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.max(np.abs(back_lon - lon)) < 1e-8
    assert np.max(np.abs(back_lat - lat)) < 1e-8


def test_bd09_round_trip_within_a_decimetre() -> None:
    lon, lat = bd09_to_wgs84(*wgs84_to_bd09(*SEAT))
    assert GEOD.inv(SEAT[0], SEAT[1], float(lon), float(lat))[2] < 0.1


def test_bd09_is_further_offset_than_gcj02() -> None:
    gx, gy = wgs84_to_gcj02(*SEAT)
    bx, by = wgs84_to_bd09(*SEAT)
    assert GEOD.inv(SEAT[0], SEAT[1], float(bx), float(by))[2] > GEOD.inv(SEAT[0], SEAT[1], float(gx), float(gy))[2]


def test_outside_china_is_unchanged() -> None:
    lon, lat = wgs84_to_gcj02(2.35, 48.85)
    assert (float(lon), float(lat)) == (2.35, 48.85)


def test_geometry_conversion_moves_every_vertex() -> None:
    square = Polygon([(108.70, 30.92), (108.72, 30.92), (108.72, 30.94), (108.70, 30.94)])
    moved = to_wgs84(square, "gcj02")
    assert moved.is_valid
    shift = GEOD.inv(108.70, 30.92, *moved.exterior.coords[0])[2]
    assert 400 < shift < 600


def test_unknown_datum_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown offset datum"):
        to_wgs84(Polygon([(0, 0), (1, 0), (1, 1)]), "wgs72")
