"""``/api/overlay`` and ``/overlay``: upload project sites, check them against the plans, keep them.

HTTP only: the upload is streamed and cut off at ``Settings.max_upload_mb``
(413) before anything is parsed; reading, analysis and storage happen in
:mod:`geo.readers`, :mod:`geo.overlay` and :mod:`layers.workspaces`: reading and
analysis in a worker process of the job pool (:mod:`layers.jobs`), saving here
once the worker is done and only if the client is still waiting.
"""

from __future__ import annotations

import hashlib
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from geo.errors import InvalidInput, NotFound, PlanviewError, TooLarge
from geo.readers import ReadLimits
from layers.accounts import EVERYONE, check_name
from layers.catalogue import Catalogue
from layers.jobs import JobHandle
from layers.jobs.tasks import CatalogueRef, analyse_upload_job
from layers.store import StoreRef
from layers.workspaces import Workspace, WorkspaceStore, open_store
from layers.workspaces.formats import to_csv, to_geojson, to_geopackage
from layers.workspaces.model import check_quota
from server import jobs
from server.auth import CurrentUser, Right, check_workspace, current_principal, record
from server.auth.state import auth_state
from server.dependencies import CatalogueDep, SettingsDep
from server.errors import status_for
from server.responses import GEOJSON, dumps
from server.settings import Settings

router = APIRouter(tags=["overlay"])

MAX_BOUNDARY = 200  # RFC 2046: at most 70; some clients pad, none needs more
FIELD_LIMIT = 1024  # bytes for the small text fields (crs, encoding)
TABLE_ROWS = 2000  # rows shown on the result page; the CSV has them all
PAGE_SIZE = 50  # workspaces per page (the /overlay list and the API's default limit)
MAX_PAGE_SIZE = 500
CRS_CHOICES = [
    ("", "自动识别（按文件声明或坐标数值）"),
    ("EPSG:4326", "WGS84 经纬度 (EPSG:4326)"),
    ("EPSG:4490", "CGCS2000 经纬度 (EPSG:4490)"),
    ("gcj02", "GCJ-02 高德/腾讯坐标"),
    ("bd09", "BD-09 百度坐标"),
    ("EPSG:4544", "CGCS2000 3度带 中央经线105° 无带号 (EPSG:4544)"),
    ("EPSG:4545", "CGCS2000 3度带 中央经线108° 无带号 (EPSG:4545)"),
    ("EPSG:4546", "CGCS2000 3度带 中央经线111° 无带号 (EPSG:4546)"),
    ("EPSG:4523", "CGCS2000 3度带 35带 含带号 (EPSG:4523)"),
    ("EPSG:4524", "CGCS2000 3度带 36带 含带号 (EPSG:4524)"),
    ("EPSG:4525", "CGCS2000 3度带 37带 含带号 (EPSG:4525)"),
]
ENCODING_CHOICES = [("", "自动识别"), ("utf-8", "UTF-8"), ("gbk", "GBK / GB18030")]


def limits_from(settings: Settings) -> ReadLimits:
    return ReadLimits(max_bytes=settings.max_upload_bytes, max_vertices=settings.max_vertices,
                      max_features=settings.max_features, max_archive_files=settings.max_archive_files,
                      max_uncompressed_bytes=int(settings.max_uncompressed_mb * 1024 * 1024))


_STORE_LOCK = threading.Lock()


def open_workspace_store(settings: Settings) -> WorkspaceStore:
    return open_store(gpkg_path=settings.workspace_gpkg, database_url=settings.database_url)


def get_store(request: Request) -> WorkspaceStore:
    """The app's workspace store, opened on first use."""
    state = request.app.state
    with _STORE_LOCK:
        store = getattr(state, "workspace_store", None)
        if store is None:
            settings: Settings = state.settings
            store = open_store(gpkg_path=settings.workspace_gpkg, database_url=settings.database_url)
            state.workspace_store = store
    return store  # type: ignore[no-any-return]


# ---------------------------------------------------------------- streaming upload


