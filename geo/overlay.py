"""Overlay analysis: where each project site falls in the plans (pure; no I/O).

For every site: its county and "一区两群" group, every plan zone it
intersects with the overlap in m² / 公顷 / 亩 and the share of the site, the
nearest zone and its distance when it intersects none, whether it lies in a
corridor (a zone whose ``kind`` is ``corridor``), and whether its declared
industry matches the zone's leading industries.

Everything is measured in :data:`geo.crs.EQUAL_AREA` (true areas; distances
within 0.1 % across Chongqing), never in degrees. Speed comes from doing the
expensive work once per catalogue in :class:`ZoneIndex` (projection, prepared
geometries, a tree of short boundary pieces) and, per upload, from

* one STRtree query with the *zones* as prepared query geometries;
* a containment shortcut (``covers`` on prepared zones) before any intersection,
  so only sites straddling a zone edge pay for an overlay;
* a nearest search over short boundary pieces (at most :data:`CHUNK` vertices
  each) rather than whole detailed polygons: for a site outside every zone, the
  distance to a zone *is* the distance to its nearest boundary piece, so the
  bounded search (:data:`NEAR_KM` first, then unbounded for the few left) is
  exact and each distance costs O(CHUNK) instead of O(zone vertices).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.crs import EQUAL_AREA, LONLAT, transformer

M2_PER_MU = 10000.0 / 15.0
M2_PER_HA = 10000.0
CHUNK = 32  # vertices per boundary piece in the nearest-zone tree
NEAR_KM = 20.0  # first, bounded nearest search radius

POSITIONING_FIELDS = ("positioning", "role", "function", "orientation", "direction", "功能定位", "定位")
INDUSTRY_FIELDS = ("industries", "leading_industries", "key_industries", "industry", "主导产业", "产业")
COUNTY_FIELDS = ("name", "region", "subregion", "group")
_SPLIT = re.compile(r"[、,，;；/|\s]+")

Objects = NDArray[np.object_]


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ZoneLayer:
    """One plan layer's features (lon/lat) as the overlay sees them."""

    id: str
    title: str
    features: gpd.GeoDataFrame
    key_field: str = "key"
    name_field: str = "name"


