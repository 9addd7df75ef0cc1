"""合规性审查: every site against every ``control`` layer of the store (三区三线, land-use plans).

For each site and control layer: the area (m², 公顷, 亩) and share of the site
inside each control class, with the class's meaning from the layer manifest
(``control.classes``: forbid → a conflict, restrict → a note, allow → nothing)
and the layer's provenance (source file, SHA-256, CRS, version).

Against 10⁶ polygons this must not touch the whole layer: the store's index
(GeoPackage R-tree / PostGIS GiST) returns the features whose bounding box
meets each site's, and only those candidates are intersected exactly — in
:data:`geo.crs.EQUAL_AREA` metres, as the rest of the overlay measures.
Overlaps are measured pair by pair in one vectorised call and summed per
(site, class): authoritative layers are topologically checked, so a class's
polygons do not overlap; where they add up to more than the site they are
unioned instead. Overlaps smaller than that are counted twice — run a
topology check on the data before import if it may hold them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo.overlay import M2_PER_HA, M2_PER_MU, project
from layers.store.model import LayerStore, StoredLayer

EFFECT_LABELS = {"forbid": "禁止建设", "restrict": "限制建设", "allow": "允许建设"}


@dataclass(frozen=True)
class ControlSource:
    """One control layer and the store that holds it."""

    store: LayerStore
    layer: StoredLayer


def control_sources(store: LayerStore, layers: Sequence[StoredLayer]) -> list[ControlSource]:
    return [ControlSource(store, layer) for layer in layers
            if layer.manifest.role == "control" and layer.manifest.control is not None]


def layer_provenance(layer: StoredLayer) -> dict[str, Any]:
    p = layer.manifest.provenance
    return {"id": layer.id, "title": layer.manifest.title, "version": layer.version, "table": layer.table,
            "file": p.get("file"), "sha256": p.get("sha256"), "crs": (p.get("crs") or {}).get("label"),
            "imported": p.get("imported"), "feature_count": layer.feature_count,
            "class_field": layer.manifest.control.class_field if layer.manifest.control else None}


def check_sites(sites: gpd.GeoDataFrame, sources: Sequence[ControlSource]) -> tuple[list[dict[str, Any]],
                                                                                     list[dict[str, Any]]]:
    """(per-site compliance dicts, the control layers with provenance) for lon/lat ``sites``."""
    n = len(sites)
    out: list[dict[str, Any]] = [{"classes": [], "conflicts": [], "notes": []} for _ in range(n)]
    if not sources or n == 0:
        return out, [layer_provenance(s.layer) for s in sources]
    lonlat = np.asarray(sites.geometry.values, dtype=object)
    site_m = project(lonlat)
    site_area = shapely.area(site_m)  # m² (EQUAL_AREA)
    shapely.prepare(site_m)
    boxes = shapely.bounds(lonlat)
    for source in sources:
        _check_layer(source, boxes, site_m, site_area, out)
    for rep in out:
        rep["classes"].sort(key=lambda c: (c["layer"], -(c["area_m2"] or 0), c["class"]))
    return out, [layer_provenance(s.layer) for s in sources]


def _check_layer(source: ControlSource, boxes: np.ndarray, site_m: np.ndarray, site_area: np.ndarray,
                 out: list[dict[str, Any]]) -> None:
    layer = source.layer
    spec = layer.manifest.control
    assert spec is not None
    box_i, feat_i, batch = source.store.candidates(layer, boxes, columns=[spec.class_field])
    if len(box_i) == 0:
        return
    feat_m = project(batch.geoms)
    hit = shapely.intersects(site_m[box_i], feat_m[feat_i])  # exact test, candidates only
    box_i, feat_i = box_i[hit], feat_i[hit]
    classes = np.asarray([str(v) for v in batch.columns[spec.class_field]], dtype=object)
    polygonal = site_area > 0
    # exact overlap of every candidate pair at once (vectorised in GEOS), summed per (site, class):
    # authoritative layers (三区三线, 三调) are topologically checked, so one class's polygons do not
    # overlap; a group whose pieces add up to more than the site (overlapping data) is unioned instead.
    pair_area = np.zeros(len(box_i))
    poly_pairs = polygonal[box_i]
    if poly_pairs.any():
        # a parcel the (prepared) site covers overlaps it by its own area: only the pairs that cross the
        # site's edge need the exact overlay, the expensive part
        sites_p, feats_p = site_m[box_i[poly_pairs]], feat_m[feat_i[poly_pairs]]
        covered = shapely.covers(sites_p, feats_p)
        areas = shapely.area(feats_p)
        crossing = np.flatnonzero(~covered)
        areas[crossing] = shapely.area(shapely.intersection(sites_p[crossing], feats_p[crossing]))
        pair_area[poly_pairs] = areas
    groups: dict[tuple[int, str], list[int]] = {}
    for k, (s, f) in enumerate(zip(box_i.tolist(), feat_i.tolist(), strict=True)):
        groups.setdefault((s, classes[f]), []).append(k)
    for (s, cls), pairs in sorted(groups.items()):
        rule = spec.effect_of(cls)
        feats = feat_i[pairs]
        if polygonal[s]:
            area = float(pair_area[pairs].sum())
            if area > site_area[s] * (1 + 1e-9):  # overlapping polygons in one class: measure their union
                area = float(shapely.area(shapely.union_all(shapely.intersection(site_m[s], feat_m[feats]))))
            if area <= 0:
                continue
            share: float | None = min(area / site_area[s], 1.0)
        else:
            area, share = 0.0, None
        entry = {
            "layer": layer.id, "layer_title": layer.manifest.title, "class": cls, "effect": rule.effect,
            "effect_label": EFFECT_LABELS[rule.effect], "note": rule.note,
            "area_m2": round(area, 2) if polygonal[s] else None,
            "area_ha": round(area / M2_PER_HA, 4) if polygonal[s] else None,
            "area_mu": round(area / M2_PER_MU, 3) if polygonal[s] else None,
            "share": round(share, 4) if share is not None else None, "features": len(feats),
        }
        rep = out[s]
        rep["classes"].append(entry)
        where = (f"{entry['area_ha']} 公顷（{entry['area_mu']} 亩，占 {share:.1%}）" if share is not None
                 else "场地位于其中 / the site lies in it")
        text = f"{layer.manifest.title}·{cls}：{where}" + (f"。{rule.note}" if rule.note else "")
        if rule.effect == "forbid":
            rep["conflicts"].append(text)
        elif rule.effect == "restrict":
            rep["notes"].append(text)
