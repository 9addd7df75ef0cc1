"""Sites the plans place only as precisely as the evidence allows: ``located`` and ``host``.

A ``sites.yaml`` entry is one of

* ``precision: located`` – ``point: <GeoNames id>``: the feature is that gazetteer
  point, with a declared ``uncertainty_m`` (a GeoNames seat is ~1–3 km off);
* ``precision: host`` – ``host: [<layer>:<key>, …]``: the plan says only which unit
  (district, township, zone) the site is in. ``draw: seat`` puts a marker at the
  unit's seat (``seat: <GeoNames id>``, else a point inside the unit);
  ``draw: unit`` highlights the unit(s) themselves (co-operation areas).

The uncertainty of a host placement is never below the host unit's radius
(``sqrt(area/π)`` in an equal-area CRS): a site known only to its district is on
average that far from any one point of it. A host that is a seat *point*
(a township from the GeoNames layer) stands for the township's Voronoi cell
among the seats of its layer, clipped to the county it lies in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
import yaml
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.crs import EQUAL_AREA, LONLAT
from geo.errors import DataError
from layers.gazetteer import Place

# layer id -> features with the layer's key as a string column "key"
Lookup = Callable[[str], gpd.GeoDataFrame]
COUNTY_LAYER = "cq-counties"


def parse_ref(ref: str, where: str) -> tuple[str, str]:
    layer, sep, key = str(ref).partition(":")
    if not sep or not layer or not key:
        raise DataError(f"{where}: host {ref!r} must be '<layer>:<key>'")
    return layer, key


def _area_m2(geom: BaseGeometry) -> float:
    return float(gpd.GeoSeries([geom], crs=LONLAT).to_crs(EQUAL_AREA).area.iloc[0])


def radius_m(geom: BaseGeometry) -> float:
    """Radius of the circle with the unit's true area: the floor for a host placement's uncertainty."""
    return math.sqrt(_area_m2(geom) / math.pi)


def township_cell(points: gpd.GeoDataFrame, key: str, counties: gpd.GeoDataFrame) -> BaseGeometry:
    """The Voronoi cell of one seat point among its layer's seats, clipped to the county containing it."""
    row = points[points["key"] == key]
    if row.empty:
        raise DataError(f"no seat point {key!r}")
    seat = row.geometry.iloc[0]
    county = counties[counties.geometry.covers(seat)]
    if county.empty:
        raise DataError(f"seat point {key!r} lies in no county")
    shape = county.geometry.iloc[0]
    local = points[points.geometry.within(shape.buffer(0.2))]
    cells = shapely.voronoi_polygons(shapely.MultiPoint(list(local.geometry.values)), extend_to=shape.envelope.buffer(0.5))
    for cell in shapely.get_parts(cells):
        if cell.covers(seat):
            return shapely.make_valid(cell.intersection(shape))
    raise DataError(f"no Voronoi cell for seat point {key!r}")


def host_unit(ref: str, lookup: Lookup, where: str) -> BaseGeometry:
    """Geometry of one host unit; a seat point stands for its township cell."""
    layer_id, key = parse_ref(ref, where)
    gdf = lookup(layer_id)
    hit = gdf[gdf["key"] == key]
    if hit.empty:
        raise DataError(f"{where}: host {ref!r} is not a feature")
    geom = shapely.union_all(hit.geometry.values)
    if geom.geom_type == "Point":
        return township_cell(gdf, key, lookup(COUNTY_LAYER))
    return geom


def _own_uncertainty(ref: str, lookup: Lookup, where: str) -> float:
    layer_id, key = parse_ref(ref, where)
    gdf = lookup(layer_id)
    if "uncertainty_m" not in gdf:
        return 0.0
    values = gdf.loc[gdf["key"] == key, "uncertainty_m"].dropna()
    return float(values.max()) if len(values) else 0.0


