"""``POST /api/overlay/check``: check one drawn or typed site against the plans at once, without saving it.

The same reading and analysis as an upload (what :func:`layers.jobs.tasks.analyse_upload_job` does: the
GeoJSON reader, the zone overlay, 合规性审查), but in-process: a drawn site is a handful of
vertices, and a round trip through the job pool would cost more than the analysis. Hence a
small body cap (:data:`MAX_BYTES`) and vertex cap (:data:`MAX_VERTICES`) instead of the
upload limits. Typed coordinates are converted here (pyproj, via the reader's ``crs``), never
in the browser: the page sends the numbers as typed and names their CRS.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool

from geo.errors import InvalidInput, TooLarge
from geo.readers import ReadLimits
from layers.catalogue import Catalogue
from layers.compliance import control_sources
from layers.store import StoreRef
from layers.workspaces import Workspace
from layers.workspaces.service import analyse_upload
from server.dependencies import CatalogueDep, SettingsDep
from server.responses import dumps

router = APIRouter(tags=["overlay"])

MAX_BYTES = 1024 * 1024  # a drawn site is a few kB; 1 MB leaves room for a pasted boundary
MAX_VERTICES = 20_000
FILENAME = "drawn-site.geojson"

# The typed-coordinate form's systems -> the CRS the reader converts from.
# GK coordinates are typed as surveyors write them: X = northing, Y = easting.
TYPED_CRS: dict[str, str] = {
    "lonlat": "EPSG:4490",  # CGCS2000 经纬度 (= WGS84 at map scale)
    "gk105": "EPSG:4544",  # CGCS2000 3 度带 中央经线 105°（Y 无带号）
    "gk108": "EPSG:4545",
    "gk111": "EPSG:4546",
    "gk-zone": "",  # Y 含带号 (35/36/37 …): the zone is read from Y's leading digits
}
GEOMETRY = {"point": "Point", "line": "LineString", "polygon": "Polygon"}


def _bad(msg_zh: str, msg_en: str) -> InvalidInput:
    return InvalidInput(f"{msg_zh} / {msg_en}")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _bad("坐标必须是数字", "coordinates must be numbers")
    try:
        number = float(value)
    except ValueError:
        raise _bad(f"坐标 {str(value)[:40]!r} 不是数字", f"coordinate {str(value)[:40]!r} is not a number") from None
    if not math.isfinite(number):
        raise _bad("坐标必须是有限数字", "coordinates must be finite numbers")
    return number


def _zone_crs(easting: float) -> str:
    """EPSG of a CGCS2000 3-degree zone from an easting that carries its zone number (e.g. 36 500 000)."""
    zone = int(easting // 1_000_000)
    if not 25 <= zone <= 45:
        raise _bad(f"Y 坐标 {easting:.0f} 不含有效的 3 度带带号（25–45）",
                   f"Y {easting:.0f} carries no valid 3-degree zone number (25-45)")
    return f"EPSG:{4513 + zone - 25}"


def typed_site(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A typed-coordinates request -> (GeoJSON in the typed CRS, that CRS)."""
    system = str(body.get("system", "lonlat"))
    if system not in TYPED_CRS:
        raise _bad(f"未知坐标系 {system[:40]!r}，可用：{'、'.join(TYPED_CRS)}",
                   f"unknown coordinate system {system[:40]!r}; use one of {', '.join(TYPED_CRS)}")
    kind = str(body.get("geometry", "point"))
    if kind not in GEOMETRY:
        raise _bad("geometry 须为 point、line 或 polygon", "geometry must be point, line or polygon")
    raw = body.get("coordinates")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_VERTICES:
        raise _bad(f"请给出 1–{MAX_VERTICES} 个坐标对", f"give 1 to {MAX_VERTICES} coordinate pairs")
    pairs = []
    for pair in raw:
        if not isinstance(pair, list) or len(pair) != 2:
            raise _bad("每个坐标须为两个数 [a, b]", "each coordinate must be a pair of numbers [a, b]")
        a, b = _number(pair[0]), _number(pair[1])
        # lon/lat are typed lon, lat; GK as X (northing), Y (easting): GeoJSON wants easting first
        pairs.append([a, b] if system == "lonlat" else [b, a])
    crs = TYPED_CRS[system] or _zone_crs(pairs[0][0])
    needed = {"point": 1, "line": 2, "polygon": 3}[kind]
    if len(pairs) < needed:
        raise _bad(f"{kind} 至少需要 {needed} 个坐标", f"a {kind} needs at least {needed} coordinates")
    if kind == "point":
        if len(pairs) != 1:
            raise _bad("点只需一个坐标", "a point takes exactly one coordinate")
        coords: Any = pairs[0]
    elif kind == "line":
        coords = pairs
    else:
        coords = [pairs + ([] if pairs[0] == pairs[-1] else [pairs[0]])]
    name = str(body.get("name") or "")[:200]
    feature = {"type": "Feature", "properties": {"name": name or "输入的坐标"},
               "geometry": {"type": GEOMETRY[kind], "coordinates": coords}}
    return {"type": "FeatureCollection", "features": [feature]}, crs


