"""The layer store: large authoritative layers, read lazily and by area (see :mod:`layers.store.model`).

    from layers.store import open_layer_store

    store = open_layer_store(gpkg_path=settings.layer_store_gpkg, database_url=settings.database_url)
    store.layers()                                  # [StoredLayer] current versions (manifests only)
    store.query(layer, bbox, columns=[...])         # features by area through the R-tree / GiST index
    store.tile(layer, z, x, y, columns)             # Mapbox Vector Tile bytes
    store.feature(layer, fid)                       # one GeoJSON feature, attributes and all

The GeoPackage store (default) and the PostGIS store (``PLANVIEW_DATABASE_URL``)
have the same contract, :class:`~layers.store.model.LayerStore`. Importing a
file into it is :mod:`layers.store.importer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from layers.store.model import FeatureBatch, LayerStore, StoredLayer

__all__ = ["FeatureBatch", "LayerStore", "StoreRef", "StoredLayer", "open_layer_store"]


@dataclass(frozen=True)
class StoreRef:
    """Where the layer store is, picklable: what a job-pool worker needs to open the same store."""

    gpkg_path: str | None = None
    database_url: str | None = None
    schema: str | None = None

    def open(self) -> LayerStore:
        return open_layer_store(gpkg_path=self.gpkg_path, database_url=self.database_url, schema=self.schema)


def open_layer_store(*, gpkg_path: Path | str | None = None, database_url: str | None = None,
                     schema: str | None = None) -> LayerStore:
    """The PostGIS store when ``database_url`` is set, else the GeoPackage at ``gpkg_path``."""
    if database_url:
        from layers.store.postgis import PostgisLayerStore

        return PostgisLayerStore(database_url, schema=schema or "public")
    if gpkg_path is None:
        raise ValueError("open_layer_store needs gpkg_path or database_url")
    from layers.store.gpkg import GeoPackageLayerStore

    return GeoPackageLayerStore(Path(gpkg_path))
