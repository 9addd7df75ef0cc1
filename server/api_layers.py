"""``/api/layers``: the catalogue and each layer as GeoJSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from layers.catalogue import Catalogue, Layer
from layers.collections import Collections
from server.dependencies import BboxDep, CatalogueDep, ZoomDep
from server.ogc import collections_for
from server.responses import GEOJSON, cached_json

router = APIRouter(prefix="/api", tags=["layers"])


def layer_summary(layer: Layer, ogc_ids: list[str] | None = None) -> dict[str, Any]:
    """One layer's metadata; ``ogc_ids`` are its OGC collections (one per geometry type)."""
    m = layer.manifest
    ogc_ids = ogc_ids or [m.id]
    return {
        "id": m.id, "title": m.title, "title_en": m.title_en, "plan": m.plan, "description": m.description,
        "precision": m.precision, "precision_mix": layer.precisions, "feature_count": len(layer.features),
        "bbox": list(layer.bbox), "geometry_source": m.geometry_source, "schema": layer.schema,
        "style": m.style.model_dump(), "legend": m.legend.model_dump() if m.legend else None,
        "label_field": m.label_field, "popup_fields": m.popup_fields, "order": m.order,
        "links": {"geojson": f"/api/layers/{m.id}", "ogc": f"/ogc/collections/{ogc_ids[0]}",
                  "ogc_collections": [f"/ogc/collections/{c}" for c in ogc_ids]},
    }


def catalogue_summary(catalogue: Catalogue, collections: Collections | None = None) -> dict[str, Any]:
    def ogc_ids(layer: Layer) -> list[str] | None:
        return [c.id for c in collections.for_layer(layer.id)] if collections else None

    return {
        "layers": [layer_summary(layer, ogc_ids(layer)) for layer in catalogue.ordered()],
        "failed": [{"id": k, "message": v} for k, v in sorted(catalogue.failed.items())],
    }


@router.get("/layers")
def list_layers(request: Request, catalogue: CatalogueDep) -> dict[str, Any]:
    return catalogue_summary(catalogue, collections_for(request))


@router.get("/layers/{layer_id}", response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}})
def get_layer(layer_id: str, request: Request, catalogue: CatalogueDep, bbox: BboxDep, zoom: ZoomDep) -> Response:
    layer = catalogue.get(layer_id)
    etag = layer.etag("fc", bbox, zoom)
    return cached_json(request, layer.geojson_bytes(bbox, zoom), etag, GEOJSON)


@router.get("/indicators/{table_id}")
def get_indicators(table_id: str, request: Request, catalogue: CatalogueDep) -> dict[str, Any]:
    """The indicator table; for a plan also each row's id and status and ``monitoring`` (values, history)."""
    from server.monitor_api import indicators_payload

    return indicators_payload(request, table_id, catalogue)
