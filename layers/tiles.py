"""Vector tiles for every layer: stored layers from their store, catalogue layers from memory.

Stored layers: the store makes the tile (PostGIS ``ST_AsMVT``; GeoPackage via
the R-tree and ``mapbox-vector-tile``). Catalogue layers (the small plan
layers, held in memory as today): their spatial index picks the features, the
same encoder writes the tile. Feature ids in tiles are what
``/api/layers/{layer}/features/{id}`` takes: the store ``fid``, or the row
number of a catalogue layer's feature.

Tiles carry only the attributes a map needs to draw and label (the class
field, the label field); everything else is fetched by id when clicked.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import shapely

from layers.catalogue import Layer, jsonable
from layers.store.model import StoredLayer
from layers.store.mvt import BUFFER, check_tile, encode_tile, tile_bounds_lonlat
from layers.store.registry import StoredLayers

MVT = "application/vnd.mapbox-vector-tile"


def tile_columns(manifest: Any) -> list[str]:
    cols = [manifest.label_field]
    if manifest.legend and manifest.legend.field:
        cols.append(manifest.legend.field)
    if manifest.control:
        cols.append(manifest.control.class_field)
    cols.append("precision")
    return list(dict.fromkeys(c for c in cols if c))


def catalogue_tile(layer: Layer, z: int, x: int, y: int) -> bytes:
    check_tile(z, x, y)
    box = shapely.box(*tile_bounds_lonlat(z, x, y, buffer=BUFFER))
    idx = np.sort(layer.features.sindex.query(box, predicate="intersects"))
    if len(idx) == 0:
        return b""
    cols = [c for c in tile_columns(layer.manifest) + [layer.manifest.key] if c in layer.features.columns]
    frame = layer.features.iloc[idx]
    props = [{c: _scalar(v) for c, v in zip(cols, row, strict=True)}
             for row in frame[cols].itertuples(index=False, name=None)]
    return encode_tile(layer.id, np.asarray(frame.geometry.values, dtype=object), idx.tolist(), props, z, x, y)


def _scalar(value: Any) -> Any:
    v = jsonable(value)
    return v if v is None or isinstance(v, str | int | float | bool) else str(v)


def stored_tile(registry: StoredLayers, layer: StoredLayer, z: int, x: int, y: int) -> bytes:
    check_tile(z, x, y)
    cols = tile_columns(layer.manifest)
    return registry.tile(layer, z, x, y, lambda: registry.store.tile(layer, z, x, y, cols))


def tile_etag(seed: str, z: int, x: int, y: int) -> str:
    return hashlib.sha256(f"{seed}/{z}/{x}/{y}".encode()).hexdigest()[:32]
