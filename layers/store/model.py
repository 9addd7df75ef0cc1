"""What the layer store holds and promises, independent of GeoPackage or PostGIS.

A *stored layer* is one imported dataset (三区三线, 国土空间规划, 三调 parcels …):
its features in a table of the store with a spatial index (GeoPackage R-tree
or PostGIS GiST), its manifest (style, legend, popup fields, control classes)
and provenance (source file, SHA-256, CRS) in the store's ``planview_layers``
table. Every import is a new *version* in its own table; older versions stay
(``versions()``), the newest is what the catalogue serves.

Nothing is loaded whole: the catalogue keeps only the manifest rows; features
are read by area (bounding-box queries through the index) when a tile, a
feature or a site check needs them. So a server starts in the same time with
10⁶ polygons in the store as with none.

Each feature row carries ``pv_minzoom``: the lowest Web-Mercator zoom at which
its bounding box spans :data:`MIN_PIXELS` screen pixels (a point: 0). Below it a feature
is smaller than a few pixels and tiles leave it out (as ``ST_AsMVTGeom``
collapses it, and as tippecanoe drops it); features visible below
:data:`DETAIL_ZOOM` are also copied to a small *overview* table so that
low-zoom tiles never scan the whole layer. A layer of many small polygons
also gets *generalised* overview tables per zoom band
(:mod:`layers.store.overview`), which low-zoom tiles draw in place of the
polygons too small for them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
from numpy.typing import NDArray

from geo.errors import InvalidInput
from layers.manifest import LayerManifest

Bbox = tuple[float, float, float, float]
Objects = NDArray[np.object_]

MIN_PIXELS = 4.0  # a feature appears in tiles once its bbox spans this many 256-px screen pixels
DETAIL_ZOOM = 13  # tiles below this zoom read the overview table (features >= MIN_PIXELS there)
MAX_ZOOM = 22
# At most this many features per tile, the largest first (tippecanoe's "drop the smallest as needed"): the
# finer ones appear one zoom further in. Keeps every tile a few hundred kB and its encoding bounded.
MAX_TILE_FEATURES = 4000
EARTH_M = 2 * math.pi * 6378137.0  # Web-Mercator world width in metres
GEOM = "geom"
FID = "fid"
MINZOOM = "pv_minzoom"
RESERVED = {FID, GEOM, MINZOOM, "geometry", "pv_count", "pv_generalised", "pv_zoom"}  # overview columns
ManifestFor = Callable[[tuple[float, float, float, float]], LayerManifest]
_LAYER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def check_layer_id(layer_id: str) -> str:
    if not _LAYER_ID.match(layer_id or ""):
        raise InvalidInput(f"图层 id 只能含小写字母、数字和连字符 / layer id must be lower-case letters, digits and "
                           f"hyphens (at most 63), got {layer_id!r}")
    return layer_id


def table_name(layer_id: str, version: int) -> str:
    """The store table of one version: ``lyr_<id>_v<N>`` (SQL-safe: the id is checked)."""
    return f"lyr_{check_layer_id(layer_id).replace('-', '_')}_v{version}"


def minzoom(bounds: NDArray[np.float64]) -> NDArray[np.int16]:
    """Lowest zoom at which each lon/lat bbox spans :data:`MIN_PIXELS` pixels (Web-Mercator, at its latitude)."""
    if len(bounds) == 0:
        return np.empty(0, dtype=np.int16)
    lat = np.radians(np.clip((bounds[:, 1] + bounds[:, 3]) / 2, -85, 85))
    w_m = np.radians(bounds[:, 2] - bounds[:, 0]) * 6378137.0
    h_m = np.radians(bounds[:, 3] - bounds[:, 1]) * 6378137.0
    size_m = np.maximum(w_m, h_m)  # ground metres
    # metres per pixel at zoom z and latitude φ: EARTH_M·cos φ / (256·2^z)  ⇒  z = log2(EARTH_M·cos φ·px / (256·size))
    with np.errstate(divide="ignore"):
        z = np.log2(EARTH_M * np.cos(lat) * MIN_PIXELS / (256.0 * np.maximum(size_m, 1e-3)))
    z = np.where(size_m > 0, z, 0)  # a point has no size: visible at every zoom (tiles cap the count)
    return np.clip(np.ceil(z), 0, MAX_ZOOM).astype(np.int16)  # type: ignore[no-any-return]


def style_columns(manifest: LayerManifest, columns: list[str]) -> list[str]:
    """The tile columns a feature's colour depends on (legend / control class field): what coalescing keeps."""
    out = []
    if manifest.legend and manifest.legend.field:
        out.append(manifest.legend.field)
    if manifest.control:
        out.append(manifest.control.class_field)
    return [c for c in dict.fromkeys(out) if c in columns]


