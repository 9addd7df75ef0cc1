"""Map geometry for print: the projected frame, its true scale, and matplotlib paths.

The sheet is drawn in a conformal CGCS2000 3-degree Gauss–Krüger zone chosen
from the view's centre (EPSG:4545 for Yunyang, CM 108°E), never Web Mercator:
shapes keep their form and the scale bar measures ground distance. The point
scale factor and the meridian convergence at the centre are taken from the
projection itself, so the bar and the north arrow are true where the reader
looks (both corrections are below 0.1 % / ~1.5° over Chongqing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from matplotlib.path import Path as MplPath
from numpy.typing import NDArray
from pyproj import CRS, Proj

from geo.crs import LONLAT, gk_zone_epsg, transformer
from geo.errors import InvalidInput

Bbox = tuple[float, float, float, float]


def crs_for_view(bbox: Bbox) -> CRS:
    """The CGCS2000 3-degree GK zone of the view's central longitude."""
    return CRS.from_epsg(gk_zone_epsg((bbox[0] + bbox[2]) / 2.0))


def crs_label(crs: CRS) -> str:
    """Short human label, e.g. ``CGCS2000 / 3-degree Gauss-Kruger CM 108E（EPSG:4545）``."""
    epsg = crs.to_epsg()
    return f"{crs.name}（EPSG:{epsg}）" if epsg else crs.name


@dataclass(frozen=True)
class Frame:
    """The ground rectangle shown in the map frame, in projected metres."""

    crs: CRS
    x0: float
    y0: float
    x1: float
    y1: float
    scale_factor: float  # projected metres per ground metre at the centre
    convergence_deg: float  # angle from grid north to true north, clockwise positive
    center_lonlat: tuple[float, float]

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def ground_m_per_paper_mm(self, frame_width_mm: float) -> float:
        return self.width / self.scale_factor / frame_width_mm

    def clip_box(self, margin: float = 0.02) -> tuple[float, float, float, float]:
        dx, dy = self.width * margin, self.height * margin
        return self.x0 - dx, self.y0 - dy, self.x1 + dx, self.y1 + dy


def _densified_box(bbox: Bbox, n: int = 24) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x0, y0, x1, y1 = bbox
    t = np.linspace(0.0, 1.0, n)
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full(n, x1), x1 - (x1 - x0) * t, np.full(n, x0)])
    ys = np.concatenate([np.full(n, y0), y0 + (y1 - y0) * t, np.full(n, y1), y1 - (y1 - y0) * t])
    return xs, ys


def fit_frame(bbox: Bbox, aspect: float, crs: CRS | None = None) -> Frame:
    """The projected rectangle of ``aspect`` (width/height) that contains the lon/lat ``bbox``.

    The shorter side is widened symmetrically, as a print layout's map item
    does, so the sheet is filled and nothing asked for is cut off.
    """
    x0, y0, x1, y1 = bbox
    if not (x1 > x0 and y1 > y0):
        raise InvalidInput(f"地图范围为空 / the map extent is empty: {bbox}")
    crs = crs or crs_for_view(bbox)
    fwd = transformer(LONLAT, crs.to_wkt())
    xs, ys = fwd.transform(*_densified_box(bbox))
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise InvalidInput(f"范围超出投影可用区 / the extent cannot be projected: {bbox}")
    px0, px1, py0, py1 = float(np.min(xs)), float(np.max(xs)), float(np.min(ys)), float(np.max(ys))
    w, h = px1 - px0, py1 - py0
    if w / h < aspect:
        grow = (h * aspect - w) / 2.0
        px0, px1 = px0 - grow, px1 + grow
    else:
        grow = (w / aspect - h) / 2.0
        py0, py1 = py0 - grow, py1 + grow
    clon, clat = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    factors = Proj(crs).get_factors(clon, clat)
    scale = float(math.sqrt(factors.meridional_scale * factors.parallel_scale))
    # True north at the centre, measured in the grid: project a short step north.
    cx, cy = fwd.transform(clon, clat)
    nx, ny = fwd.transform(clon, clat + 0.01)
    convergence = math.degrees(math.atan2(nx - cx, ny - cy))
    return Frame(crs=crs, x0=px0, y0=py0, x1=px1, y1=py1, scale_factor=scale,
                 convergence_deg=convergence, center_lonlat=(clon, clat))


def prepare(features: gpd.GeoDataFrame, frame: Frame, tolerance_m: float) -> gpd.GeoDataFrame:
    """Project, clip to the frame and simplify below print resolution; drop what is not in view."""
    if features.empty:
        return features
    projected = features.to_crs(frame.crs)
    geoms = projected.geometry.values
    box = frame.clip_box()
    keep = shapely.intersects(geoms, shapely.box(*box))
    projected = projected[keep]
    if projected.empty:
        return projected
    geoms = np.asarray(projected.geometry.values, dtype=object)
    is_point = shapely.get_type_id(geoms) == 0
    # Plain Douglas–Peucker below print resolution (topology checks cost 5x and change nothing visible),
    # then clipping, which is cheaper on the fewer vertices.
    simplified = np.where(is_point, geoms, shapely.simplify(geoms, tolerance_m, preserve_topology=False))
    clipped = np.where(is_point, simplified, shapely.clip_by_rect(simplified, *box))
    out = projected.copy()
    out = out.set_geometry(gpd.GeoSeries(clipped, index=projected.index, crs=frame.crs))
    return out[~shapely.is_empty(np.asarray(out.geometry.values, dtype=object))]


def _ring_path(coords: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.uint8]]:
    codes = np.full(len(coords), MplPath.LINETO, dtype=np.uint8)
    codes[0] = MplPath.MOVETO
    codes[-1] = MplPath.CLOSEPOLY
    return coords, codes


def polygon_path(geom: shapely.Geometry) -> MplPath | None:
    """One compound path for a (multi)polygon, holes included (even-odd filled by matplotlib)."""
    verts: list[NDArray[np.float64]] = []
    codes: list[NDArray[np.uint8]] = []
    for part in shapely.get_parts(shapely.get_parts(geom)):
        if part.geom_type != "Polygon" or part.is_empty:
            continue
        rings = [np.asarray(part.exterior.coords)] + [np.asarray(r.coords) for r in part.interiors]
        for ring in rings:
            if len(ring) >= 4:
                v, c = _ring_path(ring[:, :2])
                verts.append(v)
                codes.append(c)
    if not verts:
        return None
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def line_paths(geom: shapely.Geometry) -> list[NDArray[np.float64]]:
    """Vertex arrays of every line part (for a LineCollection)."""
    return [np.asarray(p.coords)[:, :2] for p in shapely.get_parts(geom)
            if p.geom_type in ("LineString", "LinearRing") and len(p.coords) >= 2]


def point_xy(geom: shapely.Geometry) -> NDArray[np.float64]:
    """Coordinates of every point part."""
    return shapely.get_coordinates(shapely.get_parts(geom))
