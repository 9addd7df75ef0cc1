"""Chinese datum offsets: GCJ-02 (Amap, Tencent) and BD-09 (Baidu).

GCJ-02 is WGS84 plus a deliberately obfuscated, position-dependent offset
(~300-700 m in Chongqing); BD-09 adds a further rotation/shift on top of
GCJ-02. The forward formula is the widely published one (e.g. ``eviltransform``,
``coordtransform``). There is no closed-form inverse, so ``gcj02_to_wgs84``
iterates the forward formula (fixed point) until the residual is below 1e-9
degrees (~0.1 mm), which is exact for our purposes, unlike the common one-step
"subtract the offset" approximation that leaves metres of error.

All functions are vectorised over NumPy arrays, take (lon, lat) order and work
on arrays of any shape. Points outside mainland China are returned unchanged,
as the offset is only applied inside China.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

Float = NDArray[np.float64]


def _outside_china(lon: Float, lat: Float) -> NDArray[np.bool_]:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _transform_lat(x: Float, y: Float) -> Float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: Float, y: Float) -> Float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lon: Float, lat: Float) -> tuple[Float, Float]:
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    """Forward GCJ-02 obfuscation of WGS84 lon/lat."""
    x, y = _as_arrays(lon, lat)
    dlon, dlat = _gcj_offset(x, y)
    return x + dlon, y + dlat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike, *, tol: float = 1e-9) -> tuple[Float, Float]:
    """Exact inverse of :func:`wgs84_to_gcj02` by fixed-point iteration.

    Starts from the one-step approximation and refines ``w = g - offset(w)``;
    the offset field is smooth, so this converges in 3-5 iterations.
    """
    gx, gy = _as_arrays(lon, lat)
    dlon, dlat = _gcj_offset(gx, gy)
    wx, wy = gx - dlon, gy - dlat
    for _ in range(30):
        fx, fy = wgs84_to_gcj02(wx, wy)
        ex, ey = fx - gx, fy - gy
        wx, wy = wx - ex, wy - ey
        if np.all(np.abs(ex) < tol) and np.all(np.abs(ey) < tol):
            break
    return wx, wy


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    """Baidu BD-09 to GCJ-02 (the published inverse of Baidu's shift)."""
    x, y = _as_arrays(lon, lat)
    x = x - 0.0065
    y = y - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    """GCJ-02 to Baidu BD-09."""
    x, y = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    """Baidu BD-09 to WGS84 (via the exact GCJ-02 inverse)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    """WGS84 to Baidu BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


G = TypeVar("G")

_CONVERTERS: dict[str, Callable[[ArrayLike, ArrayLike], tuple[Float, Float]]] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}

OFFSET_DATUMS = tuple(_CONVERTERS)


def to_wgs84(geometry: G, datum: str) -> G:
    """Convert shapely geometry (scalar or array) in an offset datum to WGS84 lon/lat."""
    try:
        convert = _CONVERTERS[datum]
    except KeyError:
        raise ValueError(f"unknown offset datum {datum!r}; expected one of {OFFSET_DATUMS}") from None

    def _xy(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = convert(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geometry, _xy)  # type: ignore[no-any-return]
