"""Accounts: users with a role, personal API tokens, login throttling (no web framework here).

Public API::

    from layers.accounts import open_accounts, Role

    store = open_accounts(gpkg_path=settings.workspace_gpkg, database_url=settings.database_url)
    store.add_user("li", Role.PLANNER, hash_password("…"))
    user = authenticate(store, throttle, "li", "…", address="10.0.0.5")   # or NotAuthenticated
    info, text = create_token(store, "li", "QGIS")                         # text shown once

Kept in the same GeoPackage or PostGIS database as the workspaces.
"""

from __future__ import annotations

from pathlib import Path

from layers.accounts.credentials import hash_password, verify_password
from layers.accounts.model import EVERYONE, Role, TokenInfo, User, check_name
from layers.accounts.service import authenticate, create_token, ensure_admin, token_user
from layers.accounts.store import AccountStore
from layers.accounts.throttle import LoginThrottle
from layers.db import Database

__all__ = ["EVERYONE", "AccountStore", "LoginThrottle", "Role", "TokenInfo", "User", "authenticate", "check_name",
           "create_token", "ensure_admin", "hash_password", "open_accounts", "open_database", "token_user",
           "verify_password"]


def open_database(*, gpkg_path: Path | str | None = None, database_url: str | None = None,
                  schema: str | None = None) -> Database:
    return Database(gpkg_path=Path(gpkg_path) if gpkg_path else None, database_url=database_url,
                    schema=schema or "public")


def open_accounts(*, gpkg_path: Path | str | None = None, database_url: str | None = None,
                  schema: str | None = None) -> AccountStore:
    return AccountStore(open_database(gpkg_path=gpkg_path, database_url=database_url, schema=schema))
