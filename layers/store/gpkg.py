"""The embedded layer store: one OGC GeoPackage with an R-tree per feature table.

Written with sqlite3 following the GeoPackage 1.4 spec (``gpkg_contents``,
``gpkg_geometry_columns``, GeoPackage binary geometries and the
``gpkg_rtree_index`` extension), as the workspace store is, so QGIS and GDAL
open every stored version directly — and so an import is one SQLite
transaction: a half-written version is never visible. The R-tree is
bulk-loaded once after the rows (:mod:`layers.store.rtree`, packed from the
bounds computed during the import; no per-row triggers), then every
read goes through it: ``query`` and ``candidates`` join the R-tree virtual
table on the feature ``fid``.

Version tables are written once and never edited (a new import is a new
table), so the R-tree needs no update triggers. A dense polygon layer's
generalised overviews (:mod:`layers.store.overview`) are feature tables of the
same transaction, ``<table>_g<zoom>``, each with its own bulk-loaded R-tree.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from geo.errors import NotFound, StorageError
from layers.manifest import LayerManifest
from layers.store.model import (
    DETAIL_ZOOM,
    MAX_TILE_FEATURES,
    MINZOOM,
    Bbox,
    FeatureBatch,
    ManifestFor,
    StoredLayer,
    check_layer_id,
    minzoom,
    style_columns,
    table_name,
)
from layers.store.mvt import BUFFER, encode_tile, tile_bounds_lonlat
from layers.store.overview import COLUMNS as OVERVIEW_COLUMNS
from layers.store.overview import OVERVIEW_UNTIL, Footprints, band_for, build, class_codes, overview_table, threshold
from layers.store.rtree import bulk_load
from layers.workspaces.gpkg import APPLICATION_ID, SCHEMA, SEED, USER_VERSION, decode_geometry, encode_geometry

SQL_TYPES = {"integer": "INTEGER", "number": "REAL", "boolean": "BOOLEAN", "string": "TEXT"}
RTREE_EXTENSION = "http://www.geopackage.org/spec120/#extension_rtree"
META = """CREATE TABLE IF NOT EXISTS planview_layers (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, version INTEGER NOT NULL, table_name TEXT NOT NULL,
    manifest TEXT NOT NULL, feature_count INTEGER NOT NULL, min_x REAL, min_y REAL, max_x REAL, max_y REAL,
    fields TEXT NOT NULL, geometry_type TEXT NOT NULL, created TEXT NOT NULL, current INTEGER NOT NULL,
    UNIQUE (id, version))"""
EXTENSIONS = """CREATE TABLE IF NOT EXISTS gpkg_extensions (
    table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
    scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))"""
IMPORT_CACHE_KB = 64 * 1024  # SQLite page cache of an import transaction (KiB)
CHUNK = 900  # ids per IN (...) list (SQLite's default variable limit is 999)


def decode_geometries(blobs: list[bytes]) -> NDArray[np.object_]:
    """GeoPackage blobs -> shapely, vectorised (header length read from each blob's flags)."""
    if not blobs:
        return np.empty(0, dtype=object)
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
    wkb = [b[8 + envelope.get((b[3] >> 1) & 0b111, 0):] for b in blobs]
    return np.asarray(shapely.from_wkb(wkb), dtype=object)


def quote(name: str) -> str:
    """An SQL identifier (attribute names come from the imported file: anything but NUL)."""
    if "\x00" in name:
        raise StorageError(f"字段名含 NUL 字符 / field name contains NUL: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _row_to_layer(row: tuple[Any, ...]) -> StoredLayer:
    (layer_id, version, table, manifest, count, x0, y0, x1, y1, fields, gtype, created, current) = row
    return StoredLayer(id=layer_id, version=int(version), table=table,
                       manifest=LayerManifest.model_validate(json.loads(manifest)), feature_count=int(count),
                       bbox=(float(x0 or 0), float(y0 or 0), float(x1 or 0), float(y1 or 0)),
                       fields=json.loads(fields), geometry_type=gtype, created=datetime.fromisoformat(created),
                       current=bool(current))


_COLUMNS = ("id, version, table_name, manifest, feature_count, min_x, min_y, max_x, max_y, fields, geometry_type,"
            " created, current")


def _with_table(manifest: LayerManifest, table: str) -> LayerManifest:
    return manifest.model_copy(update={"geometry": manifest.geometry.model_copy(update={"store": table})})


class GeoPackageLayerStore:
    """Stored layers in one GeoPackage file (see the module docstring)."""

    kind = "gpkg"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._overviews: dict[str, set[str]] = {}
        self._write_lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._write() as conn:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {USER_VERSION}")
                for stmt in SCHEMA[:3]:  # the GeoPackage core tables
                    conn.execute(stmt)
                for stmt, params in SEED[:3]:  # the spatial reference systems
                    conn.execute(stmt, params)
                conn.execute(EXTENSIONS)
                conn.execute(META)
                conn.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)"
                             " VALUES ('planview_layers', 'attributes', 'planview_layers',"
                             " 'planview stored layers: manifests, provenance, versions')")
        except (sqlite3.Error, OSError) as exc:
            raise StorageError("无法打开图层存储 / cannot open the layer store", detail=str(exc)) from exc

    # ------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 60000")
        return conn

    def _reader(self) -> sqlite3.Connection:
        """One read connection per thread, kept: tiles are many small reads."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = 1")
            conn.execute("PRAGMA mmap_size = 268435456")
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()

    # ------------------------------------------------------------ catalogue

    def generation(self) -> str:
        row = self._reader().execute("SELECT count(*), max(fid), max(created) FROM planview_layers").fetchone()
        return f"gpkg:{row[0]}:{row[1]}:{row[2]}"

    def layers(self) -> list[StoredLayer]:
        rows = self._reader().execute(f"SELECT {_COLUMNS} FROM planview_layers WHERE current = 1 ORDER BY id")
        return [_row_to_layer(r) for r in rows.fetchall()]

    def versions(self, layer_id: str) -> list[StoredLayer]:
        rows = self._reader().execute(f"SELECT {_COLUMNS} FROM planview_layers WHERE id = ? ORDER BY version DESC",
                                      (check_layer_id(layer_id),))
        return [_row_to_layer(r) for r in rows.fetchall()]

    # ------------------------------------------------------------ import

    def write(self, layer_id: str, manifest: ManifestFor, batches: Iterable[gpd.GeoDataFrame],
              fields: dict[str, str]) -> StoredLayer:
        check_layer_id(layer_id)
        created = datetime.now(UTC)
        try:
            with self._write() as conn:
                version = int(conn.execute("SELECT coalesce(max(version), 0) + 1 FROM planview_layers WHERE id = ?",
                                           (layer_id,)).fetchone()[0])
                table = table_name(layer_id, version)
                count, bbox, kinds, fp = self._write_tables(conn, table, batches, fields, layer_id)
                gtype = kinds.pop() if len(kinds) == 1 else "GEOMETRY"
                made = _with_table(manifest(bbox), table)
                if fp.needed():
                    self._write_overviews(conn, table, fp, style_columns(made, list(fields)), fields, layer_id, bbox)
                conn.execute("UPDATE planview_layers SET current = 0 WHERE id = ?", (layer_id,))
                conn.execute(
                    f"INSERT INTO planview_layers ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,1)",
                    (layer_id, version, table, made.model_dump_json(by_alias=True), count, *bbox,
                     json.dumps(fields, ensure_ascii=False), gtype, created.isoformat()))
        except sqlite3.Error as exc:
            raise StorageError("写入图层存储失败 / writing the layer store failed", detail=str(exc)) from exc
        return self.versions(layer_id)[0]

    def _create_feature_table(self, conn: sqlite3.Connection, table: str, fields: dict[str, str],
                              title: str, description: str) -> None:
        cols = ", ".join(f"{quote(name)} {SQL_TYPES.get(kind, 'TEXT')}" for name, kind in fields.items())
        conn.execute(f"CREATE TABLE {quote(table)} (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom GEOMETRY,"
                     f" {MINZOOM} INTEGER NOT NULL{', ' + cols if cols else ''})")
        conn.execute(f"CREATE VIRTUAL TABLE {quote('rtree_' + table + '_geom')} USING rtree(id, minx, maxx, miny, maxy)")
        conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id)"
                     " VALUES (?, 'features', ?, ?, 4326)", (table, f"{title} ({table})", description))
        conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'GEOMETRY', 4326, 0, 0)", (table,))
        conn.execute("INSERT INTO gpkg_extensions VALUES (?, 'geom', 'gpkg_rtree_index', ?, 'write-only')",
                     (table, RTREE_EXTENSION))

    def _write_tables(self, conn: sqlite3.Connection, table: str, batches: Iterable[gpd.GeoDataFrame],
                      fields: dict[str, str], title: str) -> tuple[int, Bbox, set[str], Footprints]:
        overview = table + "_ov"
        self._create_feature_table(conn, table, fields, title, "planview stored layer")
        self._create_feature_table(conn, overview, fields, title,
                                   f"features of {table} visible below zoom {DETAIL_ZOOM} (overview for tiles)")
        names = list(fields)
        cols = ", ".join(["geom", MINZOOM, *(quote(n) for n in names)])
        marks = ", ".join("?" for _ in range(len(names) + 2))
        # a large page cache for this one transaction: no dirty page spills (each one a journal fsync) while
        # 10⁶ rows go in
        conn.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KB}")
        count = 0
        kinds: set[str] = set()
        next_fid = 1
        all_bounds: list[NDArray[np.float64]] = []
        all_mz: list[NDArray[np.int16]] = []
        fp = Footprints()
        for batch in batches:
            geoms = np.asarray(batch.geometry.values, dtype=object)
            if len(geoms) == 0:
                continue
            bounds = shapely.bounds(geoms)
            mz = minzoom(bounds)
            blobs = encode_geometry(geoms)
            fids = range(next_fid, next_fid + len(geoms))
            next_fid += len(geoms)
            values = [batch[n].tolist() for n in names]
            rows = list(zip(fids, blobs, mz.tolist(), *values, strict=True))
            conn.executemany(f"INSERT INTO {quote(table)} (fid, {cols}) VALUES (?, {marks})", rows)
            ov = np.flatnonzero(mz < DETAIL_ZOOM)
            if len(ov):
                conn.executemany(f"INSERT INTO {quote(overview)} (fid, {cols}) VALUES (?, {marks})",
                                 [rows[i] for i in ov.tolist()])
            all_bounds.append(bounds)
            all_mz.append(mz)
            fp.add(bounds, mz, geoms)
            count += len(geoms)
            kinds.update(str(k).upper() for k in np.unique(shapely.get_type_id(geoms)).tolist())
        bounds = np.concatenate(all_bounds) if all_bounds else np.empty((0, 4))
        mz = np.concatenate(all_mz) if all_mz else np.empty(0, dtype=np.int16)
        # the R-trees are built once, after the rows, packed (Sort-Tile-Recursive) rather than row by row
        all_fids = np.arange(1, count + 1, dtype=np.int64)
        bulk_load(conn, "rtree_" + table + "_geom", all_fids, bounds)
        visible = mz < DETAIL_ZOOM
        bulk_load(conn, "rtree_" + overview + "_geom", all_fids[visible], bounds[visible])
        total = (np.array([bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()])
                 if count else np.zeros(4))
        bbox: Bbox = tuple(float(v) for v in total) if count else (0.0, 0.0, 0.0, 0.0)  # type: ignore[assignment]
        for t in (table, overview):
            conn.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? WHERE table_name = ?",
                         (*bbox, t))
        names_by_id = {"0": "POINT", "1": "LINESTRING", "3": "POLYGON", "4": "MULTIPOINT", "5": "MULTILINESTRING",
                       "6": "MULTIPOLYGON"}
        gtypes = {names_by_id.get(k, "GEOMETRY") for k in kinds}
        if len(gtypes) == 1:
            for t in (table, overview):
                conn.execute("UPDATE gpkg_geometry_columns SET geometry_type_name = ? WHERE table_name = ?",
                             (next(iter(gtypes)), t))
        return count, bbox, gtypes, fp

    def _write_overviews(self, conn: sqlite3.Connection, table: str, fp: Footprints, style: list[str],
                         fields: dict[str, str], title: str, bbox: Bbox) -> None:
        """One generalised table per zoom band (:mod:`layers.store.overview`), each with its R-tree."""
        select = ", ".join(quote(c) for c in style)
        rows = conn.execute(f"SELECT {select} FROM {quote(table)} ORDER BY fid") if style else None
        codes, keys = class_codes(rows, sum(len(m) for m in fp.minzooms))
        ov_fields = {**{c: fields[c] for c in style}, **OVERVIEW_COLUMNS}
        names = list(ov_fields)
        cols = ", ".join(["geom", MINZOOM, *(quote(c) for c in names)])
        marks = ", ".join("?" for _ in range(len(names) + 2))
        for band, feats in build(fp, codes).items():
            ov = overview_table(table, band)
            self._create_feature_table(conn, ov, ov_fields, title,
                                       f"generalised overview of {table} for zooms {band[0]}-{band[1]}")
            geoms = np.array([f.geom for f in feats], dtype=object)
            blobs = encode_geometry(geoms) if len(geoms) else []
            conn.executemany(f"INSERT INTO {quote(ov)} (fid, {cols}) VALUES (?, {marks})",
                             [(i + 1, blobs[i], 0, *keys[f.cls], f.count, 1, f.zoom) for i, f in enumerate(feats)])
            bulk_load(conn, "rtree_" + ov + "_geom", np.arange(1, len(feats) + 1, dtype=np.int64),
                      shapely.bounds(geoms) if len(geoms) else np.empty((0, 4)))
            conn.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? WHERE table_name = ?",
                         (*bbox, ov))

    # ------------------------------------------------------------ reads

    def _select(self, table: str, columns: Iterable[str], where: str = "") -> str:
        cols = "".join(f", t.{quote(c)}" for c in columns)
        return (f"SELECT t.fid, t.geom{cols} FROM {quote(table)} t JOIN {quote('rtree_' + table + '_geom')} r"
                f" ON t.fid = r.id WHERE r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?{where}")

    @staticmethod
    def _batch(rows: list[tuple[Any, ...]], columns: list[str]) -> FeatureBatch:
        fids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        geoms = decode_geometries([r[1] for r in rows])
        cols = {c: [r[2 + j] for r in rows] for j, c in enumerate(columns)}
        return FeatureBatch(fids=fids, geoms=geoms, columns=cols)

    def query(self, layer: StoredLayer, bbox: Bbox, *, columns: Iterable[str] = (), zoom: int | None = None,
              limit: int | None = None) -> FeatureBatch:
        cols = [c for c in columns if c in layer.fields]
        table = layer.table + "_ov" if zoom is not None and zoom < DETAIL_ZOOM else layer.table
        where = f" AND t.{MINZOOM} <= {int(zoom)}" if zoom is not None else ""
        order = f" ORDER BY t.{MINZOOM}" if limit and zoom is not None else ""  # largest first when capped
        sql = self._select(table, cols, where) + order + (f" LIMIT {int(limit)}" if limit else "")
        x0, y0, x1, y1 = bbox
        try:
            rows = self._reader().execute(sql, (x1, x0, y1, y0)).fetchall()
        except sqlite3.Error as exc:
            raise StorageError("读取图层失败 / reading the layer failed", detail=str(exc)) from exc
        return self._batch(rows, cols)

    def page(self, layer: StoredLayer, bbox: Bbox | None, after: int, limit: int,
             columns: Iterable[str] = ()) -> FeatureBatch:
        cols = [c for c in columns if c in layer.fields]
        if bbox is None:
            select = "".join(f", t.{quote(c)}" for c in cols)
            sql = f"SELECT t.fid, t.geom{select} FROM {quote(layer.table)} t WHERE t.fid > ? ORDER BY t.fid LIMIT ?"
            params: tuple[Any, ...] = (int(after), int(limit))
        else:
            x0, y0, x1, y1 = bbox
            sql = self._select(layer.table, cols, " AND t.fid > ?") + " ORDER BY t.fid LIMIT ?"
            params = (x1, x0, y1, y0, int(after), int(limit))
        try:
            rows = self._reader().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError("读取图层失败 / reading the layer failed", detail=str(exc)) from exc
        return self._batch(rows, cols)

    def inspect(self, layer: StoredLayer) -> dict[str, Any]:
        conn = self._reader()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        rtree = "rtree_" + layer.table + "_geom"
        facts: dict[str, Any] = {"table": layer.table in tables, "rows": None, "index": rtree in tables,
                                 "index_rows": None, "contents_bbox": None}
        if facts["table"]:
            facts["rows"] = conn.execute(f"SELECT count(*) FROM {quote(layer.table)}").fetchone()[0]
            row = conn.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                               (layer.table,)).fetchone()
            facts["contents_bbox"] = tuple(float(v or 0) for v in row) if row else None
        if facts["index"]:
            facts["index_rows"] = conn.execute(f"SELECT count(*) FROM {quote(rtree + '_rowid')}").fetchone()[0]
        return facts

    def candidates(self, layer: StoredLayer, boxes: NDArray[np.float64], columns: Iterable[str] = ()
                   ) -> tuple[NDArray[np.intp], NDArray[np.intp], FeatureBatch]:
        cols = [c for c in columns if c in layer.fields]
        conn = self._reader()
        rt = quote("rtree_" + layer.table + "_geom")
        box_i: list[int] = []
        hit_fid: list[int] = []
        sql = f"SELECT id FROM {rt} WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?"
        for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, dtype=float).tolist()):
            ids = [r[0] for r in conn.execute(sql, (x1, x0, y1, y0))]
            box_i.extend([i] * len(ids))
            hit_fid.extend(ids)
        unique = sorted(set(hit_fid))
        rows: list[tuple[Any, ...]] = []
        select = "".join(f", {quote(c)}" for c in cols)
        for start in range(0, len(unique), CHUNK):
            part = unique[start:start + CHUNK]
            rows.extend(conn.execute(f"SELECT fid, geom{select} FROM {quote(layer.table)} WHERE fid IN "
                                     f"({','.join('?' * len(part))})", part).fetchall())
        batch = self._batch(rows, cols)
        pos = {int(f): k for k, f in enumerate(batch.fids.tolist())}
        feat_i = np.array([pos[f] for f in hit_fid], dtype=np.intp)
        return np.array(box_i, dtype=np.intp), feat_i, batch

    def feature(self, layer: StoredLayer, fid: int) -> dict[str, Any]:
        cols = list(layer.fields)
        select = "".join(f", {quote(c)}" for c in cols)
        row = self._reader().execute(f"SELECT fid, geom{select} FROM {quote(layer.table)} WHERE fid = ?",
                                     (int(fid),)).fetchone()
        if row is None:
            raise NotFound(f"{layer.id} 中没有要素 {fid} / no feature {fid} in {layer.id}")
        props = dict(zip(cols, row[2:], strict=True))
        return {"type": "Feature", "id": int(row[0]), "properties": props,
                "geometry": json.loads(shapely.to_geojson(decode_geometry(row[1])))}

    def overviews(self, layer: StoredLayer) -> set[str]:
        """The generalised tables of a version (cached: a version's tables never change)."""
        found = self._overviews.get(layer.table)
        if found is None:
            pattern = layer.table.replace("_", "\\_") + "\\_g%"
            found = self._overviews[layer.table] = {r[0] for r in self._reader().execute(
                "SELECT table_name FROM gpkg_contents WHERE table_name LIKE ? ESCAPE '\\'", (pattern,))}
        return found

    def tile(self, layer: StoredLayer, z: int, x: int, y: int, columns: list[str]) -> bytes:
        cols = [c for c in columns if c in layer.fields]
        box = tile_bounds_lonlat(z, x, y, buffer=BUFFER)
        style = style_columns(layer.manifest, cols)
        band = band_for(z) if z < OVERVIEW_UNTIL else None
        ov = overview_table(layer.table, band) if band else None
        if band is None or ov not in self.overviews(layer):
            batch = self.query(layer, box, columns=cols, zoom=z, limit=MAX_TILE_FEATURES)
            props = batch.records(cols)
            return encode_tile(layer.id, batch.geoms, batch.fids.tolist(), props, z, x, y, coalesce_by=style)
        # below the detail zoom: the features big enough for the band singly, the rest as its generalised overview
        batch = self.query(layer, box, columns=cols, zoom=min(z, threshold(band)), limit=MAX_TILE_FEATURES)
        props = batch.records(cols)
        ov_cols = [*style, *OVERVIEW_COLUMNS]
        x0, y0, x1, y1 = box
        try:
            rows = self._reader().execute(self._select(ov, ov_cols), (x1, x0, y1, y0)).fetchall()
        except sqlite3.Error as exc:
            raise StorageError("读取图层失败 / reading the layer failed", detail=str(exc)) from exc
        gen = self._batch(rows, ov_cols)
        props += gen.records(ov_cols)
        geoms = np.concatenate([batch.geoms, gen.geoms])
        return encode_tile(layer.id, geoms, [*batch.fids.tolist(), *([None] * len(gen))], props, z, x, y,
                           coalesce_by=style)
