"""``planview layers replace``: swap a schematic for an authoritative boundary.

Planners hold official CAD/GIS boundaries. The file (any format GDAL reads)
replaces the layer's geometry; plan attributes are kept by key; precision
becomes ``official`` with the file's name and SHA-256 as the source; the
previous manifest and geometry are kept under ``versions/<timestamp>/`` so the
swap can be undone.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely
import yaml

from geo.crs import LONLAT
from geo.errors import DataError, InvalidInput
from layers.build import read_geometry
from layers.check import CHONGQING_RANGE
from layers.join import join_attributes
from layers.manifest import load_manifest
from layers.tables import load_records


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_boundaries(path: Path, key_field: str, layer_key: str) -> gpd.GeoDataFrame:
    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # GDAL raises several types; all mean "cannot read"
        raise InvalidInput(f"无法读取 {path.name} / cannot read {path.name}: {exc}") from exc
    if key_field not in gdf.columns:
        raise InvalidInput(f"{path.name} 缺少键字段 {key_field!r} / has no key field {key_field!r}; "
                           f"fields: {[c for c in gdf.columns if c != 'geometry']}")
    if gdf.crs is None:
        raise InvalidInput(f"{path.name} 未声明坐标系 / declares no CRS; add a .prj or save it with a CRS")
    gdf = gdf.to_crs(LONLAT)
    gdf["geometry"] = shapely.make_valid(gdf.geometry.values)
    if not gdf.geometry.within(shapely.box(*CHONGQING_RANGE)).all():
        raise InvalidInput(f"{path.name} 的范围不在重庆 / lies outside Chongqing; check its CRS")
    out = gdf[[key_field, "geometry"]].rename(columns={key_field: layer_key})
    out[layer_key] = out[layer_key].astype(str)
    return out.dissolve(by=layer_key, as_index=False)


def replace_geometry(data_dir: Path, build_dir: Path, layer_id: str, file: Path, *, key: str | None = None) -> str:
    """Replace ``layer_id``'s geometry with ``file``; returns a one-line summary."""
    layer_dir = data_dir / "layers" / layer_id
    manifest_path = layer_dir / "manifest.yaml"
    if not manifest_path.exists():
        raise InvalidInput(f"没有图层 {layer_id!r} / unknown layer {layer_id!r}")
    manifest = load_manifest(manifest_path)
    new = _read_boundaries(file, key or manifest.key, manifest.key)
    records = load_records(layer_dir / manifest.attributes)
    join_attributes(new, records, manifest.key, where=str(file))  # raises on any unmatched key

    digest = _sha256(file)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    versions = layer_dir / "versions" / stamp
    versions.mkdir(parents=True, exist_ok=False)
    shutil.copy2(manifest_path, versions / "manifest.yaml")
    read_geometry(manifest, data_dir, build_dir).to_file(versions / "geometry.geojson", driver="GeoJSON")

    new["precision"] = "official"
    new["geometry_source"] = f"{file.name} sha256:{digest}"
    target = layer_dir / f"official-{digest[:12]}.geojson"
    new.to_file(target, driver="GeoJSON", engine="pyogrio")

    raw = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    raw["geometry"] = {"file": target.name}
    raw["precision"] = "official"
    raw["geometry_source"] = f"{file.name} (sha256 {digest}), replaced {stamp}"
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    tmp.replace(manifest_path)
    try:
        load_manifest(manifest_path)
    except DataError:
        shutil.copy2(versions / "manifest.yaml", manifest_path)
        raise
    return f"{layer_id}: {len(new)} features from {file.name} (sha256 {digest[:12]}…); previous kept in {versions}"
