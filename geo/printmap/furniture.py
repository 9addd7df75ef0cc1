"""Map furniture in sheet millimetres: text blocks, legend, scale bar, north arrow.

Everything is drawn on a transparent "page" axes whose data units are
millimetres from the sheet's lower-left corner, so the layout reads like a
print composer's: positions and sizes on paper, independent of dpi.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties, get_font
from matplotlib.ft2font import LoadFlags
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.text import Text

from geo.printmap.spec import MM_PER_INCH

if TYPE_CHECKING:  # draw imports Measure from here
    from geo.printmap.draw import Look

PT_TO_MM = MM_PER_INCH / 72.0
LINE_SPACING = 1.32
NO_LINE_START = set("，。、；：？！）》」』】〕〉”’,.;:?!)]%·…")
NO_LINE_END = set("（《「『【〔〈“‘([")


def mm_to_pt(mm: float) -> float:
    return mm / PT_TO_MM


MISSING_GLYPH = "□"  # drawn for a character the font lacks (an emoji in a site name): visible, never a crash


@lru_cache(maxsize=8)
def _charmap(fname: str) -> frozenset[int]:
    return frozenset(get_font(fname).get_charmap())


def printable(text: str, fname: str | None) -> str:
    """User text made safe to draw as plain text with the font ``fname``.

    Tabs and other control characters become spaces (newlines are kept: they
    separate lines), invisible format characters (zero-width space, joiners,
    direction marks, BOM) are dropped, and characters the font has no glyph for
    become ``□``. Mathtext is never involved: every text is drawn with
    ``parse_math=False``, so ``$`` is a dollar sign.
    """
    chars = _charmap(fname) if fname else None
    out = []
    for ch in str(text):
        if ch == "\n":
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if cat == "Cf":
            continue
        if cat in ("Cc", "Zl", "Zp"):
            ch = " "
        if chars is not None and ord(ch) not in chars:
            ch = MISSING_GLYPH if ord(MISSING_GLYPH) in chars else "?"
        out.append(ch)
    return "".join(out)


_ADVANCES: dict[tuple[str, str], float] = {}
_REF_SIZE = 100.0


def _advance_pt(fname: str, char: str) -> float:
    """Unhinted advance width of ``char`` at 100 pt (cached: layout measures thousands of strings)."""
    key = (fname, char)
    advance = _ADVANCES.get(key)
    if advance is None:
        font = get_font(fname)  # matplotlib caches one FT2Font per file *and thread*
        font.set_size(_REF_SIZE, 72)
        glyph = font.load_char(ord(char), flags=LoadFlags.NO_HINTING)
        advance = _ADVANCES[key] = glyph.linearHoriAdvance / 65536.0
    return advance


class Measure:
    """Text widths in millimetres from the font's own advance widths (no kerning: CJK has none)."""

    def __init__(self, renderer: RendererAgg, dpi: float) -> None:
        self.renderer = renderer
        self.px_to_mm = MM_PER_INCH / dpi

    def width_mm(self, text: str, font: FontProperties, size: float) -> float:
        fname = font.get_file()
        if fname is None:  # a family-name font: ask the renderer
            prop = font.copy()
            prop.set_size(size)
            w, _h, _d = self.renderer.get_text_width_height_descent(text, prop, ismath=False)
            return float(w) * self.px_to_mm
        total = sum(_advance_pt(str(fname), c) for c in printable(text, str(fname)))
        return total * size / _REF_SIZE * PT_TO_MM

    def wrap(self, text: str, font: FontProperties, size: float, max_mm: float) -> list[str]:
        """Break ``text`` into lines no wider than ``max_mm``: anywhere between Chinese characters,
        at spaces or punctuation in Latin runs."""
        tokens = re.findall(r"[A-Za-z0-9_.,:;/@%&()\[\]'\"+\-–—]+\s*|\s+|.", text)
        lines: list[str] = []
        current = ""
        for token in tokens:
            candidate = current + token
            if current.strip() and self.width_mm(candidate.rstrip(), font, size) > max_mm:
                # Chinese line-breaking rules: no closing mark at a line start, no opening mark at an end.
                while len(current) > 1 and (token[:1] in NO_LINE_START or current[-1] in NO_LINE_END):
                    word = re.search(r"[A-Za-z0-9_.\-]+$", current)  # carry a Latin word whole
                    k = len(word.group()) if word and len(word.group()) < len(current) else 1
                    current, token = current[:-k], current[-k:] + token
                lines.append(current.rstrip())
                current = token.lstrip()
            else:
                current = candidate
            while self.width_mm(current.rstrip(), font, size) > max_mm and len(current) > 1:
                cut = len(current) - 1
                while cut > 1 and self.width_mm(current[:cut], font, size) > max_mm:
                    cut -= 1
                lines.append(current[:cut])
                current = current[cut:]
        if current.strip():
            lines.append(current.rstrip())
        return lines or [""]


