"""The embedded workspace store: a real OGC GeoPackage (1.2) written with sqlite3.

Why sqlite3 rather than GDAL: a workspace is two tables (the workspace record
and its sites) that must appear together or not at all. One SQLite
transaction gives exactly that, across threads and processes (``BEGIN
IMMEDIATE`` + busy timeout), while GDAL's append cannot span two tables. The
file still follows the GeoPackage spec — application_id ``GPKG``,
``gpkg_spatial_ref_sys``, ``gpkg_contents``, ``gpkg_geometry_columns`` and
GeoPackage binary geometry blobs — so QGIS and GDAL open the ``sites`` layer
(and the ``workspaces`` attribute table) directly.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

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

APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10200  # GeoPackage 1.2: older desktop clients (QGIS 3.x LTR, GDAL < 3.8) open it without a warning
WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
    'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],'
    'UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]]'
)
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
        srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
        organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)""",
    """CREATE TABLE IF NOT EXISTS gpkg_contents (
        table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
        description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
        CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""",
    """CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
        table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
        srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
        CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
        CONSTRAINT uk_gc_table_name UNIQUE (table_name),
        CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
        CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""",
    """CREATE TABLE IF NOT EXISTS workspaces (
        fid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, created TEXT NOT NULL,
        filename TEXT NOT NULL, sha256 TEXT NOT NULL, size_bytes INTEGER NOT NULL, format TEXT NOT NULL,
        crs_code TEXT, crs_reason TEXT, crs_json TEXT NOT NULL, site_count INTEGER NOT NULL, report TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sites (
        fid INTEGER PRIMARY KEY AUTOINCREMENT, geom GEOMETRY, workspace_id TEXT NOT NULL, site_no INTEGER NOT NULL,
        name TEXT, industry TEXT, county TEXT, region_group TEXT, zones TEXT, in_corridor BOOLEAN,
        nearest_zone TEXT, nearest_m REAL, area_ha REAL, area_mu REAL, attributes TEXT)""",
    "CREATE INDEX IF NOT EXISTS sites_workspace ON sites (workspace_id, site_no)",
    """CREATE TABLE IF NOT EXISTS workspace_shares (
        workspace_id TEXT NOT NULL, grantee TEXT NOT NULL, PRIMARY KEY (workspace_id, grantee))""",
    "CREATE INDEX IF NOT EXISTS workspace_shares_grantee ON workspace_shares (grantee)",
]
SEED = [
    ("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)",
     ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system")),
    ("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)",
     ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system")),
    ("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)",
     ("WGS 84 geodetic", 4326, "EPSG", 4326, WGS84_WKT, "longitude/latitude coordinates in decimal degrees")),
    ("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
     "VALUES ('sites', 'features', 'sites', 'planview overlay sites (all workspaces)', 4326)", ()),
    ("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) "
     "VALUES ('workspaces', 'attributes', 'workspaces', 'planview overlay workspaces and their reports')", ()),
    ("INSERT OR IGNORE INTO gpkg_geometry_columns VALUES ('sites', 'geom', 'GEOMETRY', 4326, 0, 0)", ()),
]

_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def encode_geometry(geoms: np.ndarray, srs_id: int = 4326) -> list[bytes]:
    """GeoPackage binary blobs: 'GP' header, little-endian, XY envelope, then ISO WKB."""
    wkb = shapely.to_wkb(geoms, byte_order=1, output_dimension=2, flavor="iso")
    bounds = shapely.bounds(geoms)
    out = []
    for blob, (x0, y0, x1, y1) in zip(wkb, bounds, strict=True):
        header = b"GP" + bytes([0, 0b0000_0011]) + struct.pack("<i4d", srs_id, x0, x1, y0, y1)
        out.append(header + blob)
    return out


def decode_geometry(blob: bytes) -> Any:
    if blob is None or blob[:2] != b"GP":
        raise StorageError("工作区存储中的几何已损坏 / a stored geometry is corrupt (not a GPKG blob)")
    flags = blob[3]
    envelope = _ENVELOPE_BYTES.get((flags >> 1) & 0b111, 0)
    return shapely.from_wkb(blob[8 + envelope:])


def _lock_for(path: Path) -> threading.Lock:
    key = str(path.resolve())
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


class GeoPackageStore:
    """Workspaces in one GeoPackage file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = _lock_for(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._write() as conn:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {USER_VERSION}")
                for stmt in SCHEMA:
                    conn.execute(stmt)
                if "stored_bytes" not in _columns(conn, "workspaces"):
                    conn.execute("ALTER TABLE workspaces ADD COLUMN stored_bytes INTEGER")  # for the quota
                if not any(r[1] == "owner" for r in conn.execute("PRAGMA table_info(workspaces)")):
                    conn.execute("ALTER TABLE workspaces ADD COLUMN owner TEXT")  # stores from before accounts
                conn.execute("CREATE INDEX IF NOT EXISTS workspaces_owner ON workspaces (owner)")
                for stmt, params in SEED:
                    conn.execute(stmt, params)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError("无法打开工作区存储 / cannot open the workspace store", detail=str(exc)) from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 60000")
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: committed whole, or rolled back whole on any error."""
        with self._lock:
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

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    # ------------------------------------------------------------ writes

    def _site_records(self, workspace: Workspace) -> Iterator[tuple[Any, ...]]:
        blobs = encode_geometry(np.asarray(workspace.sites.geometry.values, dtype=object))
        for blob, row in zip(blobs, site_rows(workspace), strict=True):
            yield (blob, workspace.id, *(row[c] for c in SITE_COLUMNS))

    def save(self, workspace: Workspace, *, quota_bytes: int | None = None) -> str:
        """Save in one transaction; with ``quota_bytes``, refuse (QuotaExceeded) a save that would take the
        owner's workspaces (or the whole store's, before accounts) past it — checked under the write lock."""
        check_id(workspace.id)
        report = pack_report(workspace.report)
        x0, y0, x1, y1 = (float(v) for v in workspace.sites.total_bounds)
        cols = ", ".join(SITE_COLUMNS)
        marks = ", ".join("?" for _ in range(len(SITE_COLUMNS) + 2))
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO workspaces (id, created, filename, sha256, size_bytes, format, crs_code, crs_reason,"
                    " crs_json, site_count, report, owner) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (workspace.id, workspace.created.isoformat(), workspace.filename, workspace.sha256,
                     workspace.size_bytes, workspace.format, workspace.crs.get("code"), workspace.crs.get("reason"),
                     json.dumps(workspace.crs, ensure_ascii=False), len(workspace.sites), report, workspace.owner),
                )
                conn.executemany("INSERT INTO workspace_shares (workspace_id, grantee) VALUES (?, ?)",
                                 [(workspace.id, g) for g in dict.fromkeys(workspace.shared_with)])
                records = list(self._site_records(workspace))
                size = stored_size(workspace, sum(_record_bytes(r) for r in records))
                check_quota(self._usage(conn, workspace.owner, exclude=workspace.id), size, quota_bytes,
                            workspace.owner)
                conn.execute("UPDATE workspaces SET stored_bytes = ? WHERE id = ?", (size, workspace.id))
                conn.executemany(f"INSERT INTO sites (geom, workspace_id, {cols}) VALUES ({marks})", records)
                conn.execute(
                    "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'),"
                    " min_x = min(coalesce(min_x, ?), ?), min_y = min(coalesce(min_y, ?), ?),"
                    " max_x = max(coalesce(max_x, ?), ?), max_y = max(coalesce(max_y, ?), ?)"
                    " WHERE table_name = 'sites'", (x0, x0, y0, y0, x1, x1, y1, y1))
        except sqlite3.IntegrityError as exc:
            raise StorageError("工作区编号冲突 / workspace id already exists", detail=str(exc)) from exc
        except sqlite3.Error as exc:
            raise StorageError("保存工作区失败，未写入任何内容 / saving the workspace failed; nothing was written",
                               detail=str(exc)) from exc
        return workspace.id

    def delete(self, ws_id: str) -> None:
        check_id(ws_id)
        try:
            with self._write() as conn:
                cur = conn.execute("DELETE FROM workspaces WHERE id = ?", (ws_id,))
                if cur.rowcount == 0:
                    raise NotFound(f"没有工作区 {ws_id} / no workspace {ws_id}")
                conn.execute("DELETE FROM sites WHERE workspace_id = ?", (ws_id,))
                conn.execute("DELETE FROM workspace_shares WHERE workspace_id = ?", (ws_id,))
        except sqlite3.Error as exc:
            raise StorageError("删除工作区失败 / deleting the workspace failed", detail=str(exc)) from exc

    def share(self, ws_id: str, grantees: Sequence[str]) -> None:
        """Replace the set of users (or ``*``, everyone signed in) who may read the workspace."""
        check_id(ws_id)
        try:
            with self._write() as conn:
                if conn.execute("SELECT 1 FROM workspaces WHERE id = ?", (ws_id,)).fetchone() is None:
                    raise NotFound(f"没有工作区 {ws_id} / no workspace {ws_id}")
                conn.execute("DELETE FROM workspace_shares WHERE workspace_id = ?", (ws_id,))
                conn.executemany("INSERT INTO workspace_shares (workspace_id, grantee) VALUES (?, ?)",
                                 [(ws_id, g) for g in dict.fromkeys(grantees)])
        except sqlite3.Error as exc:
            raise StorageError("共享设置失败 / sharing the workspace failed", detail=str(exc)) from exc

    def claim_unowned(self, owner: str) -> int:
        """Give workspaces made before accounts existed to ``owner`` (the first admin); returns how many."""
        try:
            with self._write() as conn:
                return int(conn.execute("UPDATE workspaces SET owner = ? WHERE owner IS NULL", (owner,)).rowcount)
        except sqlite3.Error as exc:
            raise StorageError("更新工作区归属失败 / assigning workspace owners failed", detail=str(exc)) from exc

    # ------------------------------------------------------------ reads

    def _usage(self, conn: sqlite3.Connection, owner: str | None, exclude: str = "") -> int:
        """Bytes stored (but ``exclude``'s), the owner's once workspaces have owners (accounts), else the store's."""
        size = "SELECT coalesce(sum(coalesce(stored_bytes, length(report))), 0) FROM workspaces WHERE id <> ?"
        if owner is not None and "owner" in _columns(conn, "workspaces"):
            return int(conn.execute(f"{size} AND owner = ?", (exclude, owner)).fetchone()[0])
        return int(conn.execute(size, (exclude,)).fetchone()[0])

    def usage_bytes(self, owner: str | None = None) -> int:
        try:
            with self._read() as conn:
                return self._usage(conn, owner)
        except sqlite3.Error as exc:
            raise StorageError("读取存储用量失败 / reading the storage use failed", detail=str(exc)) from exc

    def count(self, reader: Reader | None = None) -> int:
        where, params = _visible(reader)
        try:
            with self._read() as conn:
                return int(conn.execute(f"SELECT count(*) FROM workspaces{where}", params).fetchone()[0])
        except sqlite3.Error as exc:
            raise StorageError("读取工作区列表失败 / listing workspaces failed", detail=str(exc)) from exc

    def list(self, reader: Reader | None = None, *, limit: int | None = None,
             offset: int = 0) -> list[WorkspaceSummary]:
        """Newest first: all of them, or those ``reader`` may see (own, shared with them or with everyone);
        one page (``LIMIT``/``OFFSET`` in SQL) when ``limit`` is given."""
        where, params = _visible(reader)
        try:
            with self._read() as conn:
                conn.execute("BEGIN")
                rows = conn.execute("SELECT id, created, filename, sha256, format, crs_code, site_count, owner"
                                    f" FROM workspaces{where} ORDER BY created DESC, fid DESC LIMIT ? OFFSET ?",
                                    (*params, -1 if limit is None else limit, max(offset, 0))).fetchall()
                shares = _shares(conn, [r[0] for r in rows])
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError("读取工作区列表失败 / listing workspaces failed", detail=str(exc)) from exc
        return [WorkspaceSummary(id=r[0], created=_parse_time(r[1]), filename=r[2], sha256=r[3], format=r[4],
                                 crs_code=r[5], site_count=int(r[6]), owner=r[7], shared_with=shares.get(r[0], ()))
                for r in rows]

    def access(self, ws_id: str) -> WorkspaceAccess:
        check_id(ws_id)
        try:
            with self._read() as conn:
                row = conn.execute("SELECT owner FROM workspaces WHERE id = ?", (ws_id,)).fetchone()
                if row is None:
                    raise NotFound(f"没有工作区 {ws_id} / no workspace {ws_id}")
                shares = _shares(conn, [ws_id])
        except sqlite3.Error as exc:
            raise StorageError("读取工作区失败 / reading the workspace failed", detail=str(exc)) from exc
        return WorkspaceAccess(owner=row[0], shared_with=shares.get(ws_id, ()))

    def get(self, ws_id: str) -> Workspace:
        check_id(ws_id)
        try:
            with self._read() as conn:
                conn.execute("BEGIN")  # one snapshot for both tables
                head = conn.execute("SELECT id, created, filename, sha256, size_bytes, format, crs_json, report,"
                                    " owner FROM workspaces WHERE id = ?", (ws_id,)).fetchone()
                if head is None:
                    raise NotFound(f"没有工作区 {ws_id} / no workspace {ws_id}")
                rows = conn.execute("SELECT geom, site_no, name, industry, attributes FROM sites"
                                    " WHERE workspace_id = ? ORDER BY site_no", (ws_id,)).fetchall()
                shares = _shares(conn, [ws_id])
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError("读取工作区失败 / reading the workspace failed", detail=str(exc)) from exc
        sites = gpd.GeoDataFrame(
            {"site_no": [int(r[1]) for r in rows], "name": pd.Series([r[2] for r in rows], dtype=object),
             "industry": pd.Series([r[3] for r in rows], dtype=object),
             "attributes": [json.loads(r[4]) if r[4] else {} for r in rows]},
            geometry=gpd.GeoSeries([decode_geometry(r[0]) for r in rows], crs=LONLAT), crs=LONLAT)
        return Workspace(id=head[0], created=_parse_time(head[1]), filename=head[2], sha256=head[3],
                         size_bytes=int(head[4]), format=head[5], crs=json.loads(head[6]), sites=sites,
                         report=unpack_report(head[7]), owner=head[8], shared_with=shares.get(ws_id, ()))


_PACKED = "zlib+base64:"


def pack_report(report: dict[str, Any]) -> str:
    """The report as stored: deflated JSON in base64 text (a TEXT column still).

    A report repeats the same keys, county names and bilingual flags for every site,
    so the JSON of a 5 MB CSV upload was ~80 MB; deflated it is about a twentieth.
    """
    raw = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode()
    return _PACKED + base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def unpack_report(text: str) -> Any:
    """A stored report: packed (see :func:`pack_report`) or plain JSON (stores written before packing)."""
    if text.startswith(_PACKED):
        return json.loads(zlib.decompress(base64.b64decode(text[len(_PACKED):])))
    return json.loads(text)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}


def _record_bytes(record: tuple[Any, ...]) -> int:
    return sum(len(v) for v in record if isinstance(v, bytes | str))


def _shares(conn: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[str, ...]]:
    """Grantees per workspace id (only for the ids asked, in chunks under SQLite's parameter limit)."""
    out: dict[str, list[str]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        marks = ",".join("?" for _ in chunk)
        for ws_id, grantee in conn.execute(f"SELECT workspace_id, grantee FROM workspace_shares"
                                           f" WHERE workspace_id IN ({marks}) ORDER BY grantee", chunk):
            out.setdefault(ws_id, []).append(grantee)
    return {k: tuple(v) for k, v in out.items()}


def _visible(reader: Reader | None) -> tuple[str, tuple[str, ...]]:
    """The WHERE clause (and its parameters) for the workspaces ``reader`` may see; all when None."""
    if reader is None or reader.see_all:
        return "", ()
    return (" WHERE owner = ? OR id IN (SELECT workspace_id FROM workspace_shares WHERE grantee IN (?, '*'))",
            (reader.name, reader.name))


def _parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=UTC)
