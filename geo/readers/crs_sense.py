"""Is a CRS sensible for sites on a map? Geographic or projected, not orthographic, and in its area of use.

A geocentric CRS (EPSG:4978: X/Y/Z from the Earth's centre) or an orthographic
view (``+proj=ortho``) turns planners' coordinates into meaningless lon/lat and
areas; a Gauss-Krüger zone for the other side of the world puts the sites
there. Such a CRS — whether the user chose it or the file declares it — is
refused with the reason, instead of answering with wrong numbers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.datum import OFFSET_DATUMS
from geo.errors import InvalidInput
from geo.readers.crs_infer import CrsChoice

# Degrees a site may lie outside the CRS's published area of use: a Gauss-Krüger zone is 3 degrees
# wide and stays accurate to a few decimetres per hectare one and a half degrees beyond its edge.
AREA_MARGIN_DEG = 1.5


def _crs_of(choice: CrsChoice) -> CRS | None:
    if choice.crs in OFFSET_DATUMS:
        return None
    try:
        crs = CRS.from_user_input(choice.crs)
    except CRSError:
        return None
    if crs.is_compound and crs.sub_crs_list:
        crs = crs.sub_crs_list[0]  # the horizontal part of e.g. "CGCS2000 / GK + height"
    return crs


def _refuse(choice: CrsChoice, zh: str, en: str) -> InvalidInput:
    return InvalidInput(f"坐标系 {choice.label} 不适用于场地：{zh}。请改用经纬度（EPSG:4326/4490）或投影坐标系（如 "
                        f"CGCS2000 高斯-克吕格 EPSG:4545），或留空自动识别 / the CRS {choice.label} makes no sense for "
                        f"sites: {en}; use lon/lat (EPSG:4326/4490) or a projected CRS (e.g. CGCS2000 Gauss-Kruger "
                        "EPSG:4545), or leave the CRS empty to infer it")


def check_kind(choice: CrsChoice) -> None:
    """Refuse CRSs that are neither geographic nor a usable map projection (before any transform)."""
    crs = _crs_of(choice)
    if crs is None:
        return
    if crs.is_geocentric:
        raise _refuse(choice, "它是地心坐标系（X/Y/Z 自地心起算），不是平面或经纬度坐标",
                      "it is geocentric (X/Y/Z from the Earth's centre), not lon/lat or map coordinates")
    if not (crs.is_geographic or crs.is_projected):
        raise _refuse(choice, f"它不是经纬度或投影坐标系（类型：{crs.type_name}）",
                      f"it is neither geographic nor projected (type: {crs.type_name})")
    method = (crs.coordinate_operation.method_name if crs.coordinate_operation is not None else "") or ""
    if "orthographic" in method.lower():
        raise _refuse(choice, "它是正射（透视）投影，面积和距离失真，只用于绘制地球外观",
                      "it is an orthographic (perspective) view: areas and distances are distorted")


def check_area_of_use(choice: CrsChoice, lonlat: NDArray[np.float64]) -> None:
    """Refuse a CRS whose area of use does not cover the sites (lon/lat bounds, with a margin)."""
    crs = _crs_of(choice)
    if crs is None or crs.area_of_use is None or len(lonlat) == 0:
        return
    finite = lonlat[np.isfinite(lonlat).all(axis=1)]
    if len(finite) == 0:
        return
    west, south, east, north = crs.area_of_use.bounds
    if west > east:  # crosses the antimeridian: compare in 0..360
        finite = finite.copy()
        finite[:, 0] = np.where(finite[:, 0] < 0, finite[:, 0] + 360, finite[:, 0])
        east += 360
    x0, y0 = finite.min(axis=0)
    x1, y1 = finite.max(axis=0)
    m = AREA_MARGIN_DEG
    if x0 >= west - m and x1 <= east + m and y0 >= south - m and y1 <= north + m:
        return
    where = f"{x0:.2f}–{x1:.2f}°E, {y0:.2f}–{y1:.2f}°N"
    area = f"{west:.1f}–{east:.1f}°E, {south:.1f}–{north:.1f}°N"
    raise _refuse(choice, f"按它读取，场地位于 {where}，超出其适用范围（{crs.area_of_use.name}：{area}）",
                  f"read in it the sites lie at {where}, outside its area of use ({crs.area_of_use.name}: {area})")
