"""Response helpers: compact GeoJSON with ETag and Cache-Control."""

from __future__ import annotations

import gzip
import json
import re
from collections import OrderedDict
from threading import Lock
from typing import Any

from fastapi import Request
from fastapi.responses import Response

GEOJSON = "application/geo+json"
_RANGE = re.compile(r"bytes\s*=\s*(\d*)\s*-\s*(\d*)", re.IGNORECASE)  # one range; several -> whole body


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _GzipCache:
    """Compressed bodies by ETag: layer data is requested again and again, compressed once."""

    def __init__(self, max_entries: int = 128) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = Lock()
        self._max = max_entries

    def get(self, etag: str, body: bytes) -> bytes:
        with self._lock:
            if etag in self._items:
                self._items.move_to_end(etag)
                return self._items[etag]
        packed = gzip.compress(body, compresslevel=6)
        with self._lock:
            self._items[etag] = packed
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return packed


def _gzip_cache(request: Request) -> _GzipCache:
    """One cache per app: two apps in one process (tests, or two stores) never share bodies by ETag."""
    cache: _GzipCache | None = getattr(request.app.state, "gzip_cache", None)
    if cache is None:
        cache = request.app.state.gzip_cache = _GzipCache()
    return cache


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range ``[start, end)`` a ``Range: bytes=…`` header asks for; None to send the whole body.

    Several ranges, or a header that is not a byte range, get the whole body (RFC 9110 lets a server
    ignore Range). A range that starts past the end raises ``ValueError`` (416).
    """
    match = _RANGE.fullmatch(header.strip())
    if match is None or not (match[1] or match[2]):
        return None
    first, last = match[1], match[2]
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            raise ValueError("empty suffix range")
        return max(0, size - n), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size:
        raise ValueError("range starts past the end")
    if end <= start:
        return None
    return start, end


def ranged(request: Request, body: bytes, media_type: str, headers: dict[str, str]) -> Response | None:
    """A 206 (or 416) answer to a ``Range`` request for this body, or None when the whole body is due.

    GDAL ``/vsicurl/`` and QGIS HTTP sources read layer files this way. ``If-Range`` with
    another ETag means the client's copy is stale: the whole body is sent.
    """
    header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if not header or (if_range is not None and if_range != headers.get("ETag")):
        return None
    try:
        span = byte_range(header, len(body))
    except ValueError:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{len(body)}"})
    if span is None:
        return None
    start, end = span
    return Response(body[start:end], status_code=206, media_type=media_type,
                    headers={**headers, "Content-Range": f"bytes {start}-{end - 1}/{len(body)}"})


def cached_json(request: Request, payload: Any, etag: str, media_type: str = "application/json",
                max_age: int = 300) -> Response:
    """A JSON response that answers 304 when the client already has this version, and byte ranges of it.

    ``etag`` must identify everything the body depends on (for bodies with absolute links: the
    host and the full query), because it is also the key of the cached gzipped body.
    """
    quoted = f'"{etag}"'
    headers = {"ETag": quoted, "Cache-Control": f"public, max-age={max_age}", "Accept-Ranges": "bytes"}
    if request.headers.get("if-none-match") == quoted:
        return Response(status_code=304, headers=headers)
    body = payload if isinstance(payload, bytes) else dumps(payload)
    partial = ranged(request, body, media_type, headers)
    if partial is not None:
        return partial  # ranges are of the identity body, never gzipped
    headers["Vary"] = "Accept-Encoding"
    if len(body) > 1024 and "gzip" in request.headers.get("accept-encoding", ""):
        # Already encoded, so the app's GZipMiddleware passes it through untouched.
        return Response(_gzip_cache(request).get(f"{media_type}:{etag}", body), media_type=media_type,
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(body, media_type=media_type, headers=headers)
