"""The land-administration boundary-point text format (建设用地报批 "坐标TXT").

Layout (from the Ministry's 报批 exchange format)::

    [属性描述]
    格式版本号=1.01版本
    坐标系=2000国家大地坐标系
    几度分带=3
    投影类型=高斯克吕格
    计量单位=米
    带号=36
    [地块坐标]
    5,1.2345,1,东区地块,面,,工业用地,,@
    J1,1,3423456.789,36512345.678
    J2,1,...
    J1,1,3423456.789,36512345.678

A parcel starts with a header line ending in ``@`` (point count, area, number,
name, kind, sheet, use, class code). Point lines are ``name,ring,X,Y`` where,
by surveying convention, **X is the northing and Y the easting** (often with
the zone prefix). Ring 1 is the outer ring; later rings inside it are holes,
others extra parts. Rings close on their first point.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidInput, TooLarge
from geo.readers.base import RawSites
from geo.readers.crs_infer import CrsChoice, from_pyproj
from geo.readers.limits import ReadLimits
from geo.readers.text import decode

SECTION = re.compile(r"^\s*\[(.+?)\]\s*$")
PARCEL_FIELDS = ("点数", "面积", "地块编号", "地块名称", "图形属性", "图幅号", "地块用途", "地类编码")


def looks_like_landtxt(text: str) -> bool:
    head = text[:4096]
    return "[属性描述]" in head or "[地块坐标]" in head or bool(re.search(r"^J\d+,\d+,[\d.]+,[\d.]+\s*$", head, re.M))


def _header_crs(meta: dict[str, str], eastings: np.ndarray) -> CrsChoice | None:
    """The CRS the header declares (zone, band width), when it names CGCS2000 or says nothing else."""
    system = meta.get("坐标系", "")
    zone_text = meta.get("带号", "").strip()
    width = 6 if meta.get("几度分带", "3").strip().startswith("6") else 3
    prefixed = bool(len(eastings)) and float(np.median(eastings)) >= 1e7
    if not zone_text.isdigit() and not prefixed:
        return None
    zone = int(float(np.median(eastings)) // 1e6) if prefixed else int(zone_text)
    cm = zone if zone >= 75 else (zone * 3 if width == 3 else zone * 6 - 3)
    zone_no = cm // 3 if width == 3 else (cm + 3) // 6
    if width == 3:
        epsg = 4513 + zone_no - 25 if prefixed else 4534 + (cm - 75) // 3
    else:
        epsg = 4491 + zone_no - 13 if prefixed else 4502 + (cm - 75) // 6
    from pyproj import CRS

    reason = (f"坐标TXT 表头：{system or '坐标系未写明'}，{width} 度带，带号 {zone_no}"
              f"{'（东坐标含带号）' if prefixed else ''} / header of the land TXT: {width}-degree zone {zone_no}"
              f"{' (easting carries the zone prefix)' if prefixed else ''}")
    choice = from_pyproj(CRS.from_epsg(epsg), "file", reason)
    return choice


def _polygon(rings: dict[int, list[tuple[float, float]]]) -> BaseGeometry:
    """Rings in ring-number order: a ring inside an earlier outer ring is its hole, else a new part.

    The containment test goes through an STRtree, so a parcel with thousands of
    rings costs about n log n, not the n² of testing every ring against every part.
    """
    coords = []
    for _, pts in sorted(rings.items()):
        if len(pts) > 1 and pts[0] == pts[-1]:
            pts = pts[:-1]
        if len(pts) >= 3:
            coords.append(pts)
    if not coords:
        return shapely.Polygon()
    if len(coords) == 1:
        return shapely.Polygon(coords[0])
    polygons = np.array([shapely.Polygon(pts) for pts in coords], dtype=object)
    try:
        probes = shapely.point_on_surface(polygons)
    except shapely.errors.GEOSException:  # a self-intersecting ring: its mean vertex is a fair probe
        probes = np.array([shapely.Point(np.mean(pts, axis=0)) for pts in coords], dtype=object)
    tree = shapely.STRtree(polygons)
    host_of = np.full(len(coords), -1)
    for i, probe in enumerate(probes):
        for j in sorted(int(j) for j in tree.query(probe, predicate="within") if j < i):
            if host_of[j] == -1:  # only an outer ring hosts holes
                host_of[i] = j
                break
    holes: dict[int, list[list[tuple[float, float]]]] = {}
    for i, host in enumerate(host_of):
        if host != -1:
            holes.setdefault(int(host), []).append(coords[i])
    parts = [shapely.Polygon(coords[i], holes.get(i, [])) for i in range(len(coords)) if host_of[i] == -1]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def parse_landtxt(data: bytes, encoding: str | None, limits: ReadLimits) -> RawSites:
    text, used = decode(data, encoding)
    meta: dict[str, str] = {}
    section = ""
    parcels: list[dict[str, Any]] = []
    rings: list[dict[int, list[tuple[float, float]]]] = []
    vertices = 0
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line:
            continue
        if m := SECTION.match(line):
            section = m.group(1)
            continue
        if section == "属性描述" and "=" in line:
            k, v = line.split("=", 1)
            meta[k.strip()] = v.strip()
            continue
        fields = [f.strip() for f in line.split(",")]
        if fields[-1] == "@":
            values = fields[:-1]
            rec: dict[str, Any] = {k: (v or None) for k, v in zip(PARCEL_FIELDS, values, strict=False)}
            parcels.append(rec)
            rings.append({})
            if len(parcels) > limits.max_features:
                raise TooLarge(f"地块过多（超过 {limits.max_features:,}）/ "
                               f"too many parcels (over {limits.max_features:,})")
            continue
        if len(fields) >= 4 and parcels:
            try:
                ring_f, x, y = float(fields[1]), float(fields[2]), float(fields[3])
                if not (np.isfinite([ring_f, x, y]).all() and ring_f == int(ring_f) and 0 <= ring_f < 1e6):
                    raise ValueError(line)
                ring_no = int(ring_f)
            except ValueError:
                raise InvalidInput(f"坐标TXT 第 {lineno} 行无法解析：{line[:60]!r}（应为 点号,圈号,X,Y）/ "
                                   f"line {lineno} of the land TXT is unreadable: {line[:60]!r} "
                                   "(expected name,ring,X,Y; finite numbers, ring a small whole number)") from None
            rings[-1].setdefault(ring_no, []).append((y, x))  # X north, Y east -> (east, north)
            vertices += 1
            if vertices > limits.max_vertices:
                raise TooLarge(f"界址点过多（超过 {limits.max_vertices:,}）/ too many boundary points "
                               f"(over {limits.max_vertices:,})")
            continue
        if section == "地块坐标" or parcels:
            raise InvalidInput(f"坐标TXT 第 {lineno} 行格式不对：{line[:60]!r} / line {lineno} of the land TXT "
                               f"is malformed: {line[:60]!r}")
    if not parcels:
        raise InvalidInput("坐标TXT 中没有地块（应有以 @ 结尾的地块行和 J1,1,X,Y 点行）/ no parcels in the land TXT "
                           "(expected parcel lines ending in '@' followed by J1,1,X,Y point lines)")
    geoms = np.array([_polygon(r) for r in rings], dtype=object)
    eastings = np.array([e for r in rings for pts in r.values() for e, _ in pts], dtype=float)
    attrs = pd.DataFrame(parcels, index=range(len(parcels)))
    notes = []
    declared = _header_crs(meta, eastings)
    system = meta.get("坐标系", "")
    if system and "2000" not in system:
        notes.append(f"表头坐标系为“{system}”，按 CGCS2000 处理，可能存在数十米偏差 / header names {system!r}; "
                     "read as CGCS2000, which may be off by tens of metres")
    raw = RawSites(geometry=geoms, attributes=attrs, format="landtxt", declared_crs=declared, encoding=used,
                   notes=notes)
    return raw
