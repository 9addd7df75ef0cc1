"""Account operations the web app and the CLI share: sign in, first admin, tokens."""

from __future__ import annotations

from typing import Protocol

from geo.errors import Conflict, InvalidInput, NotAuthenticated
from layers.accounts.credentials import hash_password, new_password, new_token, parse_token, verify_password
from layers.accounts.model import Role, TokenInfo, User
from layers.accounts.store import AccountStore
from layers.accounts.throttle import LoginThrottle

BAD_LOGIN = "用户名或密码错误 / wrong user name or password"


class Directory(Protocol):
    """An external directory (LDAP) that checks passwords for accounts it knows."""

    def authenticate(self, name: str, password: str) -> Role | None:
        """The role for a good name/password, None for a bad one (raise StorageError when unreachable)."""
        ...


def authenticate(store: AccountStore, throttle: LoginThrottle, name: str, password: str, address: str,
                 directory: Directory | None = None) -> User:
    """The user for a good name and password; NotAuthenticated (one message for every failure) otherwise.

    Local accounts with a password are checked first; a name the store does not
    know, or knows as a directory account, is asked of ``directory`` and, on a
    good bind, kept as a ``ldap`` user (role from the directory's groups).
    """
    name = name.strip()
    throttle.check(name, address)
    user = store.find_user(name) if name and len(name) <= 64 else None
    ok = False
    if user is not None and user.source == "local":
        ok = verify_password(user.password_hash, password)
    elif directory is not None and name and password and (user is None or user.source == "ldap"):
        role = directory.authenticate(name, password)
        if role is not None:
            ok = True
            if user is None:
                user = store.add_user(name, role, None, source="ldap")
            elif user.role != role:
                user = store.update_user(name, role=role)
    else:
        verify_password(None, password)  # same time for a missing account as for a wrong password
    if not ok or user is None or user.disabled:
        throttle.failed(name, address)
        raise NotAuthenticated(BAD_LOGIN)
    throttle.succeeded(name)
    return user


def ensure_admin(store: AccountStore, password: str | None, name: str = "admin") -> str | None:
    """Create the first admin when there is none; returns a generated password to show once, else None."""
    if store.count_admins() > 0 or store.list_users():
        return None
    generated = None
    if not password:
        password = generated = new_password()
    try:
        store.add_user(name, Role.ADMIN, hash_password(password))
    except Conflict:
        return None  # another process sharing the store created it first (several `planview serve` on one PostGIS)
    return generated


def create_token(store: AccountStore, user: str, label: str) -> tuple[TokenInfo, str]:
    """A new personal API token: its listing and the text, shown once."""
    label = (label or "").strip() or "API"
    if len(label) > 100:
        raise InvalidInput("令牌说明过长（最多 100 字）/ token label too long (max 100)")
    token = new_token()
    info = store.add_token(user, token.id, token.secret_hash, label)
    return info, token.text


def token_user(store: AccountStore, text: str) -> User | None:
    parsed = parse_token(text)
    return store.token_user(*parsed) if parsed else None
