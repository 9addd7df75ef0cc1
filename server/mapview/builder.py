"""Build one interactive map page: a Folium map that embeds no geometry.

Folium creates the Leaflet map, one empty ``FeatureGroup`` per layer (so the
layer control lists them) and, if the operator enabled them, online tile layers. The
page's modules add the controls: full screen and pointer coordinates with the map
(static/planview/widgets.js), the tools (measuring, drawing) once the first view is drawn. The geometry is *not*
embedded: ``static/planview/data.js`` fetches ``/api/layers/{id}?zoom=N`` for each
visible layer and fills the groups, re-fetching finer geometry on zoom. The
layer manifests (styles, legends, popup labels) travel as one escaped JSON
object in a ``<script type="application/json">`` element, so the page stays
small and no geometry is sent twice. Folium's own script is the page's inline
module, which imports ``start`` from ``static/planview/main.js``; the page's
Content-Security-Policy names its hash (server/pages.py), as it does boot.js's.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import folium
from branca.element import Element, Figure, JavascriptLink, MacroElement
from folium.template import Template

from geo.labels import label_anchor, sort_key
from layers.catalogue import Catalogue, Layer
from layers.maps import MapDefinition
from layers.store.model import StoredLayer
from layers.tiles import tile_columns
from server.mapview.assets import inline_script, localize, walk
from server.mapview.basemaps import (
    OFFLINE_BASE_ID,
    OFFLINE_BASE_NAME,
    BasemapOptions,
    TileProvider,
    local_providers,
    online_providers,
)

PLAN_TITLES = {
    "chongqing": "重庆市科技创新“十四五”规划（2021—2025年）",
    "yunyang": "云阳县科技创新“十四五”规划（征求意见稿）",
}
# The map page's layout, in CSS px: the same numbers as in static/planview.css
# (--pv-header-h, --pv-panel-w, the narrow-screen and phone media queries, .pv-mapwrap height);
# static/planview/boot.js uses them to size the first view before any CSS has loaded.
PAGE_LAYOUT = {"header_px": 52, "panel_px": 360, "narrow_px": 800, "narrow_map_vh": 70, "phone_px": 480}
ZOOM_SNAP = 0.5  # fit the plan area snugly; data is still fetched per whole zoom level
PRECISION_SUFFIX = {"schematic": "（示意）", "mixed": "（部分示意）"}
MISSING_LAYER = "图层数据尚未提供 / layer data not available yet"
DEFAULT_COLOR = "#3366cc"
_INLINE_SCRIPT = re.compile(r"<script>.*?</script>", re.DOTALL)
_SAFE_COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgba?\(\s*[0-9.,%\s]+\))$")


def plan_title(plan: str) -> str:
    return PLAN_TITLES.get(plan, plan)


def safe_color(value: str | None, fallback: str = DEFAULT_COLOR) -> str:
    """A CSS colour that cannot carry markup (manifests are data, maybe hostile)."""
    return value if value and _SAFE_COLOR.match(value) else fallback


def script_json(obj: Any) -> str:
    """JSON that is safe inside an HTML ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _geometry_kinds(layer: Layer) -> list[str]:
    kinds = {str(t).replace("Multi", "") for t in layer.features.geom_type.unique()}
    return sorted(kinds)


def label_config(layer: Layer) -> dict[str, Any] | None:
    """The manifest's ``label:`` block plus one anchor per named feature ([lon, lat, text], larger
    features first): the page draws and de-collides the names without waiting for geometry."""
    spec = layer.manifest.label
    if spec is None:
        return None
    field = spec.field or layer.manifest.label_field
    frame = layer.features
    points: list[tuple[float, float, float, str]] = []
    for geom, text in zip(frame.geometry, frame[field] if field in frame.columns else [None] * len(frame),
                          strict=True):
        anchor = label_anchor(geom)
        if anchor is None or text is None or (isinstance(text, float) and math.isnan(text)) or str(text) == "":
            continue
        points.append((sort_key(geom), anchor[0], anchor[1], str(text)))
    points.sort(key=lambda p: p[0])
    return {"min_zoom": spec.min_zoom, "max_zoom": spec.max_zoom, "priority": spec.priority,
            "size": spec.size, "color": safe_color(spec.color, "#1f2933"), "halo": safe_color(spec.halo, "#ffffff"),
            "points": [[x, y, text] for _, x, y, text in points]}


