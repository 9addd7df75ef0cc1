"""The layer store on PostGIS (``PLANVIEW_DATABASE_URL``): GiST-indexed tables, tiles by ST_AsMVT.

Every version is its own table ``lyr_<id>_v<N>`` (``geometry(Geometry, 4326)``,
``fid`` primary key, ``pv_minzoom``) with a GiST index on the geometry and a
partial GiST index over the features visible below
:data:`~layers.store.model.DETAIL_ZOOM`, so low-zoom tiles never walk the
whole layer; a layer of many small polygons also gets generalised overview
tables ``lyr_<id>_v<N>_g<zoom>`` (:mod:`layers.store.overview`), which tiles
below zoom 14 add to ST_AsMVT. The manifests live in ``planview_layers``;
nothing about a layer is kept in the application process except caches keyed
by that table's contents, so any number of ``planview serve`` processes on any number of
machines share one database (see README, "More than one process").

Rows are streamed in with COPY inside one transaction together with the
``planview_layers`` row: an import is visible whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import numpy as np
import psycopg
import shapely
from numpy.typing import NDArray
from psycopg import sql
from psycopg_pool import ConnectionPool

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
from layers.store.mvt import BUFFER, EXTENT
from layers.store.overview import COLUMNS as OVERVIEW_COLUMNS
from layers.store.overview import OVERVIEW_UNTIL, Footprints, band_for, build, class_codes, overview_table, threshold

SQL_TYPES = {"integer": "bigint", "number": "double precision", "boolean": "boolean", "string": "text"}
_SCHEMA_LOCK = 0x706C6179  # advisory lock id for creating planview_layers
_POOLS: dict[str, ConnectionPool] = {}


def pool_for(url: str) -> ConnectionPool:
    """One small connection pool per database URL and process (tiles are many short queries)."""
    pool = _POOLS.get(url)
    if pool is None:
        pool = ConnectionPool(url, min_size=1, max_size=8, kwargs={"connect_timeout": 10}, open=True,
                              name="planview-layers")
        _POOLS[url] = pool
    return pool


class PostgisLayerStore:
    """Stored layers in PostGIS (see the module docstring)."""

    kind = "postgis"

    def __init__(self, url: str, *, schema: str = "public") -> None:
        self.url = url
        self.schema = schema
        self.meta = sql.Identifier(schema, "planview_layers")
        try:
            with psycopg.connect(url, connect_timeout=10) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id text NOT NULL, version integer NOT NULL,"
                    " table_name text NOT NULL, manifest jsonb NOT NULL, feature_count bigint NOT NULL,"
                    " min_x double precision, min_y double precision, max_x double precision, max_y double precision,"
                    " fields jsonb NOT NULL, geometry_type text NOT NULL, created timestamptz NOT NULL,"
                    " current boolean NOT NULL, PRIMARY KEY (id, version))").format(self.meta))
        except psycopg.Error as exc:
            raise StorageError("无法连接图层数据库 / cannot open the PostGIS layer store", detail=str(exc)) from exc
        self.pool = pool_for(url)
        self._overviews: dict[str, set[str]] = {}

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise StorageError("读取图层数据库失败 / reading the PostGIS layer store failed", detail=str(exc)) from exc

    def _table(self, table: str) -> sql.Identifier:
        return sql.Identifier(self.schema, table)

    # ------------------------------------------------------------ catalogue

    def generation(self) -> str:
        with self._conn() as conn:
            row = conn.execute(sql.SQL("SELECT count(*), max(created) FROM {}").format(self.meta)).fetchone()
        assert row is not None
        return f"pg:{row[0]}:{row[1]}"

    _COLUMNS = sql.SQL("id, version, table_name, manifest, feature_count, min_x, min_y, max_x, max_y, fields,"
                       " geometry_type, created, current")

    @staticmethod
    def _layer(row: tuple[Any, ...]) -> StoredLayer:
        (layer_id, version, table, manifest, count, x0, y0, x1, y1, fields, gtype, created, current) = row
        return StoredLayer(id=layer_id, version=int(version), table=table,
                           manifest=LayerManifest.model_validate(manifest), feature_count=int(count),
                           bbox=(float(x0 or 0), float(y0 or 0), float(x1 or 0), float(y1 or 0)), fields=fields,
                           geometry_type=gtype, created=created.astimezone(UTC), current=bool(current))

    def layers(self) -> list[StoredLayer]:
        with self._conn() as conn:
            rows = conn.execute(sql.SQL("SELECT {} FROM {} WHERE current ORDER BY id").format(
                self._COLUMNS, self.meta)).fetchall()
        return [self._layer(r) for r in rows]

    def versions(self, layer_id: str) -> list[StoredLayer]:
        with self._conn() as conn:
            rows = conn.execute(sql.SQL("SELECT {} FROM {} WHERE id = %s ORDER BY version DESC").format(
                self._COLUMNS, self.meta), (check_layer_id(layer_id),)).fetchall()
        return [self._layer(r) for r in rows]

    # ------------------------------------------------------------ import

    def write(self, layer_id: str, manifest: ManifestFor, batches: Iterable[gpd.GeoDataFrame],
              fields: dict[str, str]) -> StoredLayer:
        check_layer_id(layer_id)
        created = datetime.now(UTC)
        try:
            with psycopg.connect(self.url, connect_timeout=10) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_SCHEMA_LOCK, layer_id))
                row = conn.execute(sql.SQL("SELECT coalesce(max(version), 0) + 1 FROM {} WHERE id = %s").format(
                    self.meta), (layer_id,)).fetchone()
                assert row is not None
                version = int(row[0])
                table = table_name(layer_id, version)
                count, bbox, gtype, fp = self._write_table(conn, table, batches, fields)
                made = manifest(bbox)
                made = made.model_copy(update={"geometry": made.geometry.model_copy(update={"store": table})})
                if fp.needed():
                    self._write_overviews(conn, table, fp, style_columns(made, list(fields)), fields)
                conn.execute(sql.SQL("UPDATE {} SET current = false WHERE id = %s").format(self.meta), (layer_id,))
                conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,true)").format(
                    self.meta, self._COLUMNS),
                    (layer_id, version, table, made.model_dump_json(by_alias=True), count, *bbox,
                     json.dumps(fields, ensure_ascii=False), gtype, created))
        except psycopg.Error as exc:
            raise StorageError("写入图层数据库失败 / writing the PostGIS layer store failed", detail=str(exc)) from exc
        return self.versions(layer_id)[0]

    def _write_table(self, conn: psycopg.Connection[Any], table: str, batches: Iterable[gpd.GeoDataFrame],
                     fields: dict[str, str]) -> tuple[int, Bbox, str, Footprints]:
        ident = self._table(table)
        cols = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(SQL_TYPES.get(k, "text")))
                for n, k in fields.items()]
        conn.execute(sql.SQL("CREATE TABLE {} (fid bigint PRIMARY KEY, geom geometry(Geometry, 4326) NOT NULL,"
                             " {} smallint NOT NULL{}{})").format(
            ident, sql.Identifier(MINZOOM), sql.SQL(", ") if cols else sql.SQL(""), sql.SQL(", ").join(cols)))
        names = list(fields)
        copy = sql.SQL("COPY {} (fid, geom, {}{}) FROM STDIN").format(
            ident, sql.Identifier(MINZOOM),
            sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(n)) for n in names))
        count = 0
        total = np.array([np.inf, np.inf, -np.inf, -np.inf])
        kinds: set[int] = set()
        fp = Footprints()
        with conn.cursor().copy(copy) as cp:
            for batch in batches:
                geoms = np.asarray(batch.geometry.values, dtype=object)
                if len(geoms) == 0:
                    continue
                bounds = shapely.bounds(geoms)
                mz_arr = minzoom(bounds)
                fp.add(bounds, mz_arr, geoms)
                mz = mz_arr.tolist()
                ewkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
                values = [batch[n].tolist() for n in names]
                for i in range(len(geoms)):
                    cp.write_row((count + i + 1, ewkb[i], mz[i], *(v[i] for v in values)))
                count += len(geoms)
                total = np.array([min(total[0], bounds[:, 0].min()), min(total[1], bounds[:, 1].min()),
                                  max(total[2], bounds[:, 2].max()), max(total[3], bounds[:, 3].max())])
                kinds.update(shapely.get_type_id(geoms).tolist())
        conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(ident))
        conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom) WHERE {} < {}").format(
            ident, sql.Identifier(MINZOOM), sql.Literal(DETAIL_ZOOM)))
        conn.execute(sql.SQL("ANALYZE {}").format(ident))
        names_by_id = {0: "POINT", 1: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING",
                       6: "MULTIPOLYGON"}
        gtypes = {names_by_id.get(k, "GEOMETRY") for k in kinds}
        bbox: Bbox = tuple(float(v) for v in total) if count else (0.0, 0.0, 0.0, 0.0)  # type: ignore[assignment]
        return count, bbox, (gtypes.pop() if len(gtypes) == 1 else "GEOMETRY"), fp

    def _write_overviews(self, conn: psycopg.Connection[Any], table: str, fp: Footprints, style: list[str],
                         fields: dict[str, str]) -> None:
        """One generalised table per zoom band (:mod:`layers.store.overview`), GiST-indexed, same transaction."""
        n = sum(len(m) for m in fp.minzooms)
        if style:
            with conn.cursor(name="pv_overview_classes") as cur:  # server-side: streamed, not held whole
                cur.itersize = 50_000
                cur.execute(sql.SQL("SELECT {} FROM {} ORDER BY fid").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in style), self._table(table)))
                codes, keys = class_codes(cur, n)
        else:
            codes, keys = class_codes(None, n)
        ov_fields = {**{c: fields[c] for c in style}, **OVERVIEW_COLUMNS}
        for band, feats in build(fp, codes).items():
            ident = self._table(overview_table(table, band))
            conn.execute(sql.SQL("CREATE TABLE {} (fid bigint PRIMARY KEY, geom geometry(Geometry, 4326) NOT NULL,"
                                 " {})").format(ident, sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(SQL_TYPES.get(k, "text")))
                for c, k in ov_fields.items())))
            copy = sql.SQL("COPY {} (fid, geom, {}) FROM STDIN").format(
                ident, sql.SQL(", ").join(sql.Identifier(c) for c in ov_fields))
            ewkb = shapely.to_wkb(shapely.set_srid(np.array([f.geom for f in feats], dtype=object), 4326), hex=True,
                                  include_srid=True) if feats else []
            with conn.cursor().copy(copy) as cp:
                for i, f in enumerate(feats):
                    cp.write_row((i + 1, ewkb[i], *keys[f.cls], f.count, 1, f.zoom))
            conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(ident))
            conn.execute(sql.SQL("ANALYZE {}").format(ident))

    # ------------------------------------------------------------ reads

    def query(self, layer: StoredLayer, bbox: Bbox, *, columns: Iterable[str] = (), zoom: int | None = None,
              limit: int | None = None) -> FeatureBatch:
        cols = [c for c in columns if c in layer.fields]
        where: sql.Composable = sql.SQL("")
        if zoom is not None:
            where = sql.SQL(" AND {} <= {}").format(sql.Identifier(MINZOOM), sql.Literal(int(zoom)))
            if zoom < DETAIL_ZOOM:  # lets the planner pick the partial (overview) index
                where += sql.SQL(" AND {} < {}").format(sql.Identifier(MINZOOM), sql.Literal(DETAIL_ZOOM))
        query = sql.SQL("SELECT fid, ST_AsBinary(geom){} FROM {} WHERE geom && ST_MakeEnvelope(%s,%s,%s,%s,4326){}{}"
                        ).format(sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(c)) for c in cols),
                                 self._table(layer.table), where,
                                 sql.SQL(" LIMIT {}").format(sql.Literal(int(limit))) if limit else sql.SQL(""))
        with self._conn() as conn:
            rows = conn.execute(query, bbox).fetchall()
        return _batch(rows, cols)

    def page(self, layer: StoredLayer, bbox: Bbox | None, after: int, limit: int,
             columns: Iterable[str] = ()) -> FeatureBatch:
        cols = [c for c in columns if c in layer.fields]
        where = sql.SQL(" AND geom && ST_MakeEnvelope(%s,%s,%s,%s,4326)") if bbox is not None else sql.SQL("")
        query = sql.SQL("SELECT fid, ST_AsBinary(geom){} FROM {} WHERE fid > %s{} ORDER BY fid LIMIT %s").format(
            sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(c)) for c in cols), self._table(layer.table), where)
        with self._conn() as conn:
            rows = conn.execute(query, (int(after), *(bbox or ()), int(limit))).fetchall()
        return _batch(rows, cols)

    def inspect(self, layer: StoredLayer) -> dict[str, Any]:
        with self._conn() as conn:
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                                  (f'"{self.schema}"."{layer.table}"',)).fetchone()
            facts: dict[str, Any] = {"table": bool(exists and exists[0]), "rows": None, "index": False,
                                     "index_rows": None, "contents_bbox": None}
            if facts["table"]:
                row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._table(layer.table))).fetchone()
                facts["rows"] = int(row[0]) if row else None
                gist = conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND tablename = %s"
                                    " AND indexdef ILIKE '%%USING gist (geom)%%' AND indexdef NOT ILIKE '%%WHERE%%'",
                                    (self.schema, layer.table)).fetchone()
                facts["index"] = bool(gist and gist[0])
        return facts

    def candidates(self, layer: StoredLayer, boxes: NDArray[np.float64], columns: Iterable[str] = ()
                   ) -> tuple[NDArray[np.intp], NDArray[np.intp], FeatureBatch]:
        cols = [c for c in columns if c in layer.fields]
        b = np.asarray(boxes, dtype=float)
        if len(b) == 0:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp), _batch([], cols)
        query = sql.SQL(
            "WITH boxes AS (SELECT i, ST_MakeEnvelope(x0, y0, x1, y1, 4326) AS env FROM"
            " unnest(%s::int[], %s::float8[], %s::float8[], %s::float8[], %s::float8[]) AS u(i, x0, y0, x1, y1))"
            " SELECT boxes.i, t.fid, ST_AsBinary(t.geom){cols} FROM boxes JOIN {t} t ON t.geom && boxes.env"
        ).format(t=self._table(layer.table),
                 cols=sql.SQL("").join(sql.SQL(", t.{}").format(sql.Identifier(c)) for c in cols))
        with self._conn() as conn:
            rows = conn.execute(query, (list(range(len(b))), b[:, 0].tolist(), b[:, 1].tolist(), b[:, 2].tolist(),
                                        b[:, 3].tolist())).fetchall()
        box_i = np.array([r[0] for r in rows], dtype=np.intp)
        seen: dict[int, int] = {}
        unique_rows: list[tuple[Any, ...]] = []
        feat_i = np.empty(len(rows), dtype=np.intp)
        for k, r in enumerate(rows):
            pos = seen.get(r[1])
            if pos is None:
                pos = seen[r[1]] = len(unique_rows)
                unique_rows.append(r[1:])
            feat_i[k] = pos
        return box_i, feat_i, _batch(unique_rows, cols)

    def feature(self, layer: StoredLayer, fid: int) -> dict[str, Any]:
        cols = list(layer.fields)
        query = sql.SQL("SELECT fid, ST_AsGeoJSON(geom, 7){} FROM {} WHERE fid = %s").format(
            sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(c)) for c in cols), self._table(layer.table))
        with self._conn() as conn:
            row = conn.execute(query, (int(fid),)).fetchone()
        if row is None:
            raise NotFound(f"{layer.id} 中没有要素 {fid} / no feature {fid} in {layer.id}")
        return {"type": "Feature", "id": int(row[0]), "properties": dict(zip(cols, row[2:], strict=True)),
                "geometry": json.loads(row[1])}

    def overviews(self, layer: StoredLayer) -> set[str]:
        """The generalised tables of a version (cached: a version's tables never change)."""
        found = self._overviews.get(layer.table)
        if found is None:
            with self._conn() as conn:
                rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
                                    (self.schema, layer.table.replace("_", "\\_") + "\\_g%")).fetchall()
            found = self._overviews[layer.table] = {r[0] for r in rows}
        return found

    def tile(self, layer: StoredLayer, z: int, x: int, y: int, columns: list[str]) -> bytes:
        cols = [c for c in columns if c in layer.fields]
        band = band_for(z) if z < OVERVIEW_UNTIL else None
        ov = overview_table(layer.table, band) if band else None
        generalised = band is not None and ov in self.overviews(layer)
        # with an overview, the features big enough for the band singly and the rest as its generalised features
        upto = min(z, threshold(band)) if band is not None and generalised else z
        where: sql.Composable = sql.SQL("t.{} <= {}").format(sql.Identifier(MINZOOM), sql.Literal(int(upto)))
        if upto < DETAIL_ZOOM:
            where += sql.SQL(" AND t.{} < {}").format(sql.Identifier(MINZOOM), sql.Literal(DETAIL_ZOOM))
        extra: sql.Composable = sql.SQL("")
        gen_cols: sql.Composable = sql.SQL("")
        if generalised:
            assert ov is not None
            style = style_columns(layer.manifest, cols)
            gen_cols = sql.SQL(", NULL::bigint AS pv_count, NULL::bigint AS pv_generalised, NULL::bigint AS pv_zoom")
            extra = sql.SQL(
                " UNION ALL (SELECT NULL::bigint AS fid{cols}, o.pv_count, o.pv_generalised, o.pv_zoom,"
                "  ST_AsMVTGeom(ST_Transform(o.geom, 3857), b.env, {extent}, {buffer}, true) AS geom"
                "  FROM {o} o, b WHERE o.geom && b.ll)"
            ).format(cols=sql.SQL("").join(
                sql.SQL(", o.{}").format(sql.Identifier(c)) if c in style else
                sql.SQL(", NULL::{} AS {}").format(sql.SQL(SQL_TYPES.get(layer.fields[c], "text")), sql.Identifier(c))
                for c in cols),
                extent=sql.Literal(EXTENT), buffer=sql.Literal(BUFFER), o=self._table(ov))
        query = sql.SQL(
            "WITH b AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env,"
            " ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s), 4326) AS ll)"
            " SELECT ST_AsMVT(q, %(name)s, {extent}, 'geom', 'fid') FROM ("
            "  (SELECT t.fid{cols}{gen_cols}, ST_AsMVTGeom(ST_Transform(t.geom, 3857), b.env, {extent}, {buffer}, true)"
            "  AS geom FROM {t} t, b WHERE t.geom && b.ll AND {where} ORDER BY t.{mz} LIMIT {cap}){extra}) q"
            " WHERE q.geom IS NOT NULL"
        ).format(cols=sql.SQL("").join(sql.SQL(", t.{}").format(sql.Identifier(c)) for c in cols),
                 gen_cols=gen_cols, extra=extra,
                 extent=sql.Literal(EXTENT), buffer=sql.Literal(BUFFER), t=self._table(layer.table), where=where,
                 mz=sql.Identifier(MINZOOM), cap=sql.Literal(MAX_TILE_FEATURES))
        with self._conn() as conn:
            row = conn.execute(query, {"z": z, "x": x, "y": y, "margin": BUFFER / EXTENT, "name": layer.id}).fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""


def _batch(rows: list[tuple[Any, ...]], columns: list[str]) -> FeatureBatch:
    fids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    geoms = shapely.from_wkb([bytes(r[1]) for r in rows]) if rows else np.empty(0, dtype=object)
    return FeatureBatch(fids=fids, geoms=np.asarray(geoms, dtype=object),
                        columns={c: [r[2 + j] for r in rows] for j, c in enumerate(columns)})
