"""Invalid site geometry repaired within a bound, or refused: never an unbounded make_valid.

``make_valid`` on a polygon whose boundary crosses itself k times costs about
k log k, and a scribble of n random vertices crosses itself ~n²/4 times: a
96 KB polygon of 4 000 random vertices took 85 s and 4 GB. So the crossings are
counted first, with a spatial index over the boundary's segments, in chunks
that stop as soon as the count passes :data:`MAX_CROSSINGS`. Up to that the
geometry is repaired (the note says how many self-intersections were fixed);
beyond it the upload is refused with a message saying to simplify.
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

from geo.errors import TooLarge

MAX_CROSSINGS = 1000  # self-intersections repaired per site; real bow-ties and slivers have a handful
_CHUNK = 16  # segments queried first: a scribble passes the cap within the first chunks


def _segments(geom: shapely.Geometry) -> NDArray[np.object_]:
    """Every boundary segment of a (multi)polygon or line as a two-point line."""
    boundary = shapely.boundary(geom) if shapely.get_dimensions(geom) == 2 else geom
    parts = shapely.get_parts(boundary)
    out = []
    for part in parts:
        xy = shapely.get_coordinates(part)
        if len(xy) >= 2:
            out.append(np.stack([xy[:-1], xy[1:]], axis=1))
    if not out:
        return np.empty(0, dtype=object)
    return shapely.linestrings(np.concatenate(out))  # type: ignore[no-any-return]


def count_crossings(geom: shapely.Geometry, cap: int = MAX_CROSSINGS) -> int:
    """Pairs of boundary segments that cross (interiors meet); stops counting once past ``cap``."""
    segs = _segments(geom)
    if len(segs) < 4:
        return 0
    tree = shapely.STRtree(segs)
    count, start, chunk = 0, 0, _CHUNK
    while start < len(segs):
        left, right = tree.query(segs[start:start + chunk])  # envelopes only; the exact test is vectorised
        left = left + start
        later = left < right
        left, right = left[later], right[later]
        found = int(shapely.crosses(segs[left], segs[right]).sum())
        count += found
        if count > cap:
            return count
        start += chunk
        if found * 8 < cap:  # few crossings so far: larger chunks (fewer Python round trips)
            chunk = min(chunk * 2, 4096)
    return count


def repair(geoms: NDArray[np.object_], names: list[str], notes: list[str]) -> NDArray[np.object_]:
    """Invalid geometries repaired with ``make_valid`` (bounded), the note saying how many crossings."""
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid) == 0:
        return geoms
    crossings = 0
    for i in invalid:
        n = count_crossings(geoms[i])
        if n > MAX_CROSSINGS:
            raise TooLarge(
                f"场地“{names[i]}”的边界自相交超过 {MAX_CROSSINGS:,} 处（{shapely.get_num_coordinates(geoms[i]):,} 个顶点），"
                "无法自动修复。请在 GIS/CAD 中检查并简化该地块边界后重新上传 / the boundary of site "
                f"{names[i]!r} crosses itself more than {MAX_CROSSINGS:,} times "
                f"({shapely.get_num_coordinates(geoms[i]):,} vertices) and cannot be repaired automatically; "
                "check and simplify it in your GIS or CAD program, then upload again")
        crossings += n
    out = geoms.copy()
    out[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    listed = "、".join(names[i] for i in invalid[:10]) + ("…" if len(invalid) > 10 else "")
    notes.append(f"{len(invalid)} 个场地几何无效（如自相交的“8”字形），已用 make_valid 自动修复 {crossings} 处自相交："
                 f"{listed} / repaired {len(invalid)} invalid geometries ({crossings} self-intersections, e.g. "
                 f"bow-ties) with make_valid: {listed}")
    return out