def layer_config(layer: Layer, visible: bool) -> dict[str, Any]:
    """What the page's modules need to fetch, style, label and explain one layer."""
    m = layer.manifest
    style = m.style
    legend = None
    if m.legend:
        legend = {
            "title": m.legend.title,
            "field": m.legend.field,
            "categories": [{"value": c.value, "label": c.label, "color": safe_color(c.color)}
                           for c in m.legend.categories],
        }
    return {
        "id": m.id,
        "title": m.title,
        "description": m.description,
        "plan": m.plan,
        "role": m.role,
        "visible": visible,
        "url": f"/api/layers/{m.id}",
        "precision": m.precision,
        "precision_mix": layer.precisions,
        "geometry_source": m.geometry_source,
        "geometry_kinds": _geometry_kinds(layer),
        "feature_count": len(layer.features),
        "bbox": list(layer.bbox),
        "label_field": m.label_field,
        "popup_fields": m.popup_fields,
        "style": {
            "color": safe_color(style.color),
            "weight": style.weight,
            "fill_color": safe_color(style.fill_color, safe_color(style.color)),
            "fill_opacity": style.fill_opacity,
            "opacity": style.opacity,
            "dash_array": style.dash_array if re.fullmatch(r"[0-9 ,.]+", style.dash_array or "") else None,
            "radius": style.radius,
        },
        "legend": legend,
        "label": label_config(layer),
    }


def _legend(m: Any) -> dict[str, Any] | None:
    if not m.legend:
        return None
    return {"title": m.legend.title, "field": m.legend.field,
            "categories": [{"value": c.value, "label": c.label, "color": safe_color(c.color)}
                           for c in m.legend.categories]}


def stored_layer_config(layer: StoredLayer, visible: bool) -> dict[str, Any]:
    """A stored (large) layer: drawn from vector tiles; attributes fetched by id on click."""
    m = layer.manifest
    style = m.style
    return {
        "id": m.id, "title": m.title, "description": m.description, "plan": m.plan, "visible": visible,
        "url": f"/api/layers/{m.id}", "tiles": f"/tiles/{m.id}/{{z}}/{{x}}/{{y}}.mvt",
        "feature_url": f"/api/layers/{m.id}/features/", "tile_fields": tile_columns(m),
        "precision": m.precision, "precision_mix": {m.precision: layer.feature_count},
        "geometry_source": m.geometry_source, "geometry_kinds": [layer.geometry_type.title().replace("Multi", "")],
        "feature_count": layer.feature_count, "bbox": list(layer.bbox), "label_field": m.label_field,
        "popup_fields": m.popup_fields, "role": m.role,
        "style": {"color": safe_color(style.color), "weight": style.weight,
                  "fill_color": safe_color(style.fill_color, safe_color(style.color)),
                  "fill_opacity": style.fill_opacity, "opacity": style.opacity, "dash_array": None,
                  "radius": style.radius},
        "legend": _legend(m),
        "provenance": {k: m.provenance.get(k) for k in ("file", "sha256", "imported")},
    }


def stored_for_map(definition: MapDefinition, stored: list[StoredLayer]) -> list[StoredLayer]:
    """Stored layers drawn on a map: those of its plan whose extent meets the map's."""
    x0, y0, x1, y1 = definition.bounds
    return [layer for layer in stored
            if layer.manifest.plan == definition.plan and layer.bbox[0] <= x1 and layer.bbox[2] >= x0
            and layer.bbox[1] <= y1 and layer.bbox[3] >= y0]


@dataclass(frozen=True)
class MapPage:
    """The pieces a Jinja page needs to embed the Folium map, plus its view state."""

    definition: MapDefinition
    header: str  # meta, CSS and styles for <head>
    scripts: str  # <script src> of Leaflet and plugins, for the end of <body>
    body: str  # the map <div>
    folium_script: str  # Folium's script, ending with start(...): the body of the page's inline module
    config: dict[str, Any]
    prefetch: str  # JSON for static/planview/boot.js (the head's <script type="application/json">)

    @property
    def config_json(self) -> str:
        """The page config as JSON that is safe inside a ``<script type="application/json">``."""
        return script_json(self.config)

    def script(self, main_url: str) -> str:
        """The page's inline module: Folium's script importing ``start`` from ``main_url`` (the modules as
        they are, or their build: server/mapview/frontend.py), safe inside ``<script>``."""
        return inline_script(f'import {{ start }} from "{main_url}";\n' + self.folium_script)

    @property
    def visible_layer_ids(self) -> list[str]:
        return [lc["id"] for lc in self.config["layers"] if lc["visible"]]

    @property
    def unavailable(self) -> list[dict[str, str]]:
        return list(self.config["unavailable"])


