"""``planview layers check``: validate the whole catalogue, report every problem.

Collects problems instead of stopping at the first, so one run tells an
editor everything to fix: manifests, geometry (valid, in range, right CRS),
the join, precision declarations, legends, citations and indicator tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from shapely.geometry import Point

from geo.crs import EQUAL_AREA
from geo.errors import DataError, PlanviewError
from layers.catalogue import Layer, jsonable, load_layer
from layers.citations import citation_problem
from layers.gazetteer import Place, cited_ids, load_gazetteer
from layers.inventory import inventory_path, inventory_problems, load_inventory
from layers.manifest import PRECISIONS
from layers.maps import load_maps
from layers.plannotes import check_notes
from layers.sites import host_unit, radius_m
from layers.tables import load_indicator_table

# Everything the plans map lies in Chongqing (105.3-110.2 E, 28.2-32.2 N); a
# margin allows for the 万开云 corridor's edges. Outside means a CRS mistake.
CHONGQING_RANGE = (105.0, 28.0, 110.5, 32.5)


def _geometry_problems(layer: Layer) -> list[str]:
    out = []
    gdf = layer.features
    where = f"layer {layer.id}"
    invalid = [k for k, g in zip(gdf[layer.manifest.key], gdf.geometry, strict=True)
               if g is None or g.is_empty or not g.is_valid]
    if invalid:
        out.append(f"{where}: invalid or empty geometry for keys {invalid}")
    x0, y0, x1, y1 = CHONGQING_RANGE
    outside = [k for k, g in zip(gdf[layer.manifest.key], gdf.geometry, strict=True)
               if g is not None and not g.is_empty and not shapely.box(x0, y0, x1, y1).contains(g)]
    if outside:
        out.append(f"{where}: geometry outside Chongqing lon/lat range (wrong CRS or axis order?) for keys {outside}")
    return out


def _precision_problems(layer: Layer) -> list[str]:
    m = layer.manifest
    kinds = set(layer.features["precision"])
    declared = set(PRECISIONS) if m.precision == "mixed" else {m.precision}
    out = []
    if not kinds <= declared or (m.precision != "mixed" and kinds != declared):
        out.append(f"layer {m.id}: manifest says precision {m.precision!r} but features are {sorted(kinds)}")
    for kind in ("schematic", "located", "host"):
        placed = layer.features[layer.features["precision"] == kind]
        for col in ("placement_basis", "uncertainty_m"):
            if len(placed) and (col not in placed or placed[col].isna().any()):
                out.append(f"layer {m.id}: {kind} features need {col!r}")
    return out


def host_problems(layer: Layer, layers: dict[str, Layer]) -> list[str]:
    """A ``host`` placement's uncertainty is never below its host unit's radius (recomputed here)."""
    if "host_units" not in layer.features:
        return []
    hosted = layer.features[layer.features["precision"] == "host"]
    if hosted.empty:
        return []

    def lookup(layer_id: str) -> gpd.GeoDataFrame:
        if layer_id not in layers:
            raise DataError(f"unknown layer {layer_id!r}")
        other = layers[layer_id]
        out = other.features[[other.manifest.key, "geometry"]].rename(columns={other.manifest.key: "key"})
        out["key"] = out["key"].astype(str)
        return out

    out = []
    key = layer.manifest.key
    for _, row in hosted.iterrows():
        where = f"layer {layer.id} feature {row[key]!r}"
        refs = [r for r in str(row["host_units"] or "").split(",") if r]
        if not refs:
            out.append(f"{where}: host precision needs host_units")
            continue
        try:
            radius = radius_m(shapely.union_all([host_unit(r, lookup, where) for r in refs]))
        except PlanviewError as exc:
            out.append(exc.message)
            continue
        if float(row["uncertainty_m"]) + 1 < radius:
            out.append(f"{where}: uncertainty_m {row['uncertainty_m']} is below the radius of its host "
                       f"{','.join(refs)} ({radius:.0f} m)")
    return out


def inventory_check(data_dir: Path, plans_dir: Path, layers: dict[str, Layer]) -> list[str]:
    if not inventory_path(data_dir).exists():
        return []
    try:
        inv = load_inventory(data_dir)
    except PlanviewError as exc:
        return [exc.message]
    features = {lid: layer.features for lid, layer in layers.items()}
    keys = {lid: layer.manifest.key for lid, layer in layers.items()}
    return inventory_problems(inv, plans_dir, features, keys)


def _legend_problems(layer: Layer) -> list[str]:
    legend = layer.manifest.legend
    if legend is None or legend.field is None:
        return []
    if legend.field not in layer.features.columns:
        return [f"layer {layer.id}: legend field {legend.field!r} is not an attribute"]
    values = {str(v) for v in layer.features[legend.field] if jsonable(v) is not None}
    missing = sorted(values - {c.value for c in legend.categories})
    return [f"layer {layer.id}: legend has no category for values {missing}"] if missing else []


def anchor_problems(layer: Layer, gazetteer: dict[str, Place]) -> list[str]:
    """Schematics citing ``GeoNames <id>`` must lie within ``uncertainty_m`` of that point."""
    if "placement_basis" not in layer.features:
        return []
    out = []
    key = layer.manifest.key
    for _, row in layer.features.iterrows():
        basis = row["placement_basis"] if isinstance(row["placement_basis"], str) else None
        for gid in cited_ids(basis):
            place = gazetteer.get(gid)
            if place is None:
                out.append(f"layer {layer.id} feature {row[key]!r}: cites GeoNames {gid}, not in data/gazetteer")
                continue
            pair = gpd.GeoSeries([row.geometry, Point(place.lon, place.lat)], crs="EPSG:4326").to_crs(EQUAL_AREA)
            metres = float(pair.iloc[0].distance(pair.iloc[1]))
            if metres > float(row["uncertainty_m"]):
                out.append(f"layer {layer.id} feature {row[key]!r}: {metres:.0f} m from GeoNames {gid} "
                           f"({place.name_zh[0] if place.name_zh else place.name}) exceeds uncertainty_m {row['uncertainty_m']}")
    return out


def _citation_problems(layer: Layer, plans_dir: Path) -> list[str]:
    out = []
    if layer.manifest.role == "reference":  # cited by dataset (name, version, licence), not by a plan sentence
        return [f"layer {layer.id} feature {row.get(layer.manifest.key)!r}: reference features need a dataset 'source'"
                for row in layer.properties() if not str(row.get("source") or "").strip()]
    for row in layer.properties():
        problem = citation_problem(row.get("source"), row.get("quote"), plans_dir)
        if problem:
            out.append(f"layer {layer.id} feature {row.get(layer.manifest.key)!r}: {problem}")
    return out


def _indicator_problems(data_dir: Path, plans_dir: Path) -> list[str]:
    out = []
    for path in sorted((data_dir / "indicators").glob("*.yaml")):
        try:
            table = load_indicator_table(path)
        except PlanviewError as exc:
            out.append(exc.message)
            continue
        for i, row in enumerate(table["indicators"]):
            row_d: dict[str, Any] = row if isinstance(row, dict) else {}
            problem = citation_problem(table.get("source"), row_d.get("quote"), plans_dir)
            if problem:
                out.append(f"{path} indicator {i} ({row_d.get('name')}): {problem}")
    return out


def check_all(data_dir: Path, build_dir: Path, plans_dir: Path) -> list[str]:
    """Every problem in the catalogue, as readable lines; empty when all is well."""
    problems: list[str] = []
    layers: dict[str, Layer] = {}
    for manifest_path in sorted((data_dir / "layers").glob("*/manifest.yaml")):
        try:
            layers[manifest_path.parent.name] = load_layer(manifest_path, data_dir, build_dir)
        except PlanviewError as exc:
            problems.append(exc.message)
    gazetteer_path = data_dir / "gazetteer" / "geonames-chongqing.tsv"
    gazetteer = load_gazetteer(gazetteer_path) if gazetteer_path.exists() else {}
    for layer in layers.values():
        problems += anchor_problems(layer, gazetteer)
        problems += _geometry_problems(layer)
        problems += _precision_problems(layer)
        problems += host_problems(layer, layers)
        problems += _legend_problems(layer)
        problems += _citation_problems(layer, plans_dir)
        for key, table in layer.manifest.indicators.items():
            if not (data_dir / "indicators" / f"{table}.yaml").exists():
                problems.append(f"layer {layer.id}: indicator table {table!r} for {key!r} does not exist")
    problems += _indicator_problems(data_dir, plans_dir)
    problems += inventory_check(data_dir, plans_dir, layers)
    problems += check_notes(data_dir / "plans", plans_dir, {(layer.id, str(k)) for layer in layers.values()
                                        for k in layer.features[layer.manifest.key]})
    try:
        for definition in load_maps(data_dir).values():
            for ml in definition.layers:
                if ml.id not in layers and not (data_dir / "layers" / ml.id).exists():
                    problems.append(f"map {definition.id}: unknown layer {ml.id!r}")
    except PlanviewError as exc:
        problems.append(exc.message)
    return problems