@dataclass
class Upload:
    filename: str = ""
    data: bytearray = field(default_factory=bytearray)
    fields: dict[str, str] = field(default_factory=dict)
    seen_file: bool = False


def _too_large(settings: Settings) -> TooLarge:
    mb = settings.max_upload_mb
    return TooLarge(f"文件超过 {mb:g} MB 上限，请压缩、简化或分批上传 / the file exceeds the {mb:g} MB limit; "
                    "zip, simplify or split it")


class _PartCollector:
    """python-multipart callbacks that keep the ``file`` part (size-capped) and small text fields."""

    def __init__(self, upload: Upload, max_bytes: int, settings: Settings) -> None:
        self.upload = upload
        self.max_bytes = max_bytes
        self.settings = settings
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._name = ""
        self._is_file = False
        self._buf = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished, "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end}

    def on_part_begin(self) -> None:
        self._headers = {}
        self._buf = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field, self._header_value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self._is_file = b"filename" in options
        if self._is_file and self._name == "file":
            raw = options.get(b"filename", b"")
            self.upload.filename = raw.decode("utf-8", "replace") if raw else ""
            self.upload.seen_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            if self._name != "file":
                return  # other file parts are ignored, not stored
            self.upload.data += data[start:end]
            if len(self.upload.data) > self.max_bytes:
                raise _too_large(self.settings)
        else:
            self._buf += data[start:end]
            if len(self._buf) > FIELD_LIMIT:
                raise InvalidInput(f"表单字段 {self._name} 过长 / form field {self._name} is too long")

    def on_part_end(self) -> None:
        if not self._is_file and self._name:
            self.upload.fields[self._name] = self._buf.decode("utf-8", "replace").strip()


async def read_geojson_body(request: Request, settings: Settings) -> Upload:
    """A GeoJSON request body (``application/geo+json``, for scripts and drawn sites), size-capped
    while streaming; it then goes through the same reader and analysis as an uploaded file."""
    max_bytes = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(settings)
    upload = Upload(seen_file=True)
    async for chunk in request.stream():
        upload.data += chunk
        if len(upload.data) > max_bytes:
            raise _too_large(settings)
    if not upload.data.strip():
        raise InvalidInput("请求体为空，请提交 GeoJSON / empty body; send GeoJSON")
    name = request.query_params.get("name", "").strip()[:200]
    upload.filename = (name or "sites") + ("" if name.lower().endswith((".geojson", ".json")) else ".geojson")
    crs = request.query_params.get("crs", "").strip()
    if crs:
        upload.fields["crs"] = crs[:FIELD_LIMIT]
    return upload


async def read_upload(request: Request, settings: Settings) -> Upload:
    """Stream a multipart body, keeping at most ``max_upload_bytes`` of the file (else 413)."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type == b"application/geo+json":
        return await read_geojson_body(request, settings)
    boundary = params.get(b"boundary")
    if boundary and len(boundary) > MAX_BOUNDARY:
        raise InvalidInput(f"multipart 分隔符过长（超过 {MAX_BOUNDARY} 字符）/ the multipart boundary is longer than "
                           f"{MAX_BOUNDARY} characters (RFC 2046 allows 70)")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput("请以 multipart/form-data 上传（文件字段名为 file），或以 application/geo+json 直接提交 GeoJSON"
                           " / upload as multipart/form-data with the file in a field named 'file', or POST a GeoJSON"
                           " body as application/geo+json")
    max_bytes = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise _too_large(settings)
    upload = Upload()
    collector = _PartCollector(upload, max_bytes, settings)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes + 64 * 1024:
                raise _too_large(settings)
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise InvalidInput(f"上传数据格式有误 / malformed multipart upload: {exc}") from None
    if not upload.seen_file:
        raise InvalidInput("没有收到文件，请在 file 字段上传 / no file received; send it in the 'file' field")
    return upload


def clean_filename(name: str) -> str:
    """The base name of an uploaded file, without control characters (a NUL breaks PostgreSQL text)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable() or c == " ").strip()
    return base[:255] or "upload"


