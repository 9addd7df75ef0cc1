"""Annual values, stored next to the workspaces: a GeoPackage attribute table, or a PostGIS table.

A value is never overwritten: a correction marks the current row superseded
(``superseded_at``/``superseded_by``) and adds the new row, in one transaction,
so the history of every (indicator, year) stays readable. The product ships
with no values; only users put them in.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from geo.errors import StorageError


@dataclass(frozen=True)
class NewValue:
    """A checked value ready to store (see :mod:`layers.monitoring.entry`)."""

    plan: str
    indicator: str
    year: int
    value: float
    unit: str
    source: str
    note: str | None = None


@dataclass(frozen=True)
class ValueRecord:
    id: int
    plan: str
    indicator: str
    year: int
    value: float
    unit: str
    source: str
    note: str | None
    entered_by: str
    entered_at: datetime
    via: str  # form | csv | xlsx | api
    superseded_at: datetime | None = None
    superseded_by: int | None = None

    @property
    def current(self) -> bool:
        return self.superseded_at is None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "indicator": self.indicator, "year": self.year, "value": self.value,
                "unit": self.unit, "source": self.source, "note": self.note, "entered_by": self.entered_by,
                "entered_at": self.entered_at.isoformat(timespec="seconds"), "via": self.via,
                "superseded_at": self.superseded_at.isoformat(timespec="seconds") if self.superseded_at else None,
                "superseded_by": self.superseded_by}


@dataclass(frozen=True)
class Change:
    """What one stored value did: added, corrected (with the old record) or unchanged."""

    action: str  # added | corrected | unchanged
    record: ValueRecord
    previous: ValueRecord | None = None


class ValueStore(Protocol):
    def put(self, values: Sequence[NewValue], *, entered_by: str, via: str) -> list[Change]: ...

    def records(self, plan: str) -> list[ValueRecord]: ...


COLUMNS = ("id", "plan", "indicator", "year", "value", "unit", "source", "note", "entered_by", "entered_at", "via",
           "superseded_at", "superseded_by")


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)


def _record(row: Sequence[Any]) -> ValueRecord:
    d = dict(zip(COLUMNS, row, strict=True))
    return ValueRecord(id=int(d["id"]), plan=d["plan"], indicator=d["indicator"], year=int(d["year"]),
                       value=float(d["value"]), unit=d["unit"], source=d["source"], note=d["note"],
                       entered_by=d["entered_by"], entered_at=_time(d["entered_at"]) or datetime.now(UTC),
                       via=d["via"], superseded_at=_time(d["superseded_at"]),
                       superseded_by=int(d["superseded_by"]) if d["superseded_by"] is not None else None)


def current_values(records: Sequence[ValueRecord]) -> dict[str, dict[int, ValueRecord]]:
    """indicator id -> year -> the current (not superseded) record."""
    out: dict[str, dict[int, ValueRecord]] = {}
    for r in records:
        if r.current:
            out.setdefault(r.indicator, {})[r.year] = r
    return out


def _same(old: ValueRecord, new: NewValue) -> bool:
    return old.value == new.value and old.source == new.source and old.unit == new.unit and old.note == new.note


# ------------------------------------------------------------------ GeoPackage

GPKG_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS indicator_values (
        id INTEGER PRIMARY KEY AUTOINCREMENT, plan TEXT NOT NULL, indicator TEXT NOT NULL,
        year INTEGER NOT NULL CHECK (year BETWEEN 2021 AND 2025), value REAL NOT NULL, unit TEXT NOT NULL,
        source TEXT NOT NULL CHECK (length(trim(source)) > 0), note TEXT, entered_by TEXT NOT NULL,
        entered_at TEXT NOT NULL, via TEXT NOT NULL, superseded_at TEXT, superseded_by INTEGER)""",
    "CREATE INDEX IF NOT EXISTS indicator_values_key ON indicator_values (plan, indicator, year)",
    "CREATE UNIQUE INDEX IF NOT EXISTS indicator_values_current ON indicator_values (plan, indicator, year)"
    " WHERE superseded_at IS NULL",
    "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) VALUES ('indicator_values',"
    " 'attributes', 'indicator_values', 'planview: annual values of the plans'' indicators, with their history')",
]
_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