def draw_text(page: Axes, x: float, y: float, text: str, font: FontProperties, size: float, *,
              color: str = "#1a1a1a", ha: str = "left", va: str = "top", zorder: float = 10) -> Text:
    """Literal text at sheet mm: never mathtext, never TeX."""
    prop = font.copy()
    prop.set_size(size)
    fname = prop.get_file()
    text = printable(text, str(fname) if fname else None)
    return page.text(x, y, text, fontproperties=prop, color=color, ha=ha, va=va, zorder=zorder,
                     parse_math=False, usetex=False)


def line_height_mm(size: float) -> float:
    return size * LINE_SPACING * PT_TO_MM


# -- legend -------------------------------------------------------------------------------------------------


@dataclass
class LegendItem:
    label: str
    look: Look
    kind: str  # polygon | line | point


@dataclass
class LegendSection:
    title: str
    items: list[LegendItem] = field(default_factory=list)


@dataclass
class _Row:
    kind: str  # "heading" | "item"
    lines: list[str]
    item: LegendItem | None = None

    def height(self, size: float) -> float:
        return max(len(self.lines) * line_height_mm(size), 4.2 * size / 7.0) + 0.8 * size / 7.0


SWATCH_W, SWATCH_H, SWATCH_GAP = 7.0, 3.8, 2.0


def _rows(sections: Sequence[LegendSection], measure: Measure, font: FontProperties, bold: FontProperties,
          size: float, col_w: float) -> list[_Row]:
    k = size / 7.0
    rows: list[_Row] = []
    for sec in sections:
        rows.append(_Row("heading", measure.wrap(sec.title, bold, size, col_w)))
        for item in sec.items:
            text_w = col_w - (SWATCH_W + SWATCH_GAP) * k
            rows.append(_Row("item", measure.wrap(item.label, font, size, text_w), item))
    return rows


def _columns(rows: list[_Row], size: float, height: float, ncols: int) -> list[list[_Row]] | None:
    cols: list[list[_Row]] = [[]]
    used = 0.0
    for row in rows:
        h = row.height(size)
        if used + h > height and cols[-1]:
            if len(cols) == ncols:
                return None
            cols.append([])
            used = 0.0
        cols[-1].append(row)
        used += h
    return cols


def draw_legend(page: Axes, sections: Sequence[LegendSection], box: tuple[float, float, float, float],
                measure: Measure, font: FontProperties, bold: FontProperties, scale: float,
                *, max_cols: int = 1) -> None:
    """Lay the legend out in ``box`` (x, y_bottom, w, h mm): shrink the type, then add columns, then cut."""
    x, y, w, h = box
    title_size = 9.0 * scale
    draw_text(page, x, y + h, "图例", bold, title_size)
    top = y + h - line_height_mm(title_size) - 1.0
    avail = top - y
    gap = 4.0 * scale
    layout: list[list[_Row]] | None = None
    size = 7.5 * scale
    for size in [s * scale for s in (7.5, 7.0, 6.5, 6.0, 5.5, 5.0)]:
        for ncols in range(1, max_cols + 1):
            col_w = (w - gap * (ncols - 1)) / ncols
            layout = _columns(_rows(sections, measure, font, bold, size, col_w), size, avail, ncols)
            if layout is not None:
                break
        if layout is not None:
            break
    if layout is None:  # even the smallest type in every column overflows: cut, and say so
        col_w = (w - gap * (max_cols - 1)) / max_cols
        rows = _rows(sections, measure, font, bold, size, col_w)
        kept: list[_Row] = []
        while rows:
            attempt = _columns([*kept, rows[0], _Row("heading", ["……"])], size, avail, max_cols)
            if attempt is None:
                break
            kept.append(rows.pop(0))
        omitted = sum(1 for r in rows if r.kind == "item")
        kept.append(_Row("heading", [f"……（另 {omitted} 项未列出）"]))
        layout = _columns(kept, size, avail, max_cols) or [kept]
    col_w = (w - gap * (len(layout) - 1)) / max(1, len(layout)) if max_cols > 1 else w
    k = size / 7.0
    for ci, col in enumerate(layout):
        cx = x + ci * (col_w + gap)
        cy = top
        for row in col:
            rh = row.height(size)
            if row.kind == "heading":
                draw_text(page, cx, cy, "\n".join(row.lines), bold, size, va="top")
            elif row.item is not None:
                sw_h = SWATCH_H * k
                first_line_mid = cy - line_height_mm(size) / 2.0
                _swatch(page, cx, first_line_mid - sw_h / 2.0, SWATCH_W * k, sw_h, row.item)
                draw_text(page, cx + (SWATCH_W + SWATCH_GAP) * k, cy, "\n".join(row.lines), font, size, va="top")
            cy -= rh


def _add_patch(page: Axes, patch: Patch) -> None:
    """``page.add_patch`` without its update of the data limits: the sheet's limits are fixed (its size in mm),
    and the update was most of the cost of drawing a legend of some fifty swatches."""
    page.add_artist(patch)