def as_list(value: Any) -> list[str]:
    """Industries as a list of strings, whether stored as a list, an array or delimited text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [p for p in _SPLIT.split(str(value)) if p]


def _first(row: dict[str, Any], fields: Sequence[str]) -> Any:
    for f in fields:
        v = row.get(f)
        if v is not None and not (isinstance(v, float) and math.isnan(v)) and (not isinstance(v, str) or v.strip()):
            return v
    return None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, list | tuple | np.ndarray):
        return "；".join(str(v) for v in value)
    return str(value)


def project(geoms: Objects) -> Objects:
    """Lon/lat geometries into :data:`EQUAL_AREA` metres."""
    t = transformer(LONLAT, EQUAL_AREA)

    def _xy(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = t.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, _xy)  # type: ignore[no-any-return]


def boundary_pieces(geoms: Objects, chunk: int = CHUNK) -> tuple[Objects, NDArray[np.intp]]:
    """Short linestrings covering every ring/line of ``geoms`` (points kept), with their owner index.

    The union of the pieces is the boundary, so for anything outside a polygon its
    distance to the polygon equals its distance to the nearest piece.
    """
    parts, owner = shapely.get_parts(geoms, return_index=True)
    kinds = shapely.get_type_id(parts)
    polys = kinds == 3
    rings, ring_part = shapely.get_rings(parts[polys], return_index=True)
    ring_owner = owner[polys][ring_part]
    line_geoms = np.concatenate([rings, parts[kinds == 1]])
    line_owner = np.concatenate([ring_owner, owner[kinds == 1]])
    pts = parts[kinds == 0]
    pts_owner = owner[kinds == 0]
    if len(line_geoms) == 0:
        return pts, pts_owner
    coords, which = shapely.get_coordinates(line_geoms, return_index=True)
    counts = np.bincount(which, minlength=len(line_geoms))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    nseg = np.maximum(counts - 1, 1)  # a ring or line has >= 2 vertices
    nchunks = np.ceil(nseg / (chunk - 1)).astype(np.intp)
    total = int(nchunks.sum())
    chunk_line = np.repeat(np.arange(len(line_geoms)), nchunks)
    j = np.arange(total) - np.repeat(np.cumsum(nchunks) - nchunks, nchunks)
    s = j * (chunk - 1)
    e = np.minimum(s + chunk - 1, counts[chunk_line] - 1)
    lengths = e - s + 1
    offsets = np.cumsum(lengths) - lengths
    idx = np.repeat(starts[chunk_line] + s - offsets, lengths) + np.arange(int(lengths.sum()))
    ids = np.repeat(np.arange(total), lengths)
    pieces = shapely.linestrings(coords[idx], indices=ids)
    return np.concatenate([pieces, pts]), np.concatenate([line_owner[chunk_line], pts_owner])


@dataclass
class ZoneIndex:
    """Plan zones and counties, projected, prepared and indexed once per catalogue."""

    zones: pd.DataFrame  # one row per zone feature (no geometry)
    zone_geoms: Objects  # EQUAL_AREA, prepared
    counties: pd.DataFrame
    county_geoms: Objects
    pieces_tree: shapely.STRtree | None
    piece_owner: NDArray[np.intp]
    layers: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def build(cls, zone_layers: Iterable[ZoneLayer], counties: gpd.GeoDataFrame | None = None,
              county_key: str = "key") -> ZoneIndex:
        rows: list[dict[str, Any]] = []
        geoms: list[Any] = []
        layers: list[dict[str, Any]] = []
        for layer in zone_layers:
            feats = layer.features
            if feats.crs is not None and not feats.crs.equals(LONLAT):
                feats = feats.to_crs(LONLAT)
            cols = [c for c in feats.columns if c != "geometry"]
            layers.append({"id": layer.id, "title": layer.title, "features": len(feats),
                           "schematic": bool((feats.get("precision", pd.Series(dtype=str)) == "schematic").any())})
            for rec, geom in zip(feats[cols].to_dict(orient="records"), feats.geometry.values, strict=True):
                # A ``host`` placement has no extent of its own: the plan names only the district or town it is
                # in, and its shape is that host (or a marker at the host's seat). Being in the host says
                # nothing about being in the place, so it is neither a zone a site falls in nor a nearest zone.
                if geom is None or geom.is_empty or _text(rec.get("precision")) == "host":
                    continue
                rows.append({
                    "layer": layer.id, "layer_title": layer.title,
                    "key": _text(rec.get(layer.key_field)), "name": _text(rec.get(layer.name_field)) or "",
                    "precision": _text(rec.get("precision")) or "official",
                    "kind": _text(rec.get("kind")),
                    "positioning": _text(_first(rec, POSITIONING_FIELDS)),
                    "industries": as_list(_first(rec, INDUSTRY_FIELDS)),
                    "placement_basis": _text(rec.get("placement_basis")),
                })
                geoms.append(geom)
        zone_geoms = shapely.make_valid(project(np.asarray(geoms, dtype=object)))
        zones = pd.DataFrame(rows, columns=["layer", "layer_title", "key", "name", "precision", "kind",
                                            "positioning", "industries", "placement_basis"], dtype=object)
        kinds = shapely.get_type_id(zone_geoms) if len(zone_geoms) else np.array([], dtype=int)
        zones["polygonal"] = np.isin(kinds, (3, 6)) if len(zone_geoms) else np.array([], dtype=bool)
        # m²: zone_geoms were projected to EQUAL_AREA above
        zones["area_m2"] = shapely.area(zone_geoms) if len(zone_geoms) else np.array([], dtype=float)
        shapely.prepare(zone_geoms)
        # nearest over polygonal zones when there are any, else over every zone feature
        near = np.flatnonzero(zones["polygonal"].to_numpy()) if zones["polygonal"].any() else np.arange(len(zones))
        if len(near):
            pieces, owner = boundary_pieces(zone_geoms[near])
            tree: shapely.STRtree | None = shapely.STRtree(pieces)
            piece_owner = near[owner]
        else:
            tree, piece_owner = None, np.array([], dtype=np.intp)
        if counties is not None and len(counties):
            cfeats = counties.to_crs(LONLAT) if counties.crs is not None else counties
            ctable = pd.DataFrame({
                "key": [_text(v) for v in cfeats[county_key]] if county_key in cfeats else [None] * len(cfeats),
                **{f: [_text(v) for v in cfeats[f]] if f in cfeats else [None] * len(cfeats) for f in COUNTY_FIELDS},
            }, dtype=object)
            cgeoms = shapely.make_valid(project(np.asarray(cfeats.geometry.values, dtype=object)))
            shapely.prepare(cgeoms)
        else:
            ctable, cgeoms = pd.DataFrame(columns=["key", *COUNTY_FIELDS], dtype=object), np.empty(0, dtype=object)
        return cls(zones=zones, zone_geoms=zone_geoms, counties=ctable, county_geoms=cgeoms,
                   pieces_tree=tree, piece_owner=piece_owner, layers=layers)


# ---------------------------------------------------------------- analysis


@dataclass
class OverlayResult:
    """Columnar results; :meth:`site_reports` turns them into one dict per site."""

    area_m2: NDArray[np.float64]
    length_m: NDArray[np.float64]
    matches: pd.DataFrame  # site, zone, overlap_m2
    county_matches: pd.DataFrame  # site, county, overlap_m2
    nearest_zone: NDArray[np.intp]  # -1 where the site intersects a zone (or there are none)
    nearest_m: NDArray[np.float64]
    index: ZoneIndex

    def site_reports(self, sites: gpd.GeoDataFrame) -> list[dict[str, Any]]:
        return build_site_reports(self, sites)


def _overlaps(site_geoms: Objects, site_area: NDArray[np.float64], zone_geoms: Objects,
              zi: NDArray[np.intp], si: NDArray[np.intp]) -> NDArray[np.float64]:
    """Overlap area of each (zone, site) pair: containment shortcut first, overlay only at edges.

    NaN where either side has no area (a point site, or a point/line zone).
    """
    out = np.full(len(si), np.nan)
    zone_kinds = shapely.get_type_id(zone_geoms[zi])
    poly = (site_area[si] > 0) & np.isin(zone_kinds, (3, 6))
    if not poly.any():
        return out
    pz, ps = zi[poly], si[poly]
    covered = shapely.covers(zone_geoms[pz], site_geoms[ps])
    area = np.where(covered, site_area[ps], np.nan)
    edge = ~covered
    if edge.any():
        inter = shapely.intersection(site_geoms[ps[edge]], zone_geoms[pz[edge]])
        area[edge] = shapely.area(inter)  # m²: both inputs are projected (EQUAL_AREA)
    out[poly] = area
    return out


def analyse(sites: gpd.GeoDataFrame, index: ZoneIndex) -> OverlayResult:
    """Overlay lon/lat ``sites`` on the indexed plan zones (see the module docstring)."""
    geoms = project(np.asarray(sites.geometry.values, dtype=object))
    area = shapely.area(geoms)  # m², projected to EQUAL_AREA on the line above
    length = np.where(area > 0, 0.0, shapely.length(geoms))  # m, projected
    n = len(geoms)
    tree = shapely.STRtree(geoms)
    if len(index.zone_geoms):
        zi, si = tree.query(index.zone_geoms, predicate="intersects")
    else:
        zi = si = np.empty(0, dtype=np.intp)
    overlap = _overlaps(geoms, area, index.zone_geoms, zi, si)
    matches = pd.DataFrame({"site": si, "zone": zi, "overlap_m2": overlap})
    if len(index.county_geoms):
        ci, csi = tree.query(index.county_geoms, predicate="intersects")
    else:
        ci = csi = np.empty(0, dtype=np.intp)
    county_matches = pd.DataFrame({"site": csi, "county": ci,
                                   "overlap_m2": _overlaps(geoms, area, index.county_geoms, ci, csi)})
    nearest_zone = np.full(n, -1, dtype=np.intp)
    nearest_m = np.full(n, np.nan)
    if index.pieces_tree is not None:
        polygonal = index.zones["polygonal"].to_numpy()
        hit = np.zeros(n, dtype=bool)
        hit[si[polygonal[zi]]] = True
        todo = np.flatnonzero(~hit)
        piece, dist = _nearest_pieces(index.pieces_tree, geoms[todo])
        nearest_zone[todo] = index.piece_owner[piece]
        nearest_m[todo] = dist
    return OverlayResult(area_m2=area, length_m=length, matches=matches, county_matches=county_matches,
                         nearest_zone=nearest_zone, nearest_m=nearest_m, index=index)


def _nearest_points(tree: shapely.STRtree, points: Objects) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Nearest tree item and distance for each point: bounded search first, unbounded for the rest."""
    piece = np.full(len(points), -1, dtype=np.intp)
    dist = np.full(len(points), np.inf)
    remaining = np.arange(len(points))
    for radius in (NEAR_KM * 1000.0, None):
        if len(remaining) == 0:
            break
        (inp, item), d = tree.query_nearest(points[remaining], max_distance=radius, return_distance=True,
                                            all_matches=False)
        piece[remaining[inp]] = item
        dist[remaining[inp]] = d
        remaining = np.setdiff1d(remaining, remaining[inp], assume_unique=True)
    return piece, dist


