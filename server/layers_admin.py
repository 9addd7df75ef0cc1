"""Admins import authoritative layers over HTTP: ``/admin/layers`` (page), ``/api/admin/layers`` (JSON, scripts).

HTTP only. The upload is streamed and cut off at ``Settings.max_upload_mb``
(413) exactly like an overlay upload (:func:`server.overlay_api.read_upload`),
written to a private temporary file, and imported by
:func:`layers.jobs.tasks.import_layer_job` in a worker process of the job pool;
the temporary file is deleted when the job ends, whatever its outcome. Every
import — done, failed or cancelled — appends one audit record: who, file name,
SHA-256, layer id, version, outcome (``planview layers import`` does the same
from the command line).

Routes and rights: ``GET /admin/layers``, ``GET /api/admin/layers`` and
``POST /api/admin/layers`` are admin-only (server/auth/rights.py).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from geo.errors import InvalidInput, PlanviewError
from layers.jobs import JobHandle
from layers.jobs.tasks import CatalogueRef, import_layer_job
from layers.store import StoredLayer, StoreRef
from layers.store.model import check_layer_id
from server import jobs
from server.auth import CurrentUser, arecord, record
from server.dependencies import CatalogueDep, SettingsDep
from server.overlay_api import CRS_CHOICES, ENCODING_CHOICES, Upload, clean_filename, read_upload
from server.responses import dumps
from server.settings import Settings

router = APIRouter(tags=["admin"])
ROLES = [("reference", "参考图层 reference"), ("control", "管控图层 control（合规性审查）"), ("plan", "规划图层 plan")]


def layer_row(layer: StoredLayer, versions: int) -> dict[str, Any]:
    """One stored layer as the page and the JSON list show it (provenance from its manifest)."""
    prov = layer.manifest.provenance or {}
    crs = prov.get("crs") if isinstance(prov.get("crs"), dict) else {}
    return {"id": layer.id, "title": layer.manifest.title, "role": layer.manifest.role,
            "features": layer.feature_count, "version": layer.version, "versions": versions,
            "geometry_type": layer.geometry_type, "created": layer.created.isoformat(timespec="seconds"),
            "file": prov.get("file"), "sha256": prov.get("sha256"), "format": prov.get("format"),
            "crs": (crs or {}).get("label") or (crs or {}).get("crs"), "imported": prov.get("imported"),
            "url": f"/api/layers/{layer.id}"}


def stored_rows(request: Request) -> list[dict[str, Any]]:
    store = request.app.state.stored_layers.store
    return [layer_row(layer, len(store.versions(layer.id))) for layer in sorted(store.layers(), key=lambda x: x.id)]


def _field(upload: Upload, name: str) -> str | None:
    return (upload.fields.get(name) or "").strip() or None


def _options(upload: Upload) -> dict[str, Any]:
    """The import options of the form (the CLI's flags), checked before anything is queued."""
    layer_id = _field(upload, "id")
    title = _field(upload, "title")
    if not layer_id or not title:
        raise InvalidInput("请填写图层编号（id）和标题（title） / the layer id and title are required")
    check_layer_id(layer_id)
    role = _field(upload, "role") or "reference"
    if role not in ("control", "reference", "plan"):
        raise InvalidInput(f"角色须为 control、reference 或 plan / role must be control, reference or plan: {role!r}")
    if not upload.data:
        raise InvalidInput("文件为空 / the file is empty")
    return {"layer_id": layer_id, "title": title[:200], "role": role, "class_field": _field(upload, "class_field"),
            "crs": _field(upload, "crs"), "encoding": _field(upload, "encoding")}


def _save_temp(data: bytearray, filename: str) -> Path:
    """The upload as a file (the importer reads files; the suffix tells it the format)."""
    folder = Path(tempfile.mkdtemp(prefix="planview-import-"))
    path = folder / filename
    path.write_bytes(data)
    return path


def _start_import(request: Request, upload: Upload, settings: Settings, catalogue: Any) -> JobHandle:
    filename = clean_filename(upload.filename)
    options = _options(upload)
    digest = hashlib.sha256(upload.data).hexdigest()
    details: dict[str, Any] = {"file": filename, "sha256": digest, "bytes": len(upload.data),
                               "layer": options["layer_id"], "role": options["role"]}
    path = _save_temp(upload.data, filename)
    store = StoreRef(gpkg_path=str(settings.layer_store_gpkg), database_url=settings.database_url,
                     schema=settings.layer_store_schema)
    def imported(summary: dict[str, Any]) -> dict[str, Any]:
        """Runs before the job reads as done, so a poller never sees "done" without the summary."""
        handle.meta.update(version=summary["version"], result=f"/api/layers/{summary['id']}", summary=summary,
                           page="/admin/layers")
        request.app.state.stored_layers.refresh(force=True)
        record(request, "layer_import", details={**details, "version": summary["version"],
                                                  "features": summary["features"]})
        return summary

    try:
        handle = jobs.submit(request, import_layer_job, str(path), source_name=filename, store=store,
                             class_defaults=str(settings.control_classes), catalogue=CatalogueRef.of(catalogue),
                             label="layer_import", finish=imported, **options)
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    handle.meta.update(layer=options["layer_id"], file=filename, sha256=digest)

    def done(future: Future[Any]) -> None:
        """Whatever the outcome: delete the upload; a failed or cancelled import is audited too."""
        shutil.rmtree(path.parent, ignore_errors=True)
        exc = future.exception() if not future.cancelled() else None
        if future.cancelled() or exc is not None:
            code = exc.code if isinstance(exc, PlanviewError) else "cancelled"
            record(request, "layer_import", details=details, outcome=f"failed: {code}")

    handle.future.add_done_callback(done)
    return handle


@router.get("/api/admin/layers")
def api_stored_layers(request: Request) -> dict[str, Any]:
    """Every stored layer's current version with its provenance (file, SHA-256, CRS) and version count."""
    return {"layers": stored_rows(request)}


@router.post("/api/admin/layers", status_code=201)
async def api_import_layer(request: Request, settings: SettingsDep, catalogue: CatalogueDep,
                           principal: CurrentUser) -> Response:
    """Import a file as a new version of a stored layer (multipart ``file`` plus ``id``, ``title``, ``role``
    control|reference|plan, ``class_field``, ``crs``, ``encoding`` — the options of ``planview layers import``).

    Answers 201 with the import summary; with ``Prefer: respond-async`` (or ``?async=1``; the admin page uses
    it) 202 at once with ``/api/jobs/{id}`` to poll, whose ``summary`` is the same when the job is done.
    """
    try:
        upload = await read_upload(request, settings)
    except PlanviewError as exc:
        await arecord(request, "layer_import", details={"file": "?"}, outcome=f"failed: {exc.code}")
        raise
    try:
        handle = _start_import(request, upload, settings, catalogue)
    except PlanviewError as exc:
        await arecord(request, "layer_import", details={"file": clean_filename(upload.filename),
                                                        "sha256": hashlib.sha256(upload.data).hexdigest(),
                                                        "layer": upload.fields.get("id")},
                      outcome=f"failed: {exc.code}")
        raise
    if jobs.wants_async(request):
        return jobs.accepted(request, handle)
    summary = await jobs.await_job(request, handle)
    return Response(dumps(summary), status_code=201, media_type="application/json",
                    headers={"Location": f"/api/layers/{summary['id']}"})


@router.get("/admin/layers", response_class=HTMLResponse, include_in_schema=False)
async def admin_layers(request: Request, principal: CurrentUser) -> Response:
    rows = await run_in_threadpool(stored_rows, request)
    settings: Settings = request.app.state.settings
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "admin_layers.html", {"layers": rows, "roles": ROLES, "crs_choices": CRS_CHOICES,
                                       "encoding_choices": ENCODING_CHOICES, "max_mb": settings.max_upload_mb})
