"""Generalised overviews of a dense polygon layer, built at import, read by tiles below the detail zoom.

Without them a layer of 10⁶ small parcels draws nothing below zoom ~14 (every
parcel is under :data:`~layers.store.model.MIN_PIXELS` there). For each zoom
band (:data:`BANDS`) the polygons too small for the band are aggregated by
style class onto a Web-Mercator grid of :data:`CELL_PX` pixels at the band's
highest zoom (at most z12's grid): each feature's bbox adds its overlap area (and its share of one
feature) to the cells it covers, a cell takes the class with the largest area,
and the cells of one class in one block (one tile at that zoom) are merged to
one (multi)polygon, simplified to a pixel. Every overview feature carries the
style columns, ``pv_count`` (how many source features it stands for),
``pv_generalised = 1`` and ``pv_zoom`` (where they are all drawn singly), so
the map can say it is a generalised picture. All numpy/GEOS, in chunks: time
and memory grow with the features and the occupied cells, never with the
layer's extent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray

from layers.store.model import MAX_ZOOM

# (lowest, highest) zoom of each band; tiles at or above OVERVIEW_UNTIL never read an overview
BANDS = ((0, 8), (9, 10), (11, 12), (13, 13))
OVERVIEW_UNTIL = 14
MIN_FEATURES = 1000  # smaller layers draw every feature as today
CELL_PX = 2
# The grid is that of the band's highest zoom, but never finer than z12's (≈ 65 m cells in China): a 2-px grid at
# z13 would hold ~4 cells per 60 m parcel, and the build's memory grows with the cells. z13 draws 4-px cells.
MAX_GRID_ZOOM = 12
BLOCK_CELLS = 256 // CELL_PX  # a block (one merged feature per class) is one tile at the grid's zoom
SHIFT = 0.3  # of a cell: tile edges (with the 4-px buffer) at any zoom lie on multiples of a quarter cell
MIN_COVER = 0.3  # a cell is drawn when the features' bboxes cover this share of it
CHUNK = 50_000  # features per vectorised step (bounds the temporary arrays)
R = 6378137.0
HALF = math.pi * R
COLUMNS = {"pv_count": "integer", "pv_generalised": "integer", "pv_zoom": "integer"}


def band_for(z: int) -> tuple[int, int] | None:
    for lo, hi in BANDS:
        if lo <= z <= hi:
            return lo, hi
    return None


def threshold(band: tuple[int, int]) -> int:
    """Features with ``pv_minzoom`` above this are in the band's overview; the others are drawn singly (at
    zooms where they are visible). Below ``hi - 2`` a feature spans more than 8 cells: it is no parcel."""
    lo, hi = band
    return max(lo, hi - 2)


def overview_table(table: str, band: tuple[int, int]) -> str:
    return f"{table}_g{band[1]}"


@dataclass
class Footprints:
    """Per-feature Web-Mercator bbox and minzoom of the polygons, collected while the rows are written."""

    boxes: list[NDArray[np.float64]] = field(default_factory=list)
    minzooms: list[NDArray[np.int16]] = field(default_factory=list)
    polygonal: list[NDArray[np.bool_]] = field(default_factory=list)

    def add(self, bounds: NDArray[np.float64], mz: NDArray[np.int16], geoms: NDArray[np.object_]) -> None:
        self.boxes.append(_merc_bounds(bounds))
        self.minzooms.append(mz.astype(np.int16))
        self.polygonal.append(np.isin(shapely.get_type_id(geoms), (3, 6)))

    def needed(self) -> bool:
        """Only layers of many features with polygons below some band's size get overviews."""
        if not self.minzooms:
            return False
        mz = np.concatenate(self.minzooms)
        poly = np.concatenate(self.polygonal)
        return len(mz) >= MIN_FEATURES and bool((poly & (mz > threshold(BANDS[0]))).any())


@dataclass
class OverviewFeature:
    cls: int  # index into the layer's style keys
    geom: shapely.Geometry  # lon/lat
    count: int
    zoom: int


