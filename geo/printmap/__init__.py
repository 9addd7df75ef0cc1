"""Static print maps: a print-composer layout drawn with matplotlib, no desktop GIS.

``render_map(layers, text, page, bbox)`` takes plain arguments (GeoDataFrames,
symbols, legend categories, words) and returns PNG, PDF or SVG bytes with a
title, legend of what is drawn, true scale bar, north arrow, source note and,
when a schematic feature is shown, the disclaimer. ``layers/export.py`` builds
the arguments from a map definition and the catalogue.
"""

from geo.printmap.geometry import Frame, crs_for_view, crs_label, fit_frame
from geo.printmap.render import DEFAULT_DISCLAIMER, SCHEMATIC_MARK, Rendered, build_figure, render_map, save
from geo.printmap.spec import (
    MAX_DPI,
    MEDIA_TYPES,
    MIN_DPI,
    PAPERS,
    Category,
    MapText,
    Page,
    PrintLayer,
    Symbol,
    clean_text,
)

__all__ = [
    "DEFAULT_DISCLAIMER", "MAX_DPI", "MEDIA_TYPES", "MIN_DPI", "PAPERS", "SCHEMATIC_MARK", "Category", "Frame",
    "MapText", "Page", "PrintLayer", "Rendered", "Symbol", "build_figure", "clean_text", "crs_for_view",
    "crs_label", "fit_frame", "render_map", "save",
]
