"""Feature collections for other GIS software: one geometry type per collection.

A layer whose features are all of one family (point, line or polygon) is one
collection with the layer's id. A layer that mixes families (e.g. project
points and project areas) becomes one collection per family, ``{id}-points``,
``{id}-lines``, ``{id}-polygons``, because QGIS shows one type per layer and
hides the rest. Within a collection singles are promoted to the multi type
when both occur, so the declared type is exact. Rings are RFC 7946-oriented.

The map itself keeps reading ``/api/layers/{id}`` (one mixed layer); this
module serves only the interoperable view.

Stored layers (the layer store, 10⁵–10⁶ features) are collections too
(:class:`StoredCollection`), under their layer id: never loaded whole, each
page read through the store's index (R-tree / GiST) in ``fid`` order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import shapely

from geo.errors import NotFound
from geo.geometry_types import FAMILIES, FAMILY_LABEL_ZH, FAMILY_OF, MULTI, Family, declared_type, orient_rfc7946, promote
from layers.catalogue import Bbox, Catalogue, Layer, jsonable
from layers.store.model import LayerStore, StoredLayer

# shapely type ids: 0 Point, 1 LineString, 2 LinearRing, 3 Polygon, 4 MultiPoint, 5 MultiLineString, 6 MultiPolygon
FAMILY_TYPE_IDS: dict[Family, list[int]] = {"point": [0, 4], "line": [1, 2, 5], "polygon": [3, 6]}
SUFFIX = {"point": "points", "line": "lines", "polygon": "polygons"}


@dataclass(eq=False)
class Collection:
    """One geometry family of one layer."""

    id: str
    layer: Layer
    family: Family
    rows: tuple[int, ...]  # positions in layer.features
    split: bool  # the layer has more than one family

    @property
    def title(self) -> str:
        title = self.layer.manifest.title
        return f"{title}（{FAMILY_LABEL_ZH[self.family]}）" if self.split else title

    @cached_property
    def geometry_type(self) -> str:
        geoms = self.layer.features.geometry.values
        return declared_type((geoms[i].geom_type for i in self.rows), self.family)

    @cached_property
    def geometries(self) -> list[Any]:
        """Full-detail geometry, promoted to the declared type and RFC 7946-oriented (CRS84)."""
        geoms = [self.layer.features.geometry.values[i] for i in self.rows]
        return list(orient_rfc7946(np.asarray(promote(geoms, self.geometry_type), dtype=object)))

    @cached_property
    def bbox(self) -> Bbox:
        x0, y0, x1, y1 = shapely.total_bounds(np.asarray(self.geometries, dtype=object))
        return (float(x0), float(y0), float(x1), float(y1))

    @cached_property
    def properties(self) -> list[dict[str, Any]]:
        all_props = self.layer.properties()
        return [all_props[i] for i in self.rows]

    @cached_property
    def ids(self) -> list[str]:
        key = self.layer.manifest.key
        return [str(jsonable(p[key])) for p in self.properties]

    @property
    def feature_count(self) -> int:
        return len(self.rows)

    @property
    def schema(self) -> dict[str, str]:
        return self.layer.schema

    def select(self, bbox: Bbox | None) -> list[int]:
        """Positions (within this collection) of features intersecting a CRS84 box, in layer order."""
        if bbox is None:
            return list(range(len(self.rows)))
        hits = shapely.intersects(np.asarray(self.geometries, dtype=object), shapely.box(*bbox))
        return [i for i, hit in enumerate(hits) if hit]

    def position(self, feature_id: str) -> int:
        try:
            return self.ids.index(feature_id)
        except ValueError:
            raise NotFound(f"{self.id} 中没有要素 {feature_id!r} / no feature {feature_id!r} in {self.id}") from None

    def etag(self, *params: object) -> str:
        return self.layer.etag("collection", self.id, *params)


def collections_of(layer: Layer) -> list[Collection]:
    """The collections of one layer, in family order (point, line, polygon)."""
    type_ids = shapely.get_type_id(np.asarray(layer.features.geometry.values, dtype=object))
    empty = shapely.is_empty(np.asarray(layer.features.geometry.values, dtype=object))
    by_family: dict[Family, list[int]] = {}
    for fam, ids in FAMILY_TYPE_IDS.items():
        rows = np.flatnonzero(np.isin(type_ids, ids) & ~empty).tolist()
        if rows:
            by_family[fam] = rows
    split = len(by_family) > 1
    return [Collection(id=f"{layer.id}-{SUFFIX[fam]}" if split else layer.id, layer=layer, family=fam,
                       rows=tuple(by_family[fam]), split=split)
            for fam in FAMILIES if fam in by_family]


class Collections:
    """All collections of a catalogue, built once per catalogue (layers do not change at run time)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._by_id: dict[str, Collection] = {}
        for layer in catalogue.ordered():
            for col in collections_of(layer):
                self._by_id[col.id] = col

    def ordered(self) -> list[Collection]:
        return list(self._by_id.values())

    def for_layer(self, layer_id: str) -> list[Collection]:
        return [c for c in self._by_id.values() if c.layer.id == layer_id]

    def get(self, collection_id: str) -> Collection:
        if collection_id in self._by_id:
            return self._by_id[collection_id]
        if collection_id in self.catalogue.layers:
            parts = [c.id for c in self.for_layer(collection_id)]
            raise NotFound(f"图层 {collection_id} 按几何类型分为 {parts} / layer {collection_id} is split by geometry"
                           f" type into the collections {parts}")
        self.catalogue.get(collection_id)  # raises DataError for a failed layer
        raise NotFound(f"没有要素集合 {collection_id!r} / unknown collection {collection_id!r}")


