"""The workspace store on PostGIS, for many users and large uploads (``PLANVIEW_DATABASE_URL``).

Same contract as the GeoPackage store: ``save`` writes the workspace row and
all its sites in one transaction (sites streamed with COPY), ``delete``
cascades. The schema is created on first use under an advisory lock so that
parallel first uploads do not race. The ``postgis`` extension must already
exist in the database (``CREATE EXTENSION postgis`` needs a superuser).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from geo.crs import LONLAT
from geo.errors import NotFound, StorageError
from layers.workspaces.model import (
    SITE_COLUMNS,
    Reader,
    Workspace,
    WorkspaceAccess,
    WorkspaceSummary,
    check_id,
    check_quota,
    site_rows,
    stored_size,
)

_SCHEMA_LOCK = 0x706C616E  # "plan": advisory lock id for schema creation
_QUOTA_LOCK = 0x71756F74  # "quot": advisory lock class for quota checks (second key: the owner)


def _record_bytes(record: tuple[Any, ...]) -> int:
    return sum(len(v) for v in record if isinstance(v, bytes | str))


class PostgisStore:
    """Workspaces in two PostGIS tables, ``planview_workspaces`` and ``planview_sites``."""

    def __init__(self, url: str, *, schema: str = "public") -> None:
        self.url = url
        self.schema = schema
        self.workspaces = sql.Identifier(schema, "planview_workspaces")
        self.sites = sql.Identifier(schema, "planview_sites")
        self.shares = sql.Identifier(schema, "planview_workspace_shares")
        try:
            with self._tx() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone() is None:
                    raise StorageError("数据库未启用 PostGIS（请以超级用户执行 CREATE EXTENSION postgis）/ "
                                       "the database lacks PostGIS: run CREATE EXTENSION postgis as a superuser")
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, created timestamptz NOT NULL,"
                    " filename text NOT NULL, sha256 text NOT NULL, size_bytes bigint NOT NULL, format text NOT NULL,"
                    " crs_code text, crs_reason text, crs jsonb NOT NULL, site_count integer NOT NULL,"
                    " report jsonb NOT NULL)").format(self.workspaces))
                conn.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (fid bigserial PRIMARY KEY,"
                    " workspace_id text NOT NULL REFERENCES {} (id) ON DELETE CASCADE, site_no integer NOT NULL,"
                    " name text, industry text, county text, region_group text, zones text, in_corridor boolean,"
                    " nearest_zone text, nearest_m double precision, area_ha double precision,"
                    " area_mu double precision, attributes jsonb, geom geometry(Geometry, 4326) NOT NULL)"
                ).format(self.sites, self.workspaces))
                conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS planview_sites_ws ON {} (workspace_id, site_no)")
                             .format(self.sites))
                conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS stored_bytes bigint")  # for the quota
                             .format(self.workspaces))
                conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS planview_sites_geom ON {} USING gist (geom)")
                             .format(self.sites))
                # accounts: the owner (stores from before accounts get the column, NULL = the admin's)
                conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS owner text").format(self.workspaces))
                conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS planview_workspaces_owner ON {} (owner)")
                             .format(self.workspaces))
                conn.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (workspace_id text NOT NULL REFERENCES {} (id) ON DELETE CASCADE,"
                    " grantee text NOT NULL, PRIMARY KEY (workspace_id, grantee))").format(self.shares, self.workspaces))
                conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS planview_workspace_shares_grantee ON {} (grantee)")
                             .format(self.shares))
        except psycopg.Error as exc:
            raise StorageError("无法连接工作区数据库 / cannot open the workspace database", detail=str(exc)) from exc

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection in one transaction: committed on success, rolled back on any error."""
        with psycopg.connect(self.url, connect_timeout=10) as conn, conn.transaction():
            yield conn

    def _copy_rows(self, workspace: Workspace) -> Iterator[tuple[Any, ...]]:
        geoms = shapely.set_srid(np.asarray(workspace.sites.geometry.values, dtype=object), 4326)
        ewkb = shapely.to_wkb(geoms, hex=True, include_srid=True, output_dimension=2)
        for hexwkb, row in zip(ewkb, site_rows(workspace), strict=True):
            yield (workspace.id, *(row[c] for c in SITE_COLUMNS), hexwkb)

    def save(self, workspace: Workspace, *, quota_bytes: int | None = None) -> str:
        """Save in one transaction; with ``quota_bytes``, refuse (QuotaExceeded) a save that would take the
        owner's workspaces (or the whole store's) past it — serialised per owner by an advisory lock."""
        check_id(workspace.id)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in ("workspace_id", *SITE_COLUMNS, "geom"))
        try:
            with self._tx() as conn:
                conn.execute(
                    sql.SQL("INSERT INTO {} (id, created, filename, sha256, size_bytes, format, crs_code, crs_reason,"
                            " crs, site_count, report, owner) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)")
                    .format(self.workspaces),
                    (workspace.id, workspace.created, workspace.filename, workspace.sha256, workspace.size_bytes,
                     workspace.format, workspace.crs.get("code"), workspace.crs.get("reason"),
                     json.dumps(workspace.crs, ensure_ascii=False), len(workspace.sites),
                     json.dumps(workspace.report, ensure_ascii=False), workspace.owner))
                for grantee in dict.fromkeys(workspace.shared_with):
                    conn.execute(sql.SQL("INSERT INTO {} (workspace_id, grantee) VALUES (%s, %s)").format(self.shares),
                                 (workspace.id, grantee))
                records = list(self._copy_rows(workspace))
                size = stored_size(workspace, sum(_record_bytes(r) for r in records))
                if quota_bytes is not None:
                    owner = workspace.owner
                    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_QUOTA_LOCK, owner or ""))
                    check_quota(self._usage(conn, owner, exclude=workspace.id), size, quota_bytes, owner)
                conn.execute(sql.SQL("UPDATE {} SET stored_bytes = %s WHERE id = %s").format(self.workspaces),
                             (size, workspace.id))
                with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(self.sites, cols)) as copy:
                    for record in records:
                        copy.write_row(record)
        except psycopg.errors.UniqueViolation as exc:
            raise StorageError("工作区编号冲突 / workspace id already exists", detail=str(exc)) from exc
        except psycopg.Error as exc:
            raise StorageError("保存工作区失败，未写入任何内容 / saving the workspace failed; nothing was written",
                               detail=str(exc)) from exc
        return workspace.id

    def delete(self, ws_id: str) -> None:
        check_id(ws_id)
        try:
            with self._tx() as conn:
                cur = conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(self.workspaces), (ws_id,))
                if cur.rowcount == 0:
                    raise NotFound(f"没有工作区 {ws_id} / no workspace {ws_id}")
        except psycopg.Error as exc:
            raise StorageError("删除工作区失败 / deleting the workspace failed", detail=str(exc)) from exc

    def _usage(self, conn: psycopg.Connection[Any], owner: str | None, exclude: str = "") -> int:
        """Bytes stored (but ``exclude``'s), the owner's once workspaces have owners (accounts), else the store's."""
        size = sql.SQL("SELECT coalesce(sum(coalesce(stored_bytes, octet_length(report::text))), 0) FROM {}"
                       " WHERE id <> %s").format(self.workspaces)
        if owner is not None:
            row = conn.execute(size + sql.SQL(" AND owner = %s"), (exclude, owner)).fetchone()
        else:
            row = conn.execute(size, (exclude,)).fetchone()
        return int(row[0]) if row else 0

    def usage_bytes(self, owner: str | None = None) -> int:
        try:
            with self._tx() as conn:
                return self._usage(conn, owner)
        except psycopg.Error as exc:
            raise StorageError("读取存储用量失败 / reading the storage use failed", detail=str(exc)) from exc

    def share(self, ws_id: str, grantees: Sequence[str]) -> None:
        """Replace the set of users (or ``*``, everyone signed in) who may read the workspace."""
        check_id(ws_id)
        try:
            with self._tx() as conn:
                if conn.execute(sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE").format(self.workspaces),
                                (ws_id,)).fetchone() is None:
                    raise NotFound(f"没有工作区 {ws_id} / no workspace {ws_id}")
                conn.execute(sql.SQL("DELETE FROM {} WHERE workspace_id = %s").format(self.shares), (ws_id,))
                for grantee in dict.fromkeys(grantees):
                    conn.execute(sql.SQL("INSERT INTO {} (workspace_id, grantee) VALUES (%s, %s)").format(self.shares),
                                 (ws_id, grantee))
        except psycopg.Error as exc:
            raise StorageError("共享设置失败 / sharing the workspace failed", detail=str(exc)) from exc

    def claim_unowned(self, owner: str) -> int:
        try:
            with self._tx() as conn:
                cur = conn.execute(sql.SQL("UPDATE {} SET owner = %s WHERE owner IS NULL").format(self.workspaces),
                                   (owner,))
                return int(cur.rowcount)
        except psycopg.Error as exc:
            raise StorageError("更新工作区归属失败 / assigning workspace owners failed", detail=str(exc)) from exc

    def _shares(self, conn: psycopg.Connection[Any], ids: list[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        rows = conn.execute(sql.SQL("SELECT workspace_id, grantee FROM {} WHERE workspace_id = ANY(%s)"
                                    " ORDER BY grantee").format(self.shares), (ids,)).fetchall()
        for ws_id, grantee in rows:
            out.setdefault(ws_id, []).append(grantee)
        return {k: tuple(v) for k, v in out.items()}

    def _visible(self, reader: Reader | None) -> tuple[sql.Composable, tuple[Any, ...]]:
        """The WHERE clause (and its parameters) for the workspaces ``reader`` may see; all when None."""
        if reader is None or reader.see_all:
            return sql.SQL(""), ()
        return (sql.SQL(" WHERE owner = %s OR id IN (SELECT workspace_id FROM {} WHERE grantee IN (%s, '*'))")
                .format(self.shares), (reader.name, reader.name))

    def count(self, reader: Reader | None = None) -> int:
        where, params = self._visible(reader)
        try:
            with self._tx() as conn:
                row = conn.execute(sql.SQL("SELECT count(*) FROM {}{}").format(self.workspaces, where),
                                   params).fetchone()
        except psycopg.Error as exc:
            raise StorageError("读取工作区列表失败 / listing workspaces failed", detail=str(exc)) from exc
        return int(row[0]) if row else 0

    def list(self, reader: Reader | None = None, *, limit: int | None = None,
             offset: int = 0) -> list[WorkspaceSummary]:
        """Newest first: all of them, or those ``reader`` may see (own, shared with them or with everyone);
        one page (``LIMIT``/``OFFSET`` in SQL) when ``limit`` is given."""
        where, params = self._visible(reader)
        try:
            with self._tx() as conn:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                rows = conn.execute(sql.SQL("SELECT id, created, filename, sha256, format, crs_code, site_count, owner"
                                            " FROM {}{} ORDER BY created DESC, id LIMIT %s OFFSET %s")
                                    .format(self.workspaces, where), (*params, limit, max(offset, 0))).fetchall()
                shares = self._shares(conn, [r[0] for r in rows])
        except psycopg.Error as exc:
            raise StorageError("读取工作区列表失败 / listing workspaces failed", detail=str(exc)) from exc
        return [WorkspaceSummary(id=r[0], created=r[1].astimezone(UTC), filename=r[2], sha256=r[3],
                                 format=r[4], crs_code=r[5], site_count=int(r[6]), owner=r[7],
                                 shared_with=shares.get(r[0], ())) for r in rows]

    def access(self, ws_id: str) -> WorkspaceAccess:
        check_id(ws_id)
        try:
            with self._tx() as conn:
                row = conn.execute(sql.SQL("SELECT owner FROM {} WHERE id = %s").format(self.workspaces),
                                   (ws_id,)).fetchone()
                if row is None:
                    raise NotFound(f"没有工作区 {ws_id} / no workspace {ws_id}")
                shares = self._shares(conn, [ws_id])
        except psycopg.Error as exc:
            raise StorageError("读取工作区失败 / reading the workspace failed", detail=str(exc)) from exc
        return WorkspaceAccess(owner=row[0], shared_with=shares.get(ws_id, ()))

    def get(self, ws_id: str) -> Workspace:
        check_id(ws_id)
        try:
            with self._tx() as conn:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                head = conn.execute(sql.SQL("SELECT id, created, filename, sha256, size_bytes, format, crs, report,"
                                            " owner FROM {} WHERE id = %s").format(self.workspaces),
                                    (ws_id,)).fetchone()
                if head is None:
                    raise NotFound(f"没有工作区 {ws_id} / no workspace {ws_id}")
                rows = conn.execute(sql.SQL("SELECT ST_AsBinary(geom), site_no, name, industry, attributes FROM {}"
                                            " WHERE workspace_id = %s ORDER BY site_no").format(self.sites),
                                    (ws_id,)).fetchall()
                shares = self._shares(conn, [ws_id])
        except psycopg.Error as exc:
            raise StorageError("读取工作区失败 / reading the workspace failed", detail=str(exc)) from exc
        geoms = shapely.from_wkb([bytes(r[0]) for r in rows]) if rows else np.empty(0, dtype=object)
        sites = gpd.GeoDataFrame(
            {"site_no": [int(r[1]) for r in rows], "name": pd.Series([r[2] for r in rows], dtype=object),
             "industry": pd.Series([r[3] for r in rows], dtype=object),
             "attributes": [r[4] or {} for r in rows]},
            geometry=gpd.GeoSeries(geoms, crs=LONLAT), crs=LONLAT)
        return Workspace(id=head[0], created=head[1].astimezone(UTC), filename=head[2], sha256=head[3],
                         size_bytes=int(head[4]), format=head[5], crs=head[6], sites=sites, report=head[7],
                         owner=head[8], shared_with=shares.get(ws_id, ()))
