"""Small static SVG thumbnails of each map, drawn server-side from the layer geometry.

The catalogue page needs a picture of each map without any external image.
A thumbnail draws the map's visible layers, simplified for a ~240 px image,
in a plain equirectangular projection scaled by cos(latitude) — this is a
picture, not a measurement. Schematic features are dashed and lighter, as on
the map. Results are cached by the layers' content versions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape
from typing import Any

from shapely.geometry.base import BaseGeometry

from layers.catalogue import MAX_SIMPLIFY_ZOOM, Catalogue, Layer
from layers.maps import MapDefinition
from server.mapview.builder import safe_color

WIDTH, HEIGHT = 240, 160
PAD = 6
_cache: dict[tuple[Any, ...], str] = {}


class _Frame:
    """Maps lon/lat to thumbnail pixels so that ``bounds`` fits, aspect kept."""

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        x0, y0, x1, y1 = bounds
        self.kx = math.cos(math.radians((y0 + y1) / 2))
        w = max((x1 - x0) * self.kx, 1e-9)
        h = max(y1 - y0, 1e-9)
        self.scale = min((WIDTH - 2 * PAD) / w, (HEIGHT - 2 * PAD) / h)
        self.ox = (WIDTH - w * self.scale) / 2 - x0 * self.kx * self.scale
        self.oy = (HEIGHT - h * self.scale) / 2 + y1 * self.scale
        # the web-map zoom whose simplification (half a pixel) is finer than one thumbnail pixel
        self.zoom = max(0, min(MAX_SIMPLIFY_ZOOM - 1, math.ceil(math.log2(360.0 * self.scale / 512))))

    def xy(self, x: float, y: float) -> str:
        return f"{self.ox + x * self.kx * self.scale:.1f} {self.oy - y * self.scale:.1f}"


def _ring(coords: Iterable[tuple[float, ...]], frame: _Frame) -> str:
    pts = [frame.xy(c[0], c[1]) for c in coords]
    return "M" + "L".join(pts) + "Z" if len(pts) > 2 else ""


def _path_data(geom: BaseGeometry, frame: _Frame) -> tuple[str, str]:
    """(kind, svg path data) for a geometry: kind is 'area', 'line' or 'point'."""
    parts = list(getattr(geom, "geoms", [geom]))
    kind = parts[0].geom_type if parts else "Polygon"
    if kind == "Polygon":
        d = "".join(_ring(r.coords, frame) for p in parts for r in (p.exterior, *p.interiors))
        return "area", d
    if kind == "LineString":
        d = "".join("M" + "L".join(frame.xy(*c[:2]) for c in p.coords) for p in parts)
        return "line", d
    return "point", ";".join(frame.xy(p.x, p.y) for p in parts)


def _layer_svg(layer: Layer, frame: _Frame) -> list[str]:
    m = layer.manifest
    stroke = safe_color(m.style.color)
    geoms = layer.geometries(frame.zoom)  # cached, topology-preserving simplification
    out: list[str] = []
    for props, geom in zip(layer.properties(), geoms, strict=True):
        if geom is None or geom.is_empty:
            continue
        fill = safe_color(m.color_for(props), stroke)
        schematic = props.get("precision") == "schematic"
        dash = ' stroke-dasharray="3 2"' if schematic else ""
        opacity = max(0.1, min(1.0, m.style.fill_opacity)) * (0.5 if schematic else 1.0)
        kind, d = _path_data(geom, frame)
        if not d:
            continue
        if kind == "point":
            for xy in d.split(";"):
                cx, cy = xy.split(" ")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{fill}" '
                           f'stroke="{stroke}" stroke-width="0.6"{dash}/>')
        elif kind == "line":
            out.append(f'<path d="{d}" fill="none" stroke="{fill}" stroke-width="1.5"{dash}/>')
        else:
            out.append(f'<path d="{d}" fill="{fill}" fill-opacity="{opacity:.2f}" stroke="{stroke}" '
                       f'stroke-width="0.5" stroke-linejoin="round"{dash}/>')
    return out


def thumbnail_svg(definition: MapDefinition, catalogue: Catalogue) -> str:
    """An SVG picture of the map's visible layers inside its initial bounds (cached)."""
    layers = sorted((catalogue.layers[ml.id] for ml in definition.layers
                     if ml.visible and ml.id in catalogue.layers),
                    key=lambda layer: (layer.manifest.order, layer.id))
    key = (definition.id, definition.bounds, tuple((layer.id, layer.version) for layer in layers))
    if key in _cache:
        return _cache[key]
    frame = _Frame(definition.bounds)
    body: list[str] = []
    for layer in layers:
        body.extend(_layer_svg(layer, frame))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
           f'height="{HEIGHT}" role="img"><title>{escape(definition.title)}</title>'
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#eef2f5"/>{"".join(body)}</svg>')
    _cache[key] = svg
    return svg
