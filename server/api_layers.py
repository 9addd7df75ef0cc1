"""``/api/layers``: the catalogue and each layer as GeoJSON."""

from __future__ import annotations

import json
from typing import Any

import shapely
from fastapi import APIRouter, Request
from fastapi.responses import Response

from geo.errors import InvalidInput, NotFound
from layers.catalogue import Catalogue, Layer
from layers.collections import Collections
from layers.store.model import StoredLayer
from layers.store.registry import StoredLayers
from server.dependencies import BboxDep, CatalogueDep, StoredDep, ZoomDep
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


STORED_GEOJSON_LIMIT = 5000  # a bbox of a stored layer as GeoJSON; beyond it, use the tiles


def stored_summary(layer: StoredLayer) -> dict[str, Any]:
    m = layer.manifest
    return {
        "id": m.id, "title": m.title, "title_en": m.title_en, "plan": m.plan, "role": m.role,
        "description": m.description, "precision": m.precision, "feature_count": layer.feature_count,
        "bbox": list(layer.bbox), "geometry_source": m.geometry_source, "schema": layer.fields,
        "geometry_type": layer.geometry_type, "style": m.style.model_dump(),
        "legend": m.legend.model_dump() if m.legend else None, "label_field": m.label_field,
        "popup_fields": m.popup_fields, "order": m.order, "stored": True, "version": layer.version,
        "provenance": m.provenance, "control": m.control.model_dump() if m.control else None,
        "links": {"tiles": f"/tiles/{m.id}/{{z}}/{{x}}/{{y}}.mvt", "geojson": f"/api/layers/{m.id}?bbox=…",
                  "feature": f"/api/layers/{m.id}/features/{{id}}",
                  "ogc_tiles": f"/ogc/collections/{m.id}/tiles"},
    }


def catalogue_summary(catalogue: Catalogue, collections: Collections | None = None,
                      stored: StoredLayers | None = None) -> dict[str, Any]:
    def ogc_ids(layer: Layer) -> list[str] | None:
        return [c.id for c in collections.for_layer(layer.id)] if collections else None

    return {
        "layers": [layer_summary(layer, ogc_ids(layer)) for layer in catalogue.ordered()]
        + [stored_summary(layer) for layer in (stored.all() if stored is not None else [])],
        "failed": [{"id": k, "message": v} for k, v in sorted(catalogue.failed.items())],
    }


@router.get("/layers")
def list_layers(request: Request, catalogue: CatalogueDep, stored: StoredDep) -> dict[str, Any]:
    return catalogue_summary(catalogue, collections_for(request), stored)


@router.get("/layers/{layer_id}", response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}})
def get_layer(layer_id: str, request: Request, catalogue: CatalogueDep, stored: StoredDep, bbox: BboxDep,
              zoom: ZoomDep) -> Response:
    if layer_id not in catalogue.layers and layer_id not in catalogue.failed and stored.find(layer_id):
        return _stored_geojson(stored, stored.get(layer_id), request, bbox)
    layer = catalogue.get(layer_id)
    etag = layer.etag("fc", bbox, zoom)
    return cached_json(request, layer.geojson_bytes(bbox, zoom), etag, GEOJSON)


def _stored_geojson(stored: StoredLayers, layer: StoredLayer, request: Request, bbox: Any) -> Response:
    """A stored layer as GeoJSON: only by area (through the index), at most STORED_GEOJSON_LIMIT features."""
    if bbox is None:
        raise InvalidInput(f"图层 {layer.id} 有 {layer.feature_count:,} 个要素，请用 bbox 限定范围或使用矢量瓦片 "
                           f"/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.mvt / layer {layer.id} is large: give a bbox, "
                           "or use its vector tiles")
    batch = stored.store.query(layer, bbox, columns=list(layer.fields), limit=STORED_GEOJSON_LIMIT + 1)
    n = min(len(batch), STORED_GEOJSON_LIMIT)
    features = [{"type": "Feature", "id": int(batch.fids[i]),
                 "properties": {c: batch.columns[c][i] for c in layer.fields},
                 "geometry": json.loads(shapely.to_geojson(batch.geoms[i]))} for i in range(n)]
    body = {"type": "FeatureCollection", "name": layer.id, "features": features,
            "truncated": len(batch) > STORED_GEOJSON_LIMIT, "limit": STORED_GEOJSON_LIMIT}
    return cached_json(request, body, f"{layer.table}:{bbox}", GEOJSON)


@router.get("/layers/{layer_id}/features/{feature_id}", response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}})
def get_feature(layer_id: str, feature_id: str, request: Request, catalogue: CatalogueDep,
                stored: StoredDep) -> Response:
    """One feature with all its attributes — what a click on a tiled feature asks for.

    The id is the one in the tiles: a stored layer's ``fid``; for a catalogue layer its row number
    (or its key)."""
    if layer_id in catalogue.layers:
        layer = catalogue.layers[layer_id]
        fc = layer.feature_collection()
        keys = [str(f["id"]) for f in fc["features"]]
        if feature_id.isdigit() and int(feature_id) < len(keys):
            feature = fc["features"][int(feature_id)]
        elif feature_id in keys:
            feature = fc["features"][keys.index(feature_id)]
        else:
            raise NotFound(f"{layer_id} 中没有要素 {feature_id!r} / no feature {feature_id!r} in {layer_id}")
        return cached_json(request, feature, layer.etag("feature", feature_id), GEOJSON)
    slayer = stored.get(layer_id)
    if not feature_id.isdigit():
        raise InvalidInput(f"要素 id 须为整数 / feature id must be an integer, got {feature_id!r}")
    feature = stored.store.feature(slayer, int(feature_id))
    feature["layer"] = slayer.id
    return cached_json(request, feature, f"{slayer.table}:{feature_id}", GEOJSON)


@router.get("/indicators/{table_id}")
def get_indicators(table_id: str, request: Request, catalogue: CatalogueDep) -> dict[str, Any]:
    """The indicator table; for a plan also each row's id and status and ``monitoring`` (values, history)."""
    from server.monitor_api import indicators_payload

    return indicators_payload(request, table_id, catalogue)
