"""The layer catalogue: every manifest, its joined features, served many ways.

Loaded once per process (the app keeps one :class:`Catalogue`); a layer whose
files are broken is recorded in :attr:`Catalogue.failed` with the reason, so
the rest of the catalogue and every map still work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo.errors import DataError, InvalidInput, NotFound, PlanviewError
from geo.geometry_types import orient_rfc7946
from layers.build import read_geometry
from layers.join import join_attributes
from layers.manifest import LayerManifest
from layers.tables import load_indicator_table, load_records

log = logging.getLogger(__name__)

Bbox = tuple[float, float, float, float]
# Geometry is simplified to about half a screen pixel at the requested zoom;
# at zoom >= MAX_SIMPLIFY_ZOOM the full-detail geometry is served.
MAX_SIMPLIFY_ZOOM = 14


def jsonable(value: Any) -> Any:
    """Plain JSON value for an attribute cell (numpy scalars, NaN, nested lists)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    return value


def tolerance_for_zoom(zoom: int) -> float:
    """Degrees per half pixel of a 256-px Web-Mercator tile at ``zoom`` (at the equator)."""
    return 360.0 / (256 * 2**zoom) / 2


def decimals_for_zoom(zoom: int) -> int:
    """Coordinate decimals that keep a tenth of a pixel at ``zoom`` (6 decimals = ~0.1 m).

    Fewer decimals at low zoom shrink the payload; a tenth of a pixel keeps
    shared vertices distinct, so simplified coverages stay valid.
    """
    return max(4, min(6, int(math.ceil(math.log10(256 * 2**zoom / 360.0))) + 2))