def _swatch(page: Axes, x: float, y: float, w: float, h: float, item: LegendItem) -> None:
    look = item.look
    if item.kind == "polygon":
        rect = Rectangle((x, y), w, h, facecolor=look.face, edgecolor=look.edge, linewidth=look.linewidth,
                         linestyle=look.linestyle, zorder=10)  # type: ignore[arg-type]
        if look.hatch:
            rect.set_hatch(look.hatch)
            rect.set_hatch_linewidth(0.4)
            rect.set_hatchcolor((look.edge[0], look.edge[1], look.edge[2], 0.55))
        _add_patch(page, rect)
    elif item.kind == "line":
        page.add_line(Line2D([x, x + w], [y + h / 2, y + h / 2], color=look.edge, linewidth=look.linewidth,
                             linestyle=look.linestyle, zorder=10))  # type: ignore[arg-type]
    else:
        page.add_line(Line2D([x + w / 2], [y + h / 2], marker="o", markersize=min(look.marker_size, mm_to_pt(h)),
                             markerfacecolor=look.face, markeredgecolor=look.edge,
                             markeredgewidth=max(0.5, look.linewidth * 0.6), linestyle="none", zorder=10))


# -- scale bar and north arrow ------------------------------------------------------------------------------


def nice_length(max_m: float) -> float:
    """The largest 1/2/5 × 10^k metres not above ``max_m``."""
    if max_m <= 0:
        return 1.0
    exp = math.floor(math.log10(max_m))
    for mant in (5.0, 2.0, 1.0):
        if mant * 10**exp <= max_m:
            return mant * 10**exp
    return 10 ** (exp - 1) * 5.0


def _format_m(metres: float, unit_km: bool) -> str:
    value = metres / 1000.0 if unit_km else metres
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text


def draw_scale_bar(page: Axes, x: float, y: float, ground_m_per_mm: float, target_mm: float,
                   font: FontProperties, scale: float) -> tuple[float, tuple[float, float, float, float]]:
    """A segmented metric bar at (x, y) mm, true to ``ground_m_per_mm``.

    Returns its ground length in metres and its box (x0, y0, x1, y1 mm), which labels must keep clear of.
    """
    length_m = nice_length(ground_m_per_mm * target_mm)
    length_mm = length_m / ground_m_per_mm
    mant = round(length_m / 10 ** math.floor(math.log10(length_m)), 2)
    segments = 5 if mant == 5.0 else 4
    unit_km = length_m >= 1000
    bar_h = 1.6 * scale
    size = 6.5 * scale
    pad = 1.6 * scale
    label_h = line_height_mm(size)
    box_w, box_h = length_mm + 2 * pad + 6 * scale, bar_h + label_h + 2 * pad
    _add_patch(page, Rectangle((x - pad, y - pad), box_w, box_h, facecolor=(1, 1, 1, 0.82), edgecolor="none",
                             zorder=9))
    seg = length_mm / segments
    for i in range(segments):
        _add_patch(page, Rectangle((x + i * seg, y), seg, bar_h, facecolor="#1a1a1a" if i % 2 == 0 else "white",
                                 edgecolor="#1a1a1a", linewidth=0.5, zorder=10))
    ty = y + bar_h + 0.6 * scale
    ticks = ((0.0, 0.0), (length_mm, length_m)) if segments == 5 else \
        ((0.0, 0.0), (length_mm / 2, length_m / 2), (length_mm, length_m))
    for pos, metres in ticks:
        draw_text(page, x + pos, ty, _format_m(metres, unit_km), font, size, ha="center", va="bottom")
    draw_text(page, x + length_mm + 1.2 * scale + 2.0 * scale, ty, "千米" if unit_km else "米", font, size,
              ha="left", va="bottom")
    return length_m, (x - pad, y - pad, x - pad + box_w, y - pad + box_h)


def draw_north_arrow(page: Axes, cx: float, cy: float, height: float, rotation_deg: float,
                     font: FontProperties) -> tuple[float, float, float, float]:
    """A two-tone arrow pointing to true north (rotated by the meridian convergence); returns its box in mm."""
    w = height * 0.42
    rot = math.radians(-rotation_deg)

    def pt(dx: float, dy: float) -> tuple[float, float]:
        return (cx + dx * math.cos(rot) - dy * math.sin(rot), cy + dx * math.sin(rot) + dy * math.cos(rot))

    tip, base_l, base_r, notch = pt(0, height / 2), pt(-w / 2, -height / 2), pt(w / 2, -height / 2), pt(0, -height / 4)
    _add_patch(page, Polygon([tip, base_l, notch], closed=True, facecolor="#1a1a1a", edgecolor="#1a1a1a",
                           linewidth=0.6, zorder=10))
    _add_patch(page, Polygon([tip, notch, base_r], closed=True, facecolor="white", edgecolor="#1a1a1a",
                           linewidth=0.6, zorder=10))
    lx, ly = pt(0, height / 2 + height * 0.08)
    prop = font.copy()
    prop.set_size(mm_to_pt(height * 0.38))
    page.text(lx, ly, "N", fontproperties=prop, ha="center", va="bottom", rotation=rotation_deg * -1.0
              if abs(rotation_deg) > 0.5 else 0.0, rotation_mode="anchor", zorder=10, parse_math=False)
    reach = height * 0.75
    return cx - reach, cy - height / 2 - 1.0, cx + reach, cy + height / 2 + height * 0.55
