"""Response helpers: compact GeoJSON with ETag and Cache-Control."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

GEOJSON = "application/geo+json"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def cached_json(request: Request, payload: Any, etag: str, media_type: str = "application/json",
                max_age: int = 300) -> Response:
    """A JSON response that answers 304 when the client already has this version."""
    quoted = f'"{etag}"'
    headers = {"ETag": quoted, "Cache-Control": f"public, max-age={max_age}"}
    if request.headers.get("if-none-match") == quoted:
        return Response(status_code=304, headers=headers)
    body = payload if isinstance(payload, bytes) else dumps(payload)
    return Response(body, media_type=media_type, headers=headers)
