"""The stored layers one process serves: the store's manifests, re-read whenever the store changes.

The store's :meth:`~layers.store.model.LayerStore.generation` token is checked
at most every :data:`CHECK_SECONDS`; an import made by any process (or any
machine, on PostGIS) is therefore seen by every other within that time, and
nothing about stored layers lives only in one process. Tiles are cached per
process by (table, z, x, y) — a table is never changed after its import, so a
cached tile can never be stale.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from geo.errors import NotFound
from layers.store.model import LayerStore, StoredLayer

CHECK_SECONDS = 1.0
TILE_CACHE = 2048


class StoredLayers:
    def __init__(self, store: LayerStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._checked = 0.0
        self._layers: dict[str, StoredLayer] = {}
        self._tiles: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()

    def refresh(self, *, force: bool = False) -> dict[str, StoredLayer]:
        now = time.monotonic()
        with self._lock:
            if not force and now - self._checked < CHECK_SECONDS:
                return self._layers
            self._checked = now
            generation = self.store.generation()
            if generation != self._generation:
                self._layers = {layer.id: layer for layer in self.store.layers()}
                self._generation = generation
            return self._layers

    def all(self) -> list[StoredLayer]:
        return sorted(self.refresh().values(), key=lambda layer: (layer.manifest.order, layer.id))

    def find(self, layer_id: str) -> StoredLayer | None:
        return self.refresh().get(layer_id)

    def get(self, layer_id: str) -> StoredLayer:
        layer = self.find(layer_id)
        if layer is None:
            raise NotFound(f"没有图层 {layer_id!r} / unknown layer {layer_id!r}")
        return layer

    def tile(self, layer: StoredLayer, z: int, x: int, y: int, make: Callable[[], bytes]) -> bytes:
        key = (layer.table, z, x, y)
        with self._lock:
            hit = self._tiles.get(key)
            if hit is not None:
                self._tiles.move_to_end(key)
                return hit
        data = make()
        with self._lock:
            self._tiles[key] = data
            while len(self._tiles) > TILE_CACHE:
                self._tiles.popitem(last=False)
        return data
