"""Small typed dependencies: the catalogue, bbox and zoom query parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from layers.catalogue import Bbox, Catalogue, parse_bbox
from layers.maps import MapDefinition, load_maps
from layers.store.registry import StoredLayers
from server.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_catalogue(request: Request) -> Catalogue:
    return request.app.state.catalogue  # type: ignore[no-any-return]


def get_stored_layers(request: Request) -> StoredLayers:
    return request.app.state.stored_layers  # type: ignore[no-any-return]


def get_maps(request: Request) -> dict[str, MapDefinition]:
    """Map definitions, read once per app on first use (a broken one fails that request, not start-up)."""
    state = request.app.state
    maps: dict[str, MapDefinition] | None = getattr(state, "maps", None)
    if maps is None:
        maps = load_maps(state.settings.data_dir)
        state.maps = maps
    return maps


def bbox_query(bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (lon/lat)")] = None) -> Bbox | None:
    return parse_bbox(bbox) if bbox else None


def zoom_query(zoom: Annotated[int | None, Query(ge=0, le=22, description="map zoom; geometry simplified to it")] = None) -> int | None:
    return zoom


CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
StoredDep = Annotated[StoredLayers, Depends(get_stored_layers)]
MapsDep = Annotated[dict[str, MapDefinition], Depends(get_maps)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
BboxDep = Annotated[Bbox | None, Depends(bbox_query)]
ZoomDep = Annotated[int | None, Depends(zoom_query)]
