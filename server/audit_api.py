"""The audit trail for admins: ``/admin/audit`` (page), ``GET /api/audit`` (JSON), ``GET /api/audit.csv``.

Filters: ``user``, ``action``, ``since``/``until`` (ISO dates or times, UTC);
pages of ``limit`` records from ``offset``, newest first. The page also shows
whether the hash chain is intact (``planview audit verify`` does the same).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from geo.errors import InvalidInput
from layers.audit.trail import to_csv
from server.auth.state import auth_state, record

router = APIRouter(tags=["audit"])
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?Z?)?$")
CSV_MAX = 100_000


def _time(value: str | None, name: str) -> str | None:
    if not value:
        return None
    value = value.strip()
    if not TIME.match(value):
        raise InvalidInput(f"{name} 须为 ISO 日期或时间（UTC），如 2025-03-01 或 2025-03-01T08:00:00Z / {name} must be "
                           "an ISO date or time (UTC), e.g. 2025-03-01 or 2025-03-01T08:00:00Z")
    return value.replace(" ", "T").rstrip("Z")


@dataclass(frozen=True)
class AuditFilter:
    user: str | None
    action: str | None
    since: str | None
    until: str | None
    limit: int
    offset: int

    def query(self) -> dict[str, Any]:
        return {"actor": self.user, "action": self.action, "since": self.since, "until": self.until}


def audit_filter(
    user: Annotated[str | None, Query(max_length=64, description="who (user name)")] = None,
    action: Annotated[str | None, Query(max_length=40, description="login, upload, delete, share, export …")] = None,
    since: Annotated[str | None, Query(max_length=40, description="from this UTC time (inclusive)")] = None,
    until: Annotated[str | None, Query(max_length=40, description="before this UTC time (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditFilter:
    return AuditFilter(user=user or None, action=action or None, since=_time(since, "since"),
                       until=_time(until, "until"), limit=limit, offset=offset)


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("/api/audit")
def api_audit(request: Request, f: FilterDep) -> dict[str, Any]:
    records, total = auth_state(request).audit.query(**f.query(), limit=f.limit, offset=f.offset)
    return {"total": total, "limit": f.limit, "offset": f.offset,
            "records": [r.as_dict() for r in records],
            "next": f.offset + f.limit if f.offset + f.limit < total else None}


@router.get("/api/audit.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def api_audit_csv(request: Request, f: FilterDep) -> Response:
    """Every matching record (up to 100 000) as CSV for Excel; the export itself is recorded."""
    records, total = auth_state(request).audit.query(**f.query(), limit=CSV_MAX, offset=0)
    record(request, "audit_export", details={**{k: v for k, v in f.query().items() if v}, "records": len(records)})
    return Response(to_csv(records), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="planview-audit.csv"', "Cache-Control": "no-store"})


@router.get("/admin/audit", response_class=HTMLResponse, include_in_schema=False)
def admin_audit(request: Request, f: FilterDep) -> Response:
    trail = auth_state(request).audit
    records, total = trail.query(**f.query(), limit=f.limit, offset=f.offset)
    checked, broken = trail.verify()
    params = {k: v for k, v in {"user": f.user, "action": f.action, "since": f.since, "until": f.until}.items() if v}
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "admin_audit.html", {
            "records": records, "total": total, "f": f, "params": params, "checked": checked, "broken": broken,
            "prev_offset": max(0, f.offset - f.limit) if f.offset else None,
            "next_offset": f.offset + f.limit if f.offset + f.limit < total else None})