class _Boot(MacroElement):
    """Hands the Folium-made map, layer groups and layer control to ``start`` (static/planview/main.js).

    The config is not here: the page carries it as JSON, read by main.js.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            start({{ this._parent.get_name() }}, {{ this.groups_js }}, {{ this.control.get_name() }},
                  {{ this.bases_js }});
        {% endmacro %}
    """)

    def __init__(self, groups: dict[str, folium.FeatureGroup], control: folium.LayerControl,
                 bases: dict[str, Element]) -> None:
        super().__init__()
        self._name = "PlanviewBoot"
        self.groups = groups
        self.control = control
        self.bases = bases  # basemap id -> its Leaflet layer (permalink &base=id, vector basemaps)

    @property
    def groups_js(self) -> str:  # at render time: names are fixed by then (see _stable_names)
        return "{" + ",".join(f"{script_json(k)}:{g.get_name()}" for k, g in self.groups.items()) + "}"

    @property
    def bases_js(self) -> str:
        return "{" + ",".join(f"{script_json(k)}:{g.get_name()}" for k, g in self.bases.items()) + "}"


def initial_zoom(bounds: tuple[float, float, float, float], width_px: int = 900, height_px: int = 700) -> int:
    """Web-Mercator zoom at which ``bounds`` fits a typical map pane (the page refits anyway)."""
    x0, y0, x1, y1 = bounds

    def merc_y(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    zx = math.log2(width_px * 360 / (256 * max(x1 - x0, 1e-6)))
    zy = math.log2(height_px * 2 * math.pi / (256 * max(merc_y(y1) - merc_y(y0), 1e-9)))
    return max(0, min(18, int(math.floor(min(zx, zy)))))


def _unavailable(definition: MapDefinition, catalogue: Catalogue) -> list[dict[str, str]]:
    out = []
    for ml in definition.layers:
        if ml.id not in catalogue.layers:
            out.append({"id": ml.id, "reason": catalogue.failed.get(ml.id, MISSING_LAYER)})
    return out


def map_config(definition: MapDefinition, catalogue: Catalogue, providers: list[TileProvider],
               stored: list[StoredLayer] | None = None) -> dict[str, Any]:
    """The JSON the page passes to planview.js (no geometry); ``providers`` are the page's basemaps."""
    available = [(catalogue.layers[ml.id], ml.visible) for ml in definition.layers if ml.id in catalogue.layers]
    available.sort(key=lambda pair: (pair[0].manifest.order, pair[0].id))
    configs = [layer_config(layer, visible) for layer, visible in available]
    tiled = [stored_layer_config(layer, layer.manifest.role == "control")
             for layer in stored_for_map(definition, stored or [])]
    order = {lc["id"]: i for i, lc in enumerate(configs)}
    # control layers lie under the plan zones (drawn first), other stored layers after them
    configs = [lc for lc in tiled if lc["role"] == "control"] + configs + [lc for lc in tiled if lc["role"] != "control"]
    del order
    return {
        "map": {"id": definition.id, "title": definition.title, "plan": definition.plan,
                "plan_title": plan_title(definition.plan), "bounds": list(definition.bounds),
                "min_zoom": definition.min_zoom, "max_zoom": definition.max_zoom},
        "layers": configs,
        "tiled": bool(tiled),
        "unavailable": _unavailable(definition, catalogue),
        # null when the plan has no indicator table (yet): the panel says so without a 404 request
        "indicators_url": f"/api/indicators/{definition.plan}" if definition.plan in catalogue.indicators else None,
        "export_url": "/api/export",
        "basemap_warnings": {p.name: p.warning for p in providers if p.warning},
        "basemap_datums": {p.name: p.datum for p in providers if p.datum != "wgs84"},
        # offline vector-tile basemaps, drawn by static/planview/vectorbase.js into their (empty) groups
        "vector_basemaps": {p.id: {"url": p.url, "attribution": p.attribution, "max_native_zoom": p.max_native_zoom}
                            for p in providers if p.vector},
        "default_base": OFFLINE_BASE_ID,
    }


def build_map_page(definition: MapDefinition, catalogue: Catalogue, options: BasemapOptions,
                   stored: list[StoredLayer] | None = None) -> MapPage:
    """Folium map + config for ``definition``; every asset local, no geometry embedded."""
    # the operator's tile files are opened (and a broken one logged) once per page build
    providers = local_providers(options) + online_providers(options)
    config = map_config(definition, catalogue, providers, stored)
    x0, y0, x1, y1 = definition.bounds
    fmap = folium.Map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=initial_zoom(definition.bounds),
                      tiles=None, control_scale=False, zoom_control=True)
    fmap.options["min_zoom"] = definition.min_zoom
    fmap.options["max_zoom"] = definition.max_zoom
    fmap.options["zoom_snap"] = ZOOM_SNAP
    bases: dict[str, Element] = {}
    if providers:
        bases[OFFLINE_BASE_ID] = folium.FeatureGroup(name=OFFLINE_BASE_NAME, overlay=False, control=True, show=True)
        bases[OFFLINE_BASE_ID].add_to(fmap)
        for provider in providers:
            if provider.vector:  # an empty group in the switcher; the page fills it with a VectorGrid layer
                group = folium.FeatureGroup(name=provider.name, overlay=False, control=True, show=False)
                group.add_to(fmap)
                bases.setdefault(provider.id, group)
                continue
            tiles = folium.TileLayer(tiles=provider.url, attr=provider.attribution, name=provider.name,
                                     overlay=provider.overlay, show=False, subdomains=provider.subdomains,
                                     max_zoom=provider.max_zoom)
            if provider.max_native_zoom is not None:  # beyond the file's last zoom, scale its tiles up
                tiles.options["max_native_zoom"] = provider.max_native_zoom
            tiles.add_to(fmap)
            if not provider.overlay:
                bases.setdefault(provider.id, tiles)
    groups: dict[str, folium.FeatureGroup] = {}
    for lc in config["layers"]:
        # Leaflet's layer control renders names as HTML: escape the manifest's title.
        label = html.escape(lc["title"]) + PRECISION_SUFFIX.get(lc["precision"], "")
        group = folium.FeatureGroup(name=label, overlay=True, control=True, show=lc["visible"])
        group.add_to(fmap)
        groups[lc["id"]] = group
    control = folium.LayerControl(position="topright", collapsed=False)
    control.add_to(fmap)
    _Boot(groups, control, bases).add_to(fmap)

    root = fmap.get_root()
    assert isinstance(root, Figure)
    localize(root)
    _stable_names(root, definition.id)
    root.render()
    # Scripts go to the end of <body>: the header and side panel paint first, and the
    # layer data (requested by the boot script at the top of <head>) downloads meanwhile.
    # Folium's inline <script> in the head only sets L_NO_TOUCH/L_DISABLE_3D to Leaflet's defaults:
    # drop it, so the page runs no inline script (a Content-Security-Policy can forbid them).
    head = [c.render() for c in root.header._children.values() if not isinstance(c, JavascriptLink)]
    head = [_INLINE_SCRIPT.sub("", h) for h in head]
    scripts = [c.render() for c in root.header._children.values() if isinstance(c, JavascriptLink)]
    return MapPage(definition=definition, header="\n".join(head), scripts="\n".join(scripts),
                   body=root.html.render(), folium_script=root.script.render(), config=config,
                   prefetch=script_json(prefetch_config(config, ZOOM_SNAP)))


