"""Map the one exception hierarchy (``geo.errors``) to HTTP, in one place.

API paths get JSON ``{"error": code, "message": ...}`` (``/ogc`` paths the OGC
exception shape ``{"code": ..., "description": ...}``); page paths get a
Chinese HTML error page with a link back to the catalogue. The message is the
safe, user-facing text; details go to the log only.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import (
    Busy,
    Conflict,
    DataError,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PlanviewError,
    QuotaExceeded,
    StorageError,
    TooLarge,
    TooManyAttempts,
    UnsupportedFormat,
)
from server.jobs import ClientGone

log = logging.getLogger(__name__)

STATUS: dict[type[PlanviewError], int] = {
    NotFound: 404,
    NotAuthenticated: 401,
    Forbidden: 403,
    TooManyAttempts: 429,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedFormat: 415,
    InvalidInput: 400,
    DataError: 422,
    StorageError: 503,
    Busy: 503,
    QuotaExceeded: 507,
    PlanviewError: 500,
}


def status_for(exc: PlanviewError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api", "/ogc")):
        return False
    return "text/html" in request.headers.get("accept", "") or not path.startswith("/static")


def _error_page(request: Request, status: int, message: str) -> Response:
    templates = getattr(request.app.state, "templates", None)
    if templates is None:
        return HTMLResponse(f"<h1>{status}</h1>", status_code=status)
    return templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


def _respond(request: Request, status: int, code: str, message: str) -> Response:
    if wants_html(request):
        return _error_page(request, status, message)
    if request.url.path.startswith("/ogc"):
        # OGC API exception shape (Part 1, exception.yaml): the same mapping, another body.
        return JSONResponse({"code": code, "description": message}, status_code=status)
    return JSONResponse({"error": code, "message": message}, status_code=status)


def response_for(request: Request, exc: PlanviewError) -> Response:
    """The answer to one of our errors: status from STATUS; HTML pages asking for a login get the login form."""
    status = status_for(exc)
    log.log(logging.ERROR if status >= 500 else logging.INFO, "%s %s -> %s: %s %s",
            request.method, request.url.path, status, exc.message, exc.detail or "")
    if isinstance(exc, NotAuthenticated) and wants_html(request) and request.method in ("GET", "HEAD"):
        from server.auth.pages import login_page  # the login form, answering 401 in place of the page

        return login_page(request, status=401, next_url=request.url.path
                          + (f"?{request.url.query}" if request.url.query else ""), notice=exc.message)
    response = _respond(request, status, exc.code, exc.message)
    if isinstance(exc, TooManyAttempts | Busy):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def install(app: FastAPI) -> None:
    """Register the handlers on an app (called by the app factory)."""

    @app.exception_handler(PlanviewError)
    async def _planview(request: Request, exc: PlanviewError) -> Response:
        return response_for(request, exc)

    @app.exception_handler(ClientGone)
    async def _gone(request: Request, exc: ClientGone) -> Response:
        log.info("%s %s: client went away, job %s cancelled", request.method, request.url.path, exc)
        return Response(status_code=499)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return _respond(request, 400, "invalid_input", f"请求参数有误 / invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = "页面不存在 / not found" if exc.status_code == 404 else str(exc.detail)
        return _respond(request, exc.status_code, "http_error", message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _respond(request, 500, "internal", "服务器内部错误 / internal server error")