def _seat_point(ref: str, lookup: Lookup, where: str) -> BaseGeometry | None:
    layer_id, key = parse_ref(ref, where)
    gdf = lookup(layer_id)
    hit = gdf[gdf["key"] == key]
    geom = hit.geometry.iloc[0] if len(hit) == 1 else None
    return geom if geom is not None and geom.geom_type == "Point" else None


def build_sites(path: Path, key_field: str, lookup: Lookup, gazetteer: Mapping[str, Place]) -> gpd.GeoDataFrame:
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read sites: {exc}") from exc
    if not isinstance(entries, list):
        raise DataError(f"{path}: sites file must be a YAML list")
    rows = []
    for i, entry in enumerate(entries):
        where = f"{path} entry {i} ({entry.get('key')})"
        rows.append({key_field: str(entry.get("key")), **site_row(entry, lookup, gazetteer, where)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=LONLAT)


def _gazetteer_point(gid: Any, gazetteer: Mapping[str, Place], where: str) -> tuple[Point, Place]:
    place = gazetteer.get(str(gid))
    if place is None:
        raise DataError(f"{where}: GeoNames {gid} is not in data/gazetteer")
    return Point(place.lon, place.lat), place


def site_row(entry: Mapping[str, Any], lookup: Lookup, gazetteer: Mapping[str, Place], where: str) -> dict[str, Any]:
    """One feature's geometry and provenance columns from a sites.yaml entry."""
    precision = entry.get("precision")
    basis = str(entry.get("placement_basis") or "").strip()
    if not entry.get("key") or not basis:
        raise DataError(f"{where}: needs 'key' and 'placement_basis'")
    if precision == "located":
        point, place = _gazetteer_point(entry.get("point"), gazetteer, where)
        declared = float(entry.get("uncertainty_m") or 0)
        if declared <= 0:
            raise DataError(f"{where}: a located point needs uncertainty_m > 0")
        return {"precision": "located", "placement_basis": basis, "uncertainty_m": declared,
                "host_units": None, "host_radius_m": None, "draw": "seat",
                "geometry_source": f"GeoNames {place.geonameid} {place.name_zh[0] if place.name_zh else place.name}",
                "geometry": point}
    if precision != "host":
        raise DataError(f"{where}: precision must be 'located' or 'host', got {precision!r}")
    refs = entry.get("host")
    refs = [refs] if isinstance(refs, str) else list(refs or [])
    if not refs:
        raise DataError(f"{where}: a host placement needs 'host: [<layer>:<key>, …]'")
    unit = shapely.union_all([host_unit(r, lookup, where) for r in refs])
    radius = radius_m(unit)
    # a host that is itself a schematic carries its own uncertainty; a site in it is no better placed
    inherited = max((_own_uncertainty(r, lookup, where) for r in refs), default=0.0)
    declared = float(entry.get("uncertainty_m") or 0)
    draw = entry.get("draw", "seat")
    if draw == "unit":
        geom = unit
        source = "host unit(s): " + ", ".join(refs)
    elif draw == "seat":
        if entry.get("seat") is not None:
            geom, place = _gazetteer_point(entry["seat"], gazetteer, where)
            if not unit.buffer(1e-6).covers(geom):
                raise DataError(f"{where}: seat GeoNames {place.geonameid} lies outside its host unit")
            source = f"seat of {', '.join(refs)}: GeoNames {place.geonameid}"
        elif len(refs) == 1 and (seat_point := _seat_point(refs[0], lookup, where)) is not None:
            geom = seat_point  # the host is itself a seat (a township's GeoNames point)
            source = f"seat point {refs[0]}"
        else:
            geom = unit.representative_point()
            source = f"a point inside {', '.join(refs)} (no seat given)"
    else:
        raise DataError(f"{where}: draw must be 'seat' or 'unit', got {draw!r}")
    return {"precision": "host", "placement_basis": basis, "uncertainty_m": round(max(declared, radius, inherited)),
            "host_units": ",".join(refs), "host_radius_m": round(radius), "draw": draw,
            "geometry_source": source, "geometry": geom}