def _stable_names(root: Element, map_id: str) -> None:
    """Give Folium's elements ids derived from the map id instead of random UUIDs, so every server
    process builds the same page (and its inline module, whose hash the page's CSP names)."""
    for i, element in enumerate(walk(root)):
        element._id = hashlib.sha256(f"{map_id}/{i}".encode()).hexdigest()[:32]


def prefetch_config(config: dict[str, Any], zoom_snap: float) -> dict[str, Any]:
    """The little static/planview/boot.js needs to request the first view's data before Leaflet loads."""
    return {"bounds": config["map"]["bounds"], "min_zoom": config["map"]["min_zoom"],
            "max_zoom": config["map"]["max_zoom"], "zoom_snap": zoom_snap, "layout": PAGE_LAYOUT,
            "layers": [{"id": lc["id"], "url": lc["url"], "visible": lc["visible"]} for lc in config["layers"]
                       if not lc.get("tiles")]}


def export_href(map_id: str, bbox: tuple[float, float, float, float] | list[float], layer_ids: list[str]) -> str:
    """The export link for a view (the page's JS keeps it current as the view changes)."""
    box = ",".join(f"{v:.5f}" for v in bbox)
    return (f"/api/export?map={map_id}&format=pdf&paper=A4&orientation=landscape"
            f"&bbox={box}&layers={','.join(layer_ids)}")
