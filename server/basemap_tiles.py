"""``/basemap/{name}/{z}/{x}/{y}``: tiles from the operator's offline MBTiles/PMTiles files (no second server).

Which files exist is configuration (``PLANVIEW_BASEMAP_FILES``, name -> path); a name not
configured is a 404, never a path on disk. Responses carry an ETag (304 on a match), a day of
caching, and honour a single HTTP Range. A tile the file lacks is ``204 No Content``: Leaflet
leaves that square empty without an error. Vector tiles stored gzip'd go out as stored with
``Content-Encoding: gzip`` (inflated here only for a client that does not accept gzip).
"""

from __future__ import annotations

import gzip
import hashlib
import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from geo.errors import NotFound
from layers.tilefiles import GZIP_MAGIC, describe, read_tile
from server.dependencies import SettingsDep

router = APIRouter(tags=["basemap"])
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@router.get("/basemap/{name}/{z}/{x}/{y}", include_in_schema=False)
def basemap_tile(name: str, z: int, x: int, y: str, request: Request, settings: SettingsDep) -> Response:
    path = settings.basemap_files.get(name)
    if path is None:
        raise NotFound(f"没有名为 {name} 的底图 / no basemap named {name!r}")
    y_num = int(y.split(".")[0]) if y.split(".")[0].isdigit() else -1
    tiles = describe(name, path)
    data = read_tile(tiles, z, x, y_num)
    if data is None:
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})
    headers = {"Cache-Control": "public, max-age=86400", "Accept-Ranges": "bytes", "Vary": "Accept-Encoding"}
    if data.startswith(GZIP_MAGIC):
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"  # gzip'd vector tiles: the browser inflates them
        else:
            data = gzip.decompress(data)
    etag = '"' + hashlib.sha256(data).hexdigest()[:24] + '"'
    headers["ETag"] = etag
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    match = _RANGE.match(request.headers.get("range", ""))
    if match and (match.group(1) or match.group(2)):
        size = len(data)
        if match.group(1):
            start, end = int(match.group(1)), int(match.group(2) or size - 1)
        else:
            start, end = max(0, size - int(match.group(2))), size - 1
        if start >= size or start > end:
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        end = min(end, size - 1)
        return Response(data[start:end + 1], status_code=206, media_type=tiles.media_type,
                        headers={**headers, "Content-Range": f"bytes {start}-{end}/{size}"})
    return Response(data, media_type=tiles.media_type, headers=headers)
