"""Schematic (示意) shapes for places the plans name without a boundary.

A schematic is drawn from declared parameters (centre, area the plan gives,
orientation, path) in a local equal-area projection, so that "10 km²" in the
plan is 10 km² on the ground, and is clipped to the county it must lie in.
It is never presented as a boundary: callers mark it ``precision=schematic``
with the basis for its placement and an uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from shapely.affinity import rotate, scale
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from geo.crs import LONLAT, transformer
from geo.errors import DataError

SHAPES = ("ellipse", "point", "corridor")


def _local_crs(lon: float, lat: float) -> str:
    return CRS.from_proj4(f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +ellps=GRS80 +units=m").to_wkt()


def _project(geom: BaseGeometry, src: str, dst: str) -> BaseGeometry:
    t = transformer(src, dst)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def ellipse(center: Sequence[float], area_km2: float, axis_ratio: float = 1.0, bearing_deg: float = 0.0) -> BaseGeometry:
    """An ellipse of the given true area around a lon/lat centre."""
    if area_km2 <= 0 or axis_ratio < 1:
        raise ValueError("area_km2 must be > 0 and axis_ratio >= 1")
    lon, lat = float(center[0]), float(center[1])
    local = _local_crs(lon, lat)
    minor = math.sqrt(area_km2 * 1e6 / (math.pi * axis_ratio))
    shape = scale(Point(0, 0).buffer(1.0, quad_segs=32), xfact=minor, yfact=minor * axis_ratio)
    shape = rotate(shape, -bearing_deg, origin=(0, 0))  # bearing is clockwise from north
    return _project(shape, local, LONLAT)


def corridor(path: Sequence[Sequence[float]], width_km: float) -> BaseGeometry:
    """A band of the given width along a lon/lat path."""
    if len(path) < 2 or width_km <= 0:
        raise ValueError("a corridor needs >= 2 path vertices and width_km > 0")
    lon0, lat0 = path[0]
    local = _local_crs(float(lon0), float(lat0))
    line = _project(LineString([(float(x), float(y)) for x, y in path]), LONLAT, local)
    return _project(line.buffer(width_km * 500.0, quad_segs=8), local, LONLAT)


def build_shape(entry: Mapping[str, Any], counties: Mapping[str, BaseGeometry], *, where: str) -> BaseGeometry:
    """Turn one ``schematic.yaml`` entry into lon/lat geometry, clipped to its county."""
    kind = entry.get("shape")
    try:
        if kind == "ellipse":
            geom = ellipse(entry["center"], float(entry["area_km2"]), float(entry.get("axis_ratio", 1.0)),
                           float(entry.get("bearing_deg", 0.0)))
        elif kind == "point":
            geom = Point(float(entry["center"][0]), float(entry["center"][1]))
        elif kind == "corridor":
            paths = entry["paths"] if "paths" in entry else [entry["path"]]
            geom = shapely.union_all([corridor(p, float(entry["width_km"])) for p in paths])
        else:
            raise DataError(f"{where}: shape {kind!r} is not one of {SHAPES}")
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: bad {kind} parameters: {exc!r}") from exc
    within = entry.get("within")
    if within is not None:
        # one adcode, or a list: a zone the plan assigns to several counties is clipped to their union
        codes = [str(c) for c in within] if isinstance(within, list) else [str(within)]
        unknown = [c for c in codes if c not in counties]
        if unknown:
            raise DataError(f"{where}: 'within' names unknown county {unknown}")
        county = shapely.union_all([counties[c] for c in codes])
        if not geom.intersects(county):
            raise DataError(f"{where}: shape lies outside county {within}")
        if kind != "point":
            geom = shapely.make_valid(geom.intersection(county))
    return geom