class GeoPackageValueStore:
    """The ``indicator_values`` attribute table inside the workspace GeoPackage."""

    def __init__(self, path: Path) -> None:
        from layers.workspaces.gpkg import GeoPackageStore

        GeoPackageStore(path)  # makes sure the file is a GeoPackage (gpkg_contents etc.)
        self.path = path
        with _GUARD:
            self._lock = _LOCKS.setdefault(str(path.resolve()), threading.Lock())
        try:
            with self._write() as conn:
                for stmt in GPKG_SCHEMA:
                    conn.execute(stmt)
        except sqlite3.Error as exc:
            raise StorageError("无法打开指标数据存储 / cannot open the indicator value store", detail=str(exc)) from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 60000")
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
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

    def put(self, values: Sequence[NewValue], *, entered_by: str, via: str) -> list[Change]:
        now = datetime.now(UTC).isoformat()
        cols = ", ".join(COLUMNS)
        changes: list[Change] = []
        try:
            with self._write() as conn:
                for v in values:
                    row = conn.execute(f"SELECT {cols} FROM indicator_values WHERE plan = ? AND indicator = ? AND year = ?"
                                       " AND superseded_at IS NULL", (v.plan, v.indicator, v.year)).fetchone()
                    old = _record(row) if row else None
                    if old is not None and _same(old, v):
                        changes.append(Change("unchanged", old))
                        continue
                    if old is not None:
                        conn.execute("UPDATE indicator_values SET superseded_at = ? WHERE id = ?", (now, old.id))
                    cur = conn.execute(
                        "INSERT INTO indicator_values (plan, indicator, year, value, unit, source, note, entered_by,"
                        " entered_at, via) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (v.plan, v.indicator, v.year, v.value, v.unit, v.source, v.note, entered_by, now, via))
                    new_id = int(cur.lastrowid or 0)
                    if old is not None:
                        conn.execute("UPDATE indicator_values SET superseded_by = ? WHERE id = ?", (new_id, old.id))
                        old = _record(conn.execute(f"SELECT {cols} FROM indicator_values WHERE id = ?",
                                                   (old.id,)).fetchone())
                    new = _record(conn.execute(f"SELECT {cols} FROM indicator_values WHERE id = ?", (new_id,)).fetchone())
                    changes.append(Change("corrected" if old else "added", new, old))
        except sqlite3.Error as exc:
            raise StorageError("保存指标值失败，未写入任何内容 / saving the values failed; nothing was written",
                               detail=str(exc)) from exc
        return changes

    def records(self, plan: str) -> list[ValueRecord]:
        try:
            conn = self._connect()
            try:
                rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM indicator_values WHERE plan = ?"
                                    " ORDER BY indicator, year, id", (plan,)).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StorageError("读取指标值失败 / reading the values failed", detail=str(exc)) from exc
        return [_record(r) for r in rows]


# ------------------------------------------------------------------ PostGIS

class PostgisValueStore:
    """The same table on PostgreSQL (``planview_indicator_values``), beside the PostGIS workspaces."""

    def __init__(self, url: str, *, schema: str = "public") -> None:
        import psycopg
        from psycopg import sql

        self.url = url
        self.table = sql.Identifier(schema, "planview_indicator_values")
        try:
            with self._tx() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (0x706C616F,))
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, plan text NOT NULL,"
                    " indicator text NOT NULL, year integer NOT NULL CHECK (year BETWEEN 2021 AND 2025),"
                    " value double precision NOT NULL, unit text NOT NULL,"
                    " source text NOT NULL CHECK (length(btrim(source)) > 0), note text, entered_by text NOT NULL,"
                    " entered_at timestamptz NOT NULL, via text NOT NULL, superseded_at timestamptz,"
                    " superseded_by bigint)").format(self.table))
                conn.execute(sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS planview_indicator_values_current ON {}"
                                     " (plan, indicator, year) WHERE superseded_at IS NULL").format(self.table))
        except psycopg.Error as exc:
            raise StorageError("无法连接指标数据库 / cannot open the indicator value database", detail=str(exc)) from exc

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        import psycopg

        with psycopg.connect(self.url, connect_timeout=10) as conn, conn.transaction():
            yield conn

    def put(self, values: Sequence[NewValue], *, entered_by: str, via: str) -> list[Change]:
        import psycopg
        from psycopg import sql

        cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        now = datetime.now(UTC)
        changes: list[Change] = []
        try:
            with self._tx() as conn:
                conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(self.table))
                for v in values:
                    row = conn.execute(sql.SQL("SELECT {} FROM {} WHERE plan = %s AND indicator = %s AND year = %s"
                                               " AND superseded_at IS NULL").format(cols, self.table),
                                       (v.plan, v.indicator, v.year)).fetchone()
                    old = _record(row) if row else None
                    if old is not None and _same(old, v):
                        changes.append(Change("unchanged", old))
                        continue
                    if old is not None:
                        conn.execute(sql.SQL("UPDATE {} SET superseded_at = %s WHERE id = %s").format(self.table),
                                     (now, old.id))
                    new_row = conn.execute(sql.SQL(
                        "INSERT INTO {} (plan, indicator, year, value, unit, source, note, entered_by, entered_at, via)"
                        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING {}").format(self.table, cols),
                        (v.plan, v.indicator, v.year, v.value, v.unit, v.source, v.note, entered_by, now, via)).fetchone()
                    new = _record(new_row)
                    if old is not None:
                        old_row = conn.execute(sql.SQL("UPDATE {} SET superseded_by = %s WHERE id = %s RETURNING {}")
                                               .format(self.table, cols), (new.id, old.id)).fetchone()
                        old = _record(old_row)
                    changes.append(Change("corrected" if old else "added", new, old))
        except psycopg.Error as exc:
            raise StorageError("保存指标值失败，未写入任何内容 / saving the values failed; nothing was written",
                               detail=str(exc)) from exc
        return changes

    def records(self, plan: str) -> list[ValueRecord]:
        import psycopg
        from psycopg import sql

        cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        try:
            with self._tx() as conn:
                rows = conn.execute(sql.SQL("SELECT {} FROM {} WHERE plan = %s ORDER BY indicator, year, id")
                                    .format(cols, self.table), (plan,)).fetchall()
        except psycopg.Error as exc:
            raise StorageError("读取指标值失败 / reading the values failed", detail=str(exc)) from exc
        return [_record(r) for r in rows]


def open_value_store(*, gpkg_path: Path | str | None = None, database_url: str | None = None,
                     schema: str | None = None) -> ValueStore:
    """PostGIS when ``database_url`` is set (like the workspaces), else the GeoPackage at ``gpkg_path``."""
    if database_url:
        return PostgisValueStore(database_url, schema=schema or "public")
    if gpkg_path is None:
        raise ValueError("open_value_store needs gpkg_path or database_url")
    return GeoPackageValueStore(Path(gpkg_path))
