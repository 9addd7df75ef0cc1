"""Read planners' site files into lon/lat sites, saying which CRS was used and why.

Public entry point: :func:`read_sites` (bytes + file name -> :class:`SiteSet`).
Formats: GeoJSON, zipped Shapefile, KML/KMZ, GeoPackage, CSV/XLSX with
coordinate columns, DXF and the 坐标TXT boundary-point format (see
:mod:`geo.readers.detect`). Every limit in :class:`ReadLimits` is enforced and
every failure is a :class:`geo.errors.InvalidInput` (or subclass) whose
bilingual message says what to fix.
"""

from __future__ import annotations

import csv
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj.exceptions import CRSError
from shapely.errors import ShapelyError

from geo.crs import LONLAT
from geo.errors import InvalidInput, PlanviewError, TooLarge
from geo.readers import crs_sense, repair
from geo.readers.base import RawSites
from geo.readers.crs_infer import (
    DATUM_NAMES,
    AreaOfInterest,
    CrsChoice,
    diagnose,
    hint_datum,
    infer,
    parse_user_crs,
    points_to_lonlat,
    to_lonlat,
)
from geo.readers.detect import read_bytes
from geo.readers.limits import ReadLimits

__all__ = ["AreaOfInterest", "CrsChoice", "ReadLimits", "SiteSet", "read_sites"]

NAME_FIELDS = ("名称", "项目名称", "地块名称", "场地名称", "宗地名称", "项目", "name", "title", "标题", "label",
               "地块编号", "宗地编号", "编号", "id")
INDUSTRY_FIELDS = ("行业", "产业", "所属行业", "行业类别", "行业分类", "产业类型", "产业类别", "产业方向", "主导产业",
                   "industry", "industries", "sector")
SAMPLE = 2000


@dataclass
class SiteSet:
    """Sites in WGS84 lon/lat with one row each: ``site_no``, ``name``, ``industry``, ``attributes``."""

    sites: gpd.GeoDataFrame
    format: str
    crs: CrsChoice
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-()（）]", "", str(name)).lower()


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    normed = {_norm(c): c for c in columns}
    for w in wanted:
        if _norm(w) in normed:
            return normed[_norm(w)]
    return None


def _sample_xy(geoms: NDArray[np.object_]) -> NDArray[np.float64]:
    """One coordinate per geometry (its first vertex), evenly subsampled."""
    idx = np.linspace(0, len(geoms) - 1, min(len(geoms), SAMPLE)).astype(int) if len(geoms) else np.array([], int)
    firsts = shapely.get_point(shapely.get_exterior_ring(geoms[idx]), 0)
    pts = np.where(shapely.is_missing(firsts), shapely.point_on_surface(geoms[idx]), firsts)
    pts = np.where(shapely.is_missing(pts) | shapely.is_empty(pts), shapely.centroid(geoms[idx]), pts)
    return shapely.get_coordinates(pts).reshape(-1, 2)  # type: ignore[no-any-return]


def _simple_kinds(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """GeometryCollections reduced to their polygonal (else lineal, else point) parts."""
    out = geoms.copy()
    for i in np.flatnonzero(shapely.get_type_id(geoms) == 7):
        parts = shapely.get_parts(geoms[i])
        for kinds in ((3, 6), (1, 2, 5), (0, 4)):
            chosen = parts[np.isin(shapely.get_type_id(parts), kinds)]
            if len(chosen):
                out[i] = shapely.union_all(chosen) if len(chosen) > 1 else chosen[0]
                break
    return out


def _resolve_crs(raw: RawSites, crs: str | None, filename: str, sample: NDArray[np.float64],
                 area: AreaOfInterest | None, notes: list[str]) -> CrsChoice:
    if crs:
        choice = parse_user_crs(crs)
        if raw.declared_crs and raw.declared_crs.code != choice.code:
            notes.append(f"文件声明的坐标系为 {raw.declared_crs.label}，已按用户指定的 {choice.label} 读取 / the file "
                         f"declares {raw.declared_crs.label}; read as {choice.label} as chosen")
        return choice
    if raw.declared_crs is not None:
        return raw.declared_crs
    choice = infer(sample, area)
    if choice.crs == "EPSG:4326":
        datum = hint_datum([filename, *raw.datum_hints])
        if datum:
            return CrsChoice(crs=datum, label=DATUM_NAMES[datum], source="inferred", swap_xy=choice.swap_xy,
                             reason=f"坐标为经纬度，文件名或列名表明来自 {DATUM_NAMES[datum]} / "
                                    "degrees, and the file or "
                                    f"column name points to {datum.upper()}")
    return choice


def read_sites(data: bytes, filename: str, *, crs: str | None = None, encoding: str | None = None,
               limits: ReadLimits | None = None, area: AreaOfInterest | None = None) -> SiteSet:
    """Read an uploaded file into sites in WGS84 lon/lat (see the module docstring).

    Every failure is a :class:`PlanviewError` (a 4xx for the web): the readers raise
    bilingual messages for the problems they recognise, and anything a parser throws
    on a damaged file is turned into one here rather than escaping as a 500.
    """
    try:
        return _read_sites(data, filename, crs=crs, encoding=encoding, limits=limits or ReadLimits(), area=area)
    except PlanviewError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OSError, EOFError, RecursionError,
            zipfile.BadZipFile, zlib.error, csv.Error, ShapelyError, CRSError) as exc:
        raise InvalidInput(
            f"文件内容已损坏或格式不符，无法读取（{type(exc).__name__}）。请用 GIS 软件重新导出后再上传 / the file is "
            f"damaged or not what its format says ({type(exc).__name__}); export it again from your GIS and retry",
            detail=repr(exc)) from exc


