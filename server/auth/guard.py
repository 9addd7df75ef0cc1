"""The guard: every request's route is looked up in :data:`server.auth.rights.RIGHTS` before it runs.

A pure ASGI middleware, so it covers every kind of route the same way —
FastAPI routes, Starlette routes (``/docs``, ``/openapi.json``) and mounts
(``/static``). For each request it:

1. finds the route the router will run (the router's own matching);
2. resolves who is asking — ``Authorization: Bearer`` token, the trusted SSO
   header (only from a trusted proxy), or the session cookie — once;
3. refuses with 401 (nobody signed in; HTML pages get the login form) or 403
   (signed in, role lacks the right) unless the principal has the route's right;
4. for state-changing methods of cookie sessions, checks the CSRF token
   (``X-CSRF-Token`` header, ``csrf_token`` query parameter — for multipart
   forms, whose body the upload handler streams — or ``csrf_token`` form field);
5. sends a new session cookie when the session changed.

A route with no entry in the table answers 500 and is logged, so a route
added without a right fails loudly instead of being open.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qs

from starlette._utils import get_route_path
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.errors import CsrfFailed, Forbidden, InvalidInput, NotAuthenticated, PlanviewError, TooLarge
from layers.accounts import Role, check_name, token_user
from server import errors
from server.auth.rights import RIGHTS, route_key
from server.auth.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER, Session
from server.auth.state import ANONYMOUS, AuthState, Principal

log = logging.getLogger("planview.auth")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
FORM_LIMIT = 1024 * 1024  # url-encoded form bodies read here to find the CSRF field


def flat_routes(routes: list[Any]) -> list[tuple[str, set[str] | None, bool]]:
    """(path template, methods or None for a mount, is-mount) of every route, in the order the router tries them.

    Recent FastAPI keeps included routers nested; ``iter_route_contexts`` flattens
    them with their full paths. Older FastAPI flattened on inclusion already.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before nested routers
        contexts: list[Any] = list(routes)
    else:
        contexts = list(iter_route_contexts(routes))
    out: list[tuple[str, set[str] | None, bool]] = []
    for ctx in contexts:
        original = getattr(ctx, "original_route", ctx)
        if isinstance(original, Mount):
            out.append((original.path, None, True))
        elif getattr(ctx, "path", None):
            out.append((ctx.path, set(getattr(ctx, "methods", None) or {"GET"}), False))
    return out


class RouteTable:
    """The app's routes as compiled patterns, to name the route a request will reach before the router runs it."""

    def __init__(self, routes: list[Any]) -> None:
        self.size = len(routes)
        self.entries: list[tuple[re.Pattern[str], set[str] | None, str]] = []
        for path, methods, mount in flat_routes(routes):
            if mount:
                self.entries.append((re.compile("^" + re.escape(path) + "(/.*)?$"), None, f"MOUNT {path}"))
            else:
                regex, _, _ = compile_path(path)
                self.entries.append((regex, methods, path))

    def key(self, method: str, path: str) -> str | None:
        """``"METHOD /template"`` or ``"MOUNT /prefix"`` of the first full match, None when none fully matches."""
        for regex, methods, template in self.entries:
            if not regex.match(path):
                continue
            if methods is None:
                return template
            if method in methods or (method == "HEAD" and "GET" in methods):
                return route_key(method, template)
        return None


