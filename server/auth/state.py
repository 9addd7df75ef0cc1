"""The app's account store, audit trail, throttle and session codec, opened once on first use.

Also: who is asking (:class:`Principal`), resolved once per request by the
guard and read by handlers through :data:`CurrentUser`; and :func:`record`,
the one way handlers append to the audit trail.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import sys
import threading
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from geo.errors import NotFound
from layers.accounts import AccountStore, LoginThrottle, Role, User, ensure_admin, open_accounts
from layers.audit import AuditTrail, Entry, open_audit
from layers.workspaces import Reader, WorkspaceStore
from server.auth.rights import Right, rights_of
from server.auth.sessions import Session, SessionCodec
from server.settings import Settings

log = logging.getLogger("planview.auth")


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user (through a session, a token or the SSO header) or nobody."""

    user: User | None
    via: str  # session | token | sso | anonymous

    @property
    def name(self) -> str | None:
        return self.user.name if self.user else None

    @property
    def role(self) -> Role | None:
        return self.user.role if self.user else None

    def rights(self, *, public_maps: bool) -> frozenset[Right]:
        return rights_of(self.role, public_maps=public_maps)

    def has(self, right: Right, *, public_maps: bool) -> bool:
        return right in self.rights(public_maps=public_maps)

    @property
    def reader(self) -> Reader:
        """Whose workspaces this principal sees (admins: all; nobody signed in: none, name '' owns nothing)."""
        if self.user is None:
            return Reader(name="\x00anonymous")
        return Reader(name=self.user.name, see_all=self.user.role is Role.ADMIN)


ANONYMOUS = Principal(user=None, via="anonymous")


class AuthState:
    """Per-app auth services. Stores open lazily so an app builds without touching the database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.throttle = LoginThrottle(per_account=settings.login_max_per_account,
                                      per_address=settings.login_max_per_address, window_s=settings.login_window_s)
        self._lock = threading.Lock()
        self._accounts: AccountStore | None = None
        self._audit: AuditTrail | None = None
        self._codec: SessionCodec | None = None
        self._trusted = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        self.directory: Any = None
        if settings.ldap_url:
            from server.auth.directory import directory_from

            self.directory = directory_from(settings)

    def _store_args(self) -> dict[str, Any]:
        return {"gpkg_path": self.settings.workspace_gpkg, "database_url": self.settings.database_url,
                "schema": getattr(self, "schema", None)}

    @property
    def accounts(self) -> AccountStore:
        with self._lock:
            if self._accounts is None:
                self._accounts = open_accounts(**self._store_args())
            return self._accounts

    @property
    def audit(self) -> AuditTrail:
        with self._lock:
            if self._audit is None:
                self._audit = open_audit(**self._store_args())
            return self._audit

    @property
    def codec(self) -> SessionCodec:
        if self._codec is None:
            secret = self.settings.secret_key or self.accounts.meta_value("session_secret", secrets.token_urlsafe(48))
            self._codec = SessionCodec(secret, int(self.settings.session_hours * 3600))
        return self._codec

    def use_schema(self, schema: str) -> None:
        """Tests: keep accounts and audit in a private PostGIS schema (like the workspace store's)."""
        self.schema = schema
        self._accounts = self._audit = None
        self._codec = None

    def bootstrap(self, workspaces: WorkspaceStore | None = None, *, announce: bool = True) -> str | None:
        """First start: create the admin (password from settings or generated, printed once); give old workspaces
        without an owner to the first admin. Returns the generated password, if one was made."""
        generated = ensure_admin(self.accounts, self.settings.admin_password)
        if generated and announce:
            banner = (f"\n  planview: 首次启动，已创建管理员 admin，初始密码（只显示这一次）：{generated}\n"
                      f"  planview: first start — created user 'admin' with password {generated} (shown once; "
                      "change it on /account)\n")
            print(banner, file=sys.stderr, flush=True)
        if workspaces is not None:
            admins = [u for u in self.accounts.list_users() if u.role is Role.ADMIN and not u.disabled]
            if admins:
                first = min(admins, key=lambda u: u.created)
                claimed = workspaces.claim_unowned(first.name)
                if claimed:
                    log.info("%d workspace(s) from before accounts now belong to %s", claimed, first.name)
        return generated

    def client_address(self, request: Request) -> str:
        host = request.client.host if request.client else "unknown"
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded and self.is_trusted_proxy(host):
            return forwarded.split(",")[-1].strip()[:100] or host
        return host

    def is_trusted_proxy(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self._trusted)


def auth_state(request: Request) -> AuthState:
    return request.app.state.auth  # type: ignore[no-any-return]


def current_principal(request: Request) -> Principal:
    """Who is asking (set by the guard before the handler runs)."""
    return request.scope.get("planview.principal", ANONYMOUS)  # type: ignore[no-any-return]


CurrentUser = Annotated[Principal, Depends(current_principal)]


def session_of(request: Request) -> Session:
    """This request's browser session; a fresh one (cookie sent with the response) when there is none."""
    session: Session | None = request.scope.get("planview.session")
    if session is None:
        session = Session.fresh()
        request.scope["planview.session"] = session
    return session


def csrf_token(request: Request) -> str:
    return auth_state(request).codec.csrf_token(session_of(request))


def _entry(request: Request, action: str, target: str | None, details: dict[str, Any] | None,
           outcome: str) -> Entry:
    principal = current_principal(request)
    return Entry(actor=principal.name, address=auth_state(request).client_address(request), action=action,
                 target=target if target is not None else f"{request.method} {request.url.path}",
                 details={"via": principal.via, **(details or {})}, outcome=outcome)


def record(request: Request, action: str, *, target: str | None = None, details: dict[str, Any] | None = None,
           outcome: str = "ok") -> None:
    """Append one audit record for this request (who, from where, route, ids, outcome). Blocking: call from
    sync handlers, or use :func:`arecord` in ``async def`` ones."""
    auth_state(request).audit.append(_entry(request, action, target, details, outcome))


async def arecord(request: Request, action: str, *, target: str | None = None,
                  details: dict[str, Any] | None = None, outcome: str = "ok") -> None:
    entry = _entry(request, action, target, details, outcome)
    await run_in_threadpool(auth_state(request).audit.append, entry)


def check_workspace(request: Request, ws_id: str, store: WorkspaceStore, *, change: bool = False) -> None:
    """NotFound unless the current user may read (``change``: delete/share) the workspace.

    Someone else's workspace answers exactly like a missing one (404), so ids do
    not leak; the refusal is still written to the audit trail.
    """
    principal = current_principal(request)
    access = store.access(ws_id)
    allowed = access.can_change(principal.reader) if change else access.can_read(principal.reader)
    if principal.user is None or not allowed:
        record(request, "denied", details={"workspace": ws_id}, outcome="denied: not owner or shared")
        raise NotFound(f"没有工作区 {ws_id} / no workspace {ws_id}")


def environment_actor() -> str:
    """Who runs a CLI command, for the audit trail."""
    try:
        user = os.getlogin()
    except OSError:
        user = os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid())
    return f"cli:{user}"
