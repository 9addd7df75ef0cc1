"""``/fonts/cjk.woff2``: the pages' fallback Chinese web font (geo/webfont.py).

planview.css names it after the system CJK fonts, so only a browser without any of them fetches it.
A fixed URL (the stylesheet is a static file), so a week of caching with an ETag rather than ``immutable``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from geo.webfont import data_folders, ensure_web_font
from server.dependencies import SettingsDep

router = APIRouter(tags=["pages"])


@lru_cache(maxsize=4)
def _web_font(data_dir: Path) -> Path:
    return ensure_web_font(data_folders(data_dir))


@router.get("/fonts/cjk.woff2", include_in_schema=False)
def cjk_web_font(request: Request, settings: SettingsDep) -> Response:
    path = _web_font(settings.data_dir)
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {"Cache-Control": "public, max-age=604800", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type="font/woff2", headers=headers)