STORE_TYPES = {"POINT": "Point", "MULTIPOINT": "MultiPoint", "LINESTRING": "LineString",
               "MULTILINESTRING": "MultiLineString", "POLYGON": "Polygon", "MULTIPOLYGON": "MultiPolygon"}
SAMPLE = 2000  # features looked at to declare the type of a layer the store recorded as mixed (GEOMETRY)
CHUNK = 2000  # features read per index query while filtering a bbox page exactly


@dataclass(eq=False)
class StoredPage:
    fids: list[int]
    geometries: list[Any]  # promoted to the declared type, RFC 7946-oriented
    properties: list[dict[str, Any]]
    matched: int | None  # known without a bbox (the layer's count); with one, finding it would read every hit
    more: bool


@dataclass(eq=False)
class StoredCollection:
    """One stored layer as a collection: pages read through the store's index, exact ``intersects`` for bbox."""

    layer: StoredLayer
    store: LayerStore

    @property
    def id(self) -> str:
        return self.layer.id

    @property
    def title(self) -> str:
        return self.layer.manifest.title

    @property
    def bbox(self) -> Bbox:
        return self.layer.bbox

    @property
    def feature_count(self) -> int:
        return self.layer.feature_count

    @property
    def schema(self) -> dict[str, str]:
        return self.layer.fields

    @cached_property
    def geometry_type(self) -> str:
        """The store's recorded type; for a mixed one, the multi type of the family a sample shows."""
        if self.layer.geometry_type in STORE_TYPES:
            return STORE_TYPES[self.layer.geometry_type]
        sample = self.store.page(self.layer, None, 0, SAMPLE)
        families = [FAMILY_OF.get(g.geom_type, "polygon") for g in sample.geoms]
        fam: Family = max(set(families), key=families.count) if families else "polygon"
        return MULTI[fam]

    def etag(self, *params: object) -> str:
        return hashlib.sha256(repr((self.layer.etag_seed, params)).encode()).hexdigest()[:32]

    def _finish(self, geoms: Any) -> list[Any]:
        return list(orient_rfc7946(np.asarray(promote(list(geoms), self.geometry_type), dtype=object)))

    def page(self, bbox: Bbox | None, offset: int, limit: int) -> StoredPage:
        """Features ``offset`` … ``offset + limit`` (in fid order) of those meeting ``bbox`` (CRS84)."""
        cols = list(self.layer.fields)
        if bbox is None:  # fids are 1..N: the offset is a key, no scan
            batch = self.store.page(self.layer, None, offset, limit + 1, cols)
            n = min(limit, len(batch))
            return StoredPage(fids=batch.fids[:n].tolist(), geometries=self._finish(batch.geoms[:n]),
                              properties=batch.records(cols)[:n],
                              matched=self.layer.feature_count, more=len(batch) > limit)
        box = shapely.box(*bbox)
        fids: list[int] = []
        geoms: list[Any] = []
        props: list[dict[str, Any]] = []
        skip, after = offset, 0
        while True:
            batch = self.store.page(self.layer, bbox, after, CHUNK, cols)
            if len(batch) == 0:
                return StoredPage(fids, self._finish(geoms), props, None, False)
            hits = np.flatnonzero(shapely.intersects(batch.geoms, box)).tolist()
            for i in hits:
                if skip:
                    skip -= 1
                    continue
                if len(fids) == limit:
                    return StoredPage(fids, self._finish(geoms), props, None, True)
                fids.append(int(batch.fids[i]))
                geoms.append(batch.geoms[i])
                props.append({c: batch.columns[c][i] for c in cols})
            after = int(batch.fids[-1])

    def feature(self, feature_id: str) -> tuple[int, Any, dict[str, Any]]:
        if not feature_id.isdigit():
            raise NotFound(f"{self.id} 中没有要素 {feature_id!r} / no feature {feature_id!r} in {self.id}")
        cols = list(self.layer.fields)
        batch = self.store.page(self.layer, None, int(feature_id) - 1, 1, cols)
        if len(batch) == 0 or int(batch.fids[0]) != int(feature_id):
            raise NotFound(f"{self.id} 中没有要素 {feature_id!r} / no feature {feature_id!r} in {self.id}")
        return int(batch.fids[0]), self._finish(batch.geoms)[0], {c: batch.columns[c][0] for c in cols}
