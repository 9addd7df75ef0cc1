"""CRSs offered to other software by URI (OGC API – Features Part 2), with axis order.

Inside planview coordinates are CRS84 lon/lat. A client may ask for CGCS2000
(EPSG:4490) or one of its 3-degree Gauss–Krüger zones over Chongqing. OGC API
Part 2 requires the *authority's* axis order for EPSG URIs: EPSG:4490 and
EPSG:4326 are latitude, longitude; the GK zones (EPSG:4523–4525, 4544–4546)
are northing (X), easting (Y). CRS84 stays longitude, latitude.

Transformers here are always built ``always_xy=True`` (x = east/lon, y =
north/lat) and the swap to authority order is a separate, explicit step, so
the one place axis order is decided is :attr:`OfferedCrs.north_first`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer

from geo.errors import InvalidInput

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
# CGCS2000 geographic, WGS 84, then the CGCS2000 3-degree GK zones over Chongqing
# (CM 105/108/111 E without zone prefix: 4544-4546; zones 35-37 with prefix: 4523-4525).
OFFERED_EPSG = (4490, 4326, 4544, 4545, 4546, 4523, 4524, 4525)


@dataclass(frozen=True)
class OfferedCrs:
    uri: str
    crs: CRS
    north_first: bool  # authority axis order is (lat, lon) or (northing, easting)

    @property
    def name(self) -> str:
        return str(self.crs.name)

    @property
    def is_crs84(self) -> bool:
        return self.uri == CRS84_URI


def _axis_north_first(crs: CRS) -> bool:
    return bool(crs.axis_info) and crs.axis_info[0].direction.lower() in ("north", "south")


@lru_cache(maxsize=1)
def offered() -> dict[str, OfferedCrs]:
    """Every offered CRS by its URI (CRS84 first: it is the storage CRS)."""
    out = {CRS84_URI: OfferedCrs(CRS84_URI, CRS.from_user_input("OGC:CRS84"), north_first=False)}
    for code in OFFERED_EPSG:
        crs = CRS.from_epsg(code)
        uri = EPSG_URI.format(code=code)
        out[uri] = OfferedCrs(uri, crs, north_first=_axis_north_first(crs))
    return out


def crs_uris() -> list[str]:
    return list(offered())


def resolve(text: str | None, parameter: str = "crs") -> OfferedCrs:
    """The offered CRS named by a URI (or a short ``EPSG:4545`` / ``[EPSG:4545]``), default CRS84."""
    table = offered()
    if not text:
        return table[CRS84_URI]
    key = text.strip().strip("[]<>")
    upper = key.upper()
    if upper in ("CRS84", "OGC:CRS84"):
        key = CRS84_URI
    elif upper.startswith("EPSG:") and upper[5:].isdigit():
        key = EPSG_URI.format(code=int(upper[5:]))
    elif key.startswith("https://"):
        key = "http://" + key[len("https://"):]
    if key not in table:
        raise InvalidInput(
            f"不支持的坐标参考系 {parameter}={text!r}，可用：{', '.join(table)} / "
            f"unsupported {parameter} {text!r}; offered: {', '.join(table)}")
    return table[key]


@lru_cache(maxsize=32)
def _transformer(uri: str, *, inverse: bool = False) -> Transformer:
    """Lon/lat on the CRS's own datum to the CRS (or back), x = east, y = north.

    Stored coordinates are WGS84 = CGCS2000 to a few centimetres (see
    :mod:`geo.crs`), so they are taken as lon/lat on the target's own datum.
    Asking PROJ for a WGS84→CGCS2000 datum change instead costs ~10 s per
    transformer to find only a null 'ballpark' shift.
    """
    crs = offered()[uri].crs
    geographic = crs.geodetic_crs or crs
    src, dst = (crs, geographic) if inverse else (geographic, crs)
    return Transformer.from_crs(src, dst, always_xy=True)


def _swap(geom: Any) -> Any:
    return shapely.transform(geom, lambda xy: xy[:, ::-1])


def geometries_to(geoms: list[Any], target: OfferedCrs) -> list[Any]:
    """CRS84 lon/lat geometries in ``target``, coordinates in its authority axis order."""
    if target.is_crs84:
        return geoms
    tr = _transformer(target.uri)

    def project(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        out = np.column_stack([y, x]) if target.north_first else np.column_stack([x, y])
        return np.asarray(out, dtype=np.float64)

    arr = np.asarray(geoms, dtype=object)
    return list(shapely.transform(arr, project))


def bbox_to_crs84(bbox: tuple[float, float, float, float], source: OfferedCrs) -> tuple[float, float, float, float]:
    """A request ``bbox`` given in ``source`` (its axis order) as a CRS84 lon/lat box."""
    a0, b0, a1, b1 = bbox
    if source.north_first:
        x0, y0, x1, y1 = b0, a0, b1, a1
    else:
        x0, y0, x1, y1 = a0, b0, a1, b1
    if source.is_crs84:
        return (x0, y0, x1, y1)
    if x0 > x1 or y0 > y1:
        raise InvalidInput(f"bbox 最小值大于最大值 / bbox min greater than max: {bbox}")
    lon0, lat0, lon1, lat1 = _transformer(source.uri, inverse=True).transform_bounds(x0, y0, x1, y1, densify_pts=21)
    if not all(np.isfinite([lon0, lat0, lon1, lat1])):
        raise InvalidInput(f"bbox 超出该坐标系的有效范围 / bbox outside the area of use of {source.uri}")
    return (float(lon0), float(lat0), float(lon1), float(lat1))


def bounds_in(geoms: list[Any]) -> list[float] | None:
    """Bounding box of already-transformed geometries, in their own axis order."""
    if not geoms:
        return None
    x0, y0, x1, y1 = shapely.total_bounds(np.asarray(geoms, dtype=object))
    return [float(x0), float(y0), float(x1), float(y1)]
