"""Mapbox Vector Tiles from lon/lat features, with the maintained ``mapbox-vector-tile`` encoder.

PostGIS builds its tiles itself (``ST_AsMVT``/``ST_AsMVTGeom``); this module
does the same job for the GeoPackage store and for the small catalogue
layers: project to Web Mercator, clip to the tile plus a buffer, simplify to
one tile unit (so geometry is "simplified per zoom" exactly as ST_AsMVTGeom's
grid snap does), scale to the 4096-unit tile grid (y down) and hand the
result to ``mapbox_vector_tile.encode`` — the protobuf is never written here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely
from numpy.typing import NDArray

from geo.errors import InvalidInput

Bbox = tuple[float, float, float, float]
EXTENT = 4096
BUFFER = 64  # tile units of context around each tile, so strokes meet across tile edges
R = 6378137.0
HALF = math.pi * R  # half the Web-Mercator world width (m)
MAX_LAT = 85.0511287798066
COALESCE_OVER = 400  # more features than this in one tile: merged per style class (see encode_tile)


def check_tile(z: int, x: int, y: int) -> None:
    if not (0 <= z <= 22 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidInput(f"瓦片坐标无效 / no such tile: z={z} x={x} y={y} (0 <= z <= 22, 0 <= x, y < 2^z)")


def tile_bounds_merc(z: int, x: int, y: int) -> Bbox:
    size = 2 * HALF / 2**z
    x0 = -HALF + x * size
    y1 = HALF - y * size
    return (x0, y1 - size, x0 + size, y1)


def _lat(ym: float) -> float:
    return math.degrees(2 * math.atan(math.exp(ym / R)) - math.pi / 2)


def tile_bounds_lonlat(z: int, x: int, y: int, *, buffer: float = 0.0) -> Bbox:
    """The tile (plus ``buffer`` tile units on every side) as a lon/lat box."""
    x0, y0, x1, y1 = tile_bounds_merc(z, x, y)
    pad = (x1 - x0) * buffer / EXTENT
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    return (max(-180.0, math.degrees(x0 / R)), max(-MAX_LAT, _lat(y0)),
            min(180.0, math.degrees(x1 / R)), min(MAX_LAT, _lat(y1)))


def to_mercator(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    def _xy(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        lat = np.radians(np.clip(xy[:, 1], -MAX_LAT, MAX_LAT))
        return np.column_stack([np.radians(xy[:, 0]) * R, R * np.log(np.tan(np.pi / 4 + lat / 2))])

    return shapely.transform(geoms, _xy)  # type: ignore[no-any-return]


def encode_tile(layer_name: str, geoms: NDArray[np.object_], fids: Sequence[int | None],
                properties: Sequence[dict[str, Any]], z: int, x: int, y: int, *,
                coalesce_by: Sequence[str] | None = None, coalesce_over: int = COALESCE_OVER) -> bytes:
    """One MVT layer named ``layer_name`` holding the given lon/lat features, clipped and simplified for the tile.

    With ``coalesce_by`` (the style columns), a tile of more than ``coalesce_over`` features is drawn as one
    feature per style class: the class's polygons merged (GEOS coverage union: adjacent parcels share
    edges), carrying ``pv_count``, the number of features it stands for, and no id (zoom in to pick one).
    The encoder's cost is per feature and vertex, so this is what bounds a dense tile's time."""
    x0, y0, x1, y1 = tile_bounds_merc(z, x, y)
    scale = EXTENT / (x1 - x0)
    pad = BUFFER / scale
    merc = to_mercator(np.asarray(geoms, dtype=object))
    clipped = _clip(merc, (x0 - pad, y0 - pad, x1 + pad, y1 + pad))

    def _tile_xy(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([(xy[:, 0] - x0) * scale, (y1 - xy[:, 1]) * scale])

    local = shapely.transform(clipped, _tile_xy)
    # simplified to one tile unit, snapped to the integer grid (valid, collapsed parts dropped) and wound as
    # MVT wants (exterior positive area in y-down tile coordinates), all vectorised in GEOS: the encoder then
    # only serialises.
    local = shapely.simplify(local, 1.0, preserve_topology=False)
    local = shapely.remove_repeated_points(shapely.transform(local, np.round))
    local = shapely.orient_polygons(local, exterior_cw=False)
    keep = ~(shapely.is_empty(local) | shapely.is_missing(local))
    merged: list[dict[str, Any]] = []
    polygonal = keep & np.isin(shapely.get_type_id(local), (3, 6))
    if coalesce_by is not None and int(polygonal.sum()) > coalesce_over:  # points and lines stay single
        idx = np.flatnonzero(polygonal).tolist()
        merged = _coalesced(local[idx], [properties[i] for i in idx], list(coalesce_by))
        keep &= ~polygonal
    features = []
    for i in np.flatnonzero(keep).tolist():
        feature = {"geometry": local[i], "properties": {k: v for k, v in properties[i].items() if v is not None}}
        fid = fids[i]
        if fid is not None:  # a generalised (overview) feature has no id: it is no single feature
            feature["id"] = int(fid)
        features.append(feature)
    return _encode(layer_name, merged + features)


def _clip(geoms: NDArray[np.object_], box: Bbox) -> NDArray[np.object_]:
    """Geometries clipped to the box: GEOS's fast rectangle clip, or — where it refuses a valid polygon whose edges
    lie on the box (it happens with grid-aligned overview cells) — the exact intersection, polygons kept."""
    try:
        return shapely.clip_by_rect(geoms, *box)  # type: ignore[no-any-return]
    except shapely.errors.GEOSException:
        pass
    out = shapely.intersection(geoms, shapely.box(*box))
    # a polygon touching the box leaves a line or point there: keep only what is of the input's dimension
    dim = shapely.get_dimensions(geoms)
    for i in np.flatnonzero((shapely.get_dimensions(out) != dim) | (shapely.get_type_id(out) == 7)).tolist():
        parts = shapely.get_parts(out[i])
        keep = parts[shapely.get_dimensions(parts) == dim[i]]
        out[i] = shapely.union_all(keep) if len(keep) else shapely.Polygon()
    return out  # type: ignore[no-any-return]


def _coalesced(local: NDArray[np.object_], properties: list[dict[str, Any]], by: list[str]) -> list[dict[str, Any]]:
    keys = [tuple(p.get(c) for c in by) for p in properties]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    out = []
    for key, idx in groups.items():
        try:
            merged = shapely.coverage_union_all(local[idx])
        except shapely.errors.GEOSException:  # not noded as a coverage (e.g. parcels over a generalised overview)
            merged = shapely.union_all(shapely.make_valid(local[idx]))
        if not shapely.is_valid(merged):  # the input was not a clean coverage (overlaps): repair, still cheap
            merged = shapely.make_valid(merged, method="structure", keep_collapsed=False)
        merged = shapely.remove_repeated_points(shapely.transform(shapely.simplify(merged, 1.0), np.round))
        merged = shapely.make_valid(merged, method="structure", keep_collapsed=False)
        polys = [g for g in shapely.get_parts(shapely.get_parts(merged)) if shapely.get_type_id(g) == 3]
        if not polys:
            continue
        merged = shapely.orient_polygons(shapely.multipolygons(polys), exterior_cw=False)
        props = {c: v for c, v in zip(by, key, strict=True) if v is not None}
        # overview features already stand for pv_count features each; the merge stays generalised if one was
        props["pv_count"] = int(sum(int(properties[i].get("pv_count") or 1) for i in idx))
        if any(properties[i].get("pv_generalised") for i in idx):
            props["pv_generalised"] = 1
            props["pv_zoom"] = max(int(properties[i].get("pv_zoom") or 0) for i in idx)
        out.append({"geometry": merged, "properties": props})
    return out


def _encode(layer_name: str, features: list[dict[str, Any]]) -> bytes:
    if not features:
        return b""
    return mapbox_vector_tile.encode(  # type: ignore[no-any-return]
        [{"name": layer_name, "features": features}],
        default_options={"extents": EXTENT, "y_coord_down": True, "check_winding_order": False},
    )
