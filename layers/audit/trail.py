"""The audit trail store and its hash chain (see the package docstring)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from geo.errors import StorageError
from layers.db import Database

GENESIS = "0" * 64
_SCHEMA_LOCK = 0x61756474  # "audt"
_APPEND_LOCK = 0x61756475
CSV_HEADER = ["序号 seq", "时间 time (UTC)", "用户 actor", "来源 address", "操作 action", "对象 target",
              "详情 details", "结果 outcome", "前一条哈希 prev_hash", "哈希 hash"]


@dataclass(frozen=True)
class Entry:
    """What happened (the caller's part of a record)."""

    actor: str | None  # user name, None when nobody was signed in
    address: str | None  # client address
    action: str  # login, login_failed, logout, upload, delete, share, export, report, user_add, token_create …
    target: str = ""  # route and ids, e.g. "POST /api/overlay ws:1f2e…"
    details: dict[str, Any] = field(default_factory=dict)  # file name, SHA-256, role …
    outcome: str = "ok"  # ok | denied | failed | error: message


@dataclass(frozen=True)
class Record:
    seq: int
    time: str  # ISO 8601 UTC with microseconds, "…Z"
    actor: str | None
    address: str | None
    action: str
    target: str
    details: dict[str, Any]
    outcome: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "actor": self.actor, "address": self.address,
                "action": self.action, "target": self.target, "details": self.details, "outcome": self.outcome,
                "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True)
class Break:
    """The first record that does not fit the chain, and why."""

    seq: int
    reason: str


def record_hash(seq: int, time: str, actor: str | None, address: str | None, action: str, target: str,
                details_json: str, outcome: str, prev_hash: str) -> str:
    """SHA-256 over a canonical JSON array of the record's fields (stable across both back ends)."""
    body = json.dumps([seq, time, actor, address, action, target, details_json, outcome, prev_hash],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _canonical(details: dict[str, Any]) -> str:
    return json.dumps(details, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


class AuditTrail:
    """Append-only records in ``planview_audit`` (GeoPackage or PostGIS)."""

    COLUMNS = "seq, time, actor, address, action, target, details, outcome, prev_hash, hash"

    def __init__(self, db: Database) -> None:
        self.db = db
        self.table = db.table("planview_audit")
        if db.dialect == "postgres":
            guard = [
                f"CREATE OR REPLACE FUNCTION \"{db.schema}\".planview_audit_append_only() RETURNS trigger"
                " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'planview_audit is append-only'; END $$",
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                f" JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{db.schema}'"
                " AND c.relname = 'planview_audit' AND t.tgname = 'planview_audit_append_only') THEN"
                f" CREATE TRIGGER planview_audit_append_only BEFORE UPDATE OR DELETE ON {self.table}"
                f" FOR EACH ROW EXECUTE FUNCTION \"{db.schema}\".planview_audit_append_only(); END IF; END $$",
            ]
        else:
            guard = [
                "CREATE TRIGGER IF NOT EXISTS planview_audit_no_update BEFORE UPDATE ON planview_audit"
                " BEGIN SELECT RAISE(ABORT, 'planview_audit is append-only'); END",
                "CREATE TRIGGER IF NOT EXISTS planview_audit_no_delete BEFORE DELETE ON planview_audit"
                " BEGIN SELECT RAISE(ABORT, 'planview_audit is append-only'); END",
            ]
        db.ensure_schema([
            f"CREATE TABLE IF NOT EXISTS {self.table} (seq BIGINT PRIMARY KEY, time TEXT NOT NULL, actor TEXT,"
            " address TEXT, action TEXT NOT NULL, target TEXT NOT NULL, details TEXT NOT NULL,"
            " outcome TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS planview_audit_actor ON {self.table} (actor, seq)",
            f"CREATE INDEX IF NOT EXISTS planview_audit_action ON {self.table} (action, seq)",
            f"CREATE INDEX IF NOT EXISTS planview_audit_time ON {self.table} (time)",
            *guard,
        ], _SCHEMA_LOCK)

    def append(self, entry: Entry) -> Record:
        """Add one record at the end of the chain (serialised: one writer at a time)."""
        details_json = _canonical(entry.details)
        target = entry.target[:2000]
        try:
            with self.db.write() as conn:
                if self.db.dialect == "postgres":
                    conn.execute("SELECT pg_advisory_xact_lock(?)", (_APPEND_LOCK,))
                last = conn.execute(f"SELECT seq, hash FROM {self.table} ORDER BY seq DESC LIMIT 1").fetchone()
                seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
                time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                digest = record_hash(seq, time, entry.actor, entry.address, entry.action, target, details_json,
                                     entry.outcome, prev)
                conn.execute(f"INSERT INTO {self.table} ({self.COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                             (seq, time, entry.actor, entry.address, entry.action, target, details_json,
                              entry.outcome, prev, digest))
        except self.db.errors as exc:
            raise StorageError("写入审计记录失败 / writing the audit record failed", detail=str(exc)) from exc
        return Record(seq=seq, time=time, actor=entry.actor, address=entry.address, action=entry.action,
                      target=target, details=json.loads(details_json), outcome=entry.outcome, prev_hash=prev,
                      hash=digest)

    @staticmethod
    def _record(row: Any) -> Record:
        try:
            details = json.loads(row[6])
        except (TypeError, ValueError):
            details = {"_unreadable": str(row[6])}
        return Record(seq=int(row[0]), time=row[1], actor=row[2], address=row[3], action=row[4], target=row[5],
                      details=details, outcome=row[7], prev_hash=row[8], hash=row[9])

    def query(self, *, actor: str | None = None, action: str | None = None, since: str | None = None,
              until: str | None = None, limit: int = 100, offset: int = 0) -> tuple[list[Record], int]:
        """Records newest first, filtered (``since``/``until``: ISO UTC times, inclusive/exclusive), and the total."""
        where, params = [], []
        for clause, value in (("actor = ?", actor), ("action = ?", action), ("time >= ?", since),
                              ("time < ?", until)):
            if value:
                where.append(clause)
                params.append(value)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        try:
            with self.db.read() as conn:
                total = int(conn.execute(f"SELECT count(*) FROM {self.table} {cond}", params).fetchone()[0])
                rows = conn.execute(f"SELECT {self.COLUMNS} FROM {self.table} {cond} ORDER BY seq DESC"
                                    " LIMIT ? OFFSET ?", (*params, int(limit), int(offset))).fetchall()
        except self.db.errors as exc:
            raise StorageError("读取审计记录失败 / reading the audit trail failed", detail=str(exc)) from exc
        return [self._record(r) for r in rows], total

    def iter_all(self, batch: int = 5000) -> Iterator[Record]:
        """Every record in chain order, read in batches."""
        after = 0
        while True:
            try:
                with self.db.read() as conn:
                    rows = conn.execute(f"SELECT {self.COLUMNS} FROM {self.table} WHERE seq > ? ORDER BY seq"
                                        " LIMIT ?", (after, batch)).fetchall()
            except self.db.errors as exc:
                raise StorageError("读取审计记录失败 / reading the audit trail failed", detail=str(exc)) from exc
            if not rows:
                return
            for row in rows:
                yield self._record_raw(row)
            after = int(rows[-1][0])

    @staticmethod
    def _record_raw(row: Any) -> Record:
        """A record keeping ``details`` as the stored text (for hashing exactly what is stored)."""
        return Record(seq=int(row[0]), time=row[1], actor=row[2], address=row[3], action=row[4], target=row[5],
                      details={"_raw": row[6]}, outcome=row[7], prev_hash=row[8], hash=row[9])

    def verify(self) -> tuple[int, Break | None]:
        """(records checked, first break or None): recompute every hash and link from the first record."""
        prev = GENESIS
        expected_seq = 1
        count = 0
        for rec in self.iter_all():
            if rec.seq != expected_seq:
                return count, Break(expected_seq if rec.seq > expected_seq else rec.seq,
                                    f"record {expected_seq} is missing (next is {rec.seq})")
            if rec.prev_hash != prev:
                return count, Break(rec.seq, "its prev_hash does not match the previous record's hash")
            digest = record_hash(rec.seq, rec.time, rec.actor, rec.address, rec.action, rec.target,
                                 rec.details["_raw"], rec.outcome, rec.prev_hash)
            if digest != rec.hash:
                return count, Break(rec.seq, "its content does not match its hash (the record was edited)")
            prev = rec.hash
            expected_seq += 1
            count += 1
        return count, None

    def head(self) -> tuple[int, str]:
        """(last seq, last hash): write it down elsewhere to notice a truncated tail later."""
        with self.db.read() as conn:
            row = conn.execute(f"SELECT seq, hash FROM {self.table} ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def to_csv(records: list[Record]) -> bytes:
    """UTF-8 with BOM for Excel; cells that a spreadsheet would run as formulas are quoted with an apostrophe."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for r in records:
        row = [r.seq, r.time, r.actor or "", r.address or "", r.action, r.target, _canonical(r.details), r.outcome,
               r.prev_hash, r.hash]
        writer.writerow(["'" + v if isinstance(v, str) and v.startswith(("=", "+", "-", "@", "\t", "\r")) else v
                         for v in row])
    return buf.getvalue().encode("utf-8-sig")