def _nearest_pieces(tree: shapely.STRtree, geoms: Objects) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Exact nearest boundary piece for each geometry, searching by point first.

    Points go straight to the tree. For a polygon or line, its centroid's nearest
    distance ``d`` and its radius ``r`` around the centroid bound the answer: any
    piece nearer to the shape lies within ``d + r`` of the centroid, so only those
    candidates get an exact shape-to-piece distance. That keeps the costly
    polygon-to-line distances to a handful per site.
    """
    piece = np.full(len(geoms), -1, dtype=np.intp)
    dist = np.full(len(geoms), np.inf)
    if len(geoms) == 0:
        return piece, dist
    is_point = shapely.get_type_id(geoms) == 0
    pts = np.flatnonzero(is_point)
    if len(pts):
        piece[pts], dist[pts] = _nearest_points(tree, geoms[pts])
    shapes = np.flatnonzero(~is_point)
    if len(shapes):
        centre = shapely.centroid(geoms[shapes])
        radius = shapely.hausdorff_distance(centre, geoms[shapes])
        _, d0 = _nearest_points(tree, centre)
        inp, cand = tree.query(centre, predicate="dwithin", distance=d0 + radius + 1e-6)
        d = shapely.distance(geoms[shapes][inp], tree.geometries[cand])
        order = np.lexsort((d, inp))
        first = np.unique(inp[order], return_index=True)[1]
        best = order[first]
        piece[shapes[inp[best]]] = cand[best]
        dist[shapes[inp[best]]] = d[best]
    return piece, dist


def is_corridor(kind: str | None) -> bool:
    """A corridor zone (the 万开云 corridor's ``kind`` is ``走廊``; ``corridor`` in English)."""
    return bool(kind) and (str(kind).strip().lower() == "corridor" or "走廊" in str(kind))


# ---------------------------------------------------------------- industries


_GENERIC = ("产业集群", "产业", "行业", "制造业", "制造", "研发", "技术", "科技", "相关", "配套",
            "及", "和", "与", "等")
_STOP_BIGRAMS = {"产业", "行业", "技术", "科技", "发展", "制造", "建设", "创新", "服务", "研发", "应用", "中心", "基地",
                 "园区", "新型", "高新", "现代", "产品", "相关", "配套", "集群", "特色", "重点", "领域", "高端"}
_ALIASES = {
    "biomedicine": "生物医药", "biomedical": "生物医药", "pharmaceutical": "医药", "electronics": "电子信息",
    "electronic": "电子信息", "new energy": "新能源", "automotive": "汽车", "automobile": "汽车",
    "materials": "新材料", "agriculture": "农业", "tourism": "旅游", "software": "软件",
    "equipment": "装备", "food": "食品", "logistics": "物流", "chemical": "化工", "textile": "纺织",
    "big data": "大数据", "ai": "人工智能", "artificial intelligence": "人工智能", "health": "健康",
}


def _core(term: str) -> str:
    text = term.strip().lower()
    for en, zh in _ALIASES.items():
        if en in text:
            text = text.replace(en, zh)
    for g in _GENERIC:
        text = text.replace(g, "")
    return re.sub(r"\s+", "", text)


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)} - _STOP_BIGRAMS


