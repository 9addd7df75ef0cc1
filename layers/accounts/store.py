"""The account store: users, API tokens and a few settings, in the workspace GeoPackage or PostGIS.

Tables (not registered in ``gpkg_contents``, so GIS clients do not list them
as layers): ``planview_users``, ``planview_tokens`` and ``planview_meta``
(key/value, e.g. the generated session-signing secret). One implementation
serves both back ends through :class:`layers.db.Database`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from geo.errors import Conflict, NotFound, StorageError
from layers.accounts.credentials import same
from layers.accounts.model import Role, TokenInfo, User, check_name
from layers.db import Database

_SCHEMA_LOCK = 0x61636374  # "acct"


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class AccountStore:
    """Users and tokens; every write is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.users = db.table("planview_users")
        self.tokens = db.table("planview_tokens")
        self.meta = db.table("planview_meta")
        db.ensure_schema([
            f"CREATE TABLE IF NOT EXISTS {self.users} (name TEXT PRIMARY KEY, role TEXT NOT NULL,"
            " disabled INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, source TEXT NOT NULL,"
            " session_epoch INTEGER NOT NULL DEFAULT 0, password_hash TEXT)",
            f"CREATE TABLE IF NOT EXISTS {self.tokens} (id TEXT PRIMARY KEY, user_name TEXT NOT NULL,"
            " secret_hash TEXT NOT NULL, label TEXT NOT NULL, created TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ], _SCHEMA_LOCK)

    def _fail(self, what: str, exc: Exception) -> StorageError:
        return StorageError(f"账户存储出错（{what}）/ the account store failed ({what})", detail=str(exc))

    @staticmethod
    def _user(row: Any) -> User:
        return User(name=row[0], role=Role(row[1]), disabled=bool(row[2]), created=parse_time(row[3]),
                    source=row[4], session_epoch=int(row[5]), password_hash=row[6])

    _COLUMNS = "name, role, disabled, created, source, session_epoch, password_hash"

    # ------------------------------------------------------------ users

    def add_user(self, name: str, role: Role, password_hash: str | None, *, source: str = "local") -> User:
        check_name(name)
        try:
            with self.db.write() as conn:
                if conn.execute(f"SELECT 1 FROM {self.users} WHERE name = ?", (name,)).fetchone():
                    raise Conflict(f"用户 {name} 已存在 / user {name} already exists")
                conn.execute(f"INSERT INTO {self.users} ({self._COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                             (name, role.value, 0, now_text(), source, 0, password_hash))
        except self.db.errors as exc:
            raise self._fail("add user", exc) from exc
        return self.get_user(name)

    def find_user(self, name: str) -> User | None:
        try:
            with self.db.read() as conn:
                row = conn.execute(f"SELECT {self._COLUMNS} FROM {self.users} WHERE name = ?", (name,)).fetchone()
        except self.db.errors as exc:
            raise self._fail("read user", exc) from exc
        return self._user(row) if row else None

    def get_user(self, name: str) -> User:
        user = self.find_user(name)
        if user is None:
            raise NotFound(f"没有用户 {name} / no user {name}")
        return user

    def list_users(self) -> list[User]:
        try:
            with self.db.read() as conn:
                rows = conn.execute(f"SELECT {self._COLUMNS} FROM {self.users} ORDER BY name").fetchall()
        except self.db.errors as exc:
            raise self._fail("list users", exc) from exc
        return [self._user(r) for r in rows]

    def count_admins(self) -> int:
        try:
            with self.db.read() as conn:
                row = conn.execute(f"SELECT count(*) FROM {self.users} WHERE role = ? AND disabled = 0",
                                   (Role.ADMIN.value,)).fetchone()
        except self.db.errors as exc:
            raise self._fail("count users", exc) from exc
        return int(row[0])

    def update_user(self, name: str, *, role: Role | None = None, disabled: bool | None = None,
                    password_hash: str | None = None, end_sessions: bool = False) -> User:
        """Change a user; ``end_sessions`` (implied by disabling or a new password) signs out every session."""
        sets: list[str] = []
        params: list[Any] = []
        if role is not None:
            sets.append("role = ?")
            params.append(role.value)
        if disabled is not None:
            sets.append("disabled = ?")
            params.append(1 if disabled else 0)
        if password_hash is not None:
            sets.append("password_hash = ?")
            params.append(password_hash)
        if end_sessions or disabled or password_hash is not None:
            sets.append("session_epoch = session_epoch + 1")
        if not sets:
            return self.get_user(name)
        try:
            with self.db.write() as conn:
                cur = conn.execute(f"UPDATE {self.users} SET {', '.join(sets)} WHERE name = ?", (*params, name))
                if cur.rowcount == 0:
                    raise NotFound(f"没有用户 {name} / no user {name}")
                if disabled:
                    conn.execute(f"DELETE FROM {self.tokens} WHERE user_name = ?", (name,))
        except self.db.errors as exc:
            raise self._fail("update user", exc) from exc
        return self.get_user(name)

    # ------------------------------------------------------------ tokens

    def add_token(self, user: str, token_id: str, secret_hash: str, label: str) -> TokenInfo:
        created = now_text()
        try:
            with self.db.write() as conn:
                if not conn.execute(f"SELECT 1 FROM {self.users} WHERE name = ?", (user,)).fetchone():
                    raise NotFound(f"没有用户 {user} / no user {user}")
                conn.execute(f"INSERT INTO {self.tokens} (id, user_name, secret_hash, label, created)"
                             " VALUES (?,?,?,?,?)", (token_id, user, secret_hash, label[:100], created))
        except self.db.errors as exc:
            raise self._fail("add token", exc) from exc
        return TokenInfo(id=token_id, user=user, label=label[:100], created=parse_time(created))

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        where, params = ("WHERE user_name = ?", (user,)) if user else ("", ())
        try:
            with self.db.read() as conn:
                rows = conn.execute(f"SELECT id, user_name, label, created FROM {self.tokens} {where}"
                                    " ORDER BY created", params).fetchall()
        except self.db.errors as exc:
            raise self._fail("list tokens", exc) from exc
        return [TokenInfo(id=r[0], user=r[1], label=r[2], created=parse_time(r[3])) for r in rows]

    def revoke_token(self, token_id: str, *, user: str | None = None) -> TokenInfo:
        """Delete a token (only ``user``'s when given: someone else's answers NotFound)."""
        try:
            with self.db.write() as conn:
                row = conn.execute(f"SELECT id, user_name, label, created FROM {self.tokens} WHERE id = ?",
                                   (token_id,)).fetchone()
                if row is None or (user is not None and row[1] != user):
                    raise NotFound(f"没有令牌 {token_id} / no token {token_id}")
                conn.execute(f"DELETE FROM {self.tokens} WHERE id = ?", (token_id,))
        except self.db.errors as exc:
            raise self._fail("revoke token", exc) from exc
        return TokenInfo(id=row[0], user=row[1], label=row[2], created=parse_time(row[3]))

    def token_user(self, token_id: str, secret_hash: str) -> User | None:
        """The enabled user a token belongs to, or None (unknown id, wrong secret, disabled user)."""
        try:
            with self.db.read() as conn:
                row = conn.execute(
                    f"SELECT t.secret_hash, u.name, u.role, u.disabled, u.created, u.source, u.session_epoch,"
                    f" u.password_hash FROM {self.tokens} t JOIN {self.users} u ON u.name = t.user_name"
                    " WHERE t.id = ?", (token_id,)).fetchone()
        except self.db.errors as exc:
            raise self._fail("read token", exc) from exc
        if row is None or not same(row[0], secret_hash):
            return None
        user = self._user(row[1:])
        return None if user.disabled else user

    # ------------------------------------------------------------ meta

    def meta_value(self, key: str, default: str) -> str:
        """The stored value of ``key``; the first caller's ``default`` is stored (and kept) when absent."""
        try:
            with self.db.write() as conn:
                row = conn.execute(f"SELECT value FROM {self.meta} WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    return str(row[0])
                conn.execute(f"INSERT INTO {self.meta} (key, value) VALUES (?, ?)", (key, default))
                return default
        except self.db.errors as exc:
            raise self._fail("meta", exc) from exc
