"""HTTP hygiene on every response: security headers, HEAD, ``Allow`` on 405, body timeouts, read-only CORS.

All of it is pure ASGI middleware. Starlette's ``BaseHTTPMiddleware`` is avoided on
purpose: it runs the endpoint in a separate task and breaks streamed bodies and
disconnect detection, which the job pool relies on.

``install(app, settings)`` wraps the whole middleware stack (outside Starlette's
``ServerErrorMiddleware``), so even a 500 page or a 405 from the router carries the
headers.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import anyio
from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Match, Mount, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.errors import RequestTimeout
from server.mapview.basemaps import basemap_options, online_providers
from server.settings import Settings

# Read-only routes other web clients (a QGIS web client, another portal) may read across origins.
CORS_PREFIXES = ("/api/layers", "/ogc", "/tiles")
READ_METHODS = ("GET", "HEAD")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def script_hash(text: str) -> str:
    """The CSP ``'sha256-…'`` source that lets exactly this inline script run (its text as the browser hashes it)."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode('utf-8')).digest()).decode('ascii')}'"


def script_hashes(html: str) -> list[str]:
    """CSP sources of a page's plain inline ``<script>`` elements."""
    return [script_hash(s) for s in _INLINE_SCRIPT.findall(html)]


def content_security_policy(tile_origins: Iterable[str] = (), script_sources: Iterable[str] = ()) -> str:
    """The policy: only this server's own scripts (and hashed inline ones), Leaflet's inline styles.

    Images, tiles and ``fetch`` come from this server, ``data:``/``blob:`` (Leaflet, exports) and
    the configured basemap tile servers; nothing may frame the pages but the pages themselves.
    """
    tiles = " ".join(sorted(set(tile_origins)))
    scripts = " ".join(["'self'", *script_sources])
    directives = [
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob: {tiles}".rstrip(),
        f"connect-src 'self' {tiles}".rstrip(),
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
    return "; ".join(directives)


def _origins(url: str, subdomains: str) -> list[str]:
    """The origins a Leaflet tile URL template reaches (``{s}`` expanded); none for a relative URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return []
    hosts = [parts.netloc.replace("{s}", s) for s in subdomains] if "{s}" in parts.netloc else [parts.netloc]
    return [f"{parts.scheme}://{host}" for host in hosts]


def basemap_origins(settings: Settings) -> list[str]:
    """Origins of the online and intranet tile servers the operator configured (they go into img-src)."""
    templates = [(p.url, p.subdomains) for p in online_providers(basemap_options(settings))]
    templates += [(url, "abc") for url in settings.basemap_urls.values()]  # as local_providers() offers them
    return sorted({origin for url, subdomains in templates for origin in _origins(url, subdomains)})


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The same headers for every page: no page needs eval (the map's measure tool is planview's own)."""
    csp = content_security_policy(basemap_origins(settings))
    return [(b"content-security-policy", csp.encode("latin-1")),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"SAMEORIGIN"),
            (b"referrer-policy", b"strict-origin-when-cross-origin")]


class SecurityHeaders:
    """Adds the security headers to every response that does not set its own (``/docs`` sets a hashed CSP)."""

    def __init__(self, app: ASGIApp, headers: Sequence[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = list(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        chosen = self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in chosen:
                    if name.decode("latin-1") not in headers:
                        headers.raw.append((name, value))
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """HEAD on every GET route: the request runs as GET and the body is dropped (headers, length, ETag stay).

    FastAPI's ``@router.get`` registers GET only; GDAL ``/vsicurl/`` and link checkers ask HEAD first.
    Paths under ``passthrough`` (StaticFiles) answer HEAD themselves without reading the file.
    """

    def __init__(self, app: ASGIApp, passthrough: Sequence[str] = ("/static/",)) -> None:
        self.app = app
        self.passthrough = tuple(passthrough)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or scope["path"].startswith(self.passthrough):
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route answers at this path (HEAD wherever GET is, see ``HeadAsGet``).

    The router is asked for each method in turn (FastAPI nests included routers, so the
    routes' own ``methods`` are not all visible at the top).
    """
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Mount):
            if route.matches(scope)[0] == Match.FULL and isinstance(route.app, StaticFiles):
                methods |= {"GET", "HEAD"}
            continue
        methods |= {m for m in PROBED_METHODS if route.matches({**scope, "method": m})[0] == Match.FULL}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


class AllowOn405:
    """A 405 names the methods the path does answer (RFC 9110 §15.5.6), whichever route produced it."""

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router  # asked at 405 time: routes added after install() are seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_scope = dict(scope)  # the router updates the scope in place (root_path of a mount)

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = allowed_methods(self.router.routes, request_scope)
                if methods:
                    MutableHeaders(scope=message)["allow"] = ", ".join(methods)
            await send(message)

        await self.app(scope, receive, send_with_allow)


class BodyTimeout:
    """Each read of the request body must arrive within ``timeout`` seconds, else 408.

    A client that sends headers and then trickles (or stops sending) its body would
    otherwise hold a request slot for ever. Once the body is complete, reads (which then
    only wait for a disconnect, as the job pool does) are no longer timed.
    """

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                with anyio.fail_after(self.timeout):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(f"{self.timeout:g} 秒内未收到请求数据，连接已关闭；请检查网络后重试 / no request "
                                     f"data for {self.timeout:g} s; check the connection and send again") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed_receive, send)


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


class ReadOnlyCors:
    """CORS for the read-only routes (layers, OGC API, tiles) only, and only for GET/HEAD (and preflight).

    Off unless ``PLANVIEW_CORS_ORIGINS`` lists origins: pages, uploads and exports stay same-origin.
    """

    def __init__(self, app: ASGIApp, origins: Sequence[str], prefixes: Sequence[str] = CORS_PREFIXES) -> None:
        self.app = app
        self.prefixes = tuple(prefixes)
        self.cors = CORSMiddleware(app, allow_origins=list(origins), allow_methods=list(READ_METHODS),
                                   allow_headers=["Range", "If-None-Match", "If-Range", "Accept-Crs"],
                                   expose_headers=["Content-Range", "Accept-Ranges", "ETag", "Content-Crs",
                                                   "Link", "Content-Length"], max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] in (*READ_METHODS, "OPTIONS")
                and _under(scope["path"], self.prefixes)):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    """Wrap the app's whole middleware stack (built lazily by Starlette) in the hygiene layers."""
    headers = security_headers(settings)
    build_inner = app.build_middleware_stack

    def build() -> ASGIApp:
        stack: ASGIApp = BodyTimeout(build_inner(), settings.body_timeout_s)
        stack = AllowOn405(stack, app.router)
        stack = HeadAsGet(stack)
        if settings.cors_origins:
            stack = ReadOnlyCors(stack, settings.cors_origins)
        return SecurityHeaders(stack, headers)

    app.build_middleware_stack = build  # type: ignore[method-assign]


def csp_with_inline_scripts(settings: Settings, html: str) -> str:
    """The policy of a page that must keep inline scripts (Swagger UI's init): the usual one plus their hashes."""
    return content_security_policy(basemap_origins(settings), script_hashes(html))


def csp_allowing(settings: Settings, scripts: Iterable[str]) -> str:
    """The usual policy plus exactly these inline scripts (the map page's boot script and Folium module)."""
    return content_security_policy(basemap_origins(settings), [script_hash(s) for s in scripts])
