"""Vector tiles: ``/tiles/{layer}/{z}/{x}/{y}.mvt`` and their OGC API – Tiles metadata under ``/ogc``.

Public-read, like the layers. Every response has an ETag (a stored layer's
table and a catalogue layer's version never change under the same name), so
a browser revalidates instead of downloading a tile twice.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from geo.errors import NotFound
from layers.tiles import MVT, catalogue_tile, stored_tile, tile_etag
from server.dependencies import CatalogueDep, StoredDep

router = APIRouter(tags=["tiles"])
ogc_router = APIRouter(prefix="/ogc", tags=["OGC API - Tiles"])
WEB_MERCATOR_QUAD = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"


@router.get("/tiles/{layer_id}/{z}/{x}/{y}.mvt", response_class=Response,
            responses={200: {"content": {MVT: {}}}, 204: {"description": "empty tile"}})
def tile(layer_id: str, z: int, x: int, y: int, request: Request, catalogue: CatalogueDep,
         stored: StoredDep) -> Response:
    """One Mapbox Vector Tile (Web-Mercator XYZ) of any layer, simplified for its zoom."""
    if layer_id in catalogue.layers:
        layer = catalogue.layers[layer_id]
        etag = tile_etag(layer.version, z, x, y)
        make = lambda: catalogue_tile(layer, z, x, y)  # noqa: E731
    else:
        slayer = stored.get(layer_id)
        etag = tile_etag(slayer.etag_seed, z, x, y)
        make = lambda: stored_tile(stored, slayer, z, x, y)  # noqa: E731
    quoted = f'"{etag}"'
    headers = {"ETag": quoted, "Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"}
    if request.headers.get("if-none-match") == quoted:
        return Response(status_code=304, headers=headers)
    data = make()
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


def _layer_ids(catalogue: CatalogueDep, stored: StoredDep) -> list[tuple[str, str, list[float]]]:
    out = [(layer.id, layer.manifest.title, list(layer.bbox)) for layer in catalogue.ordered()]
    out += [(layer.id, layer.manifest.title, list(layer.bbox)) for layer in stored.all()]
    return out


def _tileset(base: str, layer_id: str, title: str, bbox: list[float]) -> dict[str, Any]:
    return {
        "title": title, "dataType": "vector", "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": WEB_MERCATOR_QUAD,
        "boundingBox": {"lowerLeft": bbox[:2], "upperRight": bbox[2:],
                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{base}/ogc/collections/{layer_id}/tiles/WebMercatorQuad"},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": "application/json",
             "href": f"{base}/ogc/tileMatrixSets/WebMercatorQuad"},
            {"rel": "item", "type": MVT, "templated": True,
             "href": f"{base}/tiles/{layer_id}/{{tileMatrix}}/{{tileCol}}/{{tileRow}}.mvt"},
        ],
        "layers": [{"id": layer_id, "dataType": "vector", "minTileMatrix": "0", "maxTileMatrix": "22"}],
    }


@ogc_router.get("/tileMatrixSets")
def tile_matrix_sets(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {"tileMatrixSets": [{"id": "WebMercatorQuad", "title": "Google Maps Compatible for the World",
                                "uri": WEB_MERCATOR_QUAD,
                                "links": [{"rel": "self", "type": "application/json",
                                           "href": f"{base}/ogc/tileMatrixSets/WebMercatorQuad"}]}]}


@ogc_router.get("/tileMatrixSets/WebMercatorQuad")
def web_mercator_quad() -> dict[str, Any]:
    """The standard WebMercatorQuad definition (OGC 17-083r4 annex), levels 0–22."""
    half = 20037508.3427892
    return {
        "id": "WebMercatorQuad", "title": "Google Maps Compatible for the World", "uri": WEB_MERCATOR_QUAD,
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857", "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": [
            {"id": str(z), "scaleDenominator": 559082264.028717 / 2**z, "cellSize": 156543.033928041 / 2**z,
             "cornerOfOrigin": "topLeft", "pointOfOrigin": [-half, half], "tileWidth": 256, "tileHeight": 256,
             "matrixWidth": 2**z, "matrixHeight": 2**z}
            for z in range(23)
        ],
    }


@ogc_router.get("/collections/{collection_id}/tiles")
def collection_tilesets(collection_id: str, request: Request, catalogue: CatalogueDep,
                        stored: StoredDep) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    for layer_id, title, bbox in _layer_ids(catalogue, stored):
        if layer_id == collection_id:
            return {"tilesets": [_tileset(base, layer_id, title, bbox)],
                    "links": [{"rel": "self", "type": "application/json",
                               "href": f"{base}/ogc/collections/{layer_id}/tiles"}]}
    raise NotFound(f"没有图层 {collection_id!r} / unknown collection {collection_id!r}")


@ogc_router.get("/collections/{collection_id}/tiles/WebMercatorQuad")
def collection_tileset(collection_id: str, request: Request, catalogue: CatalogueDep,
                       stored: StoredDep) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    for layer_id, title, bbox in _layer_ids(catalogue, stored):
        if layer_id == collection_id:
            return _tileset(base, layer_id, title, bbox)
    raise NotFound(f"没有图层 {collection_id!r} / unknown collection {collection_id!r}")
