"""Offline tile files an office already holds: MBTiles (SQLite) and PMTiles v3, raster or vector.

Which kind a file is comes from its first bytes (``PMTiles`` + version 3, else SQLite), not its
name. MBTiles stores rows in TMS order (y counted from the south); the web asks in XYZ order,
so the row is flipped. PMTiles is read with protomaps' ``pmtiles`` package over a read-only
memory map. Each request opens the file anew (no handle crosses threads). Tiles are returned as
stored: gzip'd vector tiles stay gzip'd and are sent with ``Content-Encoding: gzip``.
"""

from __future__ import annotations

import mmap
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pmtiles.reader import Reader
from pmtiles.tile import Compression, MagicNumberNotFound, SpecVersionUnsupported, TileType, deserialize_header

from geo.errors import DataError

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
               "avif": "image/avif", "pbf": "application/vnd.mapbox-vector-tile",
               "mvt": "application/vnd.mapbox-vector-tile"}
RASTER = ("png", "jpg", "jpeg", "webp", "avif")
VECTOR = ("pbf", "mvt")
_PM_TYPES = {TileType.MVT: "pbf", TileType.PNG: "png", TileType.JPEG: "jpg", TileType.WEBP: "webp",
             TileType.AVIF: "avif"}
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class TileSet:
    """What the map page needs to offer one tile file in its basemap switcher."""

    name: str  # the URL name, /basemap/{name}/{z}/{x}/{y}
    path: Path
    kind: str  # "mbtiles" | "pmtiles"
    title: str
    attribution: str
    format: str  # png, jpg, webp, avif (raster) or pbf (Mapbox Vector Tiles)
    min_zoom: int
    max_zoom: int

    @property
    def raster(self) -> bool:
        return self.format in RASTER

    @property
    def vector(self) -> bool:
        return self.format in VECTOR

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES.get(self.format, "application/octet-stream")


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise DataError(f"{path}: cannot open MBTiles: {exc}") from exc


def _is_pmtiles(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(7) == b"PMTiles"
    except OSError as exc:
        raise DataError(f"{path} is not readable: {exc}") from exc


def _describe_mbtiles(name: str, path: Path) -> TileSet:
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
    fmt = str(meta.get("format", "png")).lower()
    return TileSet(name=name, path=path, kind="mbtiles", title=str(meta.get("name") or name),
                   attribution=str(meta.get("attribution") or ""), format="pbf" if fmt == "mvt" else fmt,
                   min_zoom=lo, max_zoom=hi)


class _PMTilesFile:
    """A read-only memory map of one PMTiles file, closed on leaving the ``with``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Reader:
        try:
            self._file = self.path.open("rb")
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.path}: cannot open PMTiles: {exc}") from exc
        mapping = self._map
        return Reader(lambda offset, length: mapping[offset:offset + length])

    def __exit__(self, *exc: object) -> None:
        self._map.close()
        self._file.close()


def _describe_pmtiles(name: str, path: Path) -> TileSet:
    with _PMTilesFile(path) as reader:
        try:
            header = deserialize_header(reader.get_bytes(0, 127))
            meta: Any = reader.metadata()
        except (MagicNumberNotFound, SpecVersionUnsupported, ValueError, OSError) as exc:
            raise DataError(f"{path}: not a PMTiles v3 file: {exc!r}") from exc
    fmt = _PM_TYPES.get(header["tile_type"])
    if fmt is None:
        raise DataError(f"{path}: PMTiles tile type {header['tile_type'].name} is not drawn by the map page")
    if header["tile_compression"] not in (Compression.NONE, Compression.GZIP, Compression.UNKNOWN):
        raise DataError(f"{path}: PMTiles tiles compressed with {header['tile_compression'].name}; "
                        "only uncompressed or gzip tiles are served (re-pack with pmtiles convert)")
    meta = meta if isinstance(meta, dict) else {}
    return TileSet(name=name, path=path, kind="pmtiles", title=str(meta.get("name") or name),
                   attribution=str(meta.get("attribution") or ""), format=fmt,
                   min_zoom=int(header["min_zoom"]), max_zoom=int(header["max_zoom"]))


@lru_cache(maxsize=32)
def _describe(name: str, path: Path, mtime_ns: int) -> TileSet:
    return _describe_pmtiles(name, path) if _is_pmtiles(path) else _describe_mbtiles(name, path)


def describe(name: str, path: Path) -> TileSet:
    """The tile file's metadata (cached until the file changes)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise DataError(f"basemap {name}: {path} is not readable: {exc}") from exc
    return _describe(name, path, mtime)


def read_tile(tiles: TileSet, z: int, x: int, y: int) -> bytes | None:
    """The stored bytes of tile z/x/y (XYZ numbering), or None when the file has no such tile."""
    if z < 0 or z > 30 or not (0 <= x < 2**z and 0 <= y < 2**z):
        return None
    if tiles.kind == "pmtiles":
        with _PMTilesFile(tiles.path) as reader:
            try:
                data = reader.get(z, x, y)
            except (ValueError, IndexError) as exc:
                raise DataError(f"{tiles.path}: cannot read tile {z}/{x}/{y}: {exc!r}") from exc
        return bytes(data) if data else None
    con = _connect(tiles.path)
    try:
        row = con.execute("SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                          (z, x, 2**z - 1 - y)).fetchone()
    except sqlite3.Error as exc:
        raise DataError(f"{tiles.path}: cannot read tile {z}/{x}/{y}: {exc}") from exc
    finally:
        con.close()
    return bytes(row[0]) if row else None