@dataclass(frozen=True)
class StoredLayer:
    """One version of one stored layer (its manifest and where its features are)."""

    id: str
    version: int
    table: str
    manifest: LayerManifest
    feature_count: int
    bbox: Bbox
    fields: dict[str, str]  # attribute name -> JSON type (string, integer, number, boolean)
    geometry_type: str
    created: datetime
    current: bool = True

    @property
    def etag_seed(self) -> str:
        return f"{self.table}:{self.created.isoformat()}"


@dataclass
class FeatureBatch:
    """Features read by area: ids, lon/lat geometries and the asked-for attribute columns."""

    fids: NDArray[np.int64]
    geoms: Objects
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.fids)

    def records(self, columns: list[str] | None = None) -> list[dict[str, Any]]:
        """One properties dict per feature, of ``columns`` (default: every column read)."""
        cols = list(self.columns) if columns is None else columns
        return [{c: self.columns[c][i] for c in cols} for i in range(len(self))]


class LayerStore(Protocol):
    """The store contract; :mod:`layers.store.gpkg` and :mod:`layers.store.postgis` implement it."""

    kind: str  # "gpkg" or "postgis"

    def generation(self) -> str:
        """A token that changes whenever any layer is imported (cheap; checked per request)."""

    def layers(self) -> list[StoredLayer]:
        """The current version of every stored layer."""

    def versions(self, layer_id: str) -> list[StoredLayer]:
        """Every version of one layer, newest first."""

    def write(self, layer_id: str, manifest: ManifestFor, batches: Iterable[gpd.GeoDataFrame],
              fields: dict[str, str]) -> StoredLayer:
        """Write a new version from lon/lat batches (columns = ``fields`` + geometry) and make it current.

        ``manifest`` is called with the layer's bbox once every batch is written (the legend and provenance
        depend on the data), in the same transaction."""

    def query(self, layer: StoredLayer, bbox: Bbox, *, columns: Iterable[str] = (), zoom: int | None = None,
              limit: int | None = None) -> FeatureBatch:
        """Features whose bbox meets ``bbox`` (index first), optionally only those visible at ``zoom``."""

    def candidates(self, layer: StoredLayer, boxes: NDArray[np.float64], columns: Iterable[str] = ()
                   ) -> tuple[NDArray[np.intp], NDArray[np.intp], FeatureBatch]:
        """Index hits of each box (rows of ``boxes``): (box index, feature index into the batch) per hit, and the
        distinct features hit, read once."""

    def page(self, layer: StoredLayer, bbox: Bbox | None, after: int, limit: int,
             columns: Iterable[str] = ()) -> FeatureBatch:
        """Up to ``limit`` features with ``fid > after``, in fid order, whose bbox meets ``bbox`` (index only;
        all when None): keyset paging for OGC API – Features. Fids of a version are 1..N."""

    def inspect(self, layer: StoredLayer) -> dict[str, Any]:
        """What ``planview layers check`` verifies: ``table`` (exists), ``rows``, ``index`` (exists),
        ``index_rows`` (entries, where the index can tell cheaply), ``contents_bbox`` (GeoPackage)."""

    def feature(self, layer: StoredLayer, fid: int) -> dict[str, Any]:
        """One feature as a GeoJSON Feature (attributes fetched by id); NotFound when absent."""

    def tile(self, layer: StoredLayer, z: int, x: int, y: int, columns: list[str]) -> bytes:
        """One Mapbox Vector Tile of the layer."""


def batched(gdf: gpd.GeoDataFrame, size: int) -> Iterator[gpd.GeoDataFrame]:
    for start in range(0, len(gdf), size):
        yield gdf.iloc[start:start + size]
