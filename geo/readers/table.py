"""Tables with coordinate columns: CSV (UTF-8, UTF-8 with BOM, GBK) and XLSX.

Planners' spreadsheets name their columns many ways: 经度/纬度, lng/lat,
lon/lat, longitude/latitude, X/Y, 东坐标/北坐标, often with a unit or datum
tucked on (``经度(°)``, ``gcj02_lng``). :func:`find_columns` recognises those;
which of X/Y is the northing is left to the CRS inference (surveyors' X is
north, GIS users' X is east — the magnitudes decide). Cells may hold decimal
degrees or degrees-minutes-seconds (``108°41'23.5"``). A ``wkt`` column, when
present, carries any geometry.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidInput, TooLarge
from geo.readers.archive import SafeZip
from geo.readers.base import RawSites, cell, clean_attributes
from geo.readers.limits import ReadLimits
from geo.readers.text import decode

_LON = {"经度", "东经", "lng", "lon", "long", "longitude", "x经度"}
_LAT = {"纬度", "北纬", "lat", "latitude", "y纬度"}
_EAST = {"东坐标", "横坐标", "easting", "east"}
_NORTH = {"北坐标", "纵坐标", "northing", "north"}
_X = {"x", "x坐标", "坐标x", "xcoord", "x_coord", "point_x", "pointx"}
_Y = {"y", "y坐标", "坐标y", "ycoord", "y_coord", "point_y", "pointy"}
_WKT = {"wkt", "geometry", "geom", "shape", "几何", "the_geom"}
_DATUM_TAG = re.compile(r"^(gcj0?2|wgs0?84|bd0?9|cgcs2000|cgcs|gcj|bd)[_\-]?|[_\-]?(gcj0?2|wgs0?84|bd0?9|cgcs2000)$")
_DMS = re.compile(
    r"^\s*([NSEW东西南北]?)\s*(\d+(?:\.\d+)?)\s*[°度]\s*(?:(\d+(?:\.\d+)?)\s*['′’分])?\s*"
    r"(?:(\d+(?:\.\d+)?)\s*(?:[\"″”]|''|秒))?\s*([NSEW东西南北]?)\s*$"
)


def _norm(header: Any) -> str:
    text = str(header or "").strip().lstrip("\ufeff").lower()
    text = re.split(r"[\s(（\[【]", text, maxsplit=1)[0]
    return _DATUM_TAG.sub("", text)


def find_columns(headers: list[str]) -> tuple[str, str] | str | None:
    """The (x, y) coordinate columns, the WKT column name, or None."""
    normed = {h: _norm(h) for h in headers}

    def pick(names: set[str]) -> str | None:
        return next((h for h, n in normed.items() if n in names), None)

    for xs, ys in ((_LON, _LAT), (_EAST, _NORTH), (_X, _Y)):
        x, y = pick(xs), pick(ys)
        if x and y and x != y:
            return x, y
    return pick(_WKT)


def parse_number(value: Any) -> float:
    """A coordinate cell: a number, numeric text, or degrees-minutes-seconds; NaN if unreadable."""
    if value is None:
        return float("nan")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().replace("，", ".")
    if not text:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        pass
    m = _DMS.match(text)
    if not m:
        return float("nan")
    deg = float(m.group(2)) + float(m.group(3) or 0) / 60 + float(m.group(4) or 0) / 3600
    hemi = (m.group(1) or m.group(5) or "").upper()
    return -deg if hemi in ("S", "W", "西", "南") else deg


def _no_columns(headers: list[str]) -> InvalidInput:
    shown = "、".join(str(h) for h in headers[:12]) or "（无 / none）"
    return InvalidInput(
        f"找不到坐标列（已有列：{shown}）。请提供 经度/纬度、lng/lat、lon/lat 或 X/Y 列 / "
        f"no coordinate columns found (columns: {shown}); add 经度/纬度, lng/lat, lon/lat or X/Y columns"
    )


def rows_to_sites(headers: list[str], rows: list[list[Any]], fmt: str, limits: ReadLimits) -> RawSites:
    """Build sites from a header and data rows (shared by CSV and XLSX)."""
    cols = find_columns(headers)
    if cols is None:
        raise _no_columns(headers)
    if len(rows) > limits.max_features:
        raise TooLarge(f"行数过多（{len(rows):,}，上限 {limits.max_features:,}）/ too many rows "
                       f"({len(rows):,}, limit {limits.max_features:,})")
    width = len(headers)
    rows = [list(r)[:width] + [None] * (width - len(r)) for r in rows]
    frame = pd.DataFrame(rows, columns=headers)
    notes: list[str] = []
    if isinstance(cols, str):
        texts = frame[cols].map(lambda v: None if v is None else str(v)).tolist()
        try:
            geoms = shapely.from_wkt(texts, on_invalid="ignore")
        except Exception:  # GEOS errors vary; unreadable WKT becomes missing
            geoms = np.array([None] * len(texts), dtype=object)
        bad = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        used = [cols]
    else:
        xcol, ycol = cols
        x = np.array([parse_number(v) for v in frame[xcol]], dtype=float)
        y = np.array([parse_number(v) for v in frame[ycol]], dtype=float)
        bad = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))
        geoms = shapely.points(np.column_stack([x, y]))
        used = [xcol, ycol]
    if len(bad) == len(frame):
        raise InvalidInput(
            f"坐标列 {'/'.join(used)} 中没有可读的数值 / "
            f"the coordinate column(s) {'/'.join(used)} hold no readable values"
        )
    if len(bad):
        listed = ", ".join(str(i + 2) for i in bad[:10]) + ("…" if len(bad) > 10 else "")
        notes.append(f"{len(bad)} 行坐标为空或无法解析，已跳过（第 {listed} 行）/ skipped {len(bad)} rows "
                     f"with empty or unreadable coordinates (rows {listed})")
        keep = np.setdiff1d(np.arange(len(frame)), bad)
        frame = frame.iloc[keep].reset_index(drop=True)
        geoms = geoms[keep]
    attrs = clean_attributes(frame.drop(columns=used))
    return RawSites(geometry=np.asarray(geoms, dtype=object), attributes=attrs, format=fmt,
                    notes=notes, datum_hints=[str(h) for h in used])


def read_csv(data: bytes, encoding: str | None, limits: ReadLimits) -> RawSites:
    text, used = decode(data, encoding)
    sample = text[:8192]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        table = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise InvalidInput(f"CSV 格式有误：{exc} / malformed CSV: {exc}") from None
    if not table:
        raise InvalidInput("CSV 文件没有内容 / the CSV file is empty")
    header_at = next((i for i, row in enumerate(table[:20]) if find_columns(row) is not None), 0)
    raw = rows_to_sites([h.strip().lstrip("\ufeff") for h in table[header_at]], table[header_at + 1:], "csv", limits)
    raw.encoding = used
    if used == "gb18030":
        raw.notes.append("CSV 按 GBK 编码读取 / the CSV was read as GBK")
    return raw


def _stream_rows(head: list[tuple[Any, ...]], rest: Iterator[tuple[Any, ...]], width: int,
                 limits: ReadLimits) -> list[list[Any]]:
    """Non-empty data rows, cut to the header's width, counted as they stream: stops (413) at
    ``max_features`` rows or ``max_cells`` cells read, before the whole sheet is in memory."""
    rows: list[list[Any]] = []
    cells = 0
    for r in chain(head, rest):
        cells += len(r)
        if cells > limits.max_cells:
            raise TooLarge(f"Excel 工作表过大（读取超过 {limits.max_cells:,} 个单元格），请删除多余的行列或另存为 CSV 后上传 / "
                           f"the Excel sheet is too large (over {limits.max_cells:,} cells read); delete unused rows "
                           "and columns or save it as CSV, then upload again")
        if not any(v is not None and str(v).strip() for v in r):
            continue
        rows.append(list(r[:width]))
        if len(rows) > limits.max_features:
            raise TooLarge(f"行数过多（超过 {limits.max_features:,}），请分批上传 / too many rows "
                           f"(over {limits.max_features:,}); split the sheet")
    return rows


def _sheet_size_from_header(ws: Any) -> None:
    """openpyxl's read-only sheet size without a full pass: the ``<dimension>`` element if it comes
    before ``<sheetData>``, else unknown. (openpyxl's own ``_get_size`` parses the whole sheet XML when
    the dimension is missing — as in every file written by openpyxl's write_only mode — which doubles
    the reading time before a single row can be counted.)"""
    from defusedxml.ElementTree import iterparse
    from openpyxl.worksheet.dimensions import SheetDimension
    from openpyxl.xml.constants import SHEET_MAIN_NS

    with ws._get_source() as src:
        for _event, element in iterparse(src, events=("start",)):
            if element.tag == f"{{{SHEET_MAIN_NS}}}dimension":
                ws._min_column, ws._min_row, ws._max_column, ws._max_row = (
                    SheetDimension.from_tree(element).boundaries)
                return
            if element.tag == f"{{{SHEET_MAIN_NS}}}sheetData":
                return


def _fast_read_only_size() -> None:
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    ReadOnlyWorksheet._get_size = _sheet_size_from_header


def read_xlsx(data: bytes, limits: ReadLimits) -> RawSites:
    """The first sheet whose header row (within the first 20 rows) names coordinate columns."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    SafeZip.open(data, limits, what="XLSX").close()  # bombs and hostile paths first
    _fast_read_only_size()
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise InvalidInput(f"无法读取 Excel 文件 / cannot read the Excel file: {exc}") from None
    try:
        first_headers: list[str] = []
        for ws in wb.worksheets:
            rows_iter = ws.iter_rows(values_only=True)
            head: list[tuple[Any, ...]] = []
            for row in rows_iter:
                head.append(row)
                if len(head) >= 20:
                    break
            for i, row in enumerate(head):
                headers = [str(cell(v)) if v is not None else f"列{j + 1}" for j, v in enumerate(row)]
                if not first_headers and any(v is not None for v in row):
                    first_headers = headers
                if find_columns(headers) is None:
                    continue
                return rows_to_sites(headers, _stream_rows(head[i + 1:], rows_iter, len(headers), limits),
                                     "xlsx", limits)
        raise _no_columns(first_headers)
    finally:
        wb.close()