def _start_analysis(request: Request, upload: Upload, settings: Settings, catalogue: Catalogue) -> JobHandle:
    """Queue reading + analysis of the upload in a worker; the server saves the result (unless cancelled)."""
    store = get_store(request)
    crs = upload.fields.get("crs") or None
    encoding = upload.fields.get("encoding") or None
    filename = clean_filename(upload.filename)
    meta: dict[str, Any] = {}
    owner = current_principal(request).name
    details = {"file": filename, "sha256": hashlib.sha256(upload.data).hexdigest(), "bytes": len(upload.data),
               "crs": crs, "encoding": encoding}

    quota = settings.quota_bytes
    if quota is not None:  # already full: say so now, before the upload is analysed
        check_quota(store.usage_bytes(owner), 1, quota, owner)

    def save(workspace: Workspace) -> Workspace:
        workspace.owner = owner  # the signed-in planner's
        store.save(workspace, quota_bytes=quota)
        meta.update(workspace=workspace.id, result=f"/api/overlay/{workspace.id}", page=f"/overlay/{workspace.id}")
        record(request, "upload", details={**details, "workspace": workspace.id, "sites": len(workspace.sites)})
        return workspace

    # 合规性审查: the worker opens the layer store itself (a reference is all that crosses the process boundary)
    store_ref = StoreRef(gpkg_path=str(settings.layer_store_gpkg), database_url=settings.database_url,
                         schema=settings.layer_store_schema)
    handle = jobs.submit(request, analyse_upload_job, CatalogueRef.of(catalogue), bytes(upload.data), filename, crs,
                         encoding, limits_from(settings), store_ref, label="upload", finish=save)
    meta.update(handle.meta)  # the owner jobs.submit noted
    handle.meta = meta

    def refused(future: Future[Any]) -> None:
        """A failed or cancelled analysis is audited too, whether the client waited (201) or polls (202)."""
        exc = None if future.cancelled() else future.exception()
        if future.cancelled() or exc is not None:
            code = exc.code if isinstance(exc, PlanviewError) else "cancelled"
            record(request, "upload", details=details, outcome=f"failed: {code}")

    handle.future.add_done_callback(refused)  # before await_job's: the record is there when the 4xx is sent
    return handle


async def _process(request: Request, settings: Settings, catalogue: Catalogue) -> Workspace:
    """Read, analyse and save an upload as the signed-in user's workspace; a refused upload is audited too."""
    upload = await read_upload(request, settings)
    handle = _start_analysis(request, upload, settings, catalogue)
    return await jobs.await_job(request, handle)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- API


@router.post("/api/overlay", status_code=201)
async def post_overlay(request: Request, settings: SettingsDep, catalogue: CatalogueDep) -> Response:
    """Upload a file of sites (multipart ``file``, optional ``crs``, ``encoding``; or a GeoJSON body sent
    as ``application/geo+json``, optional ``?name=``, ``?crs=``) -> the saved report (201).

    With ``Prefer: respond-async`` (or ``?async=1``) the answer is 202 at once, with ``/api/jobs/{id}``
    to poll; when that job is done its ``result`` names the saved workspace.
    """
    if jobs.wants_async(request):
        upload = await read_upload(request, settings)
        return jobs.accepted(request, _start_analysis(request, upload, settings, catalogue))
    workspace = await _process(request, settings, catalogue)
    return Response(dumps(workspace.report), status_code=201, media_type="application/json",
                    headers={"Location": f"/api/overlay/{workspace.id}"})


def _page_link(limit: int, offset: int) -> str:
    return f"/api/overlay?limit={limit}&offset={offset}"


@router.get("/api/overlay")
def list_overlays(request: Request, principal: CurrentUser, limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
                  offset: int = Query(0, ge=0)) -> dict[str, Any]:
    """The workspaces the caller may see (their own, those shared with them; admins: all), newest first,
    one page at a time (``limit`` ≤ 500, default 50; ``offset``); ``total`` counts them all and
    ``links.next``/``links.prev`` page through them."""
    store = get_store(request)
    total = store.count(principal.reader)
    page = store.list(principal.reader, limit=limit, offset=offset)
    links: dict[str, str] = {"self": _page_link(limit, offset)}
    if offset + limit < total:
        links["next"] = _page_link(limit, offset + limit)
    if offset > 0:
        links["prev"] = _page_link(limit, max(offset - limit, 0))
    return {"workspaces": [s.as_dict() for s in page], "total": total, "limit": limit, "offset": offset,
            "links": links}


