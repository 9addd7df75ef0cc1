"""Which coordinate system an upload is in: declared, chosen, or inferred from the numbers.

Order of authority: the user's choice, then what the file declares (``.prj``,
a GeoJSON ``crs`` member, a GeoPackage's SRS, KML = WGS84, the 坐标TXT header),
then inference from the magnitudes of the coordinates:

* degrees in China's range -> WGS84 lon/lat (axes swapped if lat comes first);
* 8-digit eastings -> CGCS2000 Gauss-Krüger *with* zone prefix, the zone read
  from the prefix (zone 36 -> EPSG:4524);
* 6-digit eastings + 7-digit northings -> GK *without* prefix; the zone cannot
  be read from the numbers, so each Chongqing zone (EPSG:4544/4545/4546) is
  tried and the one that puts the sites inside the area of interest wins;
* northing first (surveyors' X = north) -> axes swapped.

Every choice carries a bilingual reason, and :func:`diagnose` turns sites that
land far from the area of interest into a warning naming the likely cause.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from geo.crs import EQUAL_AREA, GK_ZONES_NO_PREFIX, LONLAT, transformer
from geo.datum import OFFSET_DATUMS, to_wgs84
from geo.errors import InvalidInput

Float = NDArray[np.float64]

DATUM_NAMES = {"gcj02": "GCJ-02（高德/腾讯 Amap/Tencent）", "bd09": "BD-09（百度 Baidu）"}
_DATUM_ALIASES = {
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "amap": "gcj02", "高德": "gcj02", "腾讯": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "baidu": "bd09", "百度": "bd09",
}
_GEOGRAPHIC_ALIASES = {"wgs84": "EPSG:4326", "wgs-84": "EPSG:4326", "cgcs2000": "EPSG:4490", "crs84": "EPSG:4326"}
# How far outside the area of interest a site may be before we call it "far".
FAR_KM = 5.0
PREFERRED_NO_PREFIX = 4545  # CM 108 E covers the largest part of Chongqing, Yunyang included


@dataclass(frozen=True)
class CrsChoice:
    """The CRS used to read an upload, and why."""

    crs: str  # "EPSG:4545", a WKT string, or an offset datum "gcj02" / "bd09"
    label: str  # short human name
    source: str  # "user" | "file" | "inferred"
    reason: str  # bilingual explanation
    swap_xy: bool = False

    @property
    def code(self) -> str:
        """``EPSG:nnnn``, ``gcj02``, ``bd09`` or ``custom`` (a WKT without an EPSG code)."""
        if self.crs in OFFSET_DATUMS or self.crs.startswith("EPSG:"):
            return self.crs
        return "custom"

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "label": self.label, "source": self.source, "reason": self.reason,
                "swapped_axes": self.swap_xy, **({"wkt": self.crs} if self.code == "custom" else {})}


def _label(crs: CRS) -> str:
    epsg = crs.to_epsg(min_confidence=70)
    return f"EPSG:{epsg} {crs.name}" if epsg else crs.name


def from_pyproj(crs: CRS, source: str, reason: str) -> CrsChoice:
    """A choice from a CRS a file declared (or a user typed)."""
    epsg = crs.to_epsg(min_confidence=70)
    if crs.is_geographic and epsg in (None, 4326, 4490, 4610, 4214) and crs.ellipsoid is not None:
        # Lon/lat on any modern datum: identical at map scale; normalise to WGS84.
        code = f"EPSG:{epsg}" if epsg else "EPSG:4326"
    else:
        code = f"EPSG:{epsg}" if epsg else crs.to_wkt()
    return CrsChoice(crs=code, label=_label(crs), source=source, reason=reason)


def parse_user_crs(text: str) -> CrsChoice:
    """``EPSG:4545``, ``4545``, ``gcj02``, ``bd09``, ``wgs84``, ``cgcs2000`` -> a user choice."""
    raw = text.strip()
    key = raw.lower()
    why = f"由用户指定 {raw} / chosen by the user"
    if key in _DATUM_ALIASES:
        datum = _DATUM_ALIASES[key]
        return CrsChoice(crs=datum, label=DATUM_NAMES[datum], source="user", reason=why)
    spec = _GEOGRAPHIC_ALIASES.get(key, f"EPSG:{raw}" if raw.isdigit() else raw)
    try:
        crs = CRS.from_user_input(spec)
    except CRSError:
        raise InvalidInput(
            f"不认识的坐标系 {raw!r}，请填写 EPSG 代码（如 EPSG:4545）、gcj02 或 bd09 / "
            f"unknown CRS {raw!r}; give an EPSG code such as EPSG:4545, or gcj02 / bd09"
        ) from None
    return from_pyproj(crs, "user", why)


def hint_datum(texts: Iterable[str]) -> str | None:
    """An offset datum named in a file or column name (``gcj02_lng``, ``高德坐标.csv``), if any."""
    for text in texts:
        low = str(text).lower()
        for alias, datum in _DATUM_ALIASES.items():
            if alias in ("gcj",):
                continue
            if alias in low:
                return datum
    return None


# ---------------------------------------------------------------- transforms


def swap(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    return shapely.transform(geoms, lambda xy: xy[:, ::-1])  # type: ignore[no-any-return]


def to_lonlat(geoms: NDArray[np.object_], choice: CrsChoice) -> NDArray[np.object_]:
    """Geometries in the chosen CRS (axes as in the file) -> WGS84 lon/lat."""
    if choice.swap_xy:
        geoms = swap(geoms)
    if choice.crs in OFFSET_DATUMS:
        return to_wgs84(geoms, choice.crs)  # type: ignore[no-any-return]
    if choice.crs in ("EPSG:4326", "EPSG:4490", "EPSG:4610", "EPSG:4214"):
        return geoms
    try:
        t = transformer(choice.crs, LONLAT)
    except CRSError as exc:
        raise InvalidInput(f"无法使用坐标系 {choice.label} / cannot use CRS {choice.label}: {exc}") from None

    def _xy(xy: Float) -> Float:
        x, y = t.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    out = shapely.transform(geoms, _xy)
    return out  # type: ignore[no-any-return]


def points_to_lonlat(xy: Float, choice: CrsChoice) -> Float:
    pts = shapely.points(xy)
    out = to_lonlat(pts, choice)
    return shapely.get_coordinates(out)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the area of interest


@dataclass(frozen=True)
class AreaOfInterest:
    """Where sites are expected (Chongqing); used to infer zones and to warn."""

    name: str  # e.g. "重庆市"
    geometry: BaseGeometry  # lon/lat
    projected: BaseGeometry  # the same in EQUAL_AREA
    outline: BaseGeometry  # ``projected`` simplified to 50 m, for distances in warnings

    @classmethod
    def from_lonlat(cls, name: str, geometry: BaseGeometry) -> AreaOfInterest:
        t = transformer(LONLAT, EQUAL_AREA)
        projected = shapely.transform(geometry, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        outline = shapely.simplify(projected, 50.0)
        for g in (geometry, projected, outline):
            shapely.prepare(g)
        return cls(name=name, geometry=geometry, projected=projected, outline=outline)

    def inside_fraction(self, lonlat: Float) -> float:
        if len(lonlat) == 0:
            return 0.0
        finite = np.isfinite(lonlat).all(axis=1)
        if not finite.any():
            return 0.0
        inside = shapely.contains_xy(self.geometry, lonlat[finite, 0], lonlat[finite, 1])
        return float(inside.sum()) / len(lonlat)

    def outside_km(self, lonlat: Float, *, max_points: int = 500) -> Float:
        """Distance in km outside the area for each point (0 inside; inf for unusable numbers).

        Containment is exact; distances are measured to a 50 m-simplified outline and
        only for the first ``max_points`` outside points (the rest get the worst of those),
        which is plenty for a warning and keeps hostile uploads cheap.
        """
        out = np.full(len(lonlat), np.inf)
        finite = np.isfinite(lonlat).all(axis=1) & (np.abs(lonlat[:, 0]) <= 180) & (np.abs(lonlat[:, 1]) <= 90)
        inside = np.zeros(len(lonlat), dtype=bool)
        inside[finite] = shapely.contains_xy(self.geometry, lonlat[finite, 0], lonlat[finite, 1])
        out[inside] = 0.0
        todo = np.flatnonzero(finite & ~inside)
        if len(todo):
            measured, rest = todo[:max_points], todo[max_points:]
            t = transformer(LONLAT, EQUAL_AREA)
            x, y = t.transform(lonlat[measured, 0], lonlat[measured, 1])
            d = shapely.distance(self.outline, shapely.points(np.column_stack([x, y]))) / 1000.0
            out[measured] = np.where(np.isfinite(d), d, np.inf)
            out[rest] = float(np.max(out[measured]))
        return out


# ---------------------------------------------------------------- inference


def _gk_prefixed(zone: int) -> int | None:
    if 25 <= zone <= 45:
        return 4513 + zone - 25  # CGCS2000 3-degree GK zone 25..45 with prefix
    if 13 <= zone <= 23:
        return 4491 + zone - 13  # CGCS2000 6-degree GK zone 13..23 with prefix
    return None


def _epsg_choice(epsg: int, reason: str, swap_xy: bool = False) -> CrsChoice:
    crs = CRS.from_epsg(epsg)
    return CrsChoice(crs=f"EPSG:{epsg}", label=_label(crs), source="inferred", reason=reason, swap_xy=swap_xy)


_SWAP_NOTE = ("；X 列为北坐标、Y 列为东坐标（测量习惯），已交换 / "
              "X holds northings and Y eastings (surveying convention); axes swapped")


def infer(xy: Float, area: AreaOfInterest | None) -> CrsChoice:
    """Infer a CRS from a sample of raw (x, y) coordinates as stored in the file."""
    finite = xy[np.isfinite(xy).all(axis=1)]
    if len(finite) == 0:
        raise InvalidInput("没有可用的坐标 / no usable coordinates in the file")
    mx, my = (float(v) for v in np.median(np.abs(finite), axis=0))
    if mx <= 180 and my <= 90 or mx <= 90 and my <= 180:
        return _infer_degrees(finite, mx, my)
    def northing(v: float) -> bool:
        return 1e6 <= v < 1e7

    def easting(v: float) -> bool:
        return 1e5 <= v < 1e6 or v >= 1e7

    swapped = not (northing(my) and easting(mx)) and northing(mx) and easting(my)
    east, north = (my, mx) if swapped else (mx, my)
    if 1e6 <= north < 1e7 and east >= 1e7:
        zone = int(east // 1e6)
        epsg = _gk_prefixed(zone)
        if epsg is None:
            raise InvalidInput(
                f"东坐标的带号前缀 {zone} 不在中国范围（3 度带 25–45，6 度带 13–23），请指定坐标系 / "
                f"zone prefix {zone} on the easting is outside China (3-degree 25-45, 6-degree 13-23); choose the CRS"
            )
        reason = (f"坐标为米制，东坐标带 {zone} 带号前缀 → CGCS2000 高斯-克吕格 {zone} 带 / metre coordinates, "
                  f"easting carries zone prefix {zone} -> CGCS2000 Gauss-Kruger zone {zone}")
        return _epsg_choice(epsg, reason + (_SWAP_NOTE if swapped else ""), swapped)
    if 1e6 <= north < 1e7 and 1e5 <= east < 1e6:
        return _infer_gk_no_prefix(finite, swapped, area)
    raise InvalidInput(
        f"无法从坐标数值判断坐标系（典型值 {finite[0, 0]:.3f}, {finite[0, 1]:.3f}），请在“坐标系”中指定 / "
        f"cannot tell the CRS from the numbers (e.g. {finite[0, 0]:.3f}, {finite[0, 1]:.3f}); choose one under 'CRS'"
    )


def _infer_degrees(xy: Float, mx: float, my: float) -> CrsChoice:
    lon_ok = (xy[:, 0] >= 73) & (xy[:, 0] <= 136) & (xy[:, 1] >= 3) & (xy[:, 1] <= 54)
    lat_first = (xy[:, 1] >= 73) & (xy[:, 1] <= 136) & (xy[:, 0] >= 3) & (xy[:, 0] <= 54)
    if lat_first.mean() > 0.5 and lat_first.mean() > lon_ok.mean():
        return CrsChoice(
            crs="EPSG:4326", label="EPSG:4326 WGS 84", source="inferred", swap_xy=True,
            reason="坐标为经纬度，但纬度在前，已交换为经度、纬度 / degrees with latitude first; swapped to lon, lat",
        )
    return CrsChoice(
        crs="EPSG:4326", label="EPSG:4326 WGS 84", source="inferred",
        reason="坐标数值为经纬度（度），按 WGS84 读取；若取自高德/腾讯（GCJ-02）或百度（BD-09）地图，请指定坐标系 / "
               "numbers are degrees, read as WGS84; if they come from Amap/Tencent (GCJ-02) or Baidu (BD-09), "
               "choose that",
    )


def _infer_gk_no_prefix(xy: Float, swapped: bool, area: AreaOfInterest | None) -> CrsChoice:
    zones = sorted(GK_ZONES_NO_PREFIX.items())  # (central meridian, epsg)
    sample = xy[:, ::-1] if swapped else xy
    scores: list[tuple[float, int, int]] = []
    for cm, epsg in zones:
        choice = _epsg_choice(epsg, "")
        frac = area.inside_fraction(points_to_lonlat(sample, choice)) if area else 0.0
        scores.append((frac, cm, epsg))
    best = max(scores, key=lambda s: (round(s[0], 3), s[2] == PREFERRED_NO_PREFIX))
    inside = [s for s in scores if s[0] >= 0.5]
    base = ("坐标为米制、东坐标无带号前缀 → CGCS2000 3 度带高斯-克吕格 / metre coordinates without zone prefix -> "
            "CGCS2000 3-degree Gauss-Kruger")
    frac, cm, epsg = best
    if len(inside) == 1:
        reason = (f"{base}；仅中央经线 {cm}°E（EPSG:{epsg}）使场地落在{area.name if area else ''}内 / "
                  f"only central meridian {cm}E (EPSG:{epsg}) puts the sites inside "
                  f"{area.name if area else 'the area'}")
    else:
        others = ", ".join(f"EPSG:{e}" for f, _, e in scores if e != epsg and f >= 0.5)
        reason = (f"{base}；带号无法从坐标判断，默认中央经线 {cm}°E（EPSG:{epsg}）"
                  + (f"，按 {others} 也落在区域内，如不符请改选" if others else "")
                  + f" / the zone cannot be read from the numbers; assumed central meridian {cm}E (EPSG:{epsg})"
                  + (f"; {others} would also fall inside the area: choose it if that is right" if others else ""))
    return _epsg_choice(epsg, reason + (_SWAP_NOTE if swapped else ""), swapped)


# ---------------------------------------------------------------- diagnosis


def _alternatives(choice: CrsChoice, raw: Float) -> list[tuple[str, CrsChoice]]:
    """Plausible other readings of the same numbers, each with a bilingual cause."""
    alts: list[tuple[str, CrsChoice]] = []
    alts.append(("X/Y 坐标轴颠倒 / swapped X/Y axes", replace(choice, swap_xy=not choice.swap_xy)))
    if choice.crs in ("EPSG:4326", "EPSG:4490"):
        for datum in OFFSET_DATUMS:
            alts.append((f"{DATUM_NAMES[datum]} 坐标被当作 WGS84 / {datum.upper()} coordinates read as WGS84",
                         replace(choice, crs=datum, label=DATUM_NAMES[datum])))
        return alts
    if choice.crs in OFFSET_DATUMS:
        alts.append(("坐标本是 WGS84 / the coordinates were WGS84 already",
                     replace(choice, crs="EPSG:4326", label="EPSG:4326 WGS 84")))
        return alts
    zones = [(cm, epsg) for cm, epsg in sorted(GK_ZONES_NO_PREFIX.items()) if choice.crs != f"EPSG:{epsg}"]
    for cm, epsg in zones:
        cause = f"带号错误（应为中央经线 {cm}°E 的 EPSG:{epsg}）/ wrong zone (should be EPSG:{epsg}, CM {cm}E)"
        alts.append((cause, _epsg_choice(epsg, "", choice.swap_xy)))
    return alts


def diagnose(raw: Float, lonlat: Float, choice: CrsChoice, area: AreaOfInterest) -> str | None:
    """A warning when sites land outside the area of interest, naming the likely cause."""
    if len(raw) == 0:
        return None
    dist = area.outside_km(lonlat)
    outside = dist > 0
    if not outside.any():
        return None
    n_out, worst = int(outside.sum()), float(dist[outside].max())
    far = worst > FAR_KM
    where = f"{n_out}/{len(dist)} 个场地位于{area.name}以外" + (
        f"（最远约 {worst:.0f} km）" if np.isfinite(worst) else "（坐标无效）")
    where_en = f"{n_out} of {len(dist)} sites lie outside {area.name}" + (
        f" (up to {worst:.0f} km away)" if np.isfinite(worst) else " (invalid coordinates)")
    causes = []
    for cause, alt in _alternatives(choice, raw):
        try:
            frac = area.inside_fraction(points_to_lonlat(raw, alt))
        except InvalidInput:
            continue
        if frac > 1 - n_out / len(dist) + 1e-9 and frac >= 0.5:
            causes.append((frac, cause, alt))
    causes.sort(key=lambda c: -c[0])
    if causes:
        frac, cause, alt = causes[0]
        fix = alt.crs if alt.crs in OFFSET_DATUMS or alt.crs.startswith("EPSG:") else alt.label
        swapped = "、交换坐标轴" if alt.swap_xy != choice.swap_xy else ""
        hint = (f"。可能原因：{cause.split(' / ')[0]}（改按 {fix}{swapped}"
                f"解释后 {frac:.0%} 落在{area.name}内）")
        hint_en = (f". Likely cause: {cause.split(' / ')[-1]} (read as {fix}"
                   f"{' with axes swapped' if alt.swap_xy != choice.swap_xy else ''}, {frac:.0%} fall inside)")
    elif far:
        hint = "。请检查坐标系、带号与 X/Y 顺序"
        hint_en = ". Check the CRS, the zone and the X/Y order"
    else:
        hint = "。若场地确在市界附近可忽略；否则请检查坐标系（GCJ-02/BD-09 与 WGS84 相差数百米）"
        hint_en = (". Ignore this if the sites really are near the boundary; otherwise check the CRS "
                   "(GCJ-02/BD-09 differ from WGS84 by hundreds of metres)")
    return f"{where}{hint} / {where_en}{hint_en}"
