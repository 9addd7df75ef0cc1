"""Response helpers: compact GeoJSON with ETag and Cache-Control."""

from __future__ import annotations

import gzip
import json
from collections import OrderedDict
from threading import Lock
from typing import Any

from fastapi import Request
from fastapi.responses import Response

GEOJSON = "application/geo+json"


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


_GZIPPED = _GzipCache()


def cached_json(request: Request, payload: Any, etag: str, media_type: str = "application/json",
                max_age: int = 300) -> Response:
    """A JSON response that answers 304 when the client already has this version."""
    quoted = f'"{etag}"'
    headers = {"ETag": quoted, "Cache-Control": f"public, max-age={max_age}"}
    if request.headers.get("if-none-match") == quoted:
        return Response(status_code=304, headers=headers)
    body = payload if isinstance(payload, bytes) else dumps(payload)
    headers["Vary"] = "Accept-Encoding"
    if len(body) > 1024 and "gzip" in request.headers.get("accept-encoding", ""):
        # Already encoded, so the app's GZipMiddleware passes it through untouched.
        return Response(_GZIPPED.get(etag, body), media_type=media_type,
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(body, media_type=media_type, headers=headers)
