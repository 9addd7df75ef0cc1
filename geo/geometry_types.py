"""One geometry type per layer, and RFC 7946 ring orientation.

Why: QGIS (and GDAL's OAPIF and GeoPackage drivers) give a layer one geometry
type; a collection that mixes points and polygons shows only one of them. A
layer is therefore served as one collection per geometry *family* (point,
line, polygon), and inside a family singles are promoted to the multi type
whenever both occur, so each collection declares exactly one type.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import shapely

Family = Literal["point", "line", "polygon"]
FAMILIES: tuple[Family, ...] = ("point", "line", "polygon")
FAMILY_OF: dict[str, Family] = {
    "Point": "point", "MultiPoint": "point",
    "LineString": "line", "MultiLineString": "line", "LinearRing": "line",
    "Polygon": "polygon", "MultiPolygon": "polygon",
}
SINGLE = {"point": "Point", "line": "LineString", "polygon": "Polygon"}
MULTI = {"point": "MultiPoint", "line": "MultiLineString", "polygon": "MultiPolygon"}
FAMILY_LABEL_ZH = {"point": "点", "line": "线", "polygon": "面"}
# JSON Schema ``format`` for a geometry property (OGC API – Features Part 3 queryables).
SCHEMA_FORMAT = {
    "Point": "geometry-point", "MultiPoint": "geometry-multipoint",
    "LineString": "geometry-linestring", "MultiLineString": "geometry-multilinestring",
    "Polygon": "geometry-polygon", "MultiPolygon": "geometry-multipolygon",
}


def family(geom: Any) -> Family | None:
    """Point, line or polygon family of a geometry (None for empty or collections)."""
    if geom is None or shapely.is_empty(geom):
        return None
    return FAMILY_OF.get(geom.geom_type)


def declared_type(types: Iterable[str], fam: Family) -> str:
    """The one type to declare for a family: the single type if all are single, else the multi type."""
    return SINGLE[fam] if set(types) <= {SINGLE[fam]} else MULTI[fam]


def promote(geoms: Sequence[Any], target: str) -> list[Any]:
    """Geometries as ``target`` (a multi type wraps singles; a single type leaves them)."""
    if not target.startswith("Multi"):
        return list(geoms)
    make = {"MultiPoint": shapely.MultiPoint, "MultiLineString": shapely.MultiLineString,
            "MultiPolygon": shapely.MultiPolygon}[target]
    return [g if g.geom_type == target else make([g]) for g in geoms]


def orient_rfc7946(geoms: Any) -> Any:
    """Exterior rings counter-clockwise, holes clockwise (RFC 7946 §3.1.6), in lon/lat."""
    arr = np.asarray(geoms, dtype=object)
    return shapely.orient_polygons(arr, exterior_cw=False)