class RightsGuard:
    def __init__(self, app: ASGIApp, *, fastapi_app: Any) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self._table: RouteTable | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        state: AuthState = self.fastapi_app.state.auth
        settings = state.settings
        request = Request(scope)
        routes = self.fastapi_app.router.routes
        if self._table is None or self._table.size != len(routes):
            self._table = RouteTable(routes)
        key = self._table.key(scope["method"], get_route_path(scope))
        scope["planview.route_key"] = key
        sender = _CookieSender(send, scope, state)
        try:
            principal = await self._principal(request, state)
            scope["planview.principal"] = principal
            if principal.user is not None:  # request.state.user: the signed-in user, for handlers that only need it
                scope.setdefault("state", {})["user"] = principal.user
            if key is None:  # no such route (404) or wrong method (405): the router answers, revealing nothing
                await self.app(scope, receive, sender)
                return
            right = RIGHTS.get(key)
            if right is None:
                log.error("route %s has no right in server/auth/rights.py RIGHTS: add one line there", key)
                raise PlanviewError(f"路由 {key} 未声明所需权限 / route {key} declares no right (server/auth/rights.py)")
            if not principal.has(right, public_maps=settings.public_maps):
                if principal.user is None:
                    raise NotAuthenticated("请先登录 / please sign in")
                await run_in_threadpool(self._record_denied, request, state, principal, key)
                raise Forbidden(f"当前角色（{principal.role}）无权执行此操作 / your role ({principal.role}) may not "
                                "do this")
            if scope["method"] in UNSAFE and principal.via not in ("token", "sso"):
                receive = await self._check_csrf(request, state, receive)
        except PlanviewError as exc:
            response = errors.response_for(request, exc)
            if isinstance(exc, NotAuthenticated) and not errors.wants_html(request):
                response.headers["WWW-Authenticate"] = 'Bearer realm="planview"'
            await response(scope, receive, sender)
            return
        await self.app(scope, receive, sender)

    @staticmethod
    def _record_denied(request: Request, state: AuthState, principal: Principal, key: str) -> None:
        from layers.audit import Entry

        state.audit.append(Entry(actor=principal.name, address=state.client_address(request), action="denied",
                                 target=key, details={"via": principal.via, "role": str(principal.role)},
                                 outcome="denied: role lacks the right"))

    async def _principal(self, request: Request, state: AuthState) -> Principal:
        settings = state.settings
        auth = request.headers.get("authorization")
        if auth:
            scheme, _, credentials = auth.partition(" ")
            if scheme.lower() != "bearer" or not credentials.strip():
                raise NotAuthenticated("只支持 Authorization: Bearer 个人令牌 / only Authorization: Bearer "
                                       "personal tokens are accepted")
            user = await run_in_threadpool(token_user, state.accounts, credentials)
            if user is None:
                raise NotAuthenticated("令牌无效或已撤销 / the token is invalid or revoked")
            return Principal(user=user, via="token")
        header = settings.trusted_user_header
        if header and request.client and state.is_trusted_proxy(request.client.host):
            name = request.headers.get(header)
            if name:
                user = await run_in_threadpool(self._sso_user, state, name.strip())
                if user is not None:
                    return Principal(user=user, via="sso")
        session = state.codec.loads(request.cookies.get(COOKIE)) if request.cookies.get(COOKIE) else None
        if session is None:
            if request.cookies.get(COOKIE):
                request.scope["planview.session"] = Session(nonce="", clear=True)
            return ANONYMOUS
        request.scope["planview.session"] = session
        if session.user is None:
            return ANONYMOUS
        found = await run_in_threadpool(state.accounts.find_user, session.user)
        if found is None or found.disabled or found.session_epoch != session.epoch:
            request.scope["planview.session"] = Session.fresh()  # signed out elsewhere: start anonymous
            return ANONYMOUS
        return Principal(user=found, via="session")

    @staticmethod
    def _sso_user(state: AuthState, name: str) -> Any:
        """The user the proxy vouches for, created on first sight with the configured default role."""
        try:
            check_name(name)
        except InvalidInput:
            return None
        user = state.accounts.find_user(name)
        if user is None:
            user = state.accounts.add_user(name, Role.parse(state.settings.sso_default_role), None, source="sso")
        return None if user.disabled else user

    async def _check_csrf(self, request: Request, state: AuthState, receive: Receive) -> Receive:
        session: Session | None = request.scope.get("planview.session")
        token = request.headers.get(CSRF_HEADER) or request.query_params.get(CSRF_FIELD)
        replay = receive
        content_type = request.headers.get("content-type", "")
        if not token and content_type.startswith("application/x-www-form-urlencoded"):
            body = bytearray()
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > FORM_LIMIT:
                    raise TooLarge("表单过大 / the form is too large")
            values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(CSRF_FIELD)
            token = values[0] if values else None
            replay = _replay(bytes(body))
        if session is None or not session.nonce or not state.codec.csrf_ok(session, token):
            raise CsrfFailed("表单已过期或来源不明，请刷新页面后重试 / the form has expired or did not come from this "
                            "site (CSRF check failed); reload the page and try again")
        return replay


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class _CookieSender:
    """Adds the session cookie to the response when the session was issued, changed or must be cleared."""

    def __init__(self, send: Send, scope: Scope, state: AuthState) -> None:
        self.send = send
        self.scope = scope
        self.state = state

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            session: Session | None = self.scope.get("planview.session")
            if session is not None and (session.issue or session.clear):
                headers = MutableHeaders(scope=message)
                headers.append("set-cookie", self._cookie(session))
                headers["cache-control"] = "no-store"  # a response that sets a session is never shared by caches
        await self.send(message)

    def _cookie(self, session: Session) -> str:
        settings = self.state.settings
        secure = settings.cookie_secure if settings.cookie_secure is not None else self.scope.get("scheme") == "https"
        attrs = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        if session.clear and not session.issue:
            return f"{COOKIE}=; Max-Age=0{attrs}"
        max_age = f"; Max-Age={int(settings.session_hours * 3600)}" if session.user else ""
        return f"{COOKIE}={self.state.codec.dumps(session)}{max_age}{attrs}"


def install(app: Any) -> None:
    """Attach the guard (outermost but for the server-error middleware) to an app."""
    app.add_middleware(RightsGuard, fastapi_app=app)


def assert_guarded(request: Request) -> None:
    """App-wide dependency: a FastAPI route the guard did not recognise fails closed (500), never runs open."""
    if request.scope.get("planview.route_key") is None:
        log.error("route for %s %s was not checked by the guard", request.method, request.url.path)
        raise PlanviewError("此路由未经权限检查 / this route was not checked for rights (server/auth/rights.py)")

