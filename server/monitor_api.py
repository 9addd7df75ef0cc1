"""Monitoring over HTTP: indicator values in (API, form, CSV/XLSX), status out (JSON, dashboard, PDF, XLSX).

HTTP only; checking, storing, progress and the exports live in
:mod:`layers.monitoring`. Routes and the rights they should need:

* ``GET /api/indicators/{plan}``                  public-read (the map's side panel uses it)
* ``GET /monitor/{plan}``                         public-read (like the maps)
* ``GET /api/indicators/{plan}/template.csv|xlsx`` public-read
* ``POST /api/indicators/{plan}/values``          planner
* ``POST /api/indicators/{plan}/import``          planner (multipart ``file``)
* ``POST /monitor/{plan}/values`` / ``/import``   planner (the dashboard's forms)
* ``GET /api/indicators/{plan}/evaluation.pdf``   viewer
* ``GET /api/indicators/{plan}/status.xlsx``      viewer

``entered_by`` is the signed-in user (the rights table lets only planners and
admins write), never a name the caller supplies; each value added or corrected
also appends an audit record (indicator, year, old -> new value, source). The
evaluation PDF is rendered in a worker process of the job pool.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from geo.errors import InvalidInput, NotAuthenticated, NotFound, PlanviewError
from layers.catalogue import Catalogue
from layers.monitoring import (
    PLANS,
    STATUS_COLOURS,
    Registry,
    Thresholds,
    ValueStore,
    build_registry,
    check_entries,
    open_value_store,
    plan_report,
    read_upload,
    template_csv,
    template_xlsx,
)
from layers.monitoring.evaluation import render_evaluation_pdf, status_xlsx
from layers.monitoring.store import Change
from server import jobs
from server.auth import current_principal, record
from server.dependencies import SettingsDep
from server.errors import status_for
from server.mapview.assets import PLANVIEW_CSS
from server.overlay_api import read_upload as read_multipart
from server.responses import dumps
from server.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["monitoring"])
_LOCK = threading.Lock()
MAX_JSON_BYTES = 2 * 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def check_plan(plan: str) -> str:
    if plan not in PLANS:
        raise NotFound(f"没有规划 {plan!r}，可用 chongqing、yunyang / unknown plan {plan!r}; use chongqing or yunyang")
    return plan


def registry_for(request: Request) -> Registry:
    """Built once per app from the catalogue (tables and features do not change while it runs)."""
    state = request.app.state
    with _LOCK:
        registry = getattr(state, "monitor_registry", None)
        if registry is None:
            registry = build_registry(state.catalogue)
            state.monitor_registry = registry
    return registry  # type: ignore[no-any-return]


def value_store(request: Request) -> ValueStore:
    """The value store beside the workspaces: GeoPackage by default, PostGIS with PLANVIEW_DATABASE_URL."""
    state = request.app.state
    with _LOCK:
        store = getattr(state, "monitor_store", None)
        if store is None:
            settings: Settings = state.settings
            store = open_value_store(gpkg_path=settings.workspace_gpkg, database_url=settings.database_url)
            state.monitor_store = store
    return store  # type: ignore[no-any-return]


def thresholds(settings: Settings) -> Thresholds:
    try:
        return Thresholds(normal_ratio=settings.monitor_normal_ratio, warning_ratio=settings.monitor_warning_ratio)
    except ValueError as exc:
        raise PlanviewError("监测阈值配置有误 / PLANVIEW_MONITOR_WARNING_RATIO must not exceed "
                            "PLANVIEW_MONITOR_NORMAL_RATIO", detail=str(exc)) from exc


def report_for(request: Request, plan: str) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return plan_report(registry_for(request), value_store(request).records(plan), plan, thresholds(settings))


def entered_by(request: Request) -> str:
    """Who entered a value: the signed-in user (the guard refuses anyone without the planner right)."""
    name = current_principal(request).name
    if name is None:  # unreachable behind the guard; refuse rather than store an anonymous value
        raise NotAuthenticated("请先登录 / sign in first")
    return name


def _saved(changes: list[Change]) -> dict[str, Any]:
    return {"saved": [{"action": c.action, "value": c.record.as_dict(),
                       "previous": c.previous.as_dict() if c.previous else None} for c in changes],
            "counts": {a: sum(1 for c in changes if c.action == a) for a in ("added", "corrected", "unchanged")}}


def _audit(request: Request, plan: str, changes: list[Change]) -> None:
    """One audit record per value added or corrected (unchanged re-entries leave no trace)."""
    for c in changes:
        if c.action == "unchanged":
            continue
        old = c.previous
        record(request, "indicator_value", target=f"{plan}/{c.record.indicator}/{c.record.year}", details={
            "indicator": c.record.indicator, "year": c.record.year, "change": c.action,
            "old_value": old.value if old else None, "new_value": c.record.value,
            "old_source": old.source if old else None, "source": c.record.source, "via": c.record.via})


def store_values(request: Request, plan: str, rows: list[dict[str, Any]], *, who: str, via: str) -> list[Change]:
    values = check_entries(registry_for(request), plan, rows)
    changes = value_store(request).put(values, entered_by=who, via=via)
    _audit(request, plan, changes)
    return changes


# ---------------------------------------------------------------- read


def indicators_payload(request: Request, table_id: str, catalogue: Catalogue) -> dict[str, Any]:
    """The indicator table as before (fields unchanged) plus ids, status and, for a plan, ``monitoring``."""
    table = copy.deepcopy(catalogue.indicator_table(table_id))
    if table_id not in PLANS:
        return table
    report = report_for(request, table_id)
    by_id = {entry["id"]: entry for entry in report["indicators"]}
    for n, row in enumerate(table.get("indicators") or [], start=1):
        if not isinstance(row, dict):
            continue
        row_id = str(row.get("id") or f"{table_id}.{row.get('number') if isinstance(row.get('number'), int) else n}")
        row["id"] = row_id
        entry = by_id.get(row_id)
        if entry:
            row["status"] = entry["progress"]["status"]
            row["status_explanation"] = entry["progress"]["explanation"]
            row["latest"] = {"year": entry["progress"]["latest_year"], "value": entry["progress"]["latest_value"]}
    table["monitoring"] = report
    return table


# ---------------------------------------------------------------- write (API)


async def _json_rows(request: Request) -> list[dict[str, Any]]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise InvalidInput(f"请求体超过 {MAX_JSON_BYTES // 1024 // 1024} MB / request body over "
                               f"{MAX_JSON_BYTES // 1024 // 1024} MB")
    try:
        data = json.loads(bytes(body) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"请求体须为 JSON 数组 / the body must be a JSON array of {{indicator, year, value, "
                           f"source}}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("values"), list):
        data = data["values"]
    if not isinstance(data, list):
        raise InvalidInput("请求体须为 JSON 数组 [{indicator, year, value, source}] / the body must be a JSON array "
                           "of {indicator, year, value, source}")
    return data


@router.post("/api/indicators/{plan}/values")
async def post_values(plan: str, request: Request) -> Response:
    """Enter or correct annual values: ``[{indicator, year, value, source, unit?, note?}]`` (all or nothing)."""
    check_plan(plan)
    rows = await _json_rows(request)
    who = entered_by(request)
    changes = await run_in_threadpool(store_values, request, plan, rows, who=who, via="api")
    return Response(dumps(_saved(changes)), media_type="application/json")


@router.post("/api/indicators/{plan}/import")
async def import_values(plan: str, request: Request, settings: SettingsDep) -> Response:
    """A filled-in template (CSV or XLSX, multipart ``file``) -> the values stored."""
    check_plan(plan)
    upload = await read_multipart(request, settings)
    rows, kind = await run_in_threadpool(read_upload, bytes(upload.data), upload.filename)
    who = entered_by(request)
    changes = await run_in_threadpool(store_values, request, plan, rows, who=who, via=kind)
    return Response(dumps(_saved(changes)), media_type="application/json")


@router.get("/api/indicators/{plan}/template.{fmt}")
def template(plan: str, fmt: str, request: Request) -> Response:
    """The import template: one row per indicator and year, Chinese headers."""
    check_plan(plan)
    indicators = registry_for(request).for_plan(plan)
    name = quote(f"{plan}-指标年度值模板.{fmt}")
    headers = {"Content-Disposition": f"attachment; filename=\"{plan}-template.{fmt}\"; filename*=UTF-8''{name}"}
    if fmt == "csv":
        return Response(template_csv(indicators), media_type="text/csv; charset=utf-8", headers=headers)
    if fmt == "xlsx":
        from layers.monitoring import PLAN_TITLES

        return Response(template_xlsx(indicators, PLAN_TITLES[plan]), media_type=XLSX, headers=headers)
    raise NotFound(f"模板格式只有 csv、xlsx / template format must be csv or xlsx, got {fmt!r}")


# ---------------------------------------------------------------- exports


@router.get("/api/indicators/{plan}/evaluation.pdf")
async def evaluation_pdf(plan: str, request: Request) -> Response:
    """The mid-term evaluation PDF (status table, sources, date of the data, charts per group), rendered in a
    worker process of the job pool (cancelled if the client goes away)."""
    check_plan(plan)
    report = await run_in_threadpool(report_for, request, plan)
    handle = jobs.submit(request, render_evaluation_pdf, report, date=date.today().isoformat(), label="evaluation")
    pdf = await jobs.await_job(request, handle)
    name = quote(f"{plan}-中期评估.pdf")
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f"attachment; filename=\"{plan}-evaluation.pdf\"; "
                                                    f"filename*=UTF-8''{name}"})


@router.get("/api/indicators/{plan}/status.xlsx")
async def status_table(plan: str, request: Request) -> Response:
    check_plan(plan)
    report = await run_in_threadpool(report_for, request, plan)
    data = await run_in_threadpool(status_xlsx, report)
    name = quote(f"{plan}-指标状态.xlsx")
    return Response(data, media_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename=\"{plan}-status.xlsx\"; filename*=UTF-8''{name}"})


# ---------------------------------------------------------------- dashboard


def _page(request: Request, plan: str, *, message: str | None = None, error: str | None = None,
          status: int = 200) -> Response:
    report = report_for(request, plan)
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "monitor.html",
        {"report": report, "plan": plan, "plans": PLANS, "css": PLANVIEW_CSS, "colours": STATUS_COLOURS,
         "message": message, "error": error,
         "years": list(range(2021, 2026)), "data_json": json.dumps(report, ensure_ascii=False).replace("</", "<\\/")},
        status_code=status)


@router.get("/monitor/{plan}", response_class=HTMLResponse, include_in_schema=False)
async def monitor_page(plan: str, request: Request) -> Response:
    check_plan(plan)
    saved = request.query_params.get("saved")
    message = f"已保存 {saved} 个年度值 / {saved} value(s) saved" if saved and saved.isdigit() else None
    return await run_in_threadpool(_page, request, plan, message=message)


async def _form_fields(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    return {k: str(v)[:1000] for k, v in form.items() if isinstance(v, str)}


@router.post("/monitor/{plan}/values", include_in_schema=False)
async def monitor_form(plan: str, request: Request) -> Response:
    """The dashboard's form: one value at a time (redirects back; shows the problem on the page otherwise)."""
    check_plan(plan)
    fields = await _form_fields(request)
    row = {k: fields.get(k) for k in ("indicator", "year", "value", "source", "note", "unit")}
    try:
        changes = await run_in_threadpool(store_values, request, plan, [row],
                                          who=entered_by(request), via="form")
    except PlanviewError as exc:
        return await run_in_threadpool(_page, request, plan, error=exc.message, status=status_for(exc))
    n = sum(1 for c in changes if c.action != "unchanged")
    return RedirectResponse(f"/monitor/{plan}?saved={n}", status_code=303)


@router.post("/monitor/{plan}/import", include_in_schema=False)
async def monitor_import(plan: str, request: Request, settings: SettingsDep) -> Response:
    check_plan(plan)
    try:
        upload = await read_multipart(request, settings)
        rows, kind = await run_in_threadpool(read_upload, bytes(upload.data), upload.filename)
        changes = await run_in_threadpool(store_values, request, plan, rows,
                                          who=entered_by(request), via=kind)
    except PlanviewError as exc:
        return await run_in_threadpool(_page, request, plan, error=exc.message, status=status_for(exc))
    n = sum(1 for c in changes if c.action != "unchanged")
    return RedirectResponse(f"/monitor/{plan}?saved={n}", status_code=303)
