"""The app factory: ``create_app(settings)`` builds a ready FastAPI app.

Tests build apps with their own settings; ``planview serve`` builds one from
the environment. The layer catalogue is loaded once, here.
"""

from __future__ import annotations

import gzip
import logging
from functools import lru_cache
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import FileResponse, Response
from starlette.types import Scope

from layers.catalogue import Catalogue
from layers.store import open_layer_store
from layers.store.registry import StoredLayers
from server import (
    api_layers,
    audit_api,
    basemap_tiles,
    draw_api,
    errors,
    export_api,
    jobs,
    layers_admin,
    monitor_api,
    ogc,
    overlay_api,
    pages,
    plans_pages,
    tiles,
)
from server import middleware as hygiene
from server.api_docs import router as api_docs_router
from server.auth import guard
from server.auth import pages as auth_pages
from server.auth.state import AuthState
from server.settings import ROOT, Settings

log = logging.getLogger(__name__)
TEMPLATES_DIR = ROOT / "server" / "templates"
PRECOMPRESSED = ("image/png", "image/jpeg", "image/webp", "image/avif", "application/pdf", "application/zip", "application/gzip",
                 "font/woff", "font/woff2", "text/event-stream")


COMPRESSIBLE = ("text/javascript", "application/javascript", "text/css", "image/svg+xml", "application/json")


@lru_cache(maxsize=256)
def _gzipped_file(path: str, mtime_ns: int, size: int) -> bytes:
    """A static file gzipped once per version (the map page's ~30 scripts and styles were re-compressed
    by GZipMiddleware on every cold load: server time on the first view's path)."""
    return gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)


class CachedStaticFiles(StaticFiles):
    """Static files with Cache-Control: vendored libraries rarely change, our own assets may.

    Both keep StaticFiles' ETag/Last-Modified, so a stale copy is revalidated cheaply. Text assets
    go out gzipped from a cache (GZipMiddleware leaves a body that is already encoded alone).
    """

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            max_age = 86400 if path.startswith("vendor/") else 300
            response.headers["Cache-Control"] = f"public, max-age={max_age}"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if (isinstance(response, FileResponse) and response.status_code == 200 and scope.get("method") == "GET"
                and "range" not in headers and "gzip" in headers.get("accept-encoding", "")
                and (response.media_type or "").split(";")[0] in COMPRESSIBLE):
            stat = Path(response.path).stat()
            if stat.st_size > 1024:
                body = _gzipped_file(str(response.path), stat.st_mtime_ns, stat.st_size)
                keep = {k: v for k, v in response.headers.items()
                        if k in ("etag", "last-modified", "cache-control", "content-type")}
                return Response(body, headers={**keep, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return response


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="planview", description="重庆市与云阳县科技创新“十四五”规划地图", version="0.1.0",
                  docs_url=None, redoc_url=None,  # served offline by server/api_docs.py
                  dependencies=[Depends(guard.assert_guarded)])  # fail closed: no route runs unchecked
    app.state.settings = settings
    app.state.catalogue = Catalogue.load(settings.data_dir, settings.build_dir)
    for layer_id, reason in app.state.catalogue.failed.items():
        log.error("layer %s unavailable: %s", layer_id, reason)
    app.state.auth = AuthState(settings)  # accounts, audit trail, sessions; stores open on first use
    # Stored (imported) layers: only their manifests are read here; features are read by area on request.
    app.state.stored_layers = StoredLayers(open_layer_store(gpkg_path=settings.layer_store_gpkg,
                                                            database_url=settings.database_url,
                                                            schema=settings.layer_store_schema))
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR),  # autoescape on for .html
                                context_processors=[auth_pages.template_context])
    app.state.templates = templates
    # PNG/PDF are compressed already; gzipping them again only costs time.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6, exclude_content_types=PRECOMPRESSED)
    errors.install(app)
    hygiene.install(app, settings)  # security headers, HEAD, Allow on 405, body timeout, CORS
    guard.install(app)  # every route's right, from server/auth/rights.py, checked before it runs
    app.include_router(api_layers.router)
    app.include_router(tiles.router)
    app.include_router(tiles.ogc_router)
    app.include_router(ogc.router)
    app.include_router(draw_api.router)  # before overlay_api: /api/overlay/check is not a workspace id
    app.include_router(overlay_api.router)
    app.include_router(export_api.router)
    app.include_router(jobs.router)
    app.include_router(monitor_api.router)
    app.include_router(pages.router)
    app.include_router(auth_pages.router)
    app.include_router(audit_api.router)
    app.include_router(layers_admin.router)
    app.include_router(basemap_tiles.router)
    app.include_router(plans_pages.router)
    app.include_router(api_docs_router)  # /docs, /redoc
    app.mount("/static", CachedStaticFiles(directory=str(settings.static_dir)), name="static")
    return app
