"""``/api/export`` (static maps for documents) and ``/api/overlay/{id}/report.pdf`` (site-check report).

Only HTTP translation: query parameters become :class:`layers.export.ExportOptions`,
the bytes come back with their content type and a Chinese-safe file name
(RFC 6266 / RFC 5987 ``filename*``). Rendering is blocking matplotlib work,
so it runs in the job pool's worker processes (:mod:`layers.jobs`), never in
the request threads that serve pages and layers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from layers.catalogue import parse_bbox
from layers.export import Exported, ExportOptions, load_overlay, parse_layer_ids
from layers.jobs.tasks import CatalogueRef, export_map_job, report_job
from layers.maps import get_map
from layers.report import short_name
from server import jobs
from server.auth import arecord, check_workspace
from server.dependencies import CatalogueDep, MapsDep
from server.overlay_api import get_store

router = APIRouter(prefix="/api", tags=["export"])


def content_disposition(ascii_name: str, display_name: str, *, inline: bool = False) -> str:
    """``attachment; filename="ascii"; filename*=UTF-8''percent-encoded`` (RFC 6266/5987)."""
    kind = "inline" if inline else "attachment"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in ascii_name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(display_name, safe='')}"


def today() -> str:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()  # China Standard Time


@router.get("/export", response_class=Response, responses={
    200: {"content": {"application/pdf": {}, "image/png": {}, "image/svg+xml": {}},
          "description": "the map sheet"}})
async def export(
    request: Request,
    catalogue: CatalogueDep,
    maps: MapsDep,
    map: Annotated[str, Query(description="map id, e.g. yunyang", max_length=100)],
    format: Annotated[str, Query(description="png | pdf | svg", max_length=10)] = "pdf",
    paper: Annotated[str, Query(description="A4 | A3", max_length=10)] = "A4",
    orientation: Annotated[str, Query(description="portrait | landscape", max_length=20)] = "landscape",
    dpi: Annotated[int, Query(description="72-600 (PNG resolution)")] = 300,
    width: Annotated[int | None, Query(description="pixel width instead of a paper size")] = None,
    height: Annotated[int | None, Query(description="pixel height instead of a paper size")] = None,
    title: Annotated[str | None, Query(description="title (default: the map's)")] = None,
    subtitle: Annotated[str | None, Query(description="subtitle (empty: none)")] = None,
    figure: Annotated[str | None, Query(description="figure number, e.g. 图1")] = None,
    date: Annotated[str | None, Query(description="date printed on the sheet (default: today; empty: none)")] = None,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy lon/lat view (default: the map's)")] = None,
    layers: Annotated[str | None, Query(description="visible layer ids, comma separated")] = None,
    overlay: Annotated[str | None, Query(description="workspace id of an upload to draw on top", max_length=100)]
    = None,
) -> Response:
    options = ExportOptions(
        format=format.lower(), paper=paper, orientation=orientation, dpi=dpi, width_px=width, height_px=height,
        title=title, subtitle=subtitle, figure_number=figure, date=today() if date is None else date,
        bbox=parse_bbox(bbox) if bbox else None, layers=parse_layer_ids(layers),
    )
    sites = None
    if overlay:  # a workspace on the map: only one the caller may read (else 404), and the export is recorded
        store = get_store(request)
        await run_in_threadpool(check_workspace, request, overlay, store)
        sites = await run_in_threadpool(load_overlay, store, overlay)
    get_map(maps, map)  # unknown map -> 404 before any work
    options.page()  # validate the paper/pixels here: a bad request never takes a worker
    handle = jobs.submit(request, export_map_job, CatalogueRef.of(catalogue), map, options, sites, label="export")
    result: Exported = await jobs.await_job(request, handle)
    if overlay:
        await arecord(request, "export", details={"workspace": overlay, "map": map, "format": options.format,
                                                  "sha256": hashlib.sha256(result.content).hexdigest()})
    headers = {
        "Content-Disposition": content_disposition(result.filename, result.display_name),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(result.content, media_type=result.media_type, headers=headers)


@router.get("/overlay/{workspace_id}/report.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}, "description": "the site-check report"}})
async def overlay_report(workspace_id: str, request: Request, catalogue: CatalogueDep) -> Response:
    """选址核查报告: overview map, file and CRS facts, one row per site, disclaimers (PDF)."""
    store = get_store(request)
    await run_in_threadpool(check_workspace, request, workspace_id, store)
    workspace = await run_in_threadpool(store.get, workspace_id)
    handle = jobs.submit(request, report_job, CatalogueRef.of(catalogue), workspace, today(), label="report")
    pdf: bytes = await jobs.await_job(request, handle)
    await arecord(request, "report", details={"workspace": workspace_id, "file": workspace.filename,
                                              "sha256": hashlib.sha256(pdf).hexdigest()})
    display = f"选址核查报告-{short_name(workspace.filename, 80)}.pdf"
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": content_disposition(f"planview-report-{workspace.id}.pdf", display),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    })
