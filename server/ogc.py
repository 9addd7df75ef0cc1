"""OGC API – Features, Part 1 (core + GeoJSON) under ``/ogc``.

Enough of the standard for QGIS and GDAL's OAPIF driver: landing page,
conformance, collections, items with ``bbox``/``limit``/``offset``, and a
single item. Coordinates are CRS84 lon/lat as Part 1 requires.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from geo.errors import NotFound
from layers.catalogue import Layer
from server.dependencies import BboxDep, CatalogueDep
from server.responses import GEOJSON, cached_json

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"])

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _collection(layer: Layer, base: str) -> dict[str, Any]:
    m = layer.manifest
    return {
        "id": m.id, "title": m.title, "description": m.description, "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": {"bbox": [list(layer.bbox)], "crs": CRS84}},
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{base}/collections/{m.id}"},
            {"rel": "items", "type": GEOJSON, "href": f"{base}/collections/{m.id}/items"},
        ],
    }


@router.get("")
@router.get("/")
def landing(request: Request) -> dict[str, Any]:
    base = _base(request)
    return {
        "title": "planview OGC API – Features", "description": "重庆市与云阳县科技创新“十四五”规划图层",
        "links": [
            {"rel": "self", "type": "application/json", "href": base},
            {"rel": "conformance", "type": "application/json", "href": f"{base}/conformance"},
            {"rel": "data", "type": "application/json", "href": f"{base}/collections"},
            {"rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0",
             "href": str(request.base_url).rstrip("/") + "/openapi.json"},
        ],
    }


@router.get("/conformance")
def conformance() -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


@router.get("/collections")
def collections(request: Request, catalogue: CatalogueDep) -> dict[str, Any]:
    base = _base(request)
    return {
        "collections": [_collection(layer, base) for layer in catalogue.ordered()],
        "links": [{"rel": "self", "type": "application/json", "href": f"{base}/collections"}],
    }


@router.get("/collections/{collection_id}")
def collection(collection_id: str, request: Request, catalogue: CatalogueDep) -> dict[str, Any]:
    return _collection(catalogue.get(collection_id), _base(request))


@router.get("/collections/{collection_id}/items", response_class=Response)
def items(
    collection_id: str, request: Request, catalogue: CatalogueDep, bbox: BboxDep,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    layer = catalogue.get(collection_id)
    fc = layer.feature_collection(bbox=bbox)
    features = fc["features"]
    page = features[offset: offset + limit]
    base = f"{_base(request)}/collections/{collection_id}/items"
    links = [{"rel": "self", "type": GEOJSON, "href": str(request.url)}]
    if offset + limit < len(features):
        links.append({"rel": "next", "type": GEOJSON, "href": f"{base}?offset={offset + limit}&limit={limit}"
                      + (f"&bbox={request.query_params['bbox']}" if bbox else "")})
    body = {"type": "FeatureCollection", "features": page, "numberMatched": len(features),
            "numberReturned": len(page), "links": links}
    return cached_json(request, body, layer.etag("ogc", bbox, limit, offset), GEOJSON)


@router.get("/collections/{collection_id}/items/{feature_id}", response_class=Response)
def item(collection_id: str, feature_id: str, request: Request, catalogue: CatalogueDep) -> Response:
    layer = catalogue.get(collection_id)
    for feature in layer.feature_collection()["features"]:
        if str(feature["id"]) == feature_id:
            return cached_json(request, feature, layer.etag("item", feature_id), GEOJSON)
    raise NotFound(f"{collection_id} 中没有要素 {feature_id!r} / no feature {feature_id!r} in {collection_id}")
