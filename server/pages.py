"""HTML pages: the map catalogue (``/``) and one page per map (``/maps/{id}``).

Maps are data (``data/maps/*.yaml``); this module only loads them once per app,
asks :mod:`server.mapview` to build the Folium page and renders the Jinja
templates. An unknown map id raises ``NotFound``, which ``server.errors``
turns into the Chinese 404 page with a link back to ``/``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from layers.maps import MapDefinition, get_map
from server.dependencies import CatalogueDep, MapsDep, SettingsDep
from server.mapview.assets import PLANVIEW_CSS
from server.mapview.basemaps import AMAP_WARNING, basemap_options
from server.mapview.builder import MapPage, build_map_page, export_href, plan_title
from server.mapview.frontend import FrontEnd, front_end
from server.mapview.thumbnails import thumbnail_svg
from server.middleware import csp_allowing
from server.settings import Settings

router = APIRouter(tags=["pages"])


def _front_end(settings: Settings) -> FrontEnd:
    return front_end(settings.static_dir, settings.js_build_dir if settings.js_build else None)


def _map_page(request: Request, definition: MapDefinition, settings: Settings) -> MapPage:
    """The built Folium page for a map, cached per app (the catalogue does not change at run time)."""
    cache: dict[str, MapPage] | None = getattr(request.app.state, "map_pages", None)
    if cache is None:
        cache = {}
        request.app.state.map_pages = cache
    stored = request.app.state.stored_layers
    layers = stored.all()  # re-read when any process imported a layer
    key = f"{definition.id}|" + ",".join(layer.table for layer in layers)
    if key not in cache:
        cache[key] = build_map_page(definition, request.app.state.catalogue, basemap_options(settings), layers)
    return cache[key]


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def catalogue_page(request: Request, maps: MapsDep, catalogue: CatalogueDep) -> Response:
    entries: list[dict[str, Any]] = []
    for m in maps.values():
        present = [ml.id for ml in m.layers if ml.id in catalogue.layers]
        entries.append({"definition": m, "plan_title": plan_title(m.plan), "layer_count": len(present),
                        "missing": [ml.id for ml in m.layers if ml.id not in catalogue.layers]})
    failed = sorted(catalogue.failed.items())
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "catalogue.html",
        {"maps": entries, "failed": failed, "css": PLANVIEW_CSS},
    )


@router.get("/maps/{map_id}", response_class=HTMLResponse, include_in_schema=False)
def map_page(map_id: str, request: Request, maps: MapsDep, settings: SettingsDep) -> Response:
    """The map page. Its two scripts are inline: boot.js, which asks for the first view's data while the
    head is parsed, and Folium's module; the CSP lets exactly these two run, by hash."""
    definition = get_map(maps, map_id)
    page = _map_page(request, definition, settings)
    front = _front_end(settings)
    module = page.script(front.main)
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "map.html",
        {
            "page": page, "definition": definition, "plan_title": plan_title(definition.plan),
            "export_href": export_href(definition.id, definition.bounds, page.visible_layer_ids),
            "maps": list(maps.values()), "css": PLANVIEW_CSS, "front": front, "module": module,
            "amap_warning": AMAP_WARNING if settings.enable_amap else None,
        },
        headers={"Content-Security-Policy": csp_allowing(settings, (front.boot, module))},
    )


@router.get("/maps/{map_id}/thumbnail.svg", include_in_schema=False)
def map_thumbnail(map_id: str, request: Request, maps: MapsDep, catalogue: CatalogueDep) -> Response:
    definition = get_map(maps, map_id)
    svg = thumbnail_svg(definition, catalogue)
    etag = '"' + hashlib.sha256(svg.encode()).hexdigest()[:24] + '"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(svg, media_type="image/svg+xml", headers=headers)
