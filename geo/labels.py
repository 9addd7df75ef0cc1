"""Where a feature's name goes on the map: a point inside it, cheap to compute once per layer.

Polygons get their pole of inaccessibility (the interior point farthest from the edge, so the
name sits well inside even a crescent-shaped county; the largest part of a multipolygon),
lines their midpoint along the longest part, points themselves. Coordinates stay lon/lat:
the result is only a display anchor, never a measurement.
"""

from __future__ import annotations

from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel


def _largest(geom: BaseGeometry, key: str) -> BaseGeometry:
    parts = list(getattr(geom, "geoms", [geom]))
    return max(parts, key=lambda g: getattr(g, key))


def label_anchor(geom: BaseGeometry | None) -> tuple[float, float] | None:
    """A lon/lat point for a feature's label, or None for an empty geometry."""
    if geom is None or geom.is_empty:
        return None
    kind = geom.geom_type
    if kind in ("Polygon", "MultiPolygon"):
        part = _largest(geom, "area")
        size = max(part.bounds[2] - part.bounds[0], part.bounds[3] - part.bounds[1])
        point = polylabel(part, tolerance=max(size / 200, 1e-6))
    elif kind in ("LineString", "MultiLineString"):
        part = _largest(geom, "length")
        point = part.interpolate(0.5, normalized=True)
    elif kind in ("Point", "MultiPoint"):
        point = _largest(geom, "area") if kind == "MultiPoint" else geom
    else:  # GeometryCollection: the first labellable member
        for member in getattr(geom, "geoms", []):
            found = label_anchor(member)
            if found:
                return found
        return None
    return (round(point.x, 5), round(point.y, 5))


def sort_key(geom: BaseGeometry | None) -> float:
    """Larger features first (their names matter more and have room)."""
    if geom is None or geom.is_empty:
        return 0.0
    return -(geom.area or geom.length)