def _read_sites(data: bytes, filename: str, *, crs: str | None, encoding: str | None, limits: ReadLimits,
                area: AreaOfInterest | None) -> SiteSet:
    if not data or not data.strip():
        raise InvalidInput("文件为空，请选择含有场地的文件 / the file is empty; choose a file that holds the sites")
    if len(data) > limits.max_bytes:
        raise TooLarge(f"文件超过 {limits.max_mb:.0f} MB 上限 / the file exceeds the {limits.max_mb:.0f} MB limit")
    raw = read_bytes(data, filename, limits, encoding)
    notes = list(raw.notes)
    geoms = np.asarray(raw.geometry, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.all():
        notes.append(f"{int((~present).sum())} 个要素没有几何，已跳过 / skipped {int((~present).sum())} features "
                     "without geometry")
    attrs = raw.attributes.iloc[np.flatnonzero(present)].reset_index(drop=True)
    geoms = shapely.force_2d(geoms[present])
    if len(geoms) == 0:
        raise InvalidInput("文件中没有任何要素（0 个场地）/ the file contains no features (0 sites)")
    if len(geoms) > limits.max_features:
        raise TooLarge(f"场地过多（{len(geoms):,} 个，上限 {limits.max_features:,}），请分批上传 / too many sites "
                       f"({len(geoms):,}, limit {limits.max_features:,}); split the file")
    vertices = int(shapely.get_num_coordinates(geoms).sum())
    if vertices > limits.max_vertices:
        raise TooLarge(f"顶点过多（{vertices:,} 个，上限 {limits.max_vertices:,}），请简化后上传 / too many vertices "
                       f"({vertices:,}, limit {limits.max_vertices:,}); simplify the geometry first")
    geoms = _simple_kinds(geoms)
    sample = _sample_xy(geoms)
    choice = _resolve_crs(raw, crs, filename, sample, area, notes)
    crs_sense.check_kind(choice)
    lonlat = to_lonlat(geoms, choice)
    coords = shapely.get_coordinates(lonlat)
    if not np.isfinite(coords).all() or (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        if choice.crs in ("EPSG:4326", "EPSG:4490") and (np.abs(coords[:, 0]) <= 90).all():
            raise InvalidInput("纬度超过 90°：经纬度（X/Y）顺序可能颠倒，请交换两列或留空坐标系自动识别 / latitudes "
                               "over 90 degrees: longitude and latitude look swapped; swap the columns or leave the "
                               "CRS empty to infer it")
        raise InvalidInput(
            f"按 {choice.label} 读取后坐标超出经纬度范围，可能选错了坐标系"
            "（米制坐标请选 EPSG:4523–4525/4544–4546，或留空自动识别）/ "
            f"read as {choice.label} the coordinates fall outside lon/lat range: probably the wrong CRS "
            "(metre coordinates need e.g. EPSG:4545; or leave CRS empty to infer it)"
        )
    if choice.source in ("user", "file"):
        try:
            crs_sense.check_area_of_use(choice, coords)
        except InvalidInput as exc:
            likely = diagnose(sample, points_to_lonlat(sample, choice), choice, area) if area is not None else None
            if likely:  # name the likely cause (swapped axes, wrong zone …) in the refusal
                raise InvalidInput(f"{exc.message}。{likely}") from None
            raise
    columns = [str(c) for c in attrs.columns]
    name_col, industry_col = _pick(columns, NAME_FIELDS), _pick(columns, INDUSTRY_FIELDS)
    names = [(str(v).strip() if v is not None and str(v).strip() else f"场地 {i + 1}")
             for i, v in enumerate(attrs[name_col] if name_col else [None] * len(attrs))]
    industries: list[Any] = [(str(v).strip() or None) if v is not None else None
                             for v in (attrs[industry_col] if industry_col else [None] * len(attrs))]
    lonlat = repair.repair(lonlat, names, notes)
    degenerate = np.flatnonzero(shapely.is_empty(lonlat) | shapely.is_missing(lonlat))
    if len(degenerate):
        listed = "、".join(names[i] for i in degenerate[:10]) + ("…" if len(degenerate) > 10 else "")
        raise InvalidInput(f"{len(degenerate)} 个场地的几何退化（所有点重合或共线，面积为零），无法核查：{listed}。"
                           f"请改正后重新上传 / {len(degenerate)} site geometries are degenerate (all points equal or on "
                           f"one line, zero area) and cannot be checked: {listed}; fix them and upload again")
    warnings: list[str] = []
    if area is not None:
        sample_ll = points_to_lonlat(sample, choice)
        warning = diagnose(sample, sample_ll, choice, area)
        if warning:
            warnings.append(warning)
    records = attrs.to_dict(orient="records")
    sites = gpd.GeoDataFrame(
        {"site_no": np.arange(1, len(lonlat) + 1), "name": pd.Series(names, dtype=object),
         "industry": pd.Series(industries, dtype=object),
         "attributes": pd.Series([{str(k): v for k, v in r.items()} for r in records], dtype=object)},
        geometry=gpd.GeoSeries(lonlat, crs=LONLAT), crs=LONLAT,
    )
    return SiteSet(sites=sites, format=raw.format, crs=choice, encoding=raw.encoding, warnings=warnings, notes=notes)
