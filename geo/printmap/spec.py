"""What a print layout is asked to draw: page, layers, symbols and text.

Plain data, validated on construction, so that a bad request fails before any
drawing starts and with a message saying what to change. Nothing here knows
about manifests or the catalogue; ``layers/export.py`` builds these.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd

from geo.errors import InvalidInput, UnsupportedFormat

MM_PER_INCH = 25.4
# Paper sizes in millimetres, portrait (width, height).
PAPERS: dict[str, tuple[float, float]] = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
ORIENTATIONS = ("portrait", "landscape")
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "pdf": "application/pdf", "svg": "image/svg+xml"}
MIN_DPI, MAX_DPI = 72, 600
# A3 at 600 dpi is ~70 megapixels (a 280 MB RGBA buffer); nothing larger is drawn.
MAX_PIXELS = 72_000_000
MIN_PIXELS_SIDE = 300
MAX_TITLE_CHARS = 120
MAX_SUBTITLE_CHARS = 200
MAX_SHORT_CHARS = 40

GeomKind = Literal["polygon", "line", "point"]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")


def clean_text(value: str | None, *, zh: str, en: str, limit: int) -> str | None:
    """User text made safe to draw: no control or bidi characters, one line, bounded length.

    Text is always drawn literally (never as mathtext, TeX or markup); this
    only removes characters that have no business on a map and refuses text
    too long to print, with a bilingual message naming the field.
    """
    if value is None:
        return None
    text = _SPACE.sub(" ", _CONTROL.sub("", unicodedata.normalize("NFC", value))).strip()
    if len(text) > limit:
        raise InvalidInput(f"{zh}过长（{len(text)} 字，最多 {limit} 字）/ {en} too long: "
                           f"{len(text)} characters, at most {limit}")
    return text or None


@dataclass(frozen=True)
class Page:
    """The sheet: size in millimetres, resolution, output format."""

    width_mm: float
    height_mm: float
    dpi: int = 300
    format: str = "pdf"
    paper: str | None = None  # "A4"/"A3" when a paper size was asked for

    def __post_init__(self) -> None:
        if self.format not in MEDIA_TYPES:
            raise UnsupportedFormat(f"不支持的格式 {self.format!r}，可用 png、pdf、svg / "
                                    f"unsupported format {self.format!r}; use png, pdf or svg")
        if not (MIN_DPI <= self.dpi <= MAX_DPI):
            raise InvalidInput(f"分辨率须在 {MIN_DPI}–{MAX_DPI} dpi 之间 / dpi must be between {MIN_DPI} and "
                               f"{MAX_DPI}, got {self.dpi}")
        if not (math.isfinite(self.width_mm) and math.isfinite(self.height_mm)):
            raise InvalidInput("页面尺寸无效 / invalid page size")
        w, h = self.pixel_size
        if min(w, h) < MIN_PIXELS_SIDE or w * h > MAX_PIXELS:
            raise InvalidInput(f"输出尺寸 {w}×{h} 像素超出范围（每边至少 {MIN_PIXELS_SIDE}，总数至多 "
                               f"{MAX_PIXELS // 1_000_000} 百万像素）/ output of {w}x{h} px is out of range "
                               f"(each side >= {MIN_PIXELS_SIDE}, at most {MAX_PIXELS // 1_000_000} megapixels)")

    @classmethod
    def from_paper(cls, paper: str, orientation: str, *, dpi: int = 300, format: str = "pdf") -> Page:
        key = paper.upper() if isinstance(paper, str) else paper
        if key not in PAPERS:
            raise InvalidInput(f"不支持的纸张 {paper!r}，可用 {'、'.join(PAPERS)} / unsupported paper {paper!r}; "
                               f"use {', '.join(PAPERS)}")
        if orientation not in ORIENTATIONS:
            raise InvalidInput(f"方向须为 portrait（纵向）或 landscape（横向）/ orientation must be portrait or "
                               f"landscape, got {orientation!r}")
        w, h = PAPERS[key]
        if orientation == "landscape":
            w, h = h, w
        return cls(width_mm=w, height_mm=h, dpi=dpi, format=format, paper=key)

    @classmethod
    def from_pixels(cls, width_px: int, height_px: int, *, dpi: int = 150, format: str = "png") -> Page:
        """A page of an exact pixel size (at ``dpi``, which sets how large text and lines are)."""
        if width_px <= 0 or height_px <= 0:
            raise InvalidInput("像素尺寸须为正数 / pixel size must be positive")
        return cls(width_mm=width_px / dpi * MM_PER_INCH, height_mm=height_px / dpi * MM_PER_INCH,
                   dpi=dpi, format=format)

    @property
    def size_in(self) -> tuple[float, float]:
        return self.width_mm / MM_PER_INCH, self.height_mm / MM_PER_INCH

    @property
    def pixel_size(self) -> tuple[int, int]:
        w, h = self.size_in
        return int(round(w * self.dpi)), int(round(h * self.dpi))

    @property
    def landscape(self) -> bool:
        return self.width_mm >= self.height_mm

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


@dataclass(frozen=True)
class Symbol:
    """A layer's drawing style, in the units of the interactive map (Leaflet px, 0-1 opacities)."""

    color: str = "#3366cc"
    weight: float = 2.0
    fill_color: str | None = None
    fill_opacity: float = 0.25
    opacity: float = 1.0
    dash_array: str | None = None
    radius: float = 6.0


@dataclass(frozen=True)
class Category:
    """One legend entry of a categorised layer: features whose field equals ``key``."""

    key: str
    label: str
    color: str


@dataclass
class PrintLayer:
    """One layer to draw: lon/lat features, their symbol and legend.

    ``features`` is a GeoDataFrame in lon/lat (EPSG:4326). A ``precision``
    column with value ``schematic`` marks schematic (示意) features, which are
    drawn dashed, lighter and hatched and flagged in the legend.
    """

    id: str
    legend_title: str
    features: gpd.GeoDataFrame
    symbol: Symbol = field(default_factory=Symbol)
    categories: Sequence[Category] = ()
    category_field: str | None = None
    label_field: str | None = None
    show_labels: bool = False
    emphasis: bool = False  # an uploaded overlay: drawn on top, outlined, labelled in bold
    single_label: str | None = None  # legend entry of an uncategorised layer (default: its legend title)


@dataclass
class MapText:
    """The words on the sheet. All of it is drawn literally."""

    title: str
    subtitle: str | None = None
    figure_number: str | None = None
    date: str | None = None
    sources: Sequence[str] = ()
    disclaimer: str | None = None  # used only when a schematic feature is on the map
    notes: Sequence[str] = ()  # further lines under the sources (e.g. the overlay file)

    def __post_init__(self) -> None:
        self.title = clean_text(self.title, zh="标题", en="title", limit=MAX_TITLE_CHARS) or ""
        self.subtitle = clean_text(self.subtitle, zh="副标题", en="subtitle", limit=MAX_SUBTITLE_CHARS)
        self.figure_number = clean_text(self.figure_number, zh="图号", en="figure number", limit=MAX_SHORT_CHARS)
        self.date = clean_text(self.date, zh="日期", en="date", limit=MAX_SHORT_CHARS)
