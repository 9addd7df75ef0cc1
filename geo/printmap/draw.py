"""Draw prepared layers onto the map axes, the way the interactive map styles them.

Styles come from the layer manifest (Leaflet px and opacities); 1 px is
0.75 pt, as on a 96-dpi screen. Schematic (示意) features are never drawn
like surveyed ones: dashed outline, half the fill, and a light hatch, the same
marks the legend shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path as MplPath
from matplotlib.text import Text
from matplotlib.transforms import Bbox as MplBbox
from matplotlib.transforms import ScaledTranslation

from geo.printmap.furniture import Measure, printable
from geo.printmap.geometry import line_paths, point_xy, polygon_path
from geo.printmap.spec import MM_PER_INCH, PrintLayer, Symbol

PT_PER_PX = 0.75
SCHEMATIC_DASH = (0, (4.0, 2.0))
SCHEMATIC_HATCH = "////"
SCHEMATIC_FILL_FACTOR = 0.5
OTHER_KEY = "\x00other"
LABEL_BACKING = {"boxstyle": "round,pad=0.12,rounding_size=0.3", "facecolor": (1, 1, 1, 0.72), "edgecolor": "none"}
LABEL_LINE = 1.25  # label box height in em (Noto Sans SC: ascender 1.16 + descender 0.29, trimmed)


@dataclass(frozen=True)
class Look:
    """Resolved matplotlib look of one class of features (used by map and legend alike)."""

    face: tuple[float, float, float, float]
    edge: tuple[float, float, float, float]
    linewidth: float
    linestyle: object
    hatch: str | None
    marker_size: float  # points (diameter)


def dash_style(dash_array: str | None) -> object:
    """A Leaflet ``dash_array`` ("5,5") as a matplotlib dash tuple, in points."""
    if not dash_array:
        return "solid"
    try:
        parts = tuple(float(p) * PT_PER_PX for p in dash_array.replace(" ", ",").split(",") if p)
    except ValueError:
        return "dashed"
    return (0, parts) if parts and all(p > 0 for p in parts) else "solid"


def look_for(symbol: Symbol, fill: str, *, schematic: bool, geom: str, emphasis: bool = False) -> Look:
    """The look of a feature class; ``fill`` is its category colour (or the layer's)."""
    fill_opacity = symbol.fill_opacity * (SCHEMATIC_FILL_FACTOR if schematic else 1.0)
    if geom == "line":
        edge_color, face = fill, (0.0, 0.0, 0.0, 0.0)
    else:
        edge_color, face = symbol.color, to_rgba(fill, fill_opacity)
    if geom == "point":
        face = to_rgba(fill, max(0.55, min(1.0, symbol.fill_opacity + 0.3)))
    width = max(0.3, symbol.weight * PT_PER_PX)
    if emphasis:
        width *= 1.4
    return Look(
        face=face,
        edge=to_rgba(edge_color, symbol.opacity),
        linewidth=width,
        linestyle=SCHEMATIC_DASH if schematic else dash_style(symbol.dash_array),
        hatch=SCHEMATIC_HATCH if schematic and geom == "polygon" else None,
        marker_size=max(2.0, 2 * symbol.radius * PT_PER_PX),
    )


def feature_fills(layer: PrintLayer, frame: gpd.GeoDataFrame) -> list[str]:
    """Category key of every feature (``OTHER_KEY`` when it has none of the legend's)."""
    known = {c.key for c in layer.categories}
    if not layer.category_field or layer.category_field not in frame.columns:
        return [OTHER_KEY] * len(frame)
    return [str(v) if str(v) in known else OTHER_KEY for v in frame[layer.category_field]]


def _kind(geom: shapely.Geometry) -> str:
    name = geom.geom_type
    if "Polygon" in name:
        return "polygon"
    if "Line" in name:
        return "line"
    if "Point" in name:
        return "point"
    return "other"


def draw_layer(ax: Axes, layer: PrintLayer, prepared: gpd.GeoDataFrame, colors: dict[str, str],
               zorder: float) -> set[tuple[str, bool, str]]:
    """Draw one layer; returns the (category, schematic, geometry kind) classes it showed."""
    keys = feature_fills(layer, prepared)
    schematic = (prepared["precision"].astype(str).eq("schematic").tolist()
                 if "precision" in prepared.columns else [False] * len(prepared))
    _draw_uncertainty_rings(ax, prepared, keys, colors, zorder)
    groups: dict[tuple[str, bool, str], list[shapely.Geometry]] = {}
    for geom, key, sch in zip(prepared.geometry.values, keys, schematic, strict=True):
        for part_kind, part in _split_kinds(geom):
            groups.setdefault((key, bool(sch), part_kind), []).append(part)
    order = {"polygon": 0, "line": 1, "point": 2}
    for (key, sch, kind), geoms in sorted(groups.items(), key=lambda kv: (order[kv[0][2]], kv[0][1])):
        look = look_for(layer.symbol, colors[key], schematic=sch, geom=kind, emphasis=layer.emphasis)
        z = zorder + order[kind] * 0.1
        if kind == "polygon":
            paths = [p for p in (polygon_path(g) for g in geoms) if p is not None]
            coll = PathCollection(paths, facecolors=[look.face], edgecolors=[look.edge],
                                  linewidths=look.linewidth, linestyles=[look.linestyle], zorder=z)
            if look.hatch:
                coll.set_hatch(look.hatch)
                coll.set_hatch_linewidth(0.4)
                coll.set_hatchcolor(to_rgba(colors[key], 0.55))
            ax.add_collection(coll, autolim=False)
        elif kind == "line":
            segs = [seg for g in geoms for seg in line_paths(g)]
            ax.add_collection(LineCollection(segs, colors=[look.edge], linewidths=look.linewidth,
                                             linestyles=[look.linestyle], zorder=z), autolim=False)
        else:
            xy = np.concatenate([point_xy(g) for g in geoms])
            ax.scatter(xy[:, 0], xy[:, 1], s=look.marker_size**2, c=[look.face], edgecolors=[look.edge],
                       linewidths=max(0.5, look.linewidth * 0.6), linestyles=[look.linestyle], zorder=z,
                       marker="o")
    return set(groups)


PLACED = ("located", "host")  # points placed from a cited point or only to a host unit


def _draw_uncertainty_rings(ax: Axes, prepared: gpd.GeoDataFrame, keys: list[str], colors: dict[str, str],
                            zorder: float) -> None:
    """A dashed circle of radius ``uncertainty_m`` round each located/host point (the frame is in metres).

    One collection for the layer's rings: a patch per ring cost ~0.1 s per sheet (matplotlib updates the
    axes' data limits for each one; the frame's limits are fixed anyway).
    """
    if "precision" not in prepared.columns or "uncertainty_m" not in prepared.columns:
        return
    rings: list[MplPath] = []
    edges: list[tuple[float, float, float, float]] = []
    for geom, key, precision, radius in zip(prepared.geometry.values, keys, prepared["precision"].astype(str),
                                            prepared["uncertainty_m"], strict=True):
        if precision not in PLACED or geom is None or geom.geom_type != "Point" or not radius or radius != radius:
            continue
        rings.append(MplPath.circle((geom.x, geom.y), float(radius)))
        edges.append(to_rgba(colors[key], 0.6))
    if rings:
        ax.add_collection(PathCollection(rings, facecolors="none", edgecolors=edges, linewidths=0.4,
                                         linestyles=[SCHEMATIC_DASH], zorder=zorder), autolim=False)


def _split_kinds(geom: shapely.Geometry) -> Iterable[tuple[str, shapely.Geometry]]:
    kind = _kind(geom)
    if kind != "other":
        yield kind, geom
        return
    for part in shapely.get_parts(geom):  # a GeometryCollection left by clipping
        part_kind = _kind(part)
        if part_kind != "other":
            yield part_kind, part


@dataclass
class LabelRequest:
    text: str
    x: float
    y: float
    priority: float
    offset_pt: float  # to the right of a point marker; 0 = centred on a polygon
    bold: bool


def label_requests(layer: PrintLayer, prepared: gpd.GeoDataFrame, priority: float,
                   small_m: float = 0.0) -> list[LabelRequest]:
    """Where each feature's label would go: centred in polygons, beside points and beside polygons
    smaller than ``small_m`` across (a label would hide them)."""
    if not layer.show_labels or not layer.label_field or layer.label_field not in prepared.columns:
        return []
    out: list[LabelRequest] = []
    offset = layer.symbol.radius * PT_PER_PX + 1.5
    for geom, value in zip(prepared.geometry.values, prepared[layer.label_field], strict=True):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        text = str(value).strip()[:40]
        if not text:
            continue
        kind = _kind(geom)
        if kind == "point":
            pt = point_xy(geom)[0]
            out.append(LabelRequest(text, float(pt[0]), float(pt[1]), priority + 1, offset, layer.emphasis))
        else:
            rp = shapely.point_on_surface(geom)
            x0, y0, x1, y1 = geom.bounds
            small = max(x1 - x0, y1 - y0) < small_m
            out.append(LabelRequest(text, rp.x, rp.y, priority + (1 if small else 0), offset if small else 0.0,
                                    layer.emphasis))
    return out


def marker_boxes(ax: Axes, requests: Sequence[LabelRequest]) -> list[MplBbox]:
    """Display boxes of the point markers, so that no label covers a symbol."""
    points = [r for r in requests if r.offset_pt]
    if not points:
        return []
    xy = ax.transData.transform(np.array([[r.x, r.y] for r in points]))
    px_per_pt = ax.figure.dpi / 72.0
    out = []
    for (x, y), r in zip(xy, points, strict=True):
        half = max(1.0, r.offset_pt - 1.5) * px_per_pt
        out.append(MplBbox.from_extents(x - half, y - half, x + half, y + half))
    return out


def _label_box(anchor: tuple[float, float], offset: tuple[float, float], ha: str, va: str, width_px: float,
               height_px: float, px_per_pt: float) -> MplBbox:
    """Display box of a label anchored at ``anchor`` (px) shifted by ``offset`` (pt), aligned ha/va."""
    x = anchor[0] + offset[0] * px_per_pt
    y = anchor[1] + offset[1] * px_per_pt
    x0 = {"left": x, "right": x - width_px}.get(ha, x - width_px / 2)
    y0 = {"bottom": y, "top": y - height_px}.get(va, y - height_px / 2)
    return MplBbox.from_bounds(x0, y0, width_px, height_px)


def place_labels(ax: Axes, requests: Sequence[LabelRequest], font: FontProperties, bold_font: FontProperties,
                 measure: Measure, reserved: Sequence[MplBbox] = ()) -> list[Text]:
    """Greedy placement: higher priority first; a label that would overlap another label, the map
    furniture (``reserved``, display pixels) or the frame edge is left out.

    Boxes come from the font's advance widths (no text layout per candidate), and only the labels
    that fit become Text artists.
    """
    frame_box = ax.bbox
    dpi = ax.figure.dpi
    px_per_pt = dpi / 72.0
    px_per_mm = dpi / MM_PER_INCH
    markers = marker_boxes(ax, requests)
    taken: list[MplBbox] = list(reserved)  # furniture and the labels placed so far
    placed: list[Text] = []
    seen: set[str] = set()
    anchors = ax.transData.transform(np.array([[r.x, r.y] for r in requests])) if requests else np.empty((0, 2))
    order = sorted(range(len(requests)), key=lambda i: -requests[i].priority)
    for i in order:
        req = requests[i]
        if req.text in seen:  # the same place in two layers (a base and a project) is named once
            continue
        props = bold_font if req.bold else font
        size = props.get_size_in_points()
        width = measure.width_mm(req.text, props, size) * px_per_mm
        height = size * LABEL_LINE * px_per_pt
        off = req.offset_pt
        # Points try right, left, above, below; polygon labels sit on their centre or nowhere.
        spots = [((off, 0.0), "left", "center"), ((-off, 0.0), "right", "center"),
                 ((0.0, off), "center", "bottom"), ((0.0, -off), "center", "top")] if off else [
                     ((0.0, 0.0), "center", "center")]
        blockers = taken if req.bold else taken + markers  # bold = an uploaded site: labelled over plan symbols
        for offset, ha, va in spots:
            box = _label_box((anchors[i][0], anchors[i][1]), offset, ha, va, width, height, px_per_pt)
            inside = (box.x0 >= frame_box.x0 and box.x1 <= frame_box.x1
                      and box.y0 >= frame_box.y0 and box.y1 <= frame_box.y1)
            if not inside or any(box.overlaps(other) for other in blockers):
                continue
            shift = ScaledTranslation(offset[0] / 72.0, offset[1] / 72.0, ax.figure.dpi_scale_trans)
            # A light backing box keeps the label legible on any fill and, unlike a path-effect halo
            # (which turns text into outlines), leaves it real, selectable text in PDF and SVG.
            fname = props.get_file()
            text = ax.text(req.x, req.y, printable(req.text, str(fname) if fname else None), transform=ax.transData + shift, ha=ha, va=va,
                           fontproperties=props, color="#1a1a1a", zorder=50, parse_math=False, clip_on=False,
                           bbox=LABEL_BACKING)
            placed.append(text)
            taken.append(box.expanded(1.08, 1.15))
            seen.add(req.text)
            break
    return placed
