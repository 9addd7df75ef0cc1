"""KML (and the KML inside a KMZ), parsed with defusedxml: no DTD entities, no external references.

KML is always WGS84 lon/lat (OGC KML 2.2 §6.2), so no CRS inference happens.
Each Placemark is one site; its ``name``, ``description`` and ExtendedData
(``Data``/``SimpleData``) become attributes. MultiGeometry becomes one
multi-part site; a LinearRing is read as a polygon.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
import numpy as np
import pandas as pd
import shapely
from defusedxml import DefusedXmlException
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidInput, TooLarge
from geo.readers.base import RawSites
from geo.readers.crs_infer import CrsChoice
from geo.readers.limits import ReadLimits

KML_CRS = CrsChoice(crs="EPSG:4326", label="EPSG:4326 WGS 84", source="file",
                    reason="KML 规定为 WGS84 经纬度 / KML is WGS84 lon/lat by definition")


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(el: Element, name: str) -> Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


class _Counter:
    def __init__(self, limit: int) -> None:
        self.n = 0
        self.limit = limit

    def add(self, k: int) -> None:
        self.n += k
        if self.n > self.limit:
            raise TooLarge(f"顶点过多（超过 {self.limit:,} 个），请简化或分批上传 / "
                           f"too many vertices (over {self.limit:,}); simplify or split the file")


def _coords(el: Element | None, counter: _Counter) -> np.ndarray:
    if el is None or not (el.text or "").strip():
        return np.empty((0, 2))
    rows = []
    for token in (el.text or "").split():
        parts = token.split(",")
        if len(parts) < 2:
            continue
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise InvalidInput(f"KML 坐标无法解析：{token[:40]!r} / unreadable KML coordinate {token[:40]!r}") from None
    counter.add(len(rows))
    return np.asarray(rows, dtype=float).reshape(-1, 2)


def _ring(el: Element | None, counter: _Counter) -> np.ndarray | None:
    if el is None:
        return None
    ring = _child(el, "LinearRing")
    xy = _coords(_child(ring, "coordinates") if ring is not None else None, counter)
    return xy if len(xy) >= 3 else None


def _geometry(el: Element, counter: _Counter) -> list[BaseGeometry]:
    kind = _local(el.tag)
    if kind == "Point":
        xy = _coords(_child(el, "coordinates"), counter)
        return [shapely.Point(xy[0])] if len(xy) else []
    if kind == "LineString":
        xy = _coords(_child(el, "coordinates"), counter)
        return [shapely.LineString(xy)] if len(xy) >= 2 else []
    if kind == "LinearRing":
        xy = _coords(_child(el, "coordinates"), counter)
        return [shapely.Polygon(xy)] if len(xy) >= 3 else []
    if kind == "Polygon":
        outer = _ring(_child(el, "outerBoundaryIs"), counter)
        if outer is None:
            return []
        holes = [h for h in (_ring(c, counter) for c in el if _local(c.tag) == "innerBoundaryIs") if h is not None]
        return [shapely.Polygon(outer, holes)]
    if kind == "MultiGeometry":
        parts: list[BaseGeometry] = []
        for c in el:
            parts.extend(_geometry(c, counter))
        return parts
    return []


def _combine(parts: list[BaseGeometry]) -> BaseGeometry | None:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    kinds = {p.geom_type for p in parts}
    if kinds == {"Point"}:
        return shapely.MultiPoint(parts)
    if kinds == {"LineString"}:
        return shapely.MultiLineString(parts)
    if kinds == {"Polygon"}:
        return shapely.MultiPolygon(parts)
    return shapely.GeometryCollection(parts)


def _attributes(pm: Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("name", "description"):
        el = _child(pm, name)
        if el is not None and (el.text or "").strip():
            out[name] = (el.text or "").strip()
    ext = _child(pm, "ExtendedData")
    if ext is not None:
        for el in ext.iter():
            tag = _local(el.tag)
            if tag == "Data" and el.get("name"):
                value = _child(el, "value")
                out[str(el.get("name"))] = (value.text or "").strip() if value is not None else None
            elif tag == "SimpleData" and el.get("name"):
                out[str(el.get("name"))] = (el.text or "").strip()
    return out


def parse_kml(data: bytes, limits: ReadLimits, fmt: str = "kml") -> RawSites:
    try:
        root = SafeET.fromstring(data)
    except DefusedXmlException:
        raise InvalidInput("KML 含有 DTD 实体或外部引用，出于安全已拒绝 / the KML declares entities or external "
                           "references; refused for safety") from None
    except ParseError as exc:
        raise InvalidInput(f"KML 不是有效的 XML：{exc} / the KML is not valid XML: {exc}") from None
    except LookupError as exc:  # <?xml encoding="..."?> names a codec Python does not know
        raise InvalidInput(f"KML 声明的字符编码无法识别（{str(exc)[:80]}），请改为 UTF-8 / the KML declares an unknown "
                           f"encoding ({str(exc)[:80]}); save it as UTF-8") from None
    if _local(root.tag) != "kml":
        raise InvalidInput("XML 文件不是 KML（根元素应为 <kml>）/ the XML file is not KML (root must be <kml>)")
    counter = _Counter(limits.max_vertices)
    geoms: list[BaseGeometry] = []
    rows: list[dict[str, Any]] = []
    skipped = 0
    for pm in root.iter():
        if _local(pm.tag) != "Placemark":
            continue
        parts: list[BaseGeometry] = []
        for c in pm:
            parts.extend(_geometry(c, counter))
        geom = _combine(parts)
        if geom is None:
            skipped += 1
            continue
        geoms.append(geom)
        rows.append(_attributes(pm))
        if len(geoms) > limits.max_features:
            raise TooLarge(f"要素过多（超过 {limits.max_features:,} 个）/ "
                           f"too many features (over {limits.max_features:,})")
    raw = RawSites(geometry=np.asarray(geoms, dtype=object), attributes=pd.DataFrame(rows, index=range(len(rows))),
                   format=fmt, declared_crs=KML_CRS, encoding="utf-8")
    if skipped:
        raw.notes.append(f"{skipped} 个地标没有几何，已跳过 / skipped {skipped} placemarks without geometry")
    return raw
