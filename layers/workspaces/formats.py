"""Workspace outputs for people and other tools: CSV for Excel, GeoJSON and GeoPackage for GIS.

CSV is UTF-8 with a BOM (so Excel on Chinese Windows shows the text) and every
text cell that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, tab or CR) is prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo.crs import LONLAT
from geo.errors import DataError
from geo.geometry_types import FAMILIES, FAMILY_LABEL_ZH, declared_type, family, orient_rfc7946, promote
from layers.workspaces.model import SITE_COLUMNS, Workspace, site_rows

SUFFIX = {"point": "points", "line": "lines", "polygon": "polygons"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER = ["序号", "名称", "申报产业", "几何类型", "面积(公顷)", "面积(亩)", "区县", "一区两群", "区域",
              "所在规划分区", "重叠面积(公顷)", "重叠面积(亩)", "占场地比例", "是否在万开云走廊", "最近分区",
              "最近距离(米)", "产业是否相符", "提示", "合规性审查"]


def safe_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _join(values: list[Any]) -> str:
    """Cell text for several values; empty when none of them is known."""
    if all(v is None or v == "" for v in values):
        return ""
    return "；".join("" if v is None else str(v) for v in values)


def compliance_text(site: dict[str, Any]) -> str:
    """合规性审查 cell: every control class the site touches, with area, share and verdict."""
    parts = []
    for c in (site.get("compliance") or {}).get("classes") or []:
        verdict = {"forbid": "冲突", "restrict": "提示"}.get(c.get("effect"), "")
        size = f"{c['area_ha']}公顷/{c['area_mu']}亩/{c['share']:.1%}" if c.get("share") is not None else "位于其中"
        parts.append(f"{c.get('layer_title')}·{c.get('class')} {size}" + (f"（{verdict}）" if verdict else ""))
    return "；".join(parts)


def csv_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for s in report.get("sites", []):
        county = s.get("county") or {}
        zones = s.get("zones", [])
        nearest = s.get("nearest") or {}
        matches = [z["industry_match"] for z in zones if z.get("industry_match") is not None]
        rows.append([
            s["site_no"], s["name"], s.get("industry"), s.get("geometry_type"), s.get("area_ha"), s.get("area_mu"),
            county.get("name"), county.get("group"), county.get("region"),
            _join([f"{z['layer_title']}·{z['name']}" + ("（示意）" if z.get("schematic") else "") for z in zones]),
            _join([z.get("overlap_ha") for z in zones]), _join([z.get("overlap_mu") for z in zones]),
            _join([f"{z['share']:.1%}" if z.get("share") is not None else None for z in zones]),
            "是" if s.get("in_corridor") else "否",
            nearest.get("name"), nearest.get("distance_m"),
            ("" if not matches else "是" if all(matches) else "否"),
            _join(s.get("flags", [])),
            compliance_text(s),
        ])
    return rows


def to_csv(report: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in csv_rows(report):
        writer.writerow([safe_cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def to_geojson(workspace: Workspace) -> dict[str, Any]:
    """Sites with their results as a GeoJSON FeatureCollection (RFC 7946, lon/lat)."""
    results = {r["site_no"]: r for r in workspace.report.get("sites", [])}
    features = []
    oriented = orient_rfc7946(workspace.sites.geometry.values)
    for site_no, geom in zip(workspace.sites["site_no"], oriented, strict=True):
        rep = results.get(int(site_no), {})
        props = {k: v for k, v in rep.items() if k != "bbox"}
        features.append({"type": "Feature", "id": int(site_no), "properties": props,
                         "geometry": json.loads(shapely.to_geojson(geom)) if geom is not None else None})
    return {"type": "FeatureCollection", "name": f"overlay-{workspace.id}",
            "planview": {k: workspace.report.get(k) for k in ("id", "created", "filename", "sha256", "crs",
                                                               "warnings", "notes", "summary")},
            "features": features}


def to_geopackage(workspace: Workspace) -> bytes:
    """Sites with their results as a GeoPackage 1.2: one layer per geometry type.

    QGIS and older GDAL show one geometry type per layer, so points, lines and
    polygons go to ``sites_points``, ``sites_lines``, ``sites_polygons``
    (singles promoted to multi where both occur). Written by GDAL with
    ``VERSION=1.2`` so that older desktop clients open it too.
    """
    import pyogrio

    rows = site_rows(workspace)
    geoms = list(workspace.sites.geometry.values)
    families: dict[str, list[int]] = {}
    for i, geom in enumerate(geoms):
        fam = family(geom)
        if fam is not None:
            families.setdefault(fam, []).append(i)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"overlay-{workspace.id}.gpkg"
        for fam in FAMILIES:
            if fam not in families:
                continue
            idx = families[fam]
            fam_geoms = [geoms[i] for i in idx]
            target = declared_type((g.geom_type for g in fam_geoms), fam)
            oriented = orient_rfc7946(np.asarray(promote(fam_geoms, target), dtype=object))
            frame = gpd.GeoDataFrame(
                {c: [_gpkg_cell(rows[i][c]) for i in idx] for c in SITE_COLUMNS},
                geometry=gpd.GeoSeries(list(oriented), crs=LONLAT), crs=LONLAT)
            pyogrio.write_dataframe(frame, path, layer=f"sites_{SUFFIX[fam]}", driver="GPKG",
                                    geometry_type=target, append=path.exists(),
                                    dataset_options=None if path.exists() else {"VERSION": "1.2"},
                                    layer_options={"IDENTIFIER": f"{workspace.filename} · {FAMILY_LABEL_ZH[fam]}"})
        if not path.exists():
            raise DataError("工作区没有可导出的几何 / the workspace has no geometry to export")
        return path.read_bytes()


def _gpkg_cell(value: Any) -> Any:
    """Lists and mappings as JSON text (GeoPackage columns are scalar)."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value
