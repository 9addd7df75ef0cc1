"""``/fonts/cjk.css`` and the subsets it names: the pages' fallback Chinese web font (geo/webfont.py).

planview.css names the family after the system CJK fonts, so only a browser without any of them fetches a
subset. The stylesheet has a fixed URL (the pages link it) and is revalidated hourly; the subsets are named by
their content and cached for good.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from geo.errors import NotFound
from geo.webfont import WebFonts, ensure_web_fonts, stylesheet, text_folders
from server.dependencies import SettingsDep
from server.settings import ROOT

router = APIRouter(tags=["pages"])
PREFIX = "/fonts"


@lru_cache(maxsize=4)
def _fonts(data_dir: Path) -> tuple[WebFonts, bytes, str]:
    """The subsets, their stylesheet and its ETag: built once per process."""
    fonts = ensure_web_fonts(text_folders(data_dir, ROOT))
    css = stylesheet(fonts, {f.path.name: f"{PREFIX}/{f.path.name}" for f in (fonts.common, fonts.rest)}).encode("utf-8")
    return fonts, css, '"' + hashlib.sha256(css).hexdigest()[:24] + '"'


@router.get("/fonts/cjk.css", include_in_schema=False)
def cjk_stylesheet(request: Request, settings: SettingsDep) -> Response:
    _, css, etag = _fonts(settings.data_dir)
    headers = {"Cache-Control": "public, max-age=3600", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(css, media_type="text/css; charset=utf-8", headers=headers)


@router.get("/fonts/{name}", include_in_schema=False)
def cjk_subset(name: str, settings: SettingsDep) -> Response:
    fonts = _fonts(settings.data_dir)[0]
    path = {f.path.name: f.path for f in (fonts.common, fonts.rest)}.get(name)
    if path is None:
        raise NotFound(f"没有这个字体文件 / no font named {name!r}")
    stat = path.stat()
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'}
    return FileResponse(path, media_type="font/woff2", headers=headers)