@router.get("/api/overlay/{ref}", response_class=Response,
            responses={200: {"content": {"application/json": {}, "text/csv": {}, GEOJSON: {},
                                         "application/geopackage+sqlite3": {}}}})
def get_overlay(ref: str, request: Request) -> Response:
    """``{id}`` or ``{id}.json`` (report), ``{id}.csv`` (Excel-ready), ``{id}.geojson`` (sites + results),
    ``{id}.gpkg`` (GeoPackage 1.2, one layer per geometry type)."""
    ws_id, _, ext = ref.partition(".")
    store = get_store(request)
    if ext in ("", "json", "csv", "geojson", "gpkg"):
        check_workspace(request, ws_id, store)
        record(request, "read" if ext in ("", "json") else "export", details={"workspace": ws_id,
                                                                              "format": ext or "json"})
    if ext in ("", "json"):
        workspace = store.get(ws_id)
        return Response(dumps(workspace.report), media_type="application/json")
    if ext == "csv":
        workspace = store.get(ws_id)
        name = f"overlay-{ws_id}.csv"
        return Response(to_csv(workspace.report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    if ext == "geojson":
        workspace = store.get(ws_id)
        return Response(dumps(to_geojson(workspace)), media_type=GEOJSON)
    if ext == "gpkg":
        workspace = store.get(ws_id)
        return Response(to_geopackage(workspace), media_type="application/geopackage+sqlite3",
                        headers={"Content-Disposition": f'attachment; filename="overlay-{ws_id}.gpkg"'})
    raise NotFound(f"不支持的格式 .{ext}（可用 .json .csv .geojson .gpkg）/ "
                   f"unknown format .{ext}; use .json, .csv, .geojson or .gpkg")


def _delete(request: Request, ws_id: str) -> None:
    store = get_store(request)
    check_workspace(request, ws_id, store, change=True)
    store.delete(ws_id)
    record(request, "delete", details={"workspace": ws_id})


@router.delete("/api/overlay/{ws_id}", status_code=204)
def delete_overlay(ws_id: str, request: Request) -> Response:
    _delete(request, ws_id)
    return Response(status_code=204)


class ShareRequest(BaseModel):
    """Read-only sharing: named users, and/or everyone signed in. Replaces the previous sharing."""

    users: list[str] = Field(default_factory=list, max_length=200)
    everyone: bool = False


def _share(request: Request, ws_id: str, users: list[str], everyone: bool) -> list[str]:
    store = get_store(request)
    check_workspace(request, ws_id, store, change=True)
    accounts = auth_state(request).accounts
    names = []
    for name in dict.fromkeys(u.strip() for u in users if u.strip()):
        check_name(name)
        if accounts.find_user(name) is None:
            raise InvalidInput(f"没有用户 {name}，无法共享 / no user {name} to share with")
        names.append(name)
    grantees = names + ([EVERYONE] if everyone else [])
    store.share(ws_id, grantees)
    record(request, "share", details={"workspace": ws_id, "users": names, "everyone": everyone})
    return grantees


@router.put("/api/overlay/{ws_id}/share")
def share_overlay(ws_id: str, request: Request, body: ShareRequest) -> dict[str, Any]:
    """Share a workspace read-only with named users and/or everyone signed in (owner or admin only)."""
    grantees = _share(request, ws_id, body.users, body.everyone)
    return {"id": ws_id, "shared_with": grantees}


# ---------------------------------------------------------------- pages


def _page_numbers(current: int, pages: int) -> list[int | None]:
    """Page links to show: first, last and two around the current one; ``None`` marks a gap (…)."""
    wanted = sorted({1, pages, *range(max(1, current - 2), min(pages, current + 2) + 1)})
    out: list[int | None] = []
    for n in wanted:
        if out and n - (out[-1] or 0) > 1:
            out.append(None)
        out.append(n)
    return out


def _form_page(request: Request, *, status: int = 200, error: str | None = None,
               fields: dict[str, str] | None = None, page: int = 1) -> HTMLResponse:
    workspaces = []
    store_error = None
    principal = current_principal(request)
    total = 0
    try:
        store = get_store(request)
        total = store.count(principal.reader)
        page = min(max(page, 1), max(1, -(-total // PAGE_SIZE)))
        workspaces = [s.as_dict() for s in store.list(principal.reader, limit=PAGE_SIZE,
                                                       offset=(page - 1) * PAGE_SIZE)]
    except PlanviewError as exc:
        store_error = exc.message
    pages = max(1, -(-total // PAGE_SIZE))
    paging = {"page": page, "pages": pages, "total": total, "numbers": _page_numbers(page, pages)}
    settings: Settings = request.app.state.settings
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "overlay.html",
        {"workspaces": workspaces, "error": error, "store_error": store_error, "fields": fields or {},
         "crs_choices": CRS_CHOICES, "encoding_choices": ENCODING_CHOICES, "max_mb": settings.max_upload_mb,
         "can_plan": principal.has(Right.PLAN, public_maps=settings.public_maps), "me": principal.name,
         "paging": paging},
        status_code=status)


@router.get("/overlay", response_class=HTMLResponse)
def overlay_form(request: Request, page: int = Query(1, ge=1, le=10_000_000)) -> HTMLResponse:
    return _form_page(request, page=page)


@router.post("/overlay", response_class=HTMLResponse)
async def overlay_submit(request: Request, settings: SettingsDep, catalogue: CatalogueDep) -> Response:
    try:
        workspace = await _process(request, settings, catalogue)
    except PlanviewError as exc:
        return _form_page(request, status=status_for(exc), error=exc.message)
    return RedirectResponse(f"/overlay/{workspace.id}", status_code=303)


@router.get("/overlay/{ws_id}", response_class=HTMLResponse)
def overlay_result(ws_id: str, request: Request, catalogue: CatalogueDep, principal: CurrentUser) -> HTMLResponse:
    store = get_store(request)
    check_workspace(request, ws_id, store)
    workspace = store.get(ws_id)
    record(request, "read", details={"workspace": ws_id, "format": "page"})
    report = workspace.report
    sites = report.get("sites", [])
    bounds = [float(v) for v in workspace.sites.total_bounds] if len(workspace.sites) else None
    payload = {
        "id": workspace.id, "geojson": f"/api/overlay/{workspace.id}.geojson", "bounds": bounds,
        "layers": [layer["id"] for layer in report.get("layers", [])],
        "county_layer": report.get("county_layer"), "site_count": len(sites),
    }
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "overlay_result.html",
        {"ws": workspace, "report": report, "rows": sites[:TABLE_ROWS], "truncated": len(sites) > TABLE_ROWS,
         "table_rows": TABLE_ROWS, "payload": payload,
         "can_change": principal.reader.see_all or workspace.owner == principal.name})


@router.post("/overlay/{ws_id}/delete")
def overlay_delete_page(ws_id: str, request: Request) -> RedirectResponse:
    _delete(request, ws_id)
    return RedirectResponse("/overlay", status_code=303)


@router.post("/overlay/{ws_id}/share")
async def overlay_share_page(ws_id: str, request: Request) -> RedirectResponse:
    """The share form of the result page: ``users`` (names separated by commas/spaces), ``everyone``."""
    form = await request.form(max_files=0, max_fields=10)
    raw = str(form.get("users") or "")[:4000]
    users = [u for u in re.split(r"[\s,，、;；]+", raw) if u]
    await run_in_threadpool(_share, request, ws_id, users, form.get("everyone") == "1")
    return RedirectResponse(f"/overlay/{ws_id}", status_code=303)