def class_codes(rows: Iterable[Sequence[object]] | None, n: int) -> tuple[NDArray[np.intp], list[tuple[object, ...]]]:
    """Style key index per feature from its style columns' values (streamed, in fid order), and the keys; one
    empty key when the layer has no style column (``rows`` None)."""
    if rows is None:
        return np.zeros(n, dtype=np.intp), [()]
    index: dict[tuple[object, ...], int] = {}
    codes = np.fromiter((index.setdefault(tuple(r), len(index)) for r in rows), dtype=np.intp, count=n)
    return codes, list(index)


def _merc_bounds(b: NDArray[np.float64]) -> NDArray[np.float64]:
    def y(lat: NDArray[np.float64]) -> NDArray[np.float64]:
        lat = np.radians(np.clip(lat, -85.0511287798066, 85.0511287798066))
        return R * np.log(np.tan(np.pi / 4 + lat / 2))  # type: ignore[no-any-return]

    return np.column_stack([np.radians(b[:, 0]) * R, y(b[:, 1]), np.radians(b[:, 2]) * R, y(b[:, 3])])


def _lonlat(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.column_stack([np.degrees(xy[:, 0] / R), np.degrees(2 * np.arctan(np.exp(xy[:, 1] / R)) - np.pi / 2)])


def build(fp: Footprints, classes: NDArray[np.intp]) -> dict[tuple[int, int], list[OverviewFeature]]:
    """The overview features of every band that has polygons too small for it (``classes``: style key index per
    feature, in write order)."""
    boxes = np.concatenate(fp.boxes)
    mz = np.concatenate(fp.minzooms)
    poly = np.concatenate(fp.polygonal)
    out: dict[tuple[int, int], list[OverviewFeature]] = {}
    for band in BANDS:
        sel = np.flatnonzero(poly & (mz > threshold(band)))
        if len(sel):
            out[band] = _band(boxes[sel], mz[sel], classes[sel], min(band[1], MAX_GRID_ZOOM))
    return out


def _band(boxes: NDArray[np.float64], mz: NDArray[np.int16], cls: NDArray[np.intp], grid_zoom: int
          ) -> list[OverviewFeature]:
    cell = CELL_PX * 2 * HALF / (256 * 2**grid_zoom)
    ox, oy = _origin(cell)
    n_cls = int(cls.max()) + 1
    width = int(round(2 * HALF / cell))
    parts: list[tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.float32], NDArray[np.int16]]] = []
    for start in range(0, len(boxes), CHUNK):
        parts.append(_cells(boxes[start:start + CHUNK], mz[start:start + CHUNK], cls[start:start + CHUNK],
                            cell, width, n_cls))
    keys = np.concatenate([p[0] for p in parts])
    area = np.concatenate([p[1] for p in parts])
    share = np.concatenate([p[2] for p in parts])
    zmax = np.concatenate([p[3] for p in parts])
    keys, area, share, zmax = _reduce(keys, area, share, zmax)
    cell_id, k = np.divmod(keys, n_cls)
    # per cell: the class with the largest area (sort by cell then area; the last row of each cell wins)
    order = np.lexsort((area, cell_id))
    cell_id, k, area, share, zmax = cell_id[order], k[order], area[order], share[order], zmax[order]
    starts = np.flatnonzero(np.r_[True, cell_id[1:] != cell_id[:-1]])
    ends = np.r_[starts[1:], len(cell_id)] - 1
    cover = np.add.reduceat(area, starts) / (cell * cell)
    count = np.add.reduceat(share, starts)
    zcell = np.maximum.reduceat(zmax, starts)
    cells, cell_cls = cell_id[ends], k[ends]
    row, col = np.divmod(cells, width)
    block = (row // BLOCK_CELLS) * (width // BLOCK_CELLS + 1) + col // BLOCK_CELLS
    # the features of thinly covered cells (not drawn) still count in their block's feature of their class
    group, group_at = np.unique(block * n_cls + cell_cls, return_inverse=True)
    group_count = np.bincount(group_at, weights=count)
    group_zoom = np.zeros(len(group), dtype=np.int16)
    np.maximum.at(group_zoom, group_at, zcell)
    keep = cover >= MIN_COVER
    row, col, cell_cls, block = (a[keep] for a in (row, col, cell_cls, block))
    # the cells of one class in one block, merged: unit squares on one grid share whole edges (a clean coverage),
    # so GEOS's coverage union does it in linear time
    if not keep.any():
        return []
    order = np.lexsort((cell_cls, block))
    row, col, cell_cls, block = row[order], col[order], cell_cls[order], block[order]
    gs = np.flatnonzero(np.r_[True, (block[1:] != block[:-1]) | (cell_cls[1:] != cell_cls[:-1])])
    ge = np.r_[gs[1:], len(row)]
    features = []
    for s, e in zip(gs.tolist(), ge.tolist(), strict=True):
        # squares made per block (memory: one block's cells); every corner from the same expression of its grid
        # index, so neighbours' shared corners are bit-equal
        r, c = row[s:e], col[s:e]
        squares = shapely.box(ox + c * cell, oy - (r + 1) * cell, ox + (c + 1) * cell, oy - r * cell)
        merged = shapely.coverage_union_all(squares)
        merged = shapely.simplify(merged, cell / 2, preserve_topology=True)
        g = int(np.searchsorted(group, block[s] * n_cls + cell_cls[s]))
        n = int(round(float(group_count[g])))
        if shapely.is_empty(merged) or n == 0:
            continue
        features.append(OverviewFeature(cls=int(cell_cls[s]), geom=shapely.transform(merged, _lonlat), count=n,
                                        zoom=int(min(MAX_ZOOM, group_zoom[g]))))
    return features


def _origin(cell: float) -> tuple[float, float]:
    """The grid's top-left corner: the Web-Mercator origin moved by :data:`SHIFT` of a cell, so that no cell edge
    lies on (or an ulp off) a tile's or its buffer's edge, where GEOS's rectangle clip fails."""
    return -HALF + SHIFT * cell, HALF - SHIFT * cell


def _cells(boxes: NDArray[np.float64], mz: NDArray[np.int16], cls: NDArray[np.intp], cell: float, width: int,
           n_cls: int) -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.float32], NDArray[np.int16]]:
    """(cell × n_cls + class) keys with the bbox overlap area, feature share and max minzoom, reduced."""
    ox, oy = _origin(cell)
    c0 = np.floor((boxes[:, 0] - ox) / cell).astype(np.int64)
    c1 = np.maximum(np.floor((boxes[:, 2] - ox) / cell).astype(np.int64), c0)
    r0 = np.floor((oy - boxes[:, 3]) / cell).astype(np.int64)
    r1 = np.maximum(np.floor((oy - boxes[:, 1]) / cell).astype(np.int64), r0)
    nx, ny = c1 - c0 + 1, r1 - r0 + 1
    per = nx * ny
    f = np.repeat(np.arange(len(boxes)), per)
    offset = np.arange(len(f)) - np.repeat(np.cumsum(per) - per, per)
    dr, dc = np.divmod(offset, nx[f])
    col, row = c0[f] + dc, r0[f] + dr
    cx0 = ox + col * cell
    cy1 = oy - row * cell
    w = np.clip(np.minimum(boxes[f, 2], cx0 + cell) - np.maximum(boxes[f, 0], cx0), 0, None)
    h = np.clip(np.minimum(boxes[f, 3], cy1) - np.maximum(boxes[f, 1], cy1 - cell), 0, None)
    fw = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-9)
    fh = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-9)
    degenerate = (boxes[:, 2] - boxes[:, 0] <= 0) | (boxes[:, 3] - boxes[:, 1] <= 0)
    area = np.where(degenerate[f], 1e-9, w * h).astype(np.float32)
    share = np.where(degenerate[f], 1.0 / per[f], w * h / (fw * fh)[f]).astype(np.float32)
    keys = (row * width + col) * n_cls + cls[f]
    return _reduce(keys, area, share, mz[f])


def _reduce(keys: NDArray[np.int64], area: NDArray[np.float32], share: NDArray[np.float32],
            zmax: NDArray[np.int16]) -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.float32],
                                              NDArray[np.int16]]:
    order = np.argsort(keys, kind="stable")
    keys, area, share, zmax = keys[order], area[order], share[order], zmax[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    if len(keys) == 0:
        return keys, area, share, zmax
    return (keys[starts], np.add.reduceat(area, starts), np.add.reduceat(share, starts),
            np.maximum.reduceat(zmax, starts))
