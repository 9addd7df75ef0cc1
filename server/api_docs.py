"""``/docs`` (Swagger UI) and ``/redoc``: FastAPI's API pages, with their scripts served from /static/vendor.

FastAPI's defaults load them from a CDN, so the pages were blank offline. Swagger UI
needs one inline ``<script>`` (its configuration); the page's CSP allows exactly that
script by its SHA-256, nothing else inline.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from server.middleware import csp_with_inline_scripts

router = APIRouter(include_in_schema=False)
VENDOR = "/static/vendor"
FAVICON = "/static/favicon.svg"


def _title(request: Request) -> str:
    return str(request.app.title)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    page = get_swagger_ui_html(openapi_url=request.app.openapi_url, title=f"{_title(request)} — API (Swagger UI)",
                               swagger_js_url=f"{VENDOR}/swagger-ui-dist/swagger-ui-bundle.js",
                               swagger_css_url=f"{VENDOR}/swagger-ui-dist/swagger-ui.css",
                               swagger_favicon_url=FAVICON,
                               # no badge fetched from validator.swagger.io
                               swagger_ui_parameters={"validatorUrl": None})
    html = bytes(page.body).decode("utf-8")
    csp = csp_with_inline_scripts(request.app.state.settings, html)
    return HTMLResponse(html, headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"})


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    page = get_redoc_html(openapi_url=request.app.openapi_url, title=f"{_title(request)} — API (ReDoc)",
                          redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js", redoc_favicon_url=FAVICON,
                          with_google_fonts=False)
    return HTMLResponse(bytes(page.body), headers={"Cache-Control": "no-cache"})