def industry_match(declared: str | None, industries: Sequence[str], positioning: str | None) -> bool | None:
    """Does a site's declared industry fit a zone? None when either side says nothing.

    Terms match when one contains the other after dropping generic words
    (产业, 制造, 研发…), or when they share a meaningful two-character word
    (新能源汽车零部件 ~ 汽车). A zone's declared industries decide; a zone
    without any can only be confirmed by its positioning text, never refuted.
    """
    if not declared or not declared.strip():
        return None
    tokens = [_core(t) for t in _SPLIT.split(declared) if t]
    tokens = [t for t in tokens if t]
    if not tokens:
        return None
    if any(industries):
        return any(_terms_match(t, target) for t in tokens for target in industries if target)
    # No declared industries: positioning prose can confirm a match but never refute one.
    if positioning and any(_terms_match(t, positioning) for t in tokens):
        return True
    return None


def _terms_match(core: str, target: str) -> bool:
    tcore = _core(target)
    return bool(tcore) and (core in tcore or tcore in core or bool(_bigrams(core) & _bigrams(tcore)))


# ---------------------------------------------------------------- report


def _ha(m2: float) -> float:
    return round(m2 / M2_PER_HA, 4)


def _mu(m2: float) -> float:
    return round(m2 / M2_PER_MU, 3)


