"""One small SQL door for the stores kept next to the workspaces (accounts, audit trail).

The workspaces live in a GeoPackage (SQLite) or in PostGIS; users, tokens and
the audit trail live in the same place, so a back-up of that one file or
database holds everything. Both dialects are reached through
:class:`Database`: SQL is written once with ``?`` placeholders (translated to
``%s`` for psycopg), writes are one transaction each — ``BEGIN IMMEDIATE``
under a per-file lock on SQLite, a regular transaction on PostgreSQL — and
table names come from :meth:`Database.table` (schema-qualified on PostGIS).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from geo.errors import StorageError

SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    key = str(path.resolve())
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


class Connection:
    """A thin wrapper giving both drivers ``execute(sql, params)`` with ``?`` placeholders."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect == "postgres":
            query = query.replace("?", "%s")
        return self.raw.execute(query, tuple(params))


class Database:
    """A GeoPackage file or a PostGIS schema; see the module docstring."""

    def __init__(self, *, gpkg_path: Path | None = None, database_url: str | None = None,
                 schema: str = "public") -> None:
        if not database_url and gpkg_path is None:
            raise ValueError("Database needs gpkg_path or database_url")
        if not SCHEMA_NAME.match(schema):
            raise ValueError(f"bad schema name {schema!r}")
        self.url = database_url
        self.schema = schema
        self.path = None if database_url else Path(gpkg_path)  # type: ignore[arg-type]
        self.dialect = "postgres" if database_url else "sqlite"
        self._lock = _lock_for(self.path) if self.path is not None else threading.Lock()
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError("无法创建数据目录 / cannot create the data directory", detail=str(exc)) from exc

    def table(self, name: str) -> str:
        return f'"{self.schema}".{name}' if self.dialect == "postgres" else name

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        if self.dialect == "postgres":
            import psycopg

            return (psycopg.Error,)
        return (sqlite3.Error,)

    def _sqlite(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None,  # type: ignore[arg-type]
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 60000")
        return conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction: committed whole, or rolled back whole on any error."""
        if self.dialect == "postgres":
            import psycopg

            with psycopg.connect(self.url, connect_timeout=10) as raw, raw.transaction():  # type: ignore[arg-type]
                yield Connection(raw, "postgres")
            return
        with self._lock:
            lite = self._sqlite()
            try:
                lite.execute("BEGIN IMMEDIATE")
                try:
                    yield Connection(lite, "sqlite")
                except BaseException:
                    lite.execute("ROLLBACK")
                    raise
                lite.execute("COMMIT")
            finally:
                lite.close()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        if self.dialect == "postgres":
            import psycopg

            with psycopg.connect(self.url, connect_timeout=10) as raw, raw.transaction():  # type: ignore[arg-type]
                yield Connection(raw, "postgres")
            return
        lite = self._sqlite()
        try:
            yield Connection(lite, "sqlite")
        finally:
            lite.close()

    def ensure_schema(self, statements: Sequence[str], lock_id: int) -> None:
        """Create tables once; on PostGIS under an advisory lock so parallel first starts do not race."""
        try:
            with self.write() as conn:
                if self.dialect == "postgres":
                    conn.execute("SELECT pg_advisory_xact_lock(?)", (lock_id,))
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                for stmt in statements:
                    conn.execute(stmt)
        except self.errors as exc:
            raise StorageError("无法打开数据存储 / cannot open the data store", detail=str(exc)) from exc

    def has_column(self, conn: Connection, table: str, column: str) -> bool:
        if self.dialect == "postgres":
            row = conn.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = ? AND table_name = ?"
                               " AND column_name = ?", (self.schema, table, column)).fetchone()
            return row is not None
        return any(r[1] == column for r in conn.execute(f"PRAGMA table_info({table})").fetchall())
