"""The print layout: header, map frame, legend panel, footer; saved as PNG, PDF or SVG.

Pure rendering on a :class:`matplotlib.figure.Figure` with its own Agg canvas
(no pyplot, no global figure state), so concurrent requests are safe. The
few rcParams that only the savers read (font embedding in PDF, text as text
in SVG) are applied under one lock while saving.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox as MplBbox
from pyproj import CRS

from geo.errors import InvalidInput
from geo.fonts import CjkFonts, cjk_fonts
from geo.printmap.draw import OTHER_KEY, draw_layer, label_requests, look_for, place_labels
from geo.printmap.furniture import (
    LegendItem,
    LegendSection,
    Measure,
    draw_legend,
    draw_north_arrow,
    draw_scale_bar,
    draw_text,
    line_height_mm,
)
from geo.printmap.geometry import Bbox, Frame, crs_for_view, crs_label, fit_frame, prepare
from geo.printmap.png import encode_png
from geo.printmap.spec import MM_PER_INCH, MapText, Page, PrintLayer
from geo.printmap.svgfont import embed_font

SCHEMATIC_MARK = "示意范围"
DEFAULT_DISCLAIMER = ("本图中标注“示意范围”的要素系依据规划文本示意绘制，位置与范围均不精确，"
                      "不作为用地审批、规划管理或权属界定的依据。")
SMALL_FEATURE_MM = 6.0  # polygons smaller than this on paper are labelled beside, not on top
SAVE_RC: dict[str, Any] = {
    "pdf.fonttype": 42,  # TrueType (CIDFontType2) subsets: embedded, text selectable
    "svg.fonttype": "none",  # text stays <text>, searchable and editable
    "svg.hashsalt": "planview",  # stable ids: the same map gives the same file
    "pdf.compression": 6,
    "path.simplify": True,
}
_save_lock = threading.Lock()
# fontTools logs every PDF font subset at INFO: noise for a map export.
logging.getLogger("fontTools").setLevel(logging.WARNING)


@dataclass
class Rendered:
    """The finished sheet and what was on it (for tests, logs and the report)."""

    figure: Figure
    frame: Frame
    shown_layers: list[str]
    schematic_shown: bool
    legend_labels: list[str]
    boxes: dict[str, tuple[float, float, float, float]]  # "map", "legend": (x, y, w, h) mm from lower left


@dataclass
class _Layout:
    scale: float
    margin: float
    header_top: float
    footer_lines: list[tuple[str, bool]]  # (text, is_disclaimer)
    footer_h: float
    right_lines: list[str]
    map_box: tuple[float, float, float, float]
    legend_box: tuple[float, float, float, float]
    legend_cols: int


def _scale(page: Page) -> float:
    """Type and line scale: 1 at A4, larger on A3, smaller on small pixel sizes."""
    return max(0.6, min(1.45, min(page.width_mm, page.height_mm) / 210.0))


def _sections(layers: Sequence[PrintLayer], classes: dict[str, set[tuple[str, bool, str]]],
              colors: dict[str, dict[str, str]]) -> list[LegendSection]:
    """Legend of what is actually drawn: top layer first, categories in manifest order."""
    kind_rank = {"polygon": 0, "line": 1, "point": 2}
    sections: list[LegendSection] = []
    for layer in reversed(layers):
        shown = classes.get(layer.id) or set()
        if not shown:
            continue
        schematic_all = all(sch for _k, sch, _g in shown)
        title = f"{layer.legend_title}（{SCHEMATIC_MARK}）" if schematic_all else layer.legend_title
        section = LegendSection(title)
        keys = [c.key for c in layer.categories] + [OTHER_KEY]
        labels = {c.key: c.label for c in layer.categories}
        for key in keys:
            for sch in (False, True):
                kinds = sorted({g for k, s, g in shown if k == key and s == sch}, key=kind_rank.__getitem__)
                if not kinds:
                    continue
                fallback = "其他" if layer.categories else (layer.single_label or layer.legend_title)
                label = fallback if key == OTHER_KEY else labels[key]
                if sch and not schematic_all:
                    label = f"{label}（{SCHEMATIC_MARK}）"
                look = look_for(layer.symbol, colors[layer.id][key], schematic=sch, geom=kinds[0],
                                emphasis=layer.emphasis)
                section.items.append(LegendItem(label, look, kinds[0]))
        sections.append(section)
    return sections


def _colors(layer: PrintLayer) -> dict[str, str]:
    base = layer.symbol.fill_color or layer.symbol.color
    out = {c.key: c.color for c in layer.categories}
    out[OTHER_KEY] = base
    return out


def _layout(page: Page, text: MapText, measure: Measure, fonts: CjkFonts, frame_note: str,
            schematic: bool, legend_rows_hint: int) -> _Layout:
    s = _scale(page)
    W, H = page.width_mm, page.height_mm
    margin = 9.0 * s
    regular, bold = fonts.properties(), fonts.properties(bold=True)
    # Footer: sources and notes on the left, date / CRS / scale on the right.
    right_lines = [line for line in (f"制图日期：{text.date}" if text.date else None, frame_note) if line]
    right_w = max((measure.width_mm(line, regular, 6.5 * s) for line in right_lines), default=0.0)
    left_w = W - 2 * margin - right_w - 6 * s
    footer: list[tuple[str, bool]] = []
    for source in text.sources:
        footer.extend((line, False) for line in measure.wrap(source, regular, 6.5 * s, left_w))
    for note in text.notes:
        footer.extend((line, False) for line in measure.wrap(note, regular, 6.5 * s, left_w))
    if schematic:
        disclaimer = text.disclaimer or DEFAULT_DISCLAIMER
        footer.extend((line, True) for line in measure.wrap("注：" + disclaimer, bold, 7.0 * s, left_w))
    footer_h = sum(line_height_mm(7.0 * s if d else 6.5 * s) for _l, d in footer)
    footer_h = max(footer_h, len(right_lines) * line_height_mm(6.5 * s)) + 3 * s
    header_top = H - margin
    body_top = header_top - _header_height(page, text, measure, fonts, s) - 3 * s
    body_bottom = margin + footer_h
    body_h = body_top - body_bottom
    if page.landscape:
        legend_w = max(52.0, min(95.0, 0.23 * W))
        map_box = (margin, body_bottom, W - 2 * margin - legend_w - 5 * s, body_h)
        legend_box = (W - margin - legend_w, body_bottom, legend_w, body_h)
        cols = 1
    else:
        cols = 2 if W < 260 else 3
        rows_per_col = max(1, -(-legend_rows_hint // cols))
        legend_h = min(0.36 * body_h, max(22 * s, rows_per_col * line_height_mm(7.5 * s) * 1.25 + 9 * s))
        legend_box = (margin, body_bottom, W - 2 * margin, legend_h)
        map_box = (margin, body_bottom + legend_h + 4 * s, W - 2 * margin, body_h - legend_h - 4 * s)
    return _Layout(s, margin, header_top, footer, footer_h, right_lines, map_box, legend_box, cols)


def _title_lines(page: Page, text: MapText, measure: Measure, fonts: CjkFonts, s: float) -> tuple[list[str], float]:
    """The title at the largest size (16 pt down to 11 pt) that fits, wrapped onto more lines if needed."""
    title = f"{text.figure_number}  {text.title}" if text.figure_number else text.title
    width = page.width_mm - 18 * s
    bold = fonts.properties(bold=True)
    for size in (16.0, 15.0, 14.0, 13.0, 12.0, 11.0):
        if measure.width_mm(title, bold, size * s) <= width:
            return [title], size * s
    return measure.wrap(title, bold, 11.0 * s, width)[:3], 11.0 * s


def _header_height(page: Page, text: MapText, measure: Measure, fonts: CjkFonts, s: float) -> float:
    lines, size = _title_lines(page, text, measure, fonts, s)
    h = len(lines) * line_height_mm(size)
    if text.subtitle:
        h += len(measure.wrap(text.subtitle, fonts.properties(), 10 * s, page.width_mm - 18 * s)) \
            * line_height_mm(10 * s) + 1.0 * s
    return h


def _draw_header(pg: Axes, page: Page, text: MapText, measure: Measure, fonts: CjkFonts, top: float,
                 s: float) -> None:
    lines, size = _title_lines(page, text, measure, fonts, s)
    cx = page.width_mm / 2.0
    draw_text(pg, cx, top, "\n".join(lines), fonts.properties(bold=True), size, ha="center")
    if text.subtitle:
        sub = measure.wrap(text.subtitle, fonts.properties(), 10 * s, page.width_mm - 18 * s)
        draw_text(pg, cx, top - len(lines) * line_height_mm(size) - 1.0 * s, "\n".join(sub), fonts.properties(),
                  10 * s, ha="center", color="#333333")


def _draw_footer(pg: Axes, page: Page, lay: _Layout, fonts: CjkFonts) -> None:
    s = lay.scale
    y = lay.margin + lay.footer_h - 1.5 * s
    for line, disclaimer in lay.footer_lines:
        size = 7.0 * s if disclaimer else 6.5 * s
        draw_text(pg, lay.margin, y, line, fonts.properties(bold=disclaimer), size,
                  color="#9b1c1c" if disclaimer else "#333333")
        y -= line_height_mm(size)
    y = lay.margin + lay.footer_h - 1.5 * s
    for line in lay.right_lines:
        draw_text(pg, page.width_mm - lay.margin, y, line, fonts.properties(), 6.5 * s, ha="right", color="#333333")
        y -= line_height_mm(6.5 * s)


def _ratio_text(frame: Frame, map_w_mm: float) -> str:
    ratio = frame.ground_m_per_paper_mm(map_w_mm) * 1000.0
    digits = len(str(int(ratio))) - 3
    rounded = int(round(ratio / 10**max(0, digits)) * 10**max(0, digits))
    return f"1:{rounded:,}"


def _in_view(layers: Sequence[PrintLayer], bbox: Bbox) -> tuple[int, bool]:
    """Before drawing: a rough legend row count (portrait legends are sized from it) and whether a
    schematic feature is in the view (the disclaimer's lines change the layout)."""
    rows, schematic = 0, False
    for layer in layers:
        if layer.features.empty:
            continue
        in_view = layer.features.cx[bbox[0]:bbox[2], bbox[1]:bbox[3]]
        if in_view.empty:
            continue
        rows += 1 + max(1, len(layer.categories))
        if "precision" in in_view.columns:
            schematic = schematic or bool(in_view["precision"].astype(str).eq("schematic").any())
    return rows, schematic


def _figsize(page: Page) -> tuple[float, float]:
    """Inches; for raster output, exactly the rounded paper × dpi pixels (Agg truncates to whole pixels)."""
    if page.format != "png":
        return page.size_in
    w, h = page.pixel_size
    return (w + 0.01) / page.dpi, (h + 0.01) / page.dpi


MIN_MAP_MM = 15.0


def _check_room(map_box: tuple[float, float, float, float], page: Page) -> None:
    """Refuse a sheet whose title, legend and notes leave no room for the map (a small PNG at a high dpi)."""
    _, _, w, h = map_box
    if not (w >= MIN_MAP_MM and h >= MIN_MAP_MM):
        px_w, px_h = round(page.width_mm / MM_PER_INCH * page.dpi), round(page.height_mm / MM_PER_INCH * page.dpi)
        raise InvalidInput(
            f"图幅太小：{px_w}×{px_h} 像素在 {page.dpi} dpi 下只有 {page.width_mm:.0f}×{page.height_mm:.0f} 毫米，"
            f"放不下标题、图例和地图。请增大像素尺寸或降低 dpi（如 96 或 150）/ the sheet is too small: {px_w}x{px_h} px "
            f"at {page.dpi} dpi is {page.width_mm:.0f}x{page.height_mm:.0f} mm, no room for the title, legend and map; "
            "use more pixels or a lower dpi (e.g. 96 or 150)")


def build_figure(layers: Sequence[PrintLayer], text: MapText, page: Page, bbox: Bbox,
                 crs: CRS | None = None, fonts: CjkFonts | None = None) -> Rendered:
    """Compose the sheet; ``layers`` are drawn in order (first at the bottom)."""
    fonts = fonts or cjk_fonts()
    fig = Figure(figsize=_figsize(page), dpi=page.dpi, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    measure = Measure(renderer, page.dpi)
    crs = crs or crs_for_view(bbox)
    note = f"坐标系：{crs_label(crs)}"
    hint, schematic_guess = _in_view(layers, bbox)
    lay = _layout(page, text, measure, fonts, note, schematic_guess, hint)
    _check_room(lay.map_box, page)
    frame = fit_frame(bbox, lay.map_box[2] / lay.map_box[3], crs)
    tolerance = frame.ground_m_per_paper_mm(lay.map_box[2]) * 0.05  # 0.05 mm on paper
    prepared = {layer.id: prepare(layer.features, frame, tolerance) for layer in layers}
    schematic = any("precision" in p.columns and bool(p["precision"].astype(str).eq("schematic").any())
                    for p in prepared.values() if not p.empty)
    if schematic != schematic_guess:  # the frame's margins hold (or lose) a schematic feature: lay out again
        lay = _layout(page, text, measure, fonts, note, schematic, hint)
        _check_room(lay.map_box, page)
        frame = fit_frame(bbox, lay.map_box[2] / lay.map_box[3], crs)
        prepared = {layer.id: prepare(layer.features, frame, tolerance) for layer in layers}
    mx, my, mw, mh = lay.map_box
    ratio = _ratio_text(frame, mw) if page.paper else None
    if ratio:
        lay.right_lines.append(f"比例尺 {ratio}（{page.paper} 原大打印）")

    pg = fig.add_axes((0, 0, 1, 1), zorder=5)
    pg.set_xlim(0, page.width_mm)
    pg.set_ylim(0, page.height_mm)
    pg.set_axis_off()
    pg.patch.set_visible(False)

    ax = fig.add_axes((mx / page.width_mm, my / page.height_mm, mw / page.width_mm, mh / page.height_mm), zorder=1)
    ax.set_xlim(frame.x0, frame.x1)
    ax.set_ylim(frame.y0, frame.y1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("white")
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)
        spine.set_color("#1a1a1a")

    colors = {layer.id: _colors(layer) for layer in layers}
    classes: dict[str, set[tuple[str, bool, str]]] = {}
    labels = []
    for i, layer in enumerate(layers):
        data = prepared[layer.id]
        if data.empty:
            continue
        classes[layer.id] = draw_layer(ax, layer, data, colors[layer.id], zorder=2 + i)
        labels.extend(label_requests(layer, data, priority=100.0 * (i + 1) + (1e5 if layer.emphasis else 0),
                                     small_m=SMALL_FEATURE_MM * frame.ground_m_per_paper_mm(mw) * frame.scale_factor))
    s = lay.scale
    _length, bar_box = draw_scale_bar(pg, mx + 5 * s, my + 5 * s, frame.ground_m_per_paper_mm(mw),
                                      min(mw * 0.25, 60 * s), fonts.properties(), s)
    arrow_h = 13.0 * s
    arrow_box = draw_north_arrow(pg, mx + mw - 8 * s, my + mh - 6 * s - arrow_h / 2 - 4 * s, arrow_h,
                                 frame.convergence_deg, fonts.properties(bold=True))
    px_per_mm = page.dpi / MM_PER_INCH
    reserved = [MplBbox.from_extents(*(v * px_per_mm for v in box)) for box in (bar_box, arrow_box)]
    place_labels(ax, labels, fonts.properties(size=6.0 * s), fonts.properties(bold=True, size=6.5 * s), measure,
                 reserved)

    sections = _sections(layers, classes, colors)
    draw_legend(pg, sections, lay.legend_box, measure, fonts.properties(), fonts.properties(bold=True), s,
                max_cols=lay.legend_cols)
    _draw_header(pg, page, text, measure, fonts, lay.header_top, s)
    _draw_footer(pg, page, lay, fonts)
    legend_labels = [sec.title for sec in sections] + [it.label for sec in sections for it in sec.items]
    boxes = {"map": lay.map_box, "legend": lay.legend_box}
    return Rendered(fig, frame, [layer_id for layer_id in classes], schematic, legend_labels, boxes)


def _png(fig: Figure, page: Page, title: str) -> bytes:
    """Agg pixels as an opaque RGB PNG with its dpi recorded (Word places it at paper size)."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    with _save_lock:  # one Agg draw at a time: matplotlib's caches are not made for threads
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        return encode_png(rgba, dpi=page.dpi, text={"Title": title, "Software": "planview"})


@contextmanager
def saving() -> Iterator[None]:
    """The savers' rcParams (embedded TrueType in PDF, text as text in SVG), one save at a time."""
    with _save_lock, matplotlib.rc_context(SAVE_RC):  # type: ignore[arg-type]
        yield


def save(fig: Figure, page: Page, *, title: str = "") -> bytes:
    """The sheet as bytes in ``page.format`` (exact paper size: no tight bbox)."""
    if page.format == "png":
        return _png(fig, page, title)
    buf = io.BytesIO()
    meta: dict[str, str | None] = {"Title": title, "Creator": "planview"}
    if page.format == "pdf":
        meta["Producer"] = "planview (matplotlib)"
    else:
        meta["Date"] = None  # SVG: no timestamp, the same map gives the same file
    with saving():
        fig.savefig(buf, format=page.format, dpi=page.dpi, metadata=meta, facecolor="white")
    if page.format == "svg":  # Chinese must show on a machine without CJK fonts: embed a subset
        return embed_font(buf.getvalue(), cjk_fonts().regular)
    return buf.getvalue()


def render_map(layers: Sequence[PrintLayer], text: MapText, page: Page, bbox: Bbox,
               crs: CRS | None = None) -> bytes:
    """One finished map sheet as PNG/PDF/SVG bytes."""
    rendered = build_figure(layers, text, page, bbox, crs)
    return save(rendered.figure, page, title=text.title)


def empty_features() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs="EPSG:4326")
