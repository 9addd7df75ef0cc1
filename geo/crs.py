"""Coordinate reference systems used for measuring, and cached transformers.

Inside planview every geometry is WGS84/CGCS2000 lon/lat (x=lon, y=lat);
CGCS2000 and WGS84 differ by centimetres, far below map scale. Areas and
distances are never taken in degrees: :data:`EQUAL_AREA` (an Albers equal-area
conic fitted to Chongqing on the CGCS2000 ellipsoid) gives true areas, and
:func:`gk_zone_epsg` names the CGCS2000 3-degree Gauss-Krüger zone that a
surveyor would use for a longitude.
"""

from __future__ import annotations

from functools import lru_cache

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer

LONLAT = "EPSG:4326"
CGCS2000 = "EPSG:4490"
# Albers equal-area conic on GRS80 (CGCS2000's ellipsoid) with standard
# parallels bracketing Chongqing (28.2-32.2 N); scale error < 0.1 % across it.
EQUAL_AREA = CRS.from_proj4(
    "+proj=aea +lat_0=0 +lon_0=107.75 +lat_1=28.8 +lat_2=31.6 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"
)

# CGCS2000 3-degree Gauss-Krüger zones over Chongqing (central meridians 105/108/111 E).
GK_ZONES_NO_PREFIX = {105: 4544, 108: 4545, 111: 4546}
GK_ZONES_WITH_PREFIX = {35: 4523, 36: 4524, 37: 4525}


def gk_central_meridian(lon: float) -> int:
    """Central meridian of the 3-degree zone containing ``lon`` (multiples of 3)."""
    return int(round(lon / 3.0) * 3)


def gk_zone_epsg(lon: float, *, prefix: bool = False) -> int:
    """EPSG code of the CGCS2000 3-degree GK zone for a longitude (Chongqing: 4544-4546)."""
    cm = gk_central_meridian(lon)
    if prefix:
        return 4513 + cm // 3 - 25  # zone 25 (CM 75) is EPSG:4513
    return 4534 + (cm - 75) // 3  # CM 75 is EPSG:4534


@lru_cache(maxsize=64)
def transformer(src: str | int, dst: str | int) -> Transformer:
    """A cached, always lon/lat-ordered transformer between two CRSs."""
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def to_equal_area(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Project lon/lat geometry to the equal-area CRS used for every measurement."""
    return geoms.to_crs(EQUAL_AREA)


def areas_m2(geoms: gpd.GeoSeries | NDArray[np.object_]) -> NDArray[np.float64]:
    """True areas in square metres of lon/lat geometries (projected, never in degrees)."""
    series = geoms if isinstance(geoms, gpd.GeoSeries) else gpd.GeoSeries(geoms, crs=LONLAT)
    projected = series.to_crs(EQUAL_AREA)
    return np.asarray(shapely.area(projected.values), dtype=np.float64)
