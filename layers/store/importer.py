"""``planview layers import``: any file the overlay reads, in any of its CRSs, into the layer store.

One plain, picklable function, :func:`import_layer` (paths and strings in, a
summary dict out), so it runs the same from the CLI, the admin page or a job
pool worker process.

Two read paths, one CRS logic (:mod:`geo.readers.crs_infer`: the file's CRS,
else inferred from the numbers, a user override beating both, the same
warnings):

* formats GDAL streams well (GeoPackage, Shapefile — bare or zipped —,
  GeoJSON, FlatGeobuf, KML) are read in batches of :data:`BATCH` features with
  pyogrio and written batch by batch, so 10⁶ polygons never sit in memory as
  one GeoDataFrame;
* everything else the overlay reads (CSV/XLSX with coordinates, 坐标TXT, DXF,
  KMZ) goes through :func:`geo.readers.read_sites` whole (those files are
  small by nature).

The manifest is written from the data: style and legend from the class field
(one colour per class), popup fields, and for ``control`` layers the class
semantics (forbid / restrict / allow) seeded from ``data/control-classes.yaml``
— data the office edits, not code. Provenance: file name, SHA-256, CRS used
and why, format, feature count.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import yaml

from geo.errors import InvalidInput
from geo.readers import ReadLimits, read_sites
from geo.readers.crs_infer import (
    DATUM_NAMES,
    AreaOfInterest,
    CrsChoice,
    diagnose,
    from_pyproj,
    hint_datum,
    infer,
    parse_user_crs,
    points_to_lonlat,
    to_lonlat,
)
from layers.manifest import ControlClass, ControlSpec, LayerManifest, Legend, LegendCategory, Style
from layers.store import open_layer_store
from layers.store.model import RESERVED, StoredLayer, check_layer_id

BATCH = 50_000
STREAMED = {".gpkg", ".shp", ".geojson", ".json", ".fgb", ".kml", ".zip"}
MAX_LEGEND = 24
YUNYANG_BOUNDS = (108.40, 30.57, 109.26, 31.45)
# A qualitative palette (ColorBrewer Set3/Paired-like) for class colours
PALETTE = ["#e31a1c", "#33a02c", "#1f78b4", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#b2df8a", "#fb9a99",
           "#fdbf6f", "#cab2d6", "#ffff99", "#8dd3c7", "#bebada", "#80b1d3", "#fdb462", "#b3de69", "#fccde5"]
NAMED_COLOURS = {"永久基本农田": "#f4d03f", "生态保护红线": "#27ae60", "城镇开发边界": "#e74c3c"}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_class_defaults(path: Path | None) -> dict[str, ControlClass]:
    if path is None or not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): ControlClass.model_validate(v) for k, v in raw.items()}


def _json_type(series: pd.Series) -> str:
    kind = series.dtype.kind
    return {"i": "integer", "u": "integer", "f": "number", "b": "boolean"}.get(kind, "string")


def _clean(value: Any, kind: str) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if kind == "string":
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    if kind == "number" and isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _column(series: pd.Series, kind: str) -> list[Any]:
    """One column as JSON-ready Python values; the common cases vectorised, :func:`_clean` for the rest."""
    dk = series.dtype.kind
    if kind in ("integer", "boolean") and dk in "iub":
        return series.tolist()  # type: ignore[no-any-return]
    if kind == "number" and dk in "iuf":
        arr = series.to_numpy(dtype=float)
        out: list[Any] = arr.tolist()
        for i in np.flatnonzero(~np.isfinite(arr)).tolist():
            out[i] = None
        return out
    return [v if type(v) is str else _clean(v, kind) for v in series.tolist()]


def _field_names(columns: list[str]) -> dict[str, str]:
    """Source column -> stored field name (reserved names get a suffix; names stay as the office wrote them)."""
    out: dict[str, str] = {}
    for col in columns:
        name = str(col).strip().replace("\x00", "") or "field"
        while name.lower() in RESERVED or name in out.values():
            name += "_src"
        out[str(col)] = name
    return out


class _Reader:
    """Batches of (lon/lat geometry + attributes) from one file, and what was learnt reading it."""

    def __init__(self, path: Path, *, crs: str | None, encoding: str | None, area: AreaOfInterest | None,
                 layer: str | None = None) -> None:
        self.path = path
        self.crs_override = crs
        self.encoding = encoding
        self.area = area
        self.layer = layer
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.format = path.suffix.lower().lstrip(".")
        self.choice: CrsChoice | None = None
        self.gdal_path = str(path)
        if path.suffix.lower() == ".zip":
            self.gdal_path = f"/vsizip/{path}"
            self.format = "shapefile (zip)"

    def _resolve(self, declared: Any, sample_geoms: np.ndarray) -> CrsChoice:
        xy = _sample_xy(sample_geoms)
        if self.crs_override:
            choice = parse_user_crs(self.crs_override)
            if declared is not None:
                self.notes.append(f"文件声明的坐标系为 {declared.name}，已按用户指定的 {choice.label} 读取 / the file "
                                  f"declares {declared.name}; read as {choice.label} as chosen")
        elif declared is not None:
            choice = from_pyproj(declared, "file", "文件声明的坐标系 / the CRS the file declares")
        else:
            choice = infer(xy, self.area)
            if choice.crs == "EPSG:4326":
                datum = hint_datum([self.path.name])
                if datum:
                    choice = CrsChoice(crs=datum, label=DATUM_NAMES[datum], source="inferred", swap_xy=choice.swap_xy,
                                       reason=f"坐标为经纬度，文件名表明来自 {DATUM_NAMES[datum]} / degrees, and the file "
                                              f"name points to {datum.upper()}")
        if self.area is not None and len(xy):
            warning = diagnose(xy, points_to_lonlat(xy, choice), choice, self.area)
            if warning:
                self.warnings.append(warning)
        return choice

    def frames(self) -> Iterator[gpd.GeoDataFrame]:
        """Lon/lat GeoDataFrames (source columns + geometry), valid 2-D geometry, empties dropped."""
        if self.path.suffix.lower() in STREAMED:
            yield from self._streamed()
        else:
            yield self._whole()

    def _streamed(self) -> Iterator[gpd.GeoDataFrame]:
        try:
            info = pyogrio.read_info(self.gdal_path, layer=self.layer, encoding=self.encoding)
        except Exception as exc:  # GDAL raises several types; all mean "cannot read this file"
            raise InvalidInput(f"无法读取 {self.path.name} / cannot read {self.path.name}: {str(exc)[:200]}") from None
        total = int(info.get("features") or 0)
        if total <= 0:
            raise InvalidInput(f"{self.path.name} 中没有要素 / {self.path.name} holds no features")
        from pyproj import CRS

        declared = CRS.from_user_input(info["crs"]) if info.get("crs") else None
        for skip in range(0, total, BATCH):
            gdf = pyogrio.read_dataframe(self.gdal_path, layer=self.layer, encoding=self.encoding,
                                         skip_features=skip, max_features=BATCH)
            geoms = shapely.force_2d(np.asarray(gdf.geometry.values, dtype=object))
            if self.choice is None:
                self.choice = self._resolve(declared, geoms)
            yield self._finish(pd.DataFrame(gdf.drop(columns="geometry")), geoms)

    def _whole(self) -> gpd.GeoDataFrame:
        limits = ReadLimits(max_bytes=2 << 30, max_vertices=50_000_000, max_features=2_000_000,
                            max_uncompressed_bytes=4 << 30)
        siteset = read_sites(self.path.read_bytes(), self.path.name, crs=self.crs_override, encoding=self.encoding,
                             limits=limits, area=self.area)
        self.choice = siteset.crs
        self.format = siteset.format
        self.notes.extend(siteset.notes)
        self.warnings.extend(siteset.warnings)
        attrs = pd.DataFrame(list(siteset.sites["attributes"]))
        geoms = np.asarray(siteset.sites.geometry.values, dtype=object)
        return gpd.GeoDataFrame(attrs, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326")

    def _finish(self, attrs: pd.DataFrame, geoms: np.ndarray) -> gpd.GeoDataFrame:
        assert self.choice is not None
        present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        attrs = attrs.iloc[np.flatnonzero(present)].reset_index(drop=True)
        lonlat = to_lonlat(geoms[present], self.choice)
        invalid = ~shapely.is_valid(lonlat)
        if invalid.any():
            lonlat[invalid] = shapely.make_valid(lonlat[invalid], method="structure", keep_collapsed=False)
        return gpd.GeoDataFrame(attrs, geometry=gpd.GeoSeries(lonlat, crs="EPSG:4326"), crs="EPSG:4326")


def _sample_xy(geoms: np.ndarray, n: int = 2000) -> np.ndarray:
    if len(geoms) == 0:
        return np.empty((0, 2))
    idx = np.linspace(0, len(geoms) - 1, min(len(geoms), n)).astype(int)
    pts = shapely.point_on_surface(geoms[idx])
    return shapely.get_coordinates(pts).reshape(-1, 2)  # type: ignore[no-any-return]


def guess_plan(bbox: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = YUNYANG_BOUNDS
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    return "yunyang" if x0 <= cx <= x1 and y0 <= cy <= y1 else "chongqing"


def build_manifest(*, layer_id: str, title: str, role: str, class_field: str | None, fields: dict[str, str],
                   classes: list[str], bbox: tuple[float, float, float, float], provenance: dict[str, Any],
                   defaults: dict[str, ControlClass], plan: str | None = None) -> LayerManifest:
    """The manifest of an imported layer, from its data (style and legend from the class field)."""
    label = class_field or next((f for f, k in fields.items() if k == "string"), None) or "fid"
    legend = None
    style = Style(color="#555555", weight=0.6, fill_color="#9e9e9e", fill_opacity=0.45)
    if class_field and classes:
        cats = []
        for i, value in enumerate(classes[:MAX_LEGEND]):
            colour = next((c for k, c in NAMED_COLOURS.items() if k in value), PALETTE[i % len(PALETTE)])
            cats.append(LegendCategory(value=value, label=value, color=colour))
        legend = Legend(title=title, field=class_field, categories=cats)
    control = None
    if role == "control":
        if not class_field:
            raise InvalidInput("管控图层须指定类别字段 --class-field / a control layer needs --class-field "
                               "(the field that holds 永久基本农田, 生态保护红线 …)")
        semantics = {}
        for value in classes:
            rule = next((r for k, r in defaults.items() if k in value), None)
            semantics[value] = rule or ControlClass()
        control = ControlSpec(class_field=class_field, classes=semantics)
    popup = {f: f for f in list(fields)[:12]}
    source = f"{provenance['file']} (sha256 {provenance['sha256']})"
    return LayerManifest.model_validate({
        "id": layer_id, "title": title, "plan": plan or guess_plan(bbox), "role": role,
        "description": f"导入自 {provenance['file']}，坐标系 {provenance['crs'].get('label')} / imported from "
                       f"{provenance['file']}",
        "order": 5 if role == "control" else 60, "key": "fid", "attributes": "store", "geometry": {"store": "pending"},
        "precision": "official", "geometry_source": source, "label_field": label, "popup_fields": popup,
        "style": style.model_dump(), "legend": legend.model_dump() if legend else None,
        "control": control.model_dump() if control else None, "provenance": provenance,
    })


def import_layer(file: str | Path, *, layer_id: str, title: str, role: str = "reference",
                 class_field: str | None = None, crs: str | None = None, encoding: str | None = None,
                 gpkg_path: str | Path | None = None, database_url: str | None = None, schema: str | None = None,
                 class_defaults: str | Path | None = None, area: AreaOfInterest | None = None,
                 plan: str | None = None, source_name: str | None = None,
                 progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Import ``file`` into the layer store as a new version of ``layer_id``; returns a summary (JSON-ready).

    Plain arguments only, so it can be sent to a worker process.
    """
    path = Path(file)
    check_layer_id(layer_id)
    if role not in ("control", "reference", "plan"):
        raise InvalidInput(f"role 须为 control、reference 或 plan / role must be control, reference or plan: {role!r}")
    if not path.exists():
        raise InvalidInput(f"没有文件 {path} / no such file: {path}")
    digest = sha256_file(path)
    reader = _Reader(path, crs=crs, encoding=encoding, area=area)
    frames = reader.frames()
    first = next(frames, None)
    if first is None or len(first) == 0:
        raise InvalidInput(f"{path.name} 中没有要素 / {path.name} holds no features")
    src_cols = [c for c in first.columns if c != "geometry"]
    names = _field_names(src_cols)
    fields = {names[c]: _json_type(first[c]) for c in src_cols}
    stored_class = names.get(class_field) if class_field else None
    if class_field and stored_class is None:
        raise InvalidInput(f"{path.name} 中没有类别字段 {class_field!r} / no class field {class_field!r}; "
                           f"fields: {src_cols}")
    classes: dict[str, None] = {}
    count = 0

    def batches() -> Iterator[gpd.GeoDataFrame]:
        nonlocal count
        for frame in _chain(first, frames):
            out = gpd.GeoDataFrame({names[c]: _column(frame[c], fields[names[c]])
                                    for c in src_cols if c in frame.columns},
                                   geometry=frame.geometry, crs="EPSG:4326")
            for n in fields:
                if n not in out.columns:
                    out[n] = None
            if stored_class:
                for v in pd.unique(out[stored_class].dropna().astype(str)):
                    if len(classes) < 1000:
                        classes.setdefault(str(v))
            count += len(out)
            if progress:
                progress(count)
            yield out

    defaults = load_class_defaults(Path(class_defaults) if class_defaults else None)
    store = open_layer_store(gpkg_path=gpkg_path, database_url=database_url, schema=schema)
    stored_holder: dict[str, Any] = {}

    def manifest_for(bbox: tuple[float, float, float, float]) -> LayerManifest:
        assert reader.choice is not None
        provenance = {
            "file": source_name or path.name, "sha256": digest, "size_bytes": path.stat().st_size,
            "format": reader.format, "crs": reader.choice.as_dict(), "encoding": encoding,
            "imported": datetime.now(UTC).isoformat(timespec="seconds"), "feature_count": count,
            "warnings": reader.warnings, "notes": reader.notes,
        }
        manifest = build_manifest(layer_id=layer_id, title=title, role=role, class_field=stored_class, fields=fields,
                                  classes=sorted(classes), bbox=bbox, provenance=provenance, defaults=defaults,
                                  plan=plan)
        stored_holder["manifest"] = manifest
        return manifest

    stored: StoredLayer = store.write(layer_id, manifest_for, batches(), fields)
    return {
        "id": stored.id, "version": stored.version, "table": stored.table, "features": stored.feature_count,
        "bbox": list(stored.bbox), "store": store.kind, "crs": stored.manifest.provenance.get("crs"),
        "sha256": digest, "file": source_name or path.name, "warnings": reader.warnings, "notes": reader.notes,
        "classes": sorted(classes)[:MAX_LEGEND],
    }


def _chain(first: gpd.GeoDataFrame, rest: Iterator[gpd.GeoDataFrame]) -> Iterator[gpd.GeoDataFrame]:
    yield first
    yield from rest