@dataclass(eq=False)
class Layer:
    manifest: LayerManifest
    features: gpd.GeoDataFrame
    version: str

    @property
    def id(self) -> str:
        return self.manifest.id

    @cached_property
    def bbox(self) -> Bbox:
        x0, y0, x1, y1 = (float(v) for v in self.features.total_bounds)
        return (x0, y0, x1, y1)

    @cached_property
    def precisions(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.features["precision"].value_counts().items()}

    @cached_property
    def schema(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for col in self.features.columns:
            if col == "geometry":
                continue
            sample = next((v for v in self.features[col] if jsonable(v) is not None), None)
            sample = jsonable(sample)
            out[col] = {bool: "boolean", int: "integer", float: "number", str: "string",
                        list: "array", dict: "object"}.get(type(sample), "string")
        return out

    @cached_property
    def is_coverage(self) -> bool:
        """Polygons that tile without overlaps, so shared edges must stay shared."""
        geoms = self.features.geometry.values
        if not all(g.geom_type in ("Polygon", "MultiPolygon") for g in geoms):
            return False
        return bool(shapely.coverage_is_valid(geoms))

    def properties(self) -> list[dict[str, Any]]:
        cols = [c for c in self.features.columns if c != "geometry"]
        return [{c: jsonable(v) for c, v in zip(cols, row, strict=True)}
                for row in self.features[cols].itertuples(index=False, name=None)]

    @lru_cache(maxsize=32)  # noqa: B019 - one Layer per catalogue, lives as long as it
    def geometries(self, zoom: int | None) -> tuple[Any, ...]:
        """Geometry simplified for ``zoom`` (None = full detail), topology kept, RFC 7946 ring order."""
        geoms = self.features.geometry.values
        if zoom is None or zoom >= MAX_SIMPLIFY_ZOOM:
            return tuple(orient_rfc7946(geoms))
        tol = tolerance_for_zoom(zoom)
        if self.is_coverage:
            simplified = shapely.coverage_simplify(geoms, tol, simplify_boundary=True)
        else:
            simplified = shapely.simplify(geoms, tol, preserve_topology=True)
        digits = decimals_for_zoom(zoom)
        rounded = shapely.transform(simplified, lambda xy: np.round(xy, digits))
        return tuple(orient_rfc7946(rounded))

    def feature_collection(self, *, bbox: Bbox | None = None, zoom: int | None = None) -> dict[str, Any]:
        """GeoJSON FeatureCollection, optionally filtered by bbox and simplified for zoom."""
        geoms = self.geometries(zoom)
        props = self.properties()
        if bbox is not None:
            idx = set(self.features.sindex.query(shapely.box(*bbox), predicate="intersects").tolist())
        else:
            idx = set(range(len(geoms)))
        features = [
            {"type": "Feature", "id": props[i][self.manifest.key],
             "properties": props[i], "geometry": json.loads(shapely.to_geojson(geoms[i]))}
            for i in range(len(geoms)) if i in idx
        ]
        return {"type": "FeatureCollection", "name": self.id, "features": features,
                "bbox": list(self.bbox)}

    @lru_cache(maxsize=64)  # noqa: B019 - bounded; repeated views ask for the same few zooms
    def geojson_bytes(self, bbox: Bbox | None = None, zoom: int | None = None) -> bytes:
        """The FeatureCollection serialised once per (bbox, zoom): maps re-request the same views."""
        fc = self.feature_collection(bbox=bbox, zoom=zoom)
        return json.dumps(fc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def etag(self, *params: object) -> str:
        return hashlib.sha256(repr((self.version, params)).encode()).hexdigest()[:32]


@dataclass
class Catalogue:
    data_dir: Path
    build_dir: Path
    layers: dict[str, Layer] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    indicators: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, data_dir: Path, build_dir: Path) -> Catalogue:
        cat = cls(data_dir=data_dir, build_dir=build_dir)
        for path in sorted((data_dir / "indicators").glob("*.yaml")):
            try:
                cat.indicators[path.stem] = load_indicator_table(path)
            except DataError as exc:
                log.error("indicator table %s failed: %s", path, exc.message)
        for manifest_path in sorted((data_dir / "layers").glob("*/manifest.yaml")):
            layer_id = manifest_path.parent.name
            try:
                cat.layers[layer_id] = load_layer(manifest_path, data_dir, build_dir)
            except PlanviewError as exc:
                log.error("layer %s failed to load: %s", layer_id, exc.message)
                cat.failed[layer_id] = exc.message
        return cat

    def get(self, layer_id: str) -> Layer:
        if layer_id in self.layers:
            return self.layers[layer_id]
        if layer_id in self.failed:
            raise DataError(f"图层 {layer_id} 加载失败 / layer {layer_id} failed to load: {self.failed[layer_id]}")
        raise NotFound(f"没有图层 {layer_id!r} / unknown layer {layer_id!r}; known: {sorted(self.layers)}")

    def indicator_table(self, table_id: str) -> dict[str, Any]:
        try:
            return self.indicators[table_id]
        except KeyError:
            raise NotFound(f"没有指标表 {table_id!r} / unknown indicator table {table_id!r}") from None

    def ordered(self) -> list[Layer]:
        return sorted(self.layers.values(), key=lambda layer: (layer.manifest.order, layer.id))


def _version(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        if p.exists():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def load_layer(manifest_path: Path, data_dir: Path, build_dir: Path) -> Layer:
    """Load one layer: manifest, geometry, attributes, strict join, indicator links."""
    from layers.manifest import load_manifest

    manifest = load_manifest(manifest_path)
    layer_dir = manifest_path.parent
    geometry = read_geometry(manifest, data_dir, build_dir)
    records = load_records(layer_dir / manifest.attributes)
    joined = join_attributes(geometry, records, manifest.key, where=str(layer_dir))
    if manifest.indicators:
        joined["indicators"] = [manifest.indicators.get(str(k)) for k in joined[manifest.key]]
    joined["layer"] = manifest.id
    geom_file = (layer_dir / manifest.geometry.file) if manifest.geometry.file else build_dir / f"{manifest.id}.geojson"
    version = _version([manifest_path, layer_dir / manifest.attributes, geom_file])
    return Layer(manifest=manifest, features=joined, version=version)


def parse_bbox(text: str) -> Bbox:
    """``minx,miny,maxx,maxy`` in lon/lat, validated."""
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        raise InvalidInput(f"bbox 须为四个数字 / bbox must be four numbers minx,miny,maxx,maxy, got {text!r}") from None
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts):
        raise InvalidInput(f"bbox 须为四个数字 / bbox must be four numbers minx,miny,maxx,maxy, got {text!r}")
    x0, y0, x1, y1 = parts
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise InvalidInput(f"bbox 超出经纬度范围 / bbox out of lon/lat range: {text!r}")
    if x0 > x1 or y0 > y1:
        raise InvalidInput(f"bbox 最小值大于最大值 / bbox min greater than max: {text!r}")
    return (x0, y0, x1, y1)
