"""The workspace record and the store protocol both implementations follow."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import geopandas as gpd

from geo.errors import NotFound, QuotaExceeded

ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")


def new_workspace_id() -> str:
    return uuid.uuid4().hex


def check_id(ws_id: str) -> str:
    """A well-formed id, or NotFound (never let arbitrary text reach a query or a path)."""
    if not isinstance(ws_id, str) or not ID_PATTERN.match(ws_id):
        raise NotFound(f"没有工作区 {ws_id!r} / no workspace {ws_id!r}")
    return ws_id


@dataclass
class Workspace:
    """One saved upload: where it came from, the CRS used, the sites and the report."""

    id: str
    created: datetime  # timezone-aware UTC
    filename: str
    sha256: str
    size_bytes: int
    format: str
    crs: dict[str, Any]  # code, label, source, reason, swapped_axes
    sites: gpd.GeoDataFrame  # EPSG:4326: site_no, name, industry, attributes (dict), geometry
    report: dict[str, Any]
    owner: str | None = None  # user name; None for workspaces made before accounts (they belong to the admin)
    shared_with: tuple[str, ...] = ()  # user names, or "*" for everyone signed in (read-only)

    @property
    def summary(self) -> WorkspaceSummary:
        return WorkspaceSummary(id=self.id, created=self.created, filename=self.filename, sha256=self.sha256,
                                format=self.format, crs_code=str(self.crs.get("code")), site_count=len(self.sites),
                                owner=self.owner, shared_with=self.shared_with)


@dataclass(frozen=True)
class WorkspaceSummary:
    id: str
    created: datetime
    filename: str
    sha256: str
    format: str
    crs_code: str
    site_count: int
    owner: str | None = None
    shared_with: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created": self.created.isoformat(), "filename": self.filename,
                "sha256": self.sha256, "format": self.format, "crs": self.crs_code, "site_count": self.site_count,
                "owner": self.owner, "shared_with": list(self.shared_with),
                "links": {"self": f"/api/overlay/{self.id}", "page": f"/overlay/{self.id}",
                          "csv": f"/api/overlay/{self.id}.csv", "geojson": f"/api/overlay/{self.id}.geojson"}}


@dataclass(frozen=True)
class Reader:
    """Whose workspaces a listing shows: their own, those shared with them (or with everyone), or all (admins)."""

    name: str
    see_all: bool = False


@dataclass(frozen=True)
class WorkspaceAccess:
    """Who owns a workspace and with whom it is shared (read cheaply, before the workspace itself)."""

    owner: str | None
    shared_with: tuple[str, ...]

    def can_read(self, reader: Reader) -> bool:
        return reader.see_all or self.owner == reader.name or reader.name in self.shared_with or \
            "*" in self.shared_with

    def can_change(self, reader: Reader) -> bool:
        """Delete or share: the owner (and admins)."""
        return reader.see_all or self.owner == reader.name


class WorkspaceStore(Protocol):
    """Save/get/list/delete workspaces; every write is one transaction."""

    def save(self, workspace: Workspace, *, quota_bytes: int | None = None) -> str: ...

    def get(self, ws_id: str) -> Workspace: ...

    def list(self, reader: Reader | None = None, *, limit: int | None = None,
             offset: int = 0) -> list[WorkspaceSummary]: ...

    def count(self, reader: Reader | None = None) -> int: ...

    def usage_bytes(self, owner: str | None = None) -> int: ...

    def delete(self, ws_id: str) -> None: ...

    def access(self, ws_id: str) -> WorkspaceAccess: ...

    def share(self, ws_id: str, grantees: Sequence[str]) -> None: ...

    def claim_unowned(self, owner: str) -> int: ...


def site_rows(workspace: Workspace) -> list[dict[str, Any]]:
    """Flat per-site columns stored next to each geometry (so QGIS users see the results too)."""
    results = {r["site_no"]: r for r in workspace.report.get("sites", [])}
    rows = []
    for site_no, name, industry, attrs in zip(workspace.sites["site_no"], workspace.sites["name"],
                                              workspace.sites["industry"], workspace.sites["attributes"],
                                              strict=True):
        res = results.get(int(site_no), {})
        county = res.get("county") or {}
        nearest = res.get("nearest") or {}
        rows.append({
            "site_no": int(site_no), "name": str(name), "industry": industry,
            "county": county.get("name"), "region_group": county.get("group"),
            "zones": "；".join(f"{z['layer_title']}·{z['name']}" for z in res.get("zones", [])) or None,
            "in_corridor": bool(res.get("in_corridor")),
            "nearest_zone": nearest.get("name"), "nearest_m": nearest.get("distance_m"),
            "area_ha": res.get("area_ha"), "area_mu": res.get("area_mu"),
            "attributes": json.dumps(attrs or {}, ensure_ascii=False),
        })
    return rows


SITE_COLUMNS = ("site_no", "name", "industry", "county", "region_group", "zones", "in_corridor", "nearest_zone",
                "nearest_m", "area_ha", "area_mu", "attributes")


def stored_size(workspace: Workspace, site_records: int) -> int:
    """Bytes a workspace takes in a store: its report text plus the site rows (geometry and attributes)."""
    report = len(json.dumps(workspace.report, ensure_ascii=False, separators=(",", ":")).encode())
    return report + site_records


def check_quota(used: int, adding: int, quota_bytes: int | None, owner: str | None) -> None:
    """Refuse (507) a save that would take ``used`` past ``quota_bytes``; the message says what to delete."""
    if quota_bytes is None or used + adding <= quota_bytes:
        return
    whose_zh, whose_en = (f"用户 {owner} 的", f"{owner}'s") if owner else ("", "the")
    u, a, q = _size(used), _size(adding), _size(quota_bytes)
    raise QuotaExceeded(
        f"存储空间不足：{whose_zh}工作区已占用 {u}，本次分析需 {a}，配额为 {q}。请在“项目选址叠加分析”页删除不再需要的"
        f"工作区（或下载后删除）再上传 / storage quota exceeded: {whose_en} workspaces use {u} and this analysis needs "
        f"{a}, over the {q} quota; delete workspaces you no longer need on the overlay page (download them first if "
        "you want to keep them) and upload again")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{max(n, 1) / 1024:.0f} KB" if n >= 1024 else f"{n} B"
