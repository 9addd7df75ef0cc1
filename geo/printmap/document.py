"""Multi-page text documents (headings, paragraphs, key-value lists, tables) as PDF pages.

The site-check report needs pages of words and tables after its map; they are
drawn here with the same embedded CJK font and the same literal-text rule as
the map sheet, and paginated by measuring every wrapped cell. One PDF, no
extra dependency, text selectable.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from geo.fonts import CjkFonts, cjk_fonts
from geo.printmap.furniture import Measure, draw_text, line_height_mm
from geo.printmap.render import saving
from geo.printmap.spec import Page


@dataclass
class Heading:
    text: str


@dataclass
class Paragraph:
    text: str
    color: str = "#1a1a1a"
    bold: bool = False


@dataclass
class KeyValues:
    items: Sequence[tuple[str, str]]


@dataclass
class Table:
    columns: Sequence[tuple[str, float]]  # (title, relative width)
    rows: Sequence[Sequence[str]]
    note: str | None = None


Block = Heading | Paragraph | KeyValues | Table


@dataclass
class _Line:
    """One laid-out band of a page: height in mm and how to draw it at a top y."""

    height: float
    parts: list[tuple[float, float, str, bool, str, float]] = field(default_factory=list)
    # (x, dy below the band's top, text, bold, colour, size pt)
    rule: tuple[float, float] | None = None  # a horizontal line from x0 to x1 at the band's bottom
    shade: tuple[float, float] | None = None  # grey background from x0 to x1 (table header)
    keep_with_next: bool = False
    header: _Line | None = None  # a table row: the header row repeated when the table breaks across pages


class DocumentLayout:
    """Lays blocks out into bands, then bands into pages of ``page`` with a running header and footer."""

    def __init__(self, page: Page, fonts: CjkFonts | None = None, *, size: float = 7.5) -> None:
        self.page = page
        self.fonts = fonts or cjk_fonts()
        self.size = size
        self.margin = 12.0
        fig = Figure(figsize=page.size_in, dpi=72)
        self.measure = Measure(FigureCanvasAgg(fig).get_renderer(), 72)
        self.width = page.width_mm - 2 * self.margin

    def _wrap(self, text: str, width: float, *, bold: bool = False, size: float | None = None) -> list[str]:
        lines: list[str] = []
        for para in (text or "").split("\n"):
            lines.extend(self.measure.wrap(para, self.fonts.properties(bold=bold), size or self.size, width))
        return lines or [""]

    def bands(self, blocks: Sequence[Block]) -> list[_Line]:
        out: list[_Line] = []
        lh = line_height_mm(self.size)
        x0 = self.margin
        for block in blocks:
            if isinstance(block, Heading):
                size = self.size * 1.45
                for i, line in enumerate(self._wrap(block.text, self.width, bold=True, size=size)):
                    gap = 3.0 if i == 0 else 0.0
                    out.append(_Line(line_height_mm(size) + gap, [(x0, gap, line, True, "#1a1a1a", size)],
                                     keep_with_next=True))
            elif isinstance(block, Paragraph):
                for line in self._wrap(block.text, self.width, bold=block.bold):
                    out.append(_Line(lh, [(x0, 0.0, line, block.bold, block.color, self.size)]))
                out.append(_Line(1.2))
            elif isinstance(block, KeyValues):
                key_w = max(self.measure.width_mm(k, self.fonts.properties(bold=True), self.size)
                            for k, _v in block.items) + 3.0 if block.items else 0.0
                key_w = min(key_w, self.width * 0.3)
                for key, value in block.items:
                    values = self._wrap(value, self.width - key_w)
                    for i, line in enumerate(values):
                        parts = [(x0 + key_w, 0.0, line, False, "#1a1a1a", self.size)]
                        if i == 0:
                            parts.insert(0, (x0, 0.0, key, True, "#1a1a1a", self.size))
                        out.append(_Line(lh, parts))
                out.append(_Line(1.2))
            else:
                out.extend(self._table(block))
        return out

    def _table(self, table: Table) -> list[_Line]:
        total = sum(w for _t, w in table.columns)
        widths = [w / total * self.width for _t, w in table.columns]
        xs = [self.margin + sum(widths[:i]) for i in range(len(widths))]
        lh = line_height_mm(self.size)
        pad = 1.0

        def row(cells: Sequence[str], *, bold: bool) -> _Line:
            wrapped = [self._wrap(str(c), w - 2 * pad, bold=bold) for c, w in zip(cells, widths, strict=True)]
            n = max(len(w) for w in wrapped)
            parts = [(x + pad, pad + i * lh, line, bold, "#1a1a1a", self.size)
                     for x, lines in zip(xs, wrapped, strict=True) for i, line in enumerate(lines)]
            return _Line(n * lh + 2 * pad, parts, rule=(self.margin, self.margin + self.width))

        header = row([t for t, _w in table.columns], bold=True)
        header.shade = (self.margin, self.margin + self.width)
        header.keep_with_next = True
        out = [header]
        for cells in table.rows:
            line = row(cells, bold=False)
            line.header = header
            out.append(line)
        if table.note:
            out.append(_Line(1.5))
            out.extend(_Line(lh, [(self.margin, 0.0, t, False, "#555555", self.size)])
                       for t in self._wrap(table.note, self.width))
        return out

    def paginate(self, bands: list[_Line], header_h: float, footer_h: float) -> list[list[_Line]]:
        usable = self.page.height_mm - 2 * self.margin - header_h - footer_h
        pages: list[list[_Line]] = [[]]
        used = 0.0
        for i, band in enumerate(bands):
            need = band.height
            if band.keep_with_next and i + 1 < len(bands):
                need += bands[i + 1].height
            if used + need > usable and pages[-1]:
                pages.append([])
                used = 0.0
                if band.header is not None:  # a table continues under its repeated header row
                    pages[-1].append(band.header)
                    used += band.header.height
            pages[-1].append(band)
            used += band.height
        return pages


def _draw_band(ax: Axes, band: _Line, top: float, layout: DocumentLayout) -> None:
    if band.shade:
        ax.add_patch(Rectangle((band.shade[0], top - band.height), band.shade[1] - band.shade[0], band.height,
                               facecolor="#eef1f4", edgecolor="none", zorder=1))
    for x, dy, text, bold, color, size in band.parts:
        draw_text(ax, x, top - dy, text, layout.fonts.properties(bold=bold), size, color=color)
    if band.rule:
        ax.plot([band.rule[0], band.rule[1]], [top - band.height] * 2, color="#b8c0c8", linewidth=0.4, zorder=2)


def document_pages(blocks: Sequence[Block], page: Page, *, running_head: str, footer: str,
                   first_page_number: int = 1, total_extra_pages: int = 0) -> list[Figure]:
    """Lay ``blocks`` out on as many pages as needed; every page carries the head, the footer and 第 n/N 页."""
    layout = DocumentLayout(page)
    head_size, foot_size = 7.0, 6.5
    header_h = line_height_mm(head_size) + 4.0
    foot_lines = layout._wrap(footer, layout.width - 30.0, size=foot_size)
    footer_h = len(foot_lines) * line_height_mm(foot_size) + 3.0
    pages = layout.paginate(layout.bands(blocks), header_h, footer_h)
    total = len(pages) + first_page_number - 1 + total_extra_pages
    figures = []
    regular = layout.fonts.properties()
    for n, bands in enumerate(pages, start=first_page_number):
        fig = Figure(figsize=page.size_in, dpi=page.dpi, facecolor="white")
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, page.width_mm)
        ax.set_ylim(0, page.height_mm)
        ax.set_axis_off()
        top = page.height_mm - layout.margin
        draw_text(ax, layout.margin, top, running_head, regular, head_size, color="#555555")
        draw_text(ax, page.width_mm - layout.margin, top, f"第 {n} 页 / 共 {total} 页", regular, head_size,
                  ha="right", color="#555555")
        ax.plot([layout.margin, page.width_mm - layout.margin], [top - header_h + 2.0] * 2, color="#1a1a1a",
                linewidth=0.6)
        y = top - header_h
        for band in bands:
            _draw_band(ax, band, y, layout)
            y -= band.height
        fy = layout.margin + footer_h - 1.0
        for line in foot_lines:
            draw_text(ax, layout.margin, fy, line, regular, foot_size, color="#9b1c1c")
            fy -= line_height_mm(foot_size)
        figures.append(fig)
    return figures


def save_pdf(figures: Sequence[Figure], *, title: str) -> bytes:
    """All pages as one PDF (fonts embedded as TrueType subsets, text selectable)."""
    buf = io.BytesIO()
    with saving(), PdfPages(buf, metadata={"Title": title, "Creator": "planview"}) as pdf:
        for fig in figures:
            pdf.savefig(fig)
    return buf.getvalue()
