"""The audit trail (留痕): an append-only, hash-chained record of every operation on protected data.

Public API::

    from layers.audit import open_audit, Entry

    trail = open_audit(gpkg_path=..., database_url=...)
    trail.append(Entry(actor="li", address="10.0.0.5", action="upload", target="ws:1f…",
                       details={"file": "a.zip", "sha256": "…"}, outcome="ok"))
    page = trail.query(actor="li", action="upload", since=..., until=..., limit=50, offset=0)
    problem = trail.verify()          # None, or the first record whose hash does not fit the chain

Each record stores the SHA-256 of the previous record; its own hash covers its
sequence number, time, who, from where, what and the outcome. Editing,
inserting or deleting a record in the middle breaks the chain at that record.
"""

from __future__ import annotations

from pathlib import Path

from layers.audit.trail import AuditTrail, Break, Entry, Record
from layers.db import Database

__all__ = ["AuditTrail", "Break", "Entry", "Record", "open_audit"]


def open_audit(*, gpkg_path: Path | str | None = None, database_url: str | None = None,
               schema: str | None = None) -> AuditTrail:
    return AuditTrail(Database(gpkg_path=Path(gpkg_path) if gpkg_path else None, database_url=database_url,
                               schema=schema or "public"))
