"""Formats GDAL reads well (via pyogrio): GeoJSON, zipped Shapefile, GeoPackage, DXF.

GDAL always works on a private temporary directory holding only what we
checked and extracted; nothing is opened straight from an archive path.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.errors import InvalidInput, TooLarge
from geo.readers import dxf_budget
from geo.readers.archive import Member, SafeZip
from geo.readers.base import RawSites, clean_attributes
from geo.readers.crs_infer import CrsChoice, from_pyproj
from geo.readers.limits import ReadLimits
from geo.readers.text import decode, guess_encoding, normalise_encoding

_CRS_MEMBER = re.compile(rb'"crs"\s*:')
_PATHS = re.compile(r"(?:[A-Za-z]:)?(?:/[^\s:'\"]+)+")


def gdal_message(exc: BaseException) -> str:
    """GDAL's complaint without file-system paths (ours or GDAL's build tree), shortened."""
    return _PATHS.sub("…", str(exc))[:200]


def _too_many(what: str, count: int, limits: ReadLimits) -> TooLarge:
    return TooLarge(f"{what} 中要素过多（{count:,} 个，上限 {limits.max_features:,}），请分批上传 / the {what} holds "
                    f"too many features ({count:,}, limit {limits.max_features:,}); split it")


def _read(path: Path, what: str, limits: ReadLimits | None = None, **kwargs: object) -> gpd.GeoDataFrame:
    """One layer, counted first (OGR's feature count) and read with ``max_features + 1`` so a source
    that lies about its count still cannot build more than the limit."""
    if limits is not None:
        try:
            info = pyogrio.read_info(path, layer=kwargs.get("layer"))  # type: ignore[arg-type]
        except Exception as exc:  # GDAL raises several types; all mean "cannot read this file"
            raise InvalidInput(f"无法读取{what}文件，文件可能已损坏 / cannot read the {what} file, it may be damaged: "
                               f"{gdal_message(exc)}", detail=str(exc)) from None
        count = int(info.get("features") or 0)
        if count > limits.max_features:
            raise _too_many(what, count, limits)
        kwargs["max_features"] = limits.max_features + 1
    try:
        gdf = pyogrio.read_dataframe(path, **kwargs)
    except Exception as exc:  # GDAL raises several types; all mean "cannot read this file"
        raise InvalidInput(f"无法读取{what}文件，文件可能已损坏 / cannot read the {what} file, it may be damaged: "
                           f"{gdal_message(exc)}", detail=str(exc)) from None
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InvalidInput(f"{what} 文件中没有几何图形 / the {what} file has no geometry")
    if limits is not None and len(gdf) > limits.max_features:
        raise _too_many(what, len(gdf), limits)
    return gdf


def _declared(gdf: gpd.GeoDataFrame, reason: str) -> CrsChoice | None:
    return from_pyproj(gdf.crs, "file", reason) if gdf.crs is not None else None


def _raw(gdf: gpd.GeoDataFrame, fmt: str, declared: CrsChoice | None, encoding: str | None) -> RawSites:
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    return RawSites(geometry=geoms, attributes=clean_attributes(pd.DataFrame(gdf.drop(columns="geometry"))),
                    format=fmt, declared_crs=declared, encoding=encoding)


def read_geojson(data: bytes, encoding: str | None, limits: ReadLimits | None = None) -> RawSites:
    """GeoJSON (RFC 7946 = WGS84, or an older file whose ``crs`` member names another CRS)."""
    text, used = decode(data, encoding)
    with tempfile.TemporaryDirectory(prefix="planview-") as tmp:
        path = Path(tmp) / "upload.geojson"
        path.write_text(text, encoding="utf-8")
        gdf = _read(path, "GeoJSON", limits)
    has_crs = bool(_CRS_MEMBER.search(data[:4096])) or bool(_CRS_MEMBER.search(data[-4096:]))
    declared = _declared(gdf, "GeoJSON 文件的 crs 成员 / the GeoJSON 'crs' member") if has_crs else None
    return _raw(gdf, "geojson", declared, used)


def _dbf_encoding(dbf: bytes, cpg: bytes | None) -> tuple[str, str]:
    """Encoding of a .dbf and where it came from: .cpg, the LDID byte, or the text itself."""
    if cpg:
        label = cpg.decode("ascii", "ignore").strip()
        if label:
            try:
                return normalise_encoding(label), f".cpg ({label})"
            except InvalidInput:
                pass
    if len(dbf) > 29 and dbf[29] in (0x4D, 0x7A):  # LDID 77/122: Chinese GBK (code page 936)
        return "gb18030", "DBF LDID (GBK)"
    header_len = int.from_bytes(dbf[8:10], "little") if len(dbf) >= 10 else 0
    records = dbf[header_len:]
    enc = guess_encoding(records)
    return ("utf-8" if enc == "utf-8-sig" else enc), "detected from the text"


def read_shapefile_zip(zf: SafeZip, members: list[Member], encoding: str | None,
                       limits: ReadLimits | None = None) -> RawSites:
    """Every Shapefile in a ZIP (parts grouped by name), each needing .shp, .shx and .dbf."""
    by_stem: dict[str, dict[str, Member]] = {}
    for m in members:
        by_stem.setdefault(m.stem.lower(), {})[m.suffix] = m
    shapefiles = {stem: parts for stem, parts in by_stem.items() if ".shp" in parts}
    frames: list[gpd.GeoDataFrame] = []
    notes: list[str] = []
    declared: CrsChoice | None = None
    used: str | None = None
    for stem, parts in sorted(shapefiles.items()):
        missing = [s for s in (".shx", ".dbf") if s not in parts]
        if missing:
            name = PurePosixPath(parts[".shp"].name).name
            raise InvalidInput(
                f"Shapefile {name} 缺少 {'、'.join(missing)} 文件，"
                "请把同名的 .shp/.shx/.dbf（及 .prj、.cpg）一起打包 / "
                f"Shapefile {name} is missing its {', '.join(missing)}; zip the .shp, .shx and .dbf "
                "(and .prj, .cpg) of the same name together"
            )
        cpg = zf.read(parts[".cpg"].name) if ".cpg" in parts else None
        dbf = zf.read(parts[".dbf"].name)
        if encoding:
            enc, why = normalise_encoding(encoding), "chosen by the user"
        else:
            enc, why = _dbf_encoding(dbf, cpg)
        used = enc
        wanted = {parts[s].name: f"site{s}" for s in (".shp", ".shx", ".dbf", ".prj") if s in parts}
        with tempfile.TemporaryDirectory(prefix="planview-") as tmp:
            paths = zf.extract_as(wanted, Path(tmp))
            gdf = _read(paths[parts[".shp"].name], "Shapefile", limits, encoding=enc)
        if len(shapefiles) > 1:
            gdf.insert(0, "source_layer", PurePosixPath(stem).name)
        if ".prj" in parts and gdf.crs is not None:
            choice = from_pyproj(gdf.crs, "file", ".prj 文件 / the .prj file")
            if declared is not None and declared.crs != choice.crs:
                raise InvalidInput("压缩包中的 Shapefile 坐标系不一致，请分别上传 / the Shapefiles in the ZIP use "
                                   "different CRSs; upload them separately")
            declared = choice
            gdf = gdf.set_crs(None, allow_override=True)
        elif ".prj" not in parts:
            notes.append(f"{PurePosixPath(stem).name}.shp 没有 .prj，坐标系由数值推断 / "
                         "no .prj: CRS inferred from the numbers")
        if enc != "utf-8":
            notes.append(f"属性文本按 {enc} 解码（{why}）/ attribute text decoded as {enc} ({why})")
        frames.append(gdf)
    if not frames:
        raise InvalidInput("压缩包中没有 .shp 文件 / no .shp file in the ZIP")
    merged = gpd.GeoDataFrame(pd.concat([pd.DataFrame(f) for f in frames], ignore_index=True), geometry="geometry")
    raw = _raw(merged, "shapefile", declared, used)
    raw.notes.extend(notes)
    return raw


def refuse_views(path: Path) -> None:
    """Refuse a GeoPackage whose contents include SQL views: a (recursive) view is a query, not data, and
    can yield millions of rows from a few bytes. Tables only; the check itself runs read-only and bounded."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput(f"无法读取 GeoPackage / cannot read the GeoPackage: {exc}") from None
    steps = 0

    def progress() -> int:
        nonlocal steps
        steps += 1
        return 1 if steps > 1000 else 0  # abort: these catalogue queries need a handful of steps

    conn.set_progress_handler(progress, 1000)
    try:
        views = [str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view' LIMIT 50")]
    except sqlite3.Error as exc:
        raise InvalidInput(f"无法读取 GeoPackage / cannot read the GeoPackage: {exc}") from None
    finally:
        conn.close()
    if views:
        shown = "、".join(views[:5])
        raise InvalidInput(f"GeoPackage 含 SQL 视图（{shown}），不接受视图，请在 QGIS 中把图层另存为普通表后上传 / the "
                           f"GeoPackage holds SQL views ({shown}); views are not accepted: save the layer as a "
                           "plain table (e.g. QGIS Export > Save Features As) and upload again")


def read_gpkg(data: bytes, limits: ReadLimits | None = None) -> RawSites:
    """Every spatial table of a GeoPackage (a ``source_layer`` column tells them apart)."""
    with tempfile.TemporaryDirectory(prefix="planview-") as tmp:
        path = Path(tmp) / "upload.gpkg"
        path.write_bytes(data)
        refuse_views(path)
        try:
            layers = pyogrio.list_layers(path)
        except Exception as exc:  # GDAL error types vary
            raise InvalidInput(f"无法读取 GeoPackage / cannot read the GeoPackage: {gdal_message(exc)}",
                               detail=str(exc)) from None
        spatial = [str(name) for name, gtype in layers if gtype is not None]
        if not spatial:
            raise InvalidInput("GeoPackage 中没有空间图层 / the GeoPackage has no spatial table")
        frames = []
        declared: CrsChoice | None = None
        for name in spatial:
            gdf = _read(path, "GeoPackage", limits, layer=name)
            if len(spatial) > 1:
                gdf.insert(0, "source_layer", name)
            if gdf.crs is not None:
                choice = from_pyproj(gdf.crs, "file", f"GeoPackage 图层 {name} 的空间参考 / the GeoPackage SRS")
                if declared is not None and declared.crs != choice.crs:
                    gdf = gdf.to_crs(declared.crs)
                declared = declared or choice
            frames.append(gdf.set_crs(None, allow_override=True))
    merged = gpd.GeoDataFrame(pd.concat([pd.DataFrame(f) for f in frames], ignore_index=True), geometry="geometry")
    return _raw(merged, "gpkg", declared, "utf-8")


def _close_lines(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """Closed CAD polylines as polygons; returns the geometries and how many were closed."""
    out = geoms.copy()
    kinds = shapely.get_type_id(geoms)
    closed = 0
    for i in np.flatnonzero(kinds == 1):  # LineString
        line = geoms[i]
        if line.is_closed and shapely.get_num_coordinates(line) >= 4:
            out[i] = shapely.polygons(shapely.get_coordinates(line))
            closed += 1
    return out, closed


def _dxf_codec(data: bytes, encoding: str | None) -> str:
    """The text encoding of a DXF: the user's, else UTF-8 or GB18030 as the bytes say.

    Chinese CAD files are GBK (``$DWGCODEPAGE ANSI_936``) or UTF-8 (AutoCAD 2007+).
    """
    if encoding:
        return normalise_encoding(encoding)
    try:
        codec = guess_encoding(data)
    except InvalidInput:
        return "utf-8"
    return "utf-8" if codec == "utf-8-sig" else codec


def _unmangle(text: object, codec: str) -> object:
    """Undo GDAL's ISO-8859-1 reading of a header-less DXF (``ä¸\x80…`` -> ``一…``); else unchanged."""
    if not isinstance(text, str):
        return text
    try:
        return text.encode("latin-1").decode(codec)
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def read_dxf(data: bytes, encoding: str | None = None, limits: ReadLimits | None = None) -> RawSites:
    """DXF from CAD: closed polylines (and hatches) are the sites; TEXT inside one names it.

    CAD drawings are full of linework that is not a site (roads, dimensions,
    frames): open lines are ignored and counted in a note. When the drawing has
    no closed shapes, its POINT entities are the sites.
    """
    if limits is not None:
        dxf_budget.check(data, limits)  # block arrays counted before GDAL inlines a single copy
    codec = _dxf_codec(data, encoding)
    with tempfile.TemporaryDirectory(prefix="planview-") as tmp:
        path = Path(tmp) / "upload.dxf"
        path.write_bytes(data)
        gdf = _read(path, "DXF", force_2d=True)
    for col in ("Text", "Layer"):
        if col in gdf.columns:
            gdf[col] = gdf[col].astype(object).map(lambda v: _unmangle(v, codec))
    geoms, _ = _close_lines(np.asarray(gdf.geometry.values, dtype=object))
    kinds = shapely.get_type_id(geoms)
    polygonal = np.isin(kinds, (3, 6))
    text = gdf["Text"].astype("string").fillna("") if "Text" in gdf.columns else pd.Series([""] * len(gdf))
    is_text = (kinds == 0) & (text.str.len() > 0).to_numpy()
    plain_points = (kinds == 0) & ~is_text
    notes: list[str] = []
    if polygonal.any():
        keep = np.flatnonzero(polygonal)
        # a HATCH and its boundary polyline are the same site once
        _, first = np.unique(shapely.to_wkb(shapely.normalize(geoms[keep])), return_index=True)
        keep = keep[np.sort(first)]
    else:
        keep = np.flatnonzero(plain_points)
    ignored = int((~polygonal & ~is_text & ~plain_points).sum())
    if ignored:
        notes.append(f"忽略 {ignored} 条非闭合线等图元 / ignored {ignored} open lines and other entities")
    sites = geoms[keep]
    layer = gdf["Layer"].astype(str).to_numpy()[keep] if "Layer" in gdf.columns else np.array([""] * len(keep))
    names = np.array([""] * len(keep), dtype=object)
    if is_text.any() and len(keep) and polygonal.any():
        labels = geoms[is_text]
        label_text = text.to_numpy()[is_text]
        tree = shapely.STRtree(sites)
        lab_idx, site_idx = tree.query(labels, predicate="within")
        for li, si in zip(lab_idx, site_idx, strict=True):
            if not names[si]:
                names[si] = str(label_text[li])
    attrs = pd.DataFrame({"name": [n or None for n in names], "layer": layer})
    if "EntityHandle" in gdf.columns:
        attrs["handle"] = gdf["EntityHandle"].astype(str).to_numpy()[keep]
    raw = RawSites(geometry=sites, attributes=attrs, format="dxf", declared_crs=None, encoding=codec, notes=notes)
    return raw


def read_zip(data: bytes, limits: ReadLimits, encoding: str | None, filename: str) -> RawSites:
    """A ZIP: Shapefile parts, or one dataset of another supported format inside."""
    from geo.readers.detect import read_bytes

    zf = SafeZip.open(data, limits)
    try:
        members = zf.members()
        if any(m.suffix == ".shp" for m in members):
            return read_shapefile_zip(zf, members, encoding, limits)
        if any(m.suffix in (".shx", ".dbf") for m in members):
            raise InvalidInput("压缩包有 .shx/.dbf 但缺少 .shp 文件 / the ZIP has .shx/.dbf but no .shp file")
        inner = [m for m in members if m.suffix in SUPPORTED_INNER]
        if len(inner) != 1:
            found = ", ".join(PurePosixPath(m.name).name for m in members[:10]) or "（空 / empty）"
            raise InvalidInput(
                f"压缩包中应有一个 Shapefile 或一个 GeoJSON/KML/GPKG/CSV/XLSX/DXF/TXT 文件，实际为：{found} / "
                f"the ZIP should hold a Shapefile or exactly one GeoJSON/KML/GPKG/CSV/XLSX/DXF/TXT file; found: {found}"
            )
        member = inner[0]
        return read_bytes(zf.read(member.name), PurePosixPath(member.name).name, limits, encoding, nested=True)
    finally:
        zf.close()


SUPPORTED_INNER = (".geojson", ".json", ".kml", ".gpkg", ".csv", ".xlsx", ".dxf", ".txt")