def _num(v: float, digits: int = 2) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), digits)


def _rounded(values: NDArray[np.float64], digits: int, *, positive: bool = True) -> list[float | None]:
    """Plain floats rounded for JSON; NaN (and, with ``positive``, zero) become None."""
    ok = np.isfinite(values) & ((values > 0) if positive else True)
    rounded = np.round(np.where(ok, values, 0.0), digits).tolist()
    return [v if k else None for v, k in zip(rounded, ok.tolist(), strict=True)]


def _grouped(site: NDArray[np.intp], other: NDArray[np.intp], overlap: NDArray[np.float64]
             ) -> dict[int, list[tuple[int, float]]]:
    """Matches grouped by site, largest overlap first (points: by index)."""
    if len(site) == 0:
        return {}
    order = np.lexsort((other, -np.nan_to_num(overlap, nan=0.0), site))
    out: dict[int, list[tuple[int, float]]] = {}
    for s, o, v in zip(site[order].tolist(), other[order].tolist(), overlap[order].tolist(), strict=True):
        out.setdefault(s, []).append((o, v))
    return out


def build_site_reports(result: OverlayResult, sites: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """One JSON-ready dict per site (plain Python types only), built column-wise for speed."""
    idx = result.index
    zone_rows = idx.zones.to_dict(orient="records")
    county_rows = idx.counties.to_dict(orient="records")
    m = result.matches
    by_site = _grouped(m["site"].to_numpy(), m["zone"].to_numpy(), m["overlap_m2"].to_numpy(dtype=float))
    c = result.county_matches
    counties_by_site = _grouped(c["site"].to_numpy(), c["county"].to_numpy(), c["overlap_m2"].to_numpy(dtype=float))
    n = len(sites)
    names = sites["name"].tolist()
    declared = sites["industry"].tolist() if "industry" in sites else [None] * n
    site_nos = sites["site_no"].tolist() if "site_no" in sites else list(range(1, n + 1))
    kinds = sites.geometry.geom_type.tolist()
    bounds = np.round(shapely.bounds(np.asarray(sites.geometry.values, dtype=object)), 6).tolist()
    area = result.area_m2
    area_m2, area_ha, area_mu = _rounded(area, 2), _rounded(area / M2_PER_HA, 4), _rounded(area / M2_PER_MU, 3)
    length_m = _rounded(result.length_m, 2)
    near_m = _rounded(result.nearest_m, 1, positive=False)
    near_zone = result.nearest_zone.tolist()
    nearest_rows = {z: {"layer": r["layer"], "layer_title": r["layer_title"], "key": r["key"], "name": r["name"],
                        "schematic": r["precision"] == "schematic"} for z, r in enumerate(zone_rows)}
    areas = area.tolist()
    out: list[dict[str, Any]] = []
    for i in range(n):
        site_area = areas[i]
        counties = counties_by_site.get(i, ())
        hits = by_site.get(i, ())
        zones = [_zone(zone_rows[z], o, site_area, declared[i]) for z, o in hits]
        corridors = [zone_rows[z]["name"] for z, _ in hits if is_corridor(zone_rows[z]["kind"])]
        nz = near_zone[i]
        rep: dict[str, Any] = {
            "site_no": site_nos[i], "name": names[i], "geometry_type": kinds[i], "industry": declared[i],
            "bbox": bounds[i], "area_m2": area_m2[i], "area_ha": area_ha[i], "area_mu": area_mu[i],
            "length_m": length_m[i],
            "county": _county(county_rows[counties[0][0]], counties[0][1], site_area) if counties else None,
            "other_counties": [_county(county_rows[k], o, site_area) for k, o in counties[1:]],
            "zones": zones, "in_corridor": bool(corridors), "corridors": corridors,
            "nearest": {**nearest_rows[nz], "distance_m": near_m[i]} if nz >= 0 else None,
        }
        rep["flags"] = _flags(rep)
        out.append(rep)
    return out


def _county(row: dict[str, Any], overlap: float, site_area: float) -> dict[str, Any]:
    share = overlap / site_area if site_area > 0 and math.isfinite(overlap) else None
    return {"key": row["key"], "name": row["name"], "region": row["region"], "subregion": row["subregion"],
            "group": row["group"], "share": _num(share, 4) if share is not None else None}


def _zone(row: dict[str, Any], overlap: float, site_area: float, declared: str | None) -> dict[str, Any]:
    has_area = site_area > 0 and math.isfinite(overlap)
    match = industry_match(declared, row["industries"], row["positioning"])
    return {
        "layer": row["layer"], "layer_title": row["layer_title"], "key": row["key"], "name": row["name"],
        "kind": row["kind"], "precision": row["precision"], "schematic": row["precision"] == "schematic",
        "positioning": row["positioning"], "industries": list(row["industries"]),
        "overlap_m2": _num(overlap) if has_area else None,
        "overlap_ha": _ha(overlap) if has_area else None, "overlap_mu": _mu(overlap) if has_area else None,
        "share": _num(min(overlap / site_area, 1.0), 4) if has_area else None,
        "industry_match": match,
    }


def _flags(rep: dict[str, Any]) -> list[str]:
    if rep["county"] is not None and not rep["zones"] and not rep["other_counties"] and not (
            rep["nearest"] and rep["nearest"]["schematic"]):
        return []
    flags = []
    if any(z["schematic"] for z in rep["zones"]) or (rep["nearest"] and rep["nearest"]["schematic"]):
        flags.append("示意范围，结果仅供参考 / schematic zone: results are indicative only")
    bad = [z["name"] for z in rep["zones"] if z["industry_match"] is False]
    if bad:
        flags.append(f"申报产业与 {'、'.join(bad)} 的主导产业不符 / declared industry does not match the leading "
                     f"industries of {', '.join(bad)}")
    if rep["county"] is None:
        flags.append("不在重庆市任何区县内 / not inside any Chongqing county")
    elif rep["other_counties"]:
        flags.append("跨区县 / spans more than one county")
    return flags
