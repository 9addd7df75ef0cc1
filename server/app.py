"""The app factory: ``create_app(settings)`` builds a ready FastAPI app.

Tests build apps with their own settings; ``planview serve`` builds one from
the environment. The layer catalogue is loaded once, here.
"""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI
from fastapi.templating import Jinja2Templates
from starlette.middleware.gzip import GZipMiddleware

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
    fonts,
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
from server.static_assets import CachedStaticFiles

log = logging.getLogger(__name__)
TEMPLATES_DIR = ROOT / "server" / "templates"
PRECOMPRESSED = ("image/png", "image/jpeg", "image/webp", "image/avif", "application/pdf", "application/zip", "application/gzip",
                 "font/woff", "font/woff2", "text/event-stream")


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
    app.include_router(fonts.router)
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
    # the build of the map page's modules (planview js build; server/mapview/frontend.py), if there is one
    app.mount("/static/build", CachedStaticFiles(directory=str(settings.js_build_dir), check_dir=False, immutable=True),
              name="static-build")
    app.mount("/static", CachedStaticFiles(directory=str(settings.static_dir)), name="static")
    # matched first: a static file (most of a cold page load's requests) skips the ~100 route patterns
    app.router.routes[:0] = [app.router.routes.pop(), app.router.routes.pop()][::-1]
    return app