def _analyse(catalogue: Catalogue, data: bytes, crs: str | None, limits: ReadLimits, store: StoreRef) -> Workspace:
    """What the upload worker does (:func:`layers.jobs.tasks.analyse_upload_job`), on the app's own catalogue."""
    opened = store.open()
    control = control_sources(opened, opened.layers())
    return analyse_upload(data, FILENAME, catalogue, crs=crs, limits=limits, control=control)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        raise TooLarge(f"请求体超过 {MAX_BYTES // 1024} kB 上限 / the body exceeds {MAX_BYTES // 1024} kB")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BYTES:
            raise TooLarge(f"请求体超过 {MAX_BYTES // 1024} kB 上限 / the body exceeds {MAX_BYTES // 1024} kB")
    if not data.strip():
        raise _bad("请求体为空，请提交 GeoJSON 或坐标", "empty body; send GeoJSON or typed coordinates")
    return bytes(data)


@router.post("/api/overlay/check")
async def check_site(request: Request, settings: SettingsDep, catalogue: CatalogueDep) -> Response:
    """Check a drawn site (``application/geo+json`` body, optional ``?crs=``) or typed coordinates
    (``application/json``: ``{"system": "lonlat|gk105|gk108|gk111|gk-zone", "geometry":
    "point|line|polygon", "coordinates": [[a, b], …]}``; GK as X北, Y东) -> the upload report, not saved.

    The report carries ``geojson``: the site in lon/lat, ready to draw or to save with ``POST /api/overlay``.
    """
    content_type, _ = parse_options_header(request.headers.get("content-type", ""))
    data = await _read_body(request)
    crs = request.query_params.get("crs", "").strip()[:100] or None
    if content_type == b"application/json":
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise _bad("请求体不是有效的 JSON", "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _bad("请求体须为 JSON 对象", "the body must be a JSON object")
        if body.get("type") in ("FeatureCollection", "Feature") or "coordinates" not in body:
            pass  # plain GeoJSON sent as application/json
        else:
            geojson, crs = typed_site(body)
            data = json.dumps(geojson).encode()
    elif content_type != b"application/geo+json":
        raise _bad("请以 application/geo+json 提交 GeoJSON，或以 application/json 提交坐标",
                   "send GeoJSON as application/geo+json, or typed coordinates as application/json")
    limits = ReadLimits(max_bytes=MAX_BYTES, max_vertices=min(MAX_VERTICES, settings.max_vertices),
                        max_features=100, max_archive_files=1, max_uncompressed_bytes=MAX_BYTES)
    store_ref = StoreRef(gpkg_path=str(settings.layer_store_gpkg), database_url=settings.database_url,
                         schema=settings.layer_store_schema)
    workspace = await run_in_threadpool(_analyse, catalogue, data, crs, limits, store_ref)
    report = dict(workspace.report)
    report["saved"] = False
    report["geojson"] = json.loads(workspace.sites[["geometry"]].to_json(drop_id=True))
    return Response(dumps(report), media_type="application/json")
