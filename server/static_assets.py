"""Static files (``/static``) from memory: the map page's ~30 scripts and styles on every cold load.

Starlette's ``StaticFiles`` answers each request with a thread hop for ``stat`` and a file read, and
the gzip middleware compressed each text asset again; on a two-core intranet server that was server
time on the path of every first view. Here each small asset is read and gzipped once per version
(path, mtime, size: an edited file is picked up on its next request) and answered from memory with
StaticFiles' own ``ETag``/``Last-Modified``, so revalidation and ``304`` behave as before. Anything
else (large files, ranges, directories, what does not exist) goes to ``StaticFiles`` unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import stat
from dataclasses import dataclass
from email.utils import formatdate
from functools import lru_cache
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

COMPRESSIBLE = ("text/javascript", "application/javascript", "text/css", "image/svg+xml", "application/json")
MAX_IN_MEMORY = 2 * 1024 * 1024  # bytes; larger files (tile archives, fonts) stream from disk as before
MIN_GZIP = 1024


@dataclass(frozen=True)
class Asset:
    """One file's bytes, gzipped bytes (when worth it) and validators, for one (mtime, size) version."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str
    last_modified: str


@lru_cache(maxsize=512)
def _asset(full_path: str, mtime: float, size: int) -> Asset:
    with open(full_path, "rb") as f:
        body = f.read()
    media_type = mimetypes.guess_type(full_path)[0] or "text/plain"  # as FileResponse (text/* gets a charset)
    zipped = None
    if media_type.split(";")[0] in COMPRESSIBLE and len(body) > MIN_GZIP:
        zipped = gzip.compress(body, compresslevel=6, mtime=0)
    etag_base = f"{mtime}-{size}"  # the same validators as FileResponse, so caches stay valid across versions
    etag = f'"{hashlib.md5(etag_base.encode(), usedforsecurity=False).hexdigest()}"'
    return Asset(body, zipped, media_type, etag, formatdate(mtime, usegmt=True))


class CachedStaticFiles(StaticFiles):
    """StaticFiles with ``Cache-Control`` and small files answered from memory (gzipped when asked).

    Vendored libraries rarely change (a day); our own assets may (five minutes, then revalidated);
    ``immutable`` folders hold files named by their content (the first-view build), kept for a year.
    """

    def __init__(self, *, immutable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.immutable = immutable

    def cache_control(self, path: str) -> str:
        if self.immutable:
            return "public, max-age=31536000, immutable"
        return f"public, max-age={86400 if path.startswith('vendor/') else 300}"

    async def get_response(self, path: str, scope: Scope) -> Response:
        headers = Headers(scope=scope)
        if scope["method"] == "GET" and "range" not in headers:
            found = self._lookup(path)
            if found is not None:
                return self._from_memory(path, *found, headers)
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = self.cache_control(path)
        return response

    def _lookup(self, path: str) -> tuple[str, os.stat_result] | None:
        """The regular file ``path`` names, if it is small enough to keep; a stat, no thread hop."""
        try:
            full_path, st = self.lookup_path(path)
        except (OSError, ValueError):
            return None  # StaticFiles decides what to answer (401, 404)
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_size > MAX_IN_MEMORY:
            return None
        return full_path, st

    def _from_memory(self, path: str, full_path: str, st: os.stat_result, request: Headers) -> Response:
        asset = _asset(full_path, st.st_mtime, st.st_size)
        out = {"etag": asset.etag, "last-modified": asset.last_modified,
               "cache-control": self.cache_control(path)}
        if asset.gzipped is not None:
            out["vary"] = "Accept-Encoding"
        if self.is_not_modified(Headers(out), request):
            return NotModifiedResponse(Headers(out))
        if asset.gzipped is not None and "gzip" in request.get("accept-encoding", ""):
            out["content-encoding"] = "gzip"  # the gzip middleware leaves an encoded body alone
            return Response(asset.gzipped, headers=out, media_type=asset.media_type)
        return Response(asset.body, headers=out, media_type=asset.media_type)
