"""Offline tile files an office already holds: MBTiles (SQLite) read tile by tile.

An MBTiles file stores tiles in TMS row order (y counted from the south); the web asks in
XYZ order, so the row is flipped here. Files are opened read-only, one short-lived
connection per request (SQLite handles concurrent readers; no connection crosses threads).
Raster tiles (PNG, JPEG, WebP) are drawn by Leaflet as they are; vector tiles (gzip'd MVT)
are served too, but the map page has no vector-tile renderer yet (see the report of issue #10).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from geo.errors import DataError

SIGNATURES = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"RIFF", "image/webp"),
              (b"\x1f\x8b", "application/vnd.mapbox-vector-tile"))


@dataclass(frozen=True)
class TileSet:
    """What the map page needs to offer one tile file in its basemap switcher."""

    name: str  # the URL name, /basemap/{name}/{z}/{x}/{y}
    path: Path
    title: str
    attribution: str
    format: str
    min_zoom: int
    max_zoom: int

    @property
    def raster(self) -> bool:
        return self.format in ("png", "jpg", "jpeg", "webp")


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise DataError(f"{path}: cannot open MBTiles: {exc}") from exc


@lru_cache(maxsize=32)
def _describe(name: str, path: Path, mtime_ns: int) -> TileSet:
    con = _connect(path)
    try:
        meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
        zooms = con.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
    except sqlite3.Error as exc:
        raise DataError(f"{path}: not an MBTiles file (metadata/tiles tables): {exc}") from exc
    finally:
        con.close()
    lo = int(meta.get("minzoom", zooms[0] if zooms[0] is not None else 0))
    hi = int(meta.get("maxzoom", zooms[1] if zooms[1] is not None else 18))
    return TileSet(name=name, path=path, title=str(meta.get("name") or name),
                   attribution=str(meta.get("attribution") or ""), format=str(meta.get("format", "png")).lower(),
                   min_zoom=lo, max_zoom=hi)


def describe(name: str, path: Path) -> TileSet:
    """The tile file's metadata (cached until the file changes)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise DataError(f"basemap {name}: {path} is not readable: {exc}") from exc
    return _describe(name, path, mtime)


def read_tile(path: Path, z: int, x: int, y: int) -> bytes | None:
    """The bytes of tile z/x/y (XYZ numbering), or None when the file has no such tile."""
    if z < 0 or z > 30 or not (0 <= x < 2**z and 0 <= y < 2**z):
        return None
    con = _connect(path)
    try:
        row = con.execute("SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                          (z, x, 2**z - 1 - y)).fetchone()
    except sqlite3.Error as exc:
        raise DataError(f"{path}: cannot read tile {z}/{x}/{y}: {exc}") from exc
    finally:
        con.close()
    return bytes(row[0]) if row else None


def media_type(data: bytes) -> str:
    for magic, kind in SIGNATURES:
        if data.startswith(magic):
            return kind
    return "application/octet-stream"
